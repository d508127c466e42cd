"""The job document every stage reads and extends, the items on it, the vocabulary entries a stage is
given, and the two ways a stage can stop a job.

A stage is any callable ``stage(doc)`` with a ``name`` attribute; it reads what earlier stages left on
the :class:`JobDocument` and adds its own part, and says which in ``requires`` and ``assigns``
(:func:`~medscribe_engine.pipeline.check_order`). Nothing here knows about HTTP or SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16000
# The two kinds of job, as the job store, the API and the pipeline name them.
TRANSCRIPTION = "transcription"  # Transcribe Medical
SCRIBE = "scribe"  # HealthScribe

PRONUNCIATION = "pronunciation"
PUNCTUATION = "punctuation"


class JobFailed(Exception):
    """The job ends FAILED with ``reason`` as its FailureReason.

    The reason is shown to API callers and written to the log: it must be phrased like AWS's and must
    carry neither transcript text nor S3 keys / media URIs.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Interrupted(Exception):
    """The engine is shutting down; the job stays IN_PROGRESS and is resumed at the next start."""


@dataclass
class MediaInfo:
    """What the decoder found out about the media file (no names, no keys)."""

    format: str  # the MediaFormat value it matches: wav, mp3, flac, ogg, mp4, webm, amr
    container: str  # PyAV's name of the container
    sample_rate: int
    channels: int
    duration: float  # seconds
    size_bytes: int


@dataclass
class Token:
    """One transcript item: a spoken word or a punctuation mark.

    Punctuation tokens carry the end time of the word before them as both start and end.
    """

    type: str  # PRONUNCIATION | PUNCTUATION
    content: str
    start: float
    end: float
    confidence: float
    channel: int | None = None
    speaker: str | None = None  # spk_0, spk_1, ... after diarization
    filter_match: bool = False  # flagged by a vocabulary filter with the method "tag"

    @property
    def is_word(self) -> bool:
        return self.type == PRONUNCIATION


@dataclass
class Segment:
    """One utterance: consecutive tokens of one speaker or channel."""

    index: int
    segment_id: str
    start: float
    end: float
    tokens: list[Token]
    channel: int | None = None
    speaker: str | None = None
    role: str | None = None
    section: str | None = None  # HealthScribe SectionDetails.SectionName (the AWS enum string)

    @property
    def content(self) -> str:
        return join_tokens(self.tokens)

    @property
    def source(self) -> str:
        """The label roles are decided for: ``spk_N`` with diarization, ``ch_N`` with channels."""
        if self.speaker is not None:
            return self.speaker
        if self.channel is not None:
            return f"ch_{self.channel}"
        return "spk_0"


@dataclass(frozen=True)
class VocabularyEntry:
    """One row: the phrase (hyphens between words), and the optional columns."""

    phrase: str
    ipa: str | None = None
    sounds_like: str | None = None
    display_as: str | None = None

    @property
    def words(self) -> list[str]:
        """The spoken words of the phrase: ``blood-pressure`` -> ``["blood", "pressure"]``;
        acronyms keep their periods (``D.N.A.``)."""
        return [word for word in self.phrase.split("-") if word]

    @property
    def spoken(self) -> str:
        return " ".join(self.words)

    @property
    def display(self) -> str:
        """What the transcript shows: DisplayAs, else the phrase with spaces for hyphens."""
        return self.display_as or self.spoken


@dataclass
class JobDocument:
    """Everything known about one job while it runs through the pipeline.

    :param job_name: the job's name (MedicalTranscriptionJobName or MedicalScribeJobName).
    :param kind: :data:`TRANSCRIPTION` (Transcribe Medical) or :data:`SCRIBE` (HealthScribe).
    :param request: the Start request as it was accepted.
    :param should_stop: returns True when the engine is shutting down; long stages poll it.
    """

    job_name: str
    kind: str
    request: dict[str, Any]
    should_stop: Callable[[], bool] = lambda: False
    workdir: Path | None = None
    media_path: Path | None = None
    media: MediaInfo | None = None
    audio: list[Any] = field(default_factory=list)  # float32 arrays at 16 kHz, one per channel kept
    tokens: list[Token] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # spk_N / ch_N -> CLINICIAN_0, PATIENT_0, ...
    outputs: dict[str, str] = field(default_factory=dict)  # "transcript" -> TranscriptFileUri
    timings: dict[str, float] = field(default_factory=dict)  # stage name -> seconds
    vocabulary_matches: int = 0  # recognized runs rewritten by a custom vocabulary
    filter_matches: int = 0  # words removed, masked or tagged by a vocabulary filter
    alternative_segments: list[Any] | None = None  # ShowAlternatives: AlternativeSegment per segment
    insights: list[dict[str, Any]] = field(default_factory=list)  # HealthScribe ClinicalInsights (AWS format)
    clinical_document: dict[str, Any] | None = None  # HealthScribe ClinicalDocumentation (AWS format)
    phi_entities: list[Any] | None = None  # ContentIdentificationType=PHI: phi.Entity per PHI run of words
    segment_embeddings: Any = None  # normalized sentence embeddings of segments (roles.segment_embeddings)

    @property
    def settings(self) -> dict[str, Any]:
        return self.request.get("Settings") or {}

    @property
    def channel_identification(self) -> bool:
        return bool(self.settings.get("ChannelIdentification"))

    @property
    def show_speaker_labels(self) -> bool:
        return bool(self.settings.get("ShowSpeakerLabels"))

    @property
    def words(self) -> list[Token]:
        return [t for t in self.tokens if t.is_word]

    def check_stop(self) -> None:
        if self.should_stop():
            raise Interrupted()


def join_tokens(tokens: list[Token]) -> str:
    """Text of tokens as written: words separated by spaces, punctuation attached to the word before."""
    parts: list[str] = []
    for token in tokens:
        if token.is_word or not parts:
            parts.append(token.content)
        else:
            parts[-1] += token.content
    return " ".join(parts)

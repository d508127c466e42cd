"""The recognition pipeline: small named stages run in order over one :class:`JobDocument`.

=============  =====================================================================================
stage          does
=============  =====================================================================================
``decode``     S3 -> probe (format, rate, channels, duration) -> checks -> float32 16 kHz per channel
``asr``        faster-whisper on the single channel -> word and punctuation tokens
``channels``   (ChannelIdentification) each channel recognized alone, merged in time order
``vocabulary`` (VocabularyName) phrases as hotwords for ``asr``; matched words -> DisplayAs / Phrase
``alternatives`` (ShowAlternatives) n-best Whisper hypotheses per segment, best first
``filter``     (VocabularyFilterName, HealthScribe) filter words removed, masked or tagged
``diarize``    (ShowSpeakerLabels) speaker embeddings per speech chunk, clustered -> spk_N; with
               Type=DICTATION stage ``one_speaker`` instead: one person speaks, every token spk_0
``phi``        (ContentIdentificationType=PHI, Transcribe Medical) PHI entities: names, ages, dates, ...
``segments``   (HealthScribe) utterances with deterministic segment ids
``roles``      (HealthScribe) ParticipantRole per segment: ChannelDefinitions, or sentence embeddings + words
``insights``   (HealthScribe) ClinicalInsights: vocabularies from packages, medspaCy ConText traits
``sections``   (HealthScribe) SectionDetails per segment: sentence embeddings, role, position, insights
``writers``    the Transcribe Medical or HealthScribe transcript file, put to the output bucket
``notes``      (HealthScribe) the clinical document of the NoteTemplate, sentences with EvidenceLinks
``summary``    (HealthScribe) the clinical document put to ``<JobName>/summary.json``
=============  =====================================================================================

:func:`build_pipeline` picks the stages for a job from its kind and settings and checks their order
(:func:`check_order`); :func:`run_pipeline` runs them, timing each. Stages know nothing about HTTP or
the job store: nothing in this package imports the service layer.

Like spaCy's components, every stage declares what it reads and what it writes on the document
(``requires`` and ``assigns``, as ``"doc.<field>"``, ``"token.<field>"`` or ``"segment.<field>"``), and a
pipeline whose stage requires what no stage before it assigns (nor the request, :data:`INPUTS`) is
refused when it is built.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from medscribe_engine.pipeline.alternatives import Alternatives, WhisperNBest
from medscribe_engine.pipeline.asr import Recognize, Recognizer
from medscribe_engine.pipeline.channels import RecognizeChannels
from medscribe_engine.pipeline.decode import Decode
from medscribe_engine.pipeline.diarize import Diarize, OneSpeaker, ResemblyzerEmbedder
from medscribe_engine.pipeline.document import SCRIBE, Interrupted, JobDocument, JobFailed
from medscribe_engine.pipeline.filtering import FilterWords
from medscribe_engine.pipeline.insights import ClinicalInsights
from medscribe_engine.pipeline.notes import BuildClinicalDocument, WriteClinicalDocument
from medscribe_engine.pipeline.phi import IdentifyPhi
from medscribe_engine.pipeline.roles import AssignRoles
from medscribe_engine.pipeline.sections import AssignSections
from medscribe_engine.pipeline.segments import Segments
from medscribe_engine.pipeline.vocabulary import ApplyVocabulary, hotwords
from medscribe_engine.pipeline.writers import WriteHealthScribe, WriteTranscribeMedical

__all__ = [
    "INPUTS",
    "Interrupted",
    "JobDocument",
    "JobFailed",
    "PipelineOrderError",
    "Stage",
    "build_pipeline",
    "check_order",
    "run_pipeline",
]

# What a document holds before any stage runs: the accepted request and the job's identity.
INPUTS = ("doc.job_name", "doc.kind", "doc.request")


class Stage(Protocol):
    """One step of the pipeline: ``stage(doc)``; its class declares ``requires`` and ``assigns`` (tuples
    of ``"doc.<field>"``, ``"token.<field>"``, ``"segment.<field>"``) beside its ``name``."""

    name: str

    @property
    def requires(self) -> tuple[str, ...]: ...

    @property
    def assigns(self) -> tuple[str, ...]: ...

    def __call__(self, doc: JobDocument) -> None: ...


class PipelineOrderError(ValueError):
    """A stage requires what no stage before it assigns: the pipeline is built wrong (an engine bug)."""


def contract(stage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(requires, assigns)`` of ``stage``: the tuples its class declares."""
    return tuple(stage.requires), tuple(stage.assigns)


def check_order(stages: Sequence, inputs: Iterable[str] = INPUTS) -> None:
    """:class:`PipelineOrderError` unless every stage's ``requires`` are in ``inputs`` or assigned by an
    earlier stage.

    :param stages: the stages, in the order they would run.
    :param inputs: what the document holds before the first stage.
    """
    available = set(inputs)
    for stage in stages:
        requires, assigns = contract(stage)
        missing = [item for item in requires if item not in available]
        if missing:
            name = getattr(stage, "name", type(stage).__name__)
            raise PipelineOrderError(
                f"stage {name!r} requires {', '.join(missing)}, which no stage before it assigns"
            )
        available.update(assigns)


def build_pipeline(
    kind: str,
    settings: dict,
    resources,
    s3_client,
    vocabulary=None,
    filter_words=None,
    content_identification: str | None = None,
    speech_type: str | None = None,
    specialty: str | None = None,
) -> list[Stage]:
    """The stages for one job.

    :param kind: :data:`~medscribe_engine.pipeline.document.TRANSCRIPTION` or :data:`~medscribe_engine.pipeline.document.SCRIBE`.
    :param settings: the request's ``Settings``.
    :param resources: the loaded :class:`~medscribe_engine.resources.Resources`.
    :param s3_client: a boto3 S3 client for media and outputs.
    :param vocabulary: the entries of the READY vocabulary named in ``Settings.VocabularyName``, or None.
    :param filter_words: the words of the filter named in ``Settings.VocabularyFilterName``, or None.
    :param content_identification: the request's ``ContentIdentificationType`` (``"PHI"``), or None.
    :param speech_type: the request's ``Type`` (Transcribe Medical): ``"DICTATION"`` is one speaker, so
        speaker labels come without diarization; ``"CONVERSATION"`` or None diarizes.
    :param specialty: the request's ``Specialty``: whose built-in medical lexicon repairs the words
        (``resources.lexicons``; None: PRIMARYCARE, as HealthScribe and every batch job).
    """
    lexicon = (getattr(resources, "lexicons", None) or {}).get(specialty or "PRIMARYCARE")
    recognizer = Recognizer(
        resources.whisper, hotwords=hotwords(vocabulary) if vocabulary else None, lexicon=lexicon
    )
    stages: list[Stage] = [Decode(s3_client)]
    if settings.get("ChannelIdentification"):
        stages.append(RecognizeChannels(recognizer))
    else:
        stages.append(Recognize(recognizer))
    if vocabulary:
        stages.append(ApplyVocabulary(vocabulary))
    if settings.get("ShowSpeakerLabels") and not settings.get("ChannelIdentification"):
        if speech_type == "DICTATION":
            stages.append(OneSpeaker())
        else:
            stages.append(Diarize(ResemblyzerEmbedder(resources.voice_encoder)))
    if kind != SCRIBE and settings.get("ShowAlternatives"):
        rewrite = ApplyVocabulary(vocabulary).rewrite if vocabulary else None
        nbest = WhisperNBest(resources.whisper, recognizer.hotwords)
        stages.append(Alternatives(nbest, int(settings.get("MaxAlternatives") or 2), rewrite))
    if kind != SCRIBE and content_identification == "PHI":
        stages.append(IdentifyPhi())
    if filter_words:
        stages.append(FilterWords(filter_words, settings.get("VocabularyFilterMethod") or "mask"))
    if kind == SCRIBE:
        encoder = getattr(resources, "sentence_encoder", None)
        stages += [Segments(), AssignRoles(encoder)]
        if getattr(resources, "clinical_nlp", None) is not None:
            stages.append(ClinicalInsights(resources.clinical_nlp))
        if encoder is not None:
            stages.append(AssignSections(encoder))
        stages.append(WriteHealthScribe(s3_client))
        stages += [BuildClinicalDocument(), WriteClinicalDocument(s3_client)]
    else:
        stages.append(WriteTranscribeMedical(s3_client))
    check_order(stages)
    return stages


def run_pipeline(doc: JobDocument, stages: Iterable[Stage]) -> JobDocument:
    """Run ``stages`` in order; between stages, stop with :class:`Interrupted` if the engine is stopping.

    :class:`JobFailed` from a stage propagates: the caller records the job FAILED with its reason.
    """
    for stage in stages:
        doc.check_stop()
        name = getattr(stage, "name", type(stage).__name__)
        started = time.monotonic()
        stage(doc)
        doc.timings[name] = time.monotonic() - started
    return doc

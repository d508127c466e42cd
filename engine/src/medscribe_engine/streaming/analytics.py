"""Post-stream analytics of a HealthScribe streaming session: after END_OF_SESSION, the whole session's
audio goes through the batch HealthScribe pipeline (:func:`medscribe_engine.pipeline.build_pipeline`,
kind ``scribe``), and its transcript and clinical document are put where AWS puts a stream's::

    s3://<OutputBucketName>/healthscribe-streaming/<SessionId>/post-stream-analytics/clinical-notes/
        transcript.json   {"Conversation": {ConversationId, SessionId, LanguageCode, ClinicalInsights,
                           TranscriptItems, TranscriptSegments}}
        summary.json      {"ClinicalDocumentation": {SessionId, Sections}}

(the batch files, with ``SessionId`` in place of ``JobName`` / ``JobType``, as AWS's streaming examples
have it). Three stages of the batch pipeline are swapped: ``decode`` reads the session's stored PCM
instead of an S3 object, and ``writers`` / ``summary`` write under that prefix. Sessions run one at a
time in their own thread; sessions left IN_PROGRESS by an engine that stopped run again at start-up.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from medscribe_engine import pipeline
from medscribe_engine.exceptions import TranscribeError
from medscribe_engine.pipeline.decode import TOO_SHORT
from medscribe_engine.pipeline.document import (
    SAMPLE_RATE,
    SCRIBE,
    Interrupted,
    JobDocument,
    JobFailed,
    MediaInfo,
)
from medscribe_engine.pipeline.s3 import make_s3_client
from medscribe_engine.pipeline.writers import OutputWriter, healthscribe_transcript_json
from medscribe_engine.streaming.scribe_settings import note_template
from medscribe_engine.streaming.sessions import COMPLETED, FAILED, Session, SessionStore
from medscribe_engine.streaming.settings import PcmDecoder

log = logging.getLogger("medscribe_engine.streaming")

INTERNAL_FAILURE = "An internal failure occurred during post-stream analytics."
READ_BYTES = 1 << 20  # PCM decoded a megabyte at a time
MIN_AUDIO_S = 0.5  # as a batch job: shorter audio is refused


def output_prefix(session_id: str) -> str:
    return f"healthscribe-streaming/{session_id}/post-stream-analytics/clinical-notes"


class SessionAudio:
    """Stage ``decode`` of a session: its stored PCM as 16 kHz float32, one array per channel with
    ChannelDefinitions, else the single channel.

    :param path: the session's PCM file.
    :param sample_rate: samples per second in the file (:attr:`Session.stored_rate`).
    :param channels: 1 or 2 (interleaved).
    """

    name = "decode"
    requires = ("doc.request",)
    assigns = ("doc.media", "doc.audio")

    def __init__(self, path: Path, sample_rate: int, channels: int):
        self.path = path
        self.sample_rate = sample_rate
        self.channels = channels

    def __call__(self, doc: JobDocument) -> None:
        decoder = PcmDecoder(self.sample_rate, self.channels)
        parts: list[list[np.ndarray]] = []
        if not self.path.exists():  # no audio event arrived in any stream of the session
            raise JobFailed(TOO_SHORT)
        size = self.path.stat().st_size
        with open(self.path, "rb") as handle:
            while chunk := handle.read(READ_BYTES):
                parts.append(decoder.decode(chunk))
                doc.check_stop()
        parts.append(decoder.flush())
        audio = [np.concatenate([part[channel] for part in parts]) for channel in range(self.channels)]
        duration = len(audio[0]) / SAMPLE_RATE
        if duration < MIN_AUDIO_S:
            raise JobFailed(TOO_SHORT)
        doc.audio = audio
        doc.media = MediaInfo("pcm", "pcm", self.sample_rate, self.channels, duration, size)


def streaming_transcript_json(doc: JobDocument) -> dict:
    """The batch transcript file with the session's ``SessionId`` for ``JobName`` and ``JobType``."""
    conversation = healthscribe_transcript_json(doc)["Conversation"]
    conversation.pop("JobName", None)
    conversation.pop("JobType", None)
    ordered = {"ConversationId": conversation.pop("ConversationId"), "SessionId": doc.job_name}
    return {"Conversation": {**ordered, **conversation}}


class WriteStreamingTranscript(OutputWriter):
    """Stage ``writers`` of a session: ``transcript.json`` under :func:`output_prefix`."""

    name = "writers"
    requires = ("doc.tokens", "doc.segments", "segment.role")
    assigns = ("doc.outputs",)

    def __call__(self, doc: JobDocument) -> None:
        key = f"{output_prefix(doc.job_name)}/transcript.json"
        doc.outputs["transcript"] = self.put(doc, key, streaming_transcript_json(doc))


class WriteStreamingNote(OutputWriter):
    """Stage ``summary`` of a session: ``summary.json`` under :func:`output_prefix`."""

    name = "summary"
    requires = ("doc.clinical_document",)
    assigns = ("doc.outputs",)

    def __call__(self, doc: JobDocument) -> None:
        sections = (doc.clinical_document or {}).get("Sections", [])
        document = {"ClinicalDocumentation": {"SessionId": doc.job_name, "Sections": sections}}
        key = f"{output_prefix(doc.job_name)}/summary.json"
        doc.outputs["clinical_document"] = self.put(doc, key, document)


def job_request(session: Session, diarization_available: bool) -> dict:
    """The StartMedicalScribeJob request a batch job of the session's audio would have had."""
    configuration = session.configuration
    settings: dict = {"ClinicalNoteGenerationSettings": {"NoteTemplate": note_template(configuration)}}
    if configuration.get("ChannelDefinitions"):
        settings["ChannelIdentification"] = True
    elif diarization_available:
        settings.update(ShowSpeakerLabels=True, MaxSpeakerLabels=2)
    for name in ("VocabularyName", "VocabularyFilterName", "VocabularyFilterMethod"):
        if configuration.get(name):
            settings[name] = configuration[name]
    notes = configuration["PostStreamAnalyticsSettings"]["ClinicalNoteGenerationSettings"]
    request = {"OutputBucketName": notes["OutputBucketName"], "Settings": settings}
    if configuration.get("ChannelDefinitions"):
        request["ChannelDefinitions"] = [
            {"ChannelId": int(item["ChannelId"]), "ParticipantRole": item["ParticipantRole"]}
            for item in configuration["ChannelDefinitions"]
        ]
    if configuration.get("MedicalScribeContext"):
        request["MedicalScribeContext"] = configuration["MedicalScribeContext"]
    encryption = configuration.get("EncryptionSettings") or {}
    if encryption.get("KmsKeyId"):
        request["OutputEncryptionKMSKeyId"] = encryption["KmsKeyId"]
        if encryption.get("KmsEncryptionContext"):
            request["KMSEncryptionContext"] = encryption["KmsEncryptionContext"]
    return request


class PostStreamAnalytics:
    """Runs the analytics of ended sessions, one at a time, in a thread of its own.

    :param store: the :class:`~medscribe_engine.streaming.sessions.SessionStore`.
    :param resources: the loaded models.
    :param vocabularies: the VocabularyBackend (None: none).
    :param filters: the VocabularyFilterBackend (None: none).
    :param s3_client_factory: makes the S3 client outputs are put with.
    """

    def __init__(
        self, store: SessionStore, resources, vocabularies=None, filters=None, s3_client_factory=None
    ):
        self.store = store
        self.resources = resources
        self.vocabularies = vocabularies
        self.filters = filters
        self.s3_client_factory = s3_client_factory or make_s3_client
        self.stopping = threading.Event()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scribe-analytics")
        self._local = threading.local()

    def submit(self, session_id: str) -> None:
        self.executor.submit(self.run, session_id)

    def resume_pending(self) -> int:
        """Queue the sessions whose analytics an earlier engine process left unfinished."""
        pending = self.store.pending_analytics()
        for session in pending:
            self.submit(session.session_id)
        return len(pending)

    def stop(self) -> None:
        self.stopping.set()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _s3(self):
        if getattr(self._local, "s3", None) is None:
            self._local.s3 = self.s3_client_factory()
        return self._local.s3

    def _lookups(self, settings: dict) -> tuple[list | None, list | None]:
        vocabulary = words = None
        try:
            if settings.get("VocabularyName"):
                if self.vocabularies is None:
                    raise JobFailed("Custom vocabularies are not available in this engine.")
                vocabulary = self.vocabularies.ready_entries(settings["VocabularyName"])
            if settings.get("VocabularyFilterName"):
                if self.filters is None:
                    raise JobFailed("Vocabulary filters are not available in this engine.")
                words = self.filters.words_of(settings["VocabularyFilterName"])
        except TranscribeError as error:  # deleted since the session was configured
            raise JobFailed(error.message) from None
        return vocabulary, words

    def stages(self, session: Session, request: dict) -> list[pipeline.Stage]:
        """The batch HealthScribe stages for ``session``, reading its audio and writing its layout."""
        s3 = self._s3()
        vocabulary, words = self._lookups(request["Settings"])
        stages = pipeline.build_pipeline(
            SCRIBE, request["Settings"], self.resources, s3, vocabulary=vocabulary, filter_words=words
        )
        swapped: dict[str, pipeline.Stage] = {
            "decode": SessionAudio(
                self.store.audio_path(session.session_id), session.stored_rate, session.channels
            ),
            "writers": WriteStreamingTranscript(s3),
            "summary": WriteStreamingNote(s3),
        }
        stages = [swapped.get(getattr(stage, "name", ""), stage) for stage in stages]
        pipeline.check_order(stages)
        return stages

    def run(self, session_id: str) -> None:
        """Run one session's analytics and record how they ended."""
        session = self.store.get(session_id)
        if session is None or session.analytics_status != "IN_PROGRESS":
            return
        started = time.monotonic()
        request = job_request(session, bool(getattr(self.resources, "diarization_available", False)))
        doc = JobDocument(session_id, SCRIBE, request, should_stop=self.stopping.is_set)
        try:
            pipeline.run_pipeline(doc, self.stages(session, request))
        except Interrupted:
            log.info(
                "scribe session %s: analytics interrupted by shutdown; resumed at the next start", session_id
            )
            return
        except JobFailed as failure:
            self.store.finish_analytics(session_id, FAILED, failure_reason=failure.reason)
            log.info("scribe session %s: analytics FAILED after %.1fs: %s", session_id,
                     time.monotonic() - started, failure.reason)  # fmt: skip
            return
        except Exception as error:
            frames = " <- ".join(
                f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
                for frame in reversed(traceback.extract_tb(error.__traceback__))
            )
            log.error("scribe session %s: analytics ended in an internal %s at %s", session_id,
                      type(error).__name__, frames)  # fmt: skip
            self.store.finish_analytics(session_id, FAILED, failure_reason=INTERNAL_FAILURE)
            return
        self.store.finish_analytics(
            session_id,
            COMPLETED,
            transcript_uri=doc.outputs.get("transcript"),
            clinical_note_uri=doc.outputs.get("clinical_document"),
        )
        log.info(
            "scribe session %s: analytics COMPLETED in %.1fs: audio %.1fs, %d ch; %d words, %d segments; stages %s",
            session_id, time.monotonic() - started, doc.media.duration if doc.media else 0.0,
            len(doc.audio), len(doc.words), len(doc.segments),
            " ".join(f"{name}={seconds:.2f}s" for name, seconds in doc.timings.items()),
        )  # fmt: skip

"""HealthScribe streaming sessions: a durable SQLite table of their state and settings, and each session's
audio, kept until its post-stream analytics have run.

A row holds what GetMedicalScribeStream returns (status, times, the accepted headers and
ConfigurationEvent, the analytics' status and output URIs) and how much audio the session has; never
audio or text. The audio is the client's PCM exactly as it arrived (FLAC and Ogg-Opus decoded to 16 kHz
PCM; all streams of the session, one after the other) in ``<data_dir>/scribe-streams/<SessionId>.pcm``; it
is deleted once the analytics end.

Statuses follow the service: a stream is IN_PROGRESS while it runs, PAUSED when its client ended it
without END_OF_SESSION (or went away), COMPLETED after END_OF_SESSION, FAILED when the engine could not
keep it. A paused session can be resumed (a new stream with its SessionId and the same configuration)
for :data:`RESUME_WINDOW_S`, up to :data:`MAX_AUDIO_S` of audio in all. At start-up, a stream the engine
was running when it stopped is PAUSED (:meth:`SessionStore.recover`).

The table lives in its own file (``scribe_streams.sqlite3``) beside the job store, with the job store's
conventions (WAL, one lock per connection, ``secure_delete``), so it can move into the job store's
database, or its PostgreSQL backend, as one more table without changing this module's interface.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from medscribe_engine.exceptions import BadRequestException, ConflictException
from medscribe_engine.pipeline.document import SAMPLE_RATE
from medscribe_engine.streaming.scribe_settings import ScribeStreamSettings

IN_PROGRESS, PAUSED, COMPLETED, FAILED = "IN_PROGRESS", "PAUSED", "COMPLETED", "FAILED"
RESUME_WINDOW_S = 5 * 3600.0  # AWS: a session can be resumed within 5 hours of its creation
MAX_AUDIO_S = 2 * 3600.0  # AWS: at most 2 hours of audio per session
AUDIO_DIR = "scribe-streams"

SCHEMA = """
CREATE TABLE IF NOT EXISTS scribe_streams (
    session_id        TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    created_at        REAL NOT NULL,
    ended_at          REAL,
    language_code     TEXT NOT NULL,
    sample_rate       INTEGER NOT NULL,
    media_encoding    TEXT NOT NULL,
    configuration     TEXT NOT NULL,
    channels          INTEGER NOT NULL,
    audio_bytes       INTEGER NOT NULL DEFAULT 0,
    streams           INTEGER NOT NULL DEFAULT 1,
    analytics_status  TEXT,
    failure_reason    TEXT,
    transcript_uri    TEXT,
    clinical_note_uri TEXT
);
CREATE INDEX IF NOT EXISTS scribe_streams_analytics ON scribe_streams (analytics_status);
"""


@dataclass
class Session:
    """One row of the session table."""

    session_id: str
    status: str
    created_at: float
    ended_at: float | None
    language_code: str
    sample_rate: int
    media_encoding: str
    configuration: dict
    channels: int
    audio_bytes: int
    streams: int
    analytics_status: str | None
    failure_reason: str | None
    transcript_uri: str | None
    clinical_note_uri: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Session:
        values = dict(row)
        values["configuration"] = json.loads(values["configuration"])
        return cls(**values)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample of every channel (16-bit PCM)."""
        return 2 * self.channels

    @property
    def stored_rate(self) -> int:
        """Samples per second in the session's audio file: the stream's rate for PCM (kept as sent), 16 kHz
        for FLAC and Ogg-Opus (kept decoded)."""
        return self.sample_rate if self.media_encoding == "pcm" else SAMPLE_RATE

    @property
    def audio_seconds(self) -> float:
        return self.audio_bytes / (self.frame_bytes * self.stored_rate)


class SessionStore:
    """The session table in ``<data_dir>/scribe_streams.sqlite3`` and the audio files beside it; safe to
    share between threads.

    :param data_dir: the engine's data directory (created if missing).
    """

    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.audio_dir = data_dir / AUDIO_DIR
        self.audio_dir.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            data_dir / "scribe_streams.sqlite3", check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(SCHEMA)

    def audio_path(self, session_id: str) -> Path:
        return self.audio_dir / f"{session_id}.pcm"

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM scribe_streams WHERE session_id=?", (session_id,)
            ).fetchone()
        return Session.from_row(row) if row else None

    def open(self, settings: ScribeStreamSettings, configuration: dict, channels: int) -> Session:
        """Start a new session IN_PROGRESS, or resume a PAUSED one with the same settings; the AWS error
        otherwise (ConflictException while another stream of it runs, BadRequestException when it ended,
        expired or was configured otherwise)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT * FROM scribe_streams WHERE session_id=?", (settings.session_id,)
                ).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO scribe_streams (session_id, status, created_at, language_code, sample_rate, "
                        "media_encoding, configuration, channels) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            settings.session_id, IN_PROGRESS, now, settings.language_code, settings.sample_rate,
                            settings.media_encoding, json.dumps(configuration, sort_keys=True), channels,
                        ),
                    )  # fmt: skip
                else:
                    _check_resumable(Session.from_row(row), settings, configuration, now)
                    self._db.execute(
                        "UPDATE scribe_streams SET status=?, streams=streams+1 WHERE session_id=?",
                        (IN_PROGRESS, settings.session_id),
                    )
                row = self._db.execute(
                    "SELECT * FROM scribe_streams WHERE session_id=?", (settings.session_id,)
                ).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Session.from_row(row)

    def close_stream(
        self, session: Session, audio_bytes: int, end_of_session: bool, failed: bool = False
    ) -> None:
        """Record the end of a stream of ``session``: its audio now ``audio_bytes`` long (the file is cut
        to whole frames); PAUSED, or COMPLETED with the analytics IN_PROGRESS after END_OF_SESSION, or
        FAILED."""
        audio_bytes -= audio_bytes % session.frame_bytes
        path = self.audio_path(session.session_id)
        if path.exists() and path.stat().st_size != audio_bytes:
            with open(path, "r+b") as handle:
                handle.truncate(audio_bytes)
        if failed:
            status, analytics, ended = FAILED, None, time.time()
        elif end_of_session:
            status, analytics, ended = COMPLETED, IN_PROGRESS, time.time()
        else:
            status, analytics, ended = PAUSED, None, None
        with self._lock:
            self._db.execute(
                "UPDATE scribe_streams SET status=?, analytics_status=?, ended_at=?, audio_bytes=? "
                "WHERE session_id=? AND status=?",
                (status, analytics, ended, audio_bytes, session.session_id, IN_PROGRESS),
            )

    def finish_analytics(
        self,
        session_id: str,
        status: str,
        *,
        transcript_uri: str | None = None,
        clinical_note_uri: str | None = None,
        failure_reason: str | None = None,
    ) -> None:
        """Record the end of a session's post-stream analytics (COMPLETED or FAILED) and delete its audio."""
        with self._lock:
            self._db.execute(
                "UPDATE scribe_streams SET analytics_status=?, transcript_uri=?, clinical_note_uri=?, "
                "failure_reason=? WHERE session_id=?",
                (status, transcript_uri, clinical_note_uri, failure_reason, session_id),
            )
        self.audio_path(session_id).unlink(missing_ok=True)

    def pending_analytics(self) -> list[Session]:
        """Sessions whose analytics were asked for and have not ended (the engine stopped during them)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM scribe_streams WHERE analytics_status=? ORDER BY ended_at", (IN_PROGRESS,)
            ).fetchall()
        return [Session.from_row(row) for row in rows]

    def recover(self) -> int:
        """PAUSE the streams that were IN_PROGRESS when the engine stopped (their audio is kept, cut to
        whole frames); returns how many."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM scribe_streams WHERE status=?", (IN_PROGRESS,)).fetchall()
        for row in rows:
            session = Session.from_row(row)
            path = self.audio_path(session.session_id)
            self.close_stream(session, path.stat().st_size if path.exists() else 0, end_of_session=False)
        return len(rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _check_resumable(
    session: Session, settings: ScribeStreamSettings, configuration: dict, now: float
) -> None:
    if session.status == IN_PROGRESS:
        raise ConflictException(
            "A stream of this session is already in progress. End it before you resume the session."
        )
    if session.status in (COMPLETED, FAILED):
        raise BadRequestException(
            f"The session is {session.status} and can't be resumed: start a session with a new SessionId."
        )
    if now - session.created_at > RESUME_WINDOW_S:
        raise BadRequestException("The session can't be resumed: it was created more than 5 hours ago.")
    if (settings.sample_rate, settings.media_encoding, settings.language_code) != (
        session.sample_rate,
        session.media_encoding,
        session.language_code,
    ):
        raise BadRequestException(
            "A resumed session must use the language code, sample rate and media encoding it started with."
        )
    if json.loads(json.dumps(configuration, sort_keys=True)) != session.configuration:
        raise BadRequestException(
            "A resumed session's ConfigurationEvent must have the same configuration it started with."
        )

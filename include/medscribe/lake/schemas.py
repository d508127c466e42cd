"""Arrow schemas of the Parquet lake, one per table, declared once.

Layout: ``<lake>/<table>/night=<YYYY-MM-DD>/part-<i>.parquet`` (hive partitioning). ``night`` is the
partition column: it lives in the path only, never inside the files, and is read back as a string.

Schema-evolution rule: a table's schema may only change by **appending new nullable columns**. Never
rename, retype, reorder, drop a column or make a column non-nullable; add a new column and deprecate
the old one instead. Readers (``store.read_table``, the DuckDB views with ``union_by_name``, Athena by
name) then read old partitions with the new schema, the new columns being null there.

Each field carries a ``description`` in its metadata (stored in the Parquet footer with the schema).
"""

from __future__ import annotations

import pyarrow as pa

PARTITION_COLUMN = "night"
SERVICES = ("healthscribe", "transcribe_medical")


def _field(name: str, type_: pa.DataType, description: str, *, nullable: bool = True) -> pa.Field:
    """Return a field with its description in the field metadata.

    :param name: column name.
    :param type_: Arrow type.
    :param description: one line for analysts, stored as metadata ``description``.
    :param nullable: False for columns that must always be filled.
    """
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


_UTC_US = pa.timestamp("us", tz="UTC")

JOBS = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field("job_name", pa.string(), "AWS (or offline engine) job name, unique.", nullable=False),
        _field("service", pa.string(), "healthscribe | transcribe_medical."),
        _field("status", pa.string(), "QUEUED | IN_PROGRESS | COMPLETED | FAILED."),
        _field("failure_reason", pa.string(), "FailureReason reported by the service for FAILED jobs."),
        _field("submitted_at", _UTC_US, "When the job was submitted (CreationTime)."),
        _field("started_at", _UTC_US, "When the service started processing (StartTime)."),
        _field("completed_at", _UTC_US, "When the job ended (CompletionTime)."),
        _field("media_format", pa.string(), "mp3 | mp4 | wav | flac | ogg | amr | webm."),
        _field("sample_rate_hz", pa.int32(), "Media sample rate in Hz."),
        _field("settings_json", pa.string(), "The job's Settings object, as JSON."),
        _field("transcript_uri", pa.string(), "URI of the transcript JSON file."),
        _field("clinical_document_uri", pa.string(), "URI of the HealthScribe clinical document file."),
    ]
)

TRANSCRIPT_WORDS = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field("job_name", pa.string(), "Job that produced the transcript.", nullable=False),
        _field("service", pa.string(), "healthscribe | transcribe_medical.", nullable=False),
        _field("item_index", pa.int32(), "Position of the item in the file (0-based).", nullable=False),
        _field("content", pa.string(), "Word or punctuation mark."),
        _field("is_punctuation", pa.bool_(), "True for punctuation items.", nullable=False),
        _field("start_time", pa.float64(), "Start, seconds from the start of the audio; null if untimed."),
        _field("end_time", pa.float64(), "End, seconds from the start of the audio; null if untimed."),
        _field("confidence", pa.float64(), "Recognition confidence 0..1; null when the file has none."),
        _field("alternative_rank", pa.int16(), "0 = best alternative, 1.. = further ones.", nullable=False),
        _field("speaker_label", pa.string(), "Diarization label, e.g. spk_0 (Transcribe Medical)."),
        _field("channel_label", pa.string(), "Audio channel, e.g. ch_0 (channel identification)."),
        _field("participant_role", pa.string(), "HealthScribe role of the word's segment, e.g. CLINICIAN_0."),
        _field("segment_id", pa.string(), "HealthScribe segment containing the word (by time)."),
    ]
)

TRANSCRIPT_SEGMENTS = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field("job_name", pa.string(), "Job that produced the transcript.", nullable=False),
        _field("segment_id", pa.string(), "HealthScribe SegmentId."),
        _field("segment_index", pa.int32(), "Position of the segment in the file.", nullable=False),
        _field("participant_role", pa.string(), "CLINICIAN_0 | PATIENT_0 | ..."),
        _field("section_name", pa.string(), "SUBJECTIVE | OBJECTIVE | OTHER | ...; null if absent."),
        _field("begin_time", pa.float64(), "Start, seconds from the start of the audio."),
        _field("end_time", pa.float64(), "End, seconds from the start of the audio."),
        _field("content", pa.string(), "Text of the segment."),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "jobs": JOBS,
    "transcript_words": TRANSCRIPT_WORDS,
    "transcript_segments": TRANSCRIPT_SEGMENTS,
}

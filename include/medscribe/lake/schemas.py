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

from medscribe.services import Service

PARTITION_COLUMN = "night"
SERVICES = tuple(service.value for service in Service)


def _field(name: str, type_: pa.DataType, description: str, *, nullable: bool = True) -> pa.Field:
    """Return a field with its description in the field metadata.

    :param name: column name.
    :param type_: Arrow type.
    :param description: one line for analysts, stored as metadata ``description``.
    :param nullable: False for columns that must always be filled.
    """
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


_UTC_US = pa.timestamp("us", tz="UTC")

QUALITY_STATUSES = ("passed", "review")
QUALITY_STATUS_DOC = (
    "Quality gate verdict of the recording's transcript: passed | review (under a bar, listed in "
    "review_queue); null until the night's gate has run (and in partitions written before it existed)."
)

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
        _field("quality_status", pa.string(), QUALITY_STATUS_DOC),
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
        _field("quality_status", pa.string(), QUALITY_STATUS_DOC),
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
        _field("quality_status", pa.string(), QUALITY_STATUS_DOC),
    ]
)

RECORDING_STATES = ("discovered", "submitted", "succeeded", "failed", "quarantined")

RECORDINGS = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the recording (content hash).", nullable=False),
        _field("kind", pa.string(), "conversation | dictation."),
        _field("service", pa.string(), "healthscribe | transcribe_medical."),
        _field(
            "state", pa.string(), "discovered | submitted | succeeded | failed | quarantined.", nullable=False
        ),
        _field("reason", pa.string(), "Why failed or quarantined (no patient data); null otherwise."),
        _field("job_name", pa.string(), "Job started for the recording; null if none was."),
        _field("attempts", pa.int32(), "Jobs started for the recording so far."),
        _field("size_bytes", pa.int64(), "Size of the audio file in bytes."),
        _field("media_format", pa.string(), "mp3 | mp4 | wav | flac | ogg | amr | webm."),
        _field("sample_rate_hz", pa.int32(), "Media sample rate in Hz."),
        _field("channels", pa.int16(), "Audio channels (1 or 2)."),
        _field("duration_s", pa.float64(), "Audio duration in seconds."),
        _field("discovered_at", _UTC_US, "When discovery first saw the recording."),
        _field("finished_at", _UTC_US, "When the recording reached succeeded, failed or quarantined."),
    ]
)

_OFFSET_DOC = (
    " AWS offsets index the segment's Content and are end-inclusive: "
    "content == segment.content[begin_character_offset:end_exclusive]."
)

CLINICAL_INSIGHTS = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field("job_name", pa.string(), "Job that produced the transcript file.", nullable=False),
        _field("insight_id", pa.string(), "InsightId (unique within the file).", nullable=False),
        _field(
            "span_index", pa.int32(), "Position of the span in the insight's Spans (0-based).", nullable=False
        ),
        _field("insight_index", pa.int32(), "Position of the insight in ClinicalInsights.", nullable=False),
        _field("insight_type", pa.string(), "InsightType, e.g. ClinicalEntity."),
        _field(
            "category",
            pa.string(),
            "MEDICAL_CONDITION | MEDICATION | ANATOMY | TEST_TREATMENT_PROCEDURE | ...",
        ),
        _field(
            "type", pa.string(), "Entity type within the category, e.g. DX_NAME, GENERIC_NAME, TEST_NAME."
        ),
        _field(
            "segment_id",
            pa.string(),
            "TranscriptSegments SegmentId the span lies in (joins transcript_segments).",
        ),
        _field(
            "begin_character_offset", pa.int32(), "AWS BeginCharacterOffset (first character)." + _OFFSET_DOC
        ),
        _field(
            "end_character_offset",
            pa.int32(),
            "AWS EndCharacterOffset as given: the LAST character (inclusive).",
        ),
        _field("end_exclusive", pa.int32(), "end_character_offset + 1: a Python-slice / half-open end."),
        _field("content", pa.string(), "Text of the span."),
        _field(
            "confidence",
            pa.float64(),
            "Insight Confidence if the file has one (not in AWS's published example).",
        ),
        _field(
            "traits",
            pa.string(),
            "Comma-joined Traits[].Name if the file has Traits (e.g. NEGATION); else null.",
        ),
        _field(
            "negated",
            pa.bool_(),
            "True if a NEGATION trait is present, False if Traits exist without it, else null.",
        ),
    ]
)

INSIGHT_ATTRIBUTES = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field("job_name", pa.string(), "Job that produced the transcript file.", nullable=False),
        _field(
            "insight_id", pa.string(), "InsightId of the insight the attribute belongs to.", nullable=False
        ),
        _field(
            "attribute_index",
            pa.int32(),
            "Position of the attribute in the insight's Attributes.",
            nullable=False,
        ),
        _field(
            "span_index",
            pa.int32(),
            "Position of the span in the attribute's Spans (0-based).",
            nullable=False,
        ),
        _field("attribute_id", pa.string(), "AttributeId."),
        _field("type", pa.string(), "Attribute type, e.g. TEST_VALUE, DOSAGE, FREQUENCY."),
        _field("segment_id", pa.string(), "TranscriptSegments SegmentId the span lies in."),
        _field("begin_character_offset", pa.int32(), "AWS BeginCharacterOffset." + _OFFSET_DOC),
        _field("end_character_offset", pa.int32(), "AWS EndCharacterOffset as given (inclusive)."),
        _field("end_exclusive", pa.int32(), "end_character_offset + 1 (half-open end)."),
        _field("content", pa.string(), "Text of the span."),
        _field("confidence", pa.float64(), "Attribute Confidence if the file has one."),
    ]
)

NOTE_SENTENCES = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field(
            "job_name", pa.string(), "Job (or streaming SessionId) that produced the note.", nullable=False
        ),
        _field(
            "note_template",
            pa.string(),
            "NoteTemplate of the job (HISTORY_AND_PHYSICAL, GIRPP, ...); null if unknown.",
        ),
        _field("section_name", pa.string(), "SectionName, e.g. CHIEF_COMPLAINT, PLAN."),
        _field("section_index", pa.int32(), "Position of the section in the note (0-based).", nullable=False),
        _field(
            "sentence_index",
            pa.int32(),
            "Position of the sentence within its section (0-based).",
            nullable=False,
        ),
        _field("text", pa.string(), "SummarizedSegment: one sentence of the generated note."),
        _field(
            "source",
            pa.string(),
            "service (the note the service wrote) | reviewed (the note a reviewer signed off); null in "
            "partitions written before the column existed (service).",
        ),
    ]
)

NOTE_EVIDENCE = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the source recording.", nullable=False),
        _field(
            "job_name", pa.string(), "Job (or streaming SessionId) that produced the note.", nullable=False
        ),
        _field("section_name", pa.string(), "SectionName of the sentence."),
        _field("section_index", pa.int32(), "Position of the section in the note.", nullable=False),
        _field("sentence_index", pa.int32(), "Position of the sentence within its section.", nullable=False),
        _field("evidence_index", pa.int32(), "Position of the link in EvidenceLinks.", nullable=False),
        _field("segment_id", pa.string(), "EvidenceLinks[].SegmentId (joins transcript_segments)."),
    ]
)

REVIEW_QUEUE = pa.schema(
    [
        _field(
            "recording_id",
            pa.string(),
            "Id of the recording whose transcript is under a bar.",
            nullable=False,
        ),
        _field("job_name", pa.string(), "Job that produced the transcript."),
        _field(
            "metric",
            pa.string(),
            "mean_confidence | low_word_share | segment_coverage | note_sentences.",
            nullable=False,
        ),
        _field("value", pa.float64(), "The transcript's value of the metric."),
        _field("threshold", pa.float64(), "The bar it was held to (the night's configuration)."),
        _field("bound", pa.string(), "min (value must be >= threshold) | max (value must be <= threshold)."),
    ]
)

NOTE_SOURCES = ("service", "reviewed")
#: the decisions a reviewer can record, by item kind
REVIEW_DECISION_VALUES = {
    "word": ("correct",),
    "sentence": ("correct", "wrong"),
    "recording": ("accept", "reject", "sign_off"),
}

REVIEW_DECISIONS = pa.schema(
    [
        _field("recording_id", pa.string(), "Id of the recording reviewed.", nullable=False),
        _field("job_name", pa.string(), "Job whose output was reviewed.", nullable=False),
        _field("item_kind", pa.string(), "word | sentence | recording.", nullable=False),
        _field(
            "item_key",
            pa.string(),
            "word: transcript_words.item_index; sentence: section_index.sentence_index; recording: null.",
        ),
        _field(
            "before",
            pa.string(),
            "The word or sentence as it was (the service's); null for recording decisions.",
        ),
        _field(
            "after", pa.string(), "The reviewer's text (correct); null for wrong, accept, reject, sign_off."
        ),
        _field(
            "decision",
            pa.string(),
            "word: correct; sentence: correct | wrong; recording: accept | reject | sign_off.",
            nullable=False,
        ),
        _field("reviewer", pa.string(), "Airflow user name of the reviewer.", nullable=False),
        _field("decided_at", _UTC_US, "When the decision was recorded.", nullable=False),
    ]
)

GOVERNANCE_AUDIT = pa.schema(
    [
        _field("action", pa.string(), "forget | retention.", nullable=False),
        _field(
            "outcome",
            pa.string(),
            "removed | nothing_found | input_not_found (an original key that no longer exists).",
            nullable=False,
        ),
        _field(
            "recording_id",
            pa.string(),
            "Id of the recording acted on; null when the input named no recording found.",
        ),
        _field("recording_nights", pa.string(), "Nights the recording was found in, comma-separated."),
        _field("originals", pa.int64(), "Original uploads (and their sidecars) deleted.", nullable=False),
        _field("staged", pa.int64(), "Staged audio copies deleted.", nullable=False),
        _field("quarantined", pa.int64(), "Quarantine copies deleted.", nullable=False),
        _field(
            "service_outputs",
            pa.int64(),
            "Service output files (transcripts, clinical documents) deleted.",
            nullable=False,
        ),
        _field(
            "service_jobs",
            pa.int64(),
            "Job records deleted on the service or engine (DeleteMedical*Job).",
            nullable=False,
        ),
        _field("ledger_entries", pa.int64(), "Ledger entries deleted.", nullable=False),
        _field("lake_rows", pa.int64(), "Lake rows removed, all tables and nights.", nullable=False),
        _field("lake_rows_by_table", pa.string(), "Lake rows removed per table, as JSON."),
        _field(
            "quality_reports",
            pa.int64(),
            "Nights whose quality report and data docs were regenerated without it.",
            nullable=False,
        ),
        _field("requested_by", pa.string(), "The user who triggered the DAG run (null for scheduled runs)."),
        _field("run_id", pa.string(), "The DAG run that acted.", nullable=False),
        _field("acted_at", _UTC_US, "When the action finished.", nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "jobs": JOBS,
    "transcript_words": TRANSCRIPT_WORDS,
    "transcript_segments": TRANSCRIPT_SEGMENTS,
    "recordings": RECORDINGS,
    "clinical_insights": CLINICAL_INSIGHTS,
    "insight_attributes": INSIGHT_ATTRIBUTES,
    "note_sentences": NOTE_SENTENCES,
    "note_evidence": NOTE_EVIDENCE,
    "review_queue": REVIEW_QUEUE,
    # appended by the reviewer page, partitioned by the recording's night
    "review_decisions": REVIEW_DECISIONS,
    # partitioned by the day the action ran (its "night"), not by the recording's night
    "governance_audit": GOVERNANCE_AUDIT,
}


def schema_snapshot(tables: dict[str, pa.Schema] | None = None) -> dict[str, list[dict]]:
    """The tables' columns as plain data (name, Arrow type string, nullable), for a committed snapshot.

    :param tables: schemas by table name; ``TABLES`` if None.
    """
    return {
        name: [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
        for name, schema in (TABLES if tables is None else tables).items()
    }


def evolution_violations(
    snapshot: dict[str, list[dict]], tables: dict[str, pa.Schema] | None = None
) -> list[str]:
    """Breaches of the schema-evolution rule between a snapshot and the current schemas.

    Allowed: new tables; new columns appended after the snapshot's columns if nullable; a non-nullable
    column becoming nullable. Anything else (a table or column dropped, renamed, retyped, reordered, a
    column inserted before existing ones, a new non-nullable column, a column made non-nullable) is a
    violation.

    :param snapshot: a ``schema_snapshot()`` taken earlier.
    :param tables: schemas by table name; ``TABLES`` if None.
    :return: one sentence per violation; empty if the change is allowed.
    """
    current = schema_snapshot(tables)
    problems = []
    for table, old_columns in snapshot.items():
        if table not in current:
            problems.append(f"{table}: table dropped")
            continue
        new_columns = current[table]
        for position, old in enumerate(old_columns):
            new = new_columns[position] if position < len(new_columns) else None
            if new is None:
                problems.append(f"{table}.{old['name']}: column dropped")
            elif new["name"] != old["name"]:
                problems.append(
                    f"{table}: column {position} is {new['name']!r}, was {old['name']!r} (renamed, reordered, "
                    "inserted or dropped)"
                )
            elif new["type"] != old["type"]:
                problems.append(f"{table}.{old['name']}: type changed from {old['type']} to {new['type']}")
            elif old["nullable"] and not new["nullable"]:
                problems.append(f"{table}.{old['name']}: made non-nullable")
        for new in new_columns[len(old_columns) :]:
            if not new["nullable"]:
                problems.append(f"{table}.{new['name']}: new column must be nullable")
    return problems

"""The nightly flatten step (night.flatten.flatten_night) on S3 outputs, without Airflow: the night's outputs
(AWS's published examples and the offline engine's) land with the rows each file gives alone, in the
recordings' order, a rerun gives the same partitions, and a bad output fails the step with a message
naming the job and the field (not the key or the content) and the previous partitions intact."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pyarrow as pa
import pytest

from medscribe.lake.parse import (
    healthscribe_clinical_document_tables,
    healthscribe_transcript_tables,
    transcribe_medical_words_table,
)
from medscribe.lake.store import read_table
from medscribe.night.flatten import flatten_night
from tests.conftest import boto3_client

FIXTURES = Path(__file__).parent / "fixtures"
NIGHT = "2026-11-24"
BUCKET = "flatten-night-test"
# (folder, transcript, clinical document or None, service)
OUTPUTS = [
    ("aws", "healthscribe_transcript", "healthscribe_clinical_document", "healthscribe"),
    ("aws", "transcribe_medical_speaker_labels", None, "transcribe_medical"),
    ("aws", "transcribe_medical_channel_id", None, "transcribe_medical"),
    ("engine", "healthscribe_stereo", "healthscribe_stereo_clinical_document", "healthscribe"),
    ("engine", "healthscribe_mono", "healthscribe_mono_clinical_document", "healthscribe"),
    ("engine", "transcribe_medical_speakers", None, "transcribe_medical"),
    ("engine", "transcribe_medical_channels", None, "transcribe_medical"),
    ("engine", "transcribe_medical_alternatives", None, "transcribe_medical"),
]
TRANSCRIPT_TABLES = ("transcript_words", "transcript_segments", "clinical_insights", "insight_attributes")


def recording(index: int, service: str) -> dict:
    return {
        "recording_id": f"{index:02d}" + "ab" * 31,
        "service": service,
        "job_name": f"medscribe-{'hs' if service == 'healthscribe' else 'tm'}-{index:02d}",
        "audio": {"media_format": "wav", "sample_rate_hz": 16000},
        "options": {"Settings": {"ClinicalNoteGenerationSettings": {"NoteTemplate": "GIRPP"}}}
        if service == "healthscribe"
        else {},
    }


@pytest.fixture()
def night(s3_only):
    """The outputs in S3 under patient-like keys, with the recordings and job descriptions pointing at them."""
    s3 = boto3_client("s3", s3_only.s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    recordings, jobs = [], {}
    for index, (folder, transcript, document, service) in enumerate(OUTPUTS):
        rec = recording(index, service)
        key = f"out/Jane-Canary-Doe-{index}/{transcript}.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=(FIXTURES / folder / f"{transcript}.json").read_bytes())
        uri = f"s3://{BUCKET}/{key}"
        if service == "healthscribe":
            output = {"TranscriptFileUri": uri}
            if document:
                note_key = f"out/Jane-Canary-Doe-{index}/{document}.json"
                s3.put_object(
                    Bucket=BUCKET, Key=note_key, Body=(FIXTURES / folder / f"{document}.json").read_bytes()
                )
                output["ClinicalDocumentUri"] = f"s3://{BUCKET}/{note_key}"
            jobs[rec["job_name"]] = {"MedicalScribeJobStatus": "COMPLETED", "MedicalScribeOutput": output}
        else:
            jobs[rec["job_name"]] = {
                "TranscriptionJobStatus": "COMPLETED",
                "Transcript": {"TranscriptFileUri": uri},
            }
        recordings.append(rec)
    failed = recording(len(OUTPUTS), "transcribe_medical")  # a failed job: a jobs row, no words
    jobs[failed["job_name"]] = {"TranscriptionJobStatus": "FAILED", "FailureReason": "unsupported media"}
    never = recording(len(OUTPUTS) + 1, "healthscribe")  # never started: describe fails
    recordings += [failed, never]

    def describe_job(service: str, job_name: str) -> dict:
        if job_name not in jobs:
            raise LookupError("no such job")
        return jobs[job_name]

    return {"s3": s3, "recordings": recordings, "describe_job": describe_job, "jobs": jobs}


def run(night: dict, lake: Path) -> dict[str, int]:
    return flatten_night(
        recordings=night["recordings"],
        describe_job=night["describe_job"],
        s3_client=night["s3"],
        lake_uri=str(lake),
        night=NIGHT,
    )


def expected_tables(night: dict) -> dict[str, pa.Table]:
    """Every completed output flattened alone (lake.parse), in the recordings' order: what the lake must
    hold once the night's files are flattened together, batched and downloaded as the night does it."""
    parts: dict[str, list[pa.Table]] = {
        name: [] for name in (*TRANSCRIPT_TABLES, "note_sentences", "note_evidence")
    }
    for (folder, transcript, document, service), rec in zip(OUTPUTS, night["recordings"], strict=False):
        doc = json.loads((FIXTURES / folder / f"{transcript}.json").read_bytes())
        ids = {"recording_id": rec["recording_id"], "job_name": rec["job_name"]}
        if service == "healthscribe":
            tables = healthscribe_transcript_tables(doc, **ids, with_insights=True)
            if document:
                note = json.loads((FIXTURES / folder / f"{document}.json").read_bytes())
                tables.update(healthscribe_clinical_document_tables(note, **ids, note_template="GIRPP"))
        else:
            tables = {"transcript_words": transcribe_medical_words_table(doc, **ids)}
        for name, table in tables.items():
            parts[name].append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def rows(table: pa.Table) -> list[dict]:
    """Rows without the partition column, NaN spelled "NaN" (NaN != NaN)."""
    if "night" in table.column_names:
        table = table.drop_columns(["night"])
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]


def test_flatten_night_writes_each_files_rows_in_the_recordings_order(night, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="medscribe.night.flatten")
    counts = run(night, tmp_path / "lake")

    expected = expected_tables(night)
    for name, table in expected.items():
        got = read_table(name, str(tmp_path / "lake"), night=NIGHT)
        assert counts[name] == got.num_rows == table.num_rows > 0, name
        assert rows(got) == rows(table), name
    words = read_table("transcript_words", str(tmp_path / "lake"), night=NIGHT)
    # AWS quirks: string times/confidences as floats, untimed punctuation, speaker labels found only
    # under speaker_labels.segments
    aws_speakers = words.filter(
        pa.compute.equal(words["job_name"], night["recordings"][1]["job_name"])
    ).to_pylist()
    assert [(w["content"], w["start_time"], w["confidence"], w["speaker_label"]) for w in aws_speakers] == [
        ("Professional", 0.1, 0.8162, "spk_0"),
        ("answer", 0.69, 0.9939, "spk_0"),
        (".", None, None, "spk_0"),
    ]
    jobs = read_table("jobs", str(tmp_path / "lake"), night=NIGHT).to_pylist()
    assert [j["status"] for j in jobs] == ["COMPLETED"] * len(OUTPUTS) + ["FAILED", "NOT_STARTED"]
    # the log gives counts, not keys or text
    assert f"({len(OUTPUTS)} transcripts)" in caplog.text
    assert "Jane-Canary-Doe" not in caplog.text
    assert not [p for p in (tmp_path / "lake").rglob(".*")]  # no hidden temporary partition left


def test_flatten_night_rerun_gives_the_same_partitions(night, tmp_path):
    lake = tmp_path / "lake"
    first = run(night, lake)
    before = {name: rows(read_table(name, str(lake), night=NIGHT)) for name in first}
    assert run(night, lake) == first
    for name, table_rows in before.items():
        assert rows(read_table(name, str(lake), night=NIGHT)) == table_rows, name
    assert sorted(p.name for p in (lake / "transcript_words").iterdir()) == [f"night={NIGHT}"]


def test_a_reviewed_note_beside_the_services_survives_a_rerun(night, tmp_path):
    """A signed-off note (``<name>.reviewed.json``) is flattened again with source "reviewed", beside the
    service's sentences, and a second rerun writes the same rows (no duplicates)."""
    hs = next(
        r
        for r in night["recordings"]
        if r["job_name"] in night["jobs"]
        and night["jobs"][r["job_name"]].get("MedicalScribeOutput", {}).get("ClinicalDocumentUri")
    )
    note_uri = night["jobs"][hs["job_name"]]["MedicalScribeOutput"]["ClinicalDocumentUri"]
    bucket, key = note_uri[len("s3://") :].split("/", 1)
    note = json.loads(night["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())
    first = note["ClinicalDocumentation"]["Sections"][0]["Summary"][0]
    first["SummarizedSegment"] = "Corrected by the reviewer."
    night["s3"].put_object(
        Bucket=bucket, Key=key.removesuffix(".json") + ".reviewed.json", Body=json.dumps(note)
    )

    lake = tmp_path / "lake"
    run(night, lake)
    sentences = read_table("note_sentences", str(lake), night=NIGHT).to_pylist()
    reviewed = [s for s in sentences if s["source"] == "reviewed"]
    assert {s["job_name"] for s in reviewed} == {hs["job_name"]}
    assert "Corrected by the reviewer." in [s["text"] for s in reviewed]
    service = [s for s in sentences if s["job_name"] == hs["job_name"] and s["source"] == "service"]
    assert len(service) == len(reviewed) and "Corrected by the reviewer." not in [s["text"] for s in service]
    run(night, lake)
    assert rows(read_table("note_sentences", str(lake), night=NIGHT)) == rows(pa.Table.from_pylist(sentences))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"results": {"items": [{"type": "pronunciation", "start_time": "1.0", "end_time": "1.2", '
            b'"alternatives": [{"content": "Canary", "confidence": "high"}]}]}}',
            r"transcript of job medscribe-tm-01: results\.items\[\]\.alternatives\[\]\.confidence is not a number$",
        ),
        (
            b'{"results": {"items": [{"type": "pronunciation", "alternatives": [{"content": "Canary"',
            r"transcript of job medscribe-tm-01: not valid JSON",
        ),
        (
            b'{"ClinicalDocumentation": {"Sections": []}}',
            r"transcript of job medscribe-tm-01: expected a HealthScribe transcript or a Transcribe output",
        ),
    ],
)
def test_bad_output_fails_with_the_job_named_and_keeps_the_previous_partitions(
    night, tmp_path, body, message
):
    lake = tmp_path / "lake"
    run(night, lake)
    before = {name: rows(read_table(name, str(lake), night=NIGHT)) for name in TRANSCRIPT_TABLES}
    uri = night["jobs"]["medscribe-tm-01"]["Transcript"]["TranscriptFileUri"]
    night["s3"].put_object(Bucket=BUCKET, Key=uri.split("/", 3)[3], Body=body)

    with pytest.raises(ValueError, match=message) as raised:
        run(night, lake)
    assert "Canary" not in str(raised.value) and "Jane" not in str(raised.value)
    for name, table_rows in before.items():
        assert rows(read_table(name, str(lake), night=NIGHT)) == table_rows, name

"""The reviewed clinical note: the service's document with the reviewer's sentence decisions applied.

It keeps the service's format (``{"ClinicalDocumentation": {"Sections": [{"SectionName", "Summary":
[{"SummarizedSegment", "EvidenceLinks"}]}]}}``), so the lake's parser reads it as it reads the service's.
A corrected sentence keeps its evidence links; a sentence marked wrong is left out; a section left with
no sentence is left out. It is written beside the service's file (``<name>.reviewed.json``) and its
sentences replace the recording's ``source = 'reviewed'`` rows of the night's ``note_sentences``.
``note_evidence`` keeps the service's links only (its key has no source); the reviewed file has its own.
"""

from __future__ import annotations

import copy
import json
import posixpath
import threading
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medscribe.lake.parse import healthscribe_clinical_document_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import read_table, write_partition

_WRITE = threading.Lock()


def sentence_key(section_index: int, sentence_index: int) -> str:
    """The ``item_key`` of a note sentence in ``review_decisions``."""
    return f"{section_index}.{sentence_index}"


def reviewed_document(
    service: dict[str, Any], sentence_decisions: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The service's clinical document with the latest sentence decisions applied.

    :param service: the service's clinical document (parsed JSON).
    :param sentence_decisions: the latest ``review_decisions`` row per sentence key.
    """
    document = copy.deepcopy(service)
    body = document["ClinicalDocumentation"]
    sections = []
    for section_index, section in enumerate(body.get("Sections") or []):
        kept = []
        for sentence_index, sentence in enumerate(section.get("Summary") or []):
            decided = sentence_decisions.get(sentence_key(section_index, sentence_index))
            if decided is not None and decided["decision"] == "wrong":
                continue
            if decided is not None and decided["decision"] == "correct":
                sentence = {**sentence, "SummarizedSegment": decided["after"]}
            kept.append(sentence)
        if kept:
            sections.append({**section, "Summary": kept})
    body["Sections"] = sections
    return document


def reviewed_uri(service_uri: str) -> tuple[str, str]:
    """Bucket and key of the reviewed note beside the service's file at ``service_uri``."""
    from medscribe.outputs import split_output_uri

    bucket, key = split_output_uri(service_uri)
    stem, extension = posixpath.splitext(key)
    return bucket, f"{stem}.reviewed{extension or '.json'}"


def write_reviewed_note(
    s3_client, service_uri: str, sentence_decisions: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """Read the service's note, apply the decisions and write the reviewed note beside it.

    :param s3_client: a boto3 S3 client (the Airflow AWS connection's).
    :param service_uri: ``jobs.clinical_document_uri`` of the recording.
    :param sentence_decisions: the latest ``review_decisions`` row per sentence key.
    :return: the reviewed document and its ``s3://`` URI.
    """
    from medscribe.outputs import read_json_object

    document = reviewed_document(read_json_object(s3_client, service_uri), sentence_decisions)
    bucket, key = reviewed_uri(service_uri)
    s3_client.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json"
    )
    return document, f"s3://{bucket}/{key}"


def flatten_reviewed_note(
    lake_uri: str, night: str, document: dict[str, Any], *, recording_id: str, job_name: str
) -> int:
    """Replace the recording's reviewed rows of the night's ``note_sentences`` with this document's.

    :param lake_uri: the lake.
    :param night: the recording's night.
    :param document: the reviewed clinical document.
    :param recording_id: the recording.
    :param job_name: the job whose note was reviewed.
    :return: the number of reviewed sentences written.
    """
    with _WRITE:
        existing = read_table("note_sentences", lake_uri, night=night).drop_columns(["night"])
        template = None
        service = existing.filter(pc.equal(existing["recording_id"], recording_id)).to_pylist()
        if service:
            template = service[0]["note_template"]
        ids = {"recording_id": recording_id, "job_name": job_name}
        reviewed = healthscribe_clinical_document_tables(
            document, **ids, note_template=template, source="reviewed"
        )["note_sentences"]
        mine = pc.and_(
            pc.equal(existing["recording_id"], recording_id),
            pc.fill_null(pc.equal(existing["source"], "reviewed"), False),
        )
        kept = existing.filter(pc.invert(mine)).cast(TABLES["note_sentences"])
        write_partition("note_sentences", pa.concat_tables([kept, reviewed]), lake_uri, night)
    return reviewed.num_rows

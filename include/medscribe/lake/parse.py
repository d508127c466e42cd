"""Flatten one parsed AWS output document (``json.load``) into Arrow tables with the schemas of
:mod:`medscribe.lake.schemas`; no I/O.

Transcripts (HealthScribe's ``Conversation``, Transcribe Medical's ``results``) go through the lake's one
transcript flattener, :func:`medscribe.lake.columnar.flatten_transcripts`, as a batch of one file: its
package docstring has the rules of every column. HealthScribe clinical documents (small, not handled
there) are flattened here. A document of the wrong kind raises ``ValueError``; error messages never
quote transcript text (it is patient data).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from medscribe.lake.columnar import flatten_transcripts
from medscribe.lake.schemas import NOTE_EVIDENCE, NOTE_SENTENCES, NOTE_SOURCES

_KIND_NAMES = {
    "healthscribe_transcript": "a HealthScribe transcript file ({'Conversation': ...})",
    "healthscribe_clinical_document": "a HealthScribe clinical document ({'ClinicalDocumentation': ...})",
    "transcribe": "an Amazon Transcribe (Medical) output ({'results': ...})",
}


def document_kind(doc: Any) -> str | None:
    """Return which AWS output a parsed JSON document is, from its top-level key only.

    :param doc: the parsed JSON document.
    :return: "healthscribe_transcript", "healthscribe_clinical_document", "transcribe" or None.
    """
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("Conversation"), dict):
        return "healthscribe_transcript"
    if isinstance(doc.get("ClinicalDocumentation"), dict):
        return "healthscribe_clinical_document"
    if isinstance(doc.get("results"), dict):
        return "transcribe"
    return None


def _expect(doc: Any, kind: str, recording_id: str, job_name: str) -> None:
    """Raise ValueError unless doc is of the given kind and the ids are usable; never quotes content."""
    for name, value in (("recording_id", recording_id), ("job_name", job_name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    found = document_kind(doc)
    if found != kind:
        got = _KIND_NAMES[found] if found else f"a {type(doc).__name__} without a known top-level key"
        raise ValueError(f"expected {_KIND_NAMES[kind]}, got {got}")


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _flatten(doc: dict, recording_id: str, job_name: str) -> dict[str, pa.Table]:
    """One transcript document through ``flatten_transcripts``; its ValueError without "file 0: "."""
    data = json.dumps(doc, ensure_ascii=False).encode()
    try:
        return flatten_transcripts([(recording_id, job_name, data)], use_threads=False)
    except ValueError as error:
        raise ValueError(str(error).removeprefix("file 0: ")) from None


def healthscribe_transcript_tables(
    doc: dict, *, recording_id: str, job_name: str, with_insights: bool = False
) -> dict[str, pa.Table]:
    """Flatten a HealthScribe transcript file into ``transcript_words`` and ``transcript_segments``
    (and, with ``with_insights``, ``clinical_insights`` and ``insight_attributes``).

    :param doc: parsed JSON of the file at ``MedicalScribeOutput.TranscriptFileUri``.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name (the file's own JobName is a placeholder in AWS examples, and
        streaming output has a SessionId instead).
    :param with_insights: also return (and check) the two insight tables.
    :return: {"transcript_words": table, "transcript_segments": table} (+ the insight tables).
    :raises ValueError: not a HealthScribe transcript, or a value the flattener refuses (the message
        names its JSON path, such as ``Conversation.TranscriptItems[].BeginAudioTime is not a number``).
    """
    _expect(doc, "healthscribe_transcript", recording_id, job_name)
    names = ["transcript_words", "transcript_segments"]
    if with_insights:
        names += ["clinical_insights", "insight_attributes"]
    else:  # neither returned nor checked
        conversation = {k: v for k, v in doc["Conversation"].items() if k != "ClinicalInsights"}
        doc = {**doc, "Conversation": conversation}
    tables = _flatten(doc, recording_id, job_name)
    return {name: tables[name] for name in names}


def transcribe_medical_words_table(doc: dict, *, recording_id: str, job_name: str) -> pa.Table:
    """Flatten an Amazon Transcribe Medical output (``TranscriptFileUri``) into ``transcript_words``
    (whole-transcript alternatives under ``results.segments``, written with ShowAlternatives, are not
    flattened).

    :param doc: parsed JSON of the transcript file.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name.
    :return: the ``transcript_words`` table.
    :raises ValueError: not a Transcribe output, or a value the flattener refuses (the message names its
        JSON path, such as ``results.items[].start_time is not a number``).
    """
    _expect(doc, "transcribe", recording_id, job_name)
    return _flatten(doc, recording_id, job_name)["transcript_words"]


def healthscribe_clinical_document_tables(
    doc: dict, *, recording_id: str, job_name: str, note_template: str | None = None, source: str = "service"
) -> dict[str, pa.Table]:
    """Flatten a HealthScribe clinical document into ``note_sentences`` and ``note_evidence``.

    Reads ``{"ClinicalDocumentation": {"Sections": [{"SectionName", "Summary": [{"SummarizedSegment",
    "EvidenceLinks": [{"SegmentId"}]}]}]}}``; the streaming variant (with ``SessionId`` beside
    ``Sections``) is read the same way. ``note_sentences`` has one row per SummarizedSegment (key
    recording_id, job_name, section_index, sentence_index; sentence_index counts within the section);
    ``note_evidence`` one row per evidence link (same key + evidence_index). A sentence without evidence
    has no ``note_evidence`` row.

    :param doc: parsed JSON of the file at ``MedicalScribeOutput.ClinicalDocumentUri``.
    :param recording_id: id of the recording the job transcribed.
    :param job_name: the job's name (for streaming sessions, the SessionId).
    :param note_template: ``Settings.ClinicalNoteGenerationSettings.NoteTemplate`` of the job, if known
        (the file does not say which template produced it).
    :param source: ``note_sentences.source``: "service" (the service's note) or "reviewed" (a reviewer's
        signed-off note in the same format, ``medscribe.review.notes``).
    :return: {"note_sentences": table, "note_evidence": table}.
    :raises ValueError: not a HealthScribe clinical document, or unusable ids.
    """
    _expect(doc, "healthscribe_clinical_document", recording_id, job_name)
    if source not in NOTE_SOURCES:
        raise ValueError(f"source must be one of {NOTE_SOURCES}")
    if note_template is not None and not isinstance(note_template, str):
        raise ValueError("note_template must be a string or None")
    ids = {"recording_id": recording_id, "job_name": job_name}
    sentences, evidence = [], []
    for section_index, raw_section in enumerate(_list(doc["ClinicalDocumentation"].get("Sections"))):
        section = _obj(raw_section)
        name = section.get("SectionName")
        for sentence_index, raw_sentence in enumerate(_list(section.get("Summary"))):
            sentence = _obj(raw_sentence)
            where = {"section_name": name, "section_index": section_index, "sentence_index": sentence_index}
            text = sentence.get("SummarizedSegment")
            sentences.append(
                {
                    **ids,
                    "note_template": note_template,
                    **where,
                    "text": text if isinstance(text, str) else None,
                    "source": source,
                }
            )
            for evidence_index, link in enumerate(_list(sentence.get("EvidenceLinks"))):
                evidence.append(
                    {
                        **ids,
                        **where,
                        "evidence_index": evidence_index,
                        "segment_id": _obj(link).get("SegmentId"),
                    }
                )
    return {
        "note_sentences": pa.Table.from_pylist(sentences, schema=NOTE_SENTENCES),
        "note_evidence": pa.Table.from_pylist(evidence, schema=NOTE_EVIDENCE),
    }

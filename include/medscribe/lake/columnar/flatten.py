"""The column-wise flattener's entry point: :func:`flatten_transcripts` cuts the files into batches, each
flattened column-wise, else file by file, else through ``json.loads`` and parse.py."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medscribe.lake import parse
from medscribe.lake.columnar.healthscribe import _healthscribe
from medscribe.lake.columnar.kernels import _Decline
from medscribe.lake.columnar.reader import _read, _struct_column
from medscribe.lake.columnar.transcribe import _transcribe
from medscribe.lake.columnar.words import _assemble
from medscribe.lake.schemas import (
    CLINICAL_INSIGHTS,
    INSIGHT_ATTRIBUTES,
    TRANSCRIPT_SEGMENTS,
    TRANSCRIPT_WORDS,
)

TRANSCRIPT_TABLES = {
    "transcript_words": TRANSCRIPT_WORDS,
    "transcript_segments": TRANSCRIPT_SEGMENTS,
    "clinical_insights": CLINICAL_INSIGHTS,
    "insight_attributes": INSIGHT_ATTRIBUTES,
}
BATCH_BYTES = 16 << 20


def _columnar(batch: Sequence[tuple[str, str, bytes]], use_threads: bool) -> dict[str, pa.Table]:
    """The four tables of a batch, column-wise, or _Decline."""
    for recording_id, job_name, _ in batch:
        if (
            not isinstance(recording_id, str)
            or not recording_id
            or not isinstance(job_name, str)
            or not job_name
        ):
            raise _Decline  # parse.py raises its message
    table = _read(batch, use_threads)
    conv, is_hs = _struct_column(table, "Conversation")
    _, is_note = _struct_column(table, "ClinicalDocumentation")
    results, is_tm = _struct_column(table, "results")
    is_tm &= ~is_hs & ~is_note  # parse.document_kind's order
    if not (is_hs | is_tm).all():
        raise _Decline  # not a transcript file: parse.py's error
    rec = pa.array([r for r, _, _ in batch], pa.string())
    job = pa.array([j for _, j, _ in batch], pa.string())
    parts: dict[str, list[tuple[np.ndarray, pa.Table]]] = {name: [] for name in TRANSCRIPT_TABLES}
    hs_docs, tm_docs = np.flatnonzero(is_hs), np.flatnonzero(is_tm)
    # each service's code reads every file's struct (null for the other files: no rows) unless some
    # file holds a struct it must not read (results beside a Conversation): then only its own files
    if len(hs_docs):
        for name, part in _healthscribe(conv, np.arange(len(batch)), rec, job).items():
            parts[name].append(part)
    if len(tm_docs):
        has_results = pc.is_valid(results).to_numpy(zero_copy_only=False)
        if (has_results == is_tm).all():
            own, docs = results, np.arange(len(batch))
        else:
            assert results is not None  # is_tm is all False without a results struct
            own, docs = results.filter(pa.array(is_tm)), tm_docs
        for name, part in _transcribe(own, docs, rec, job).items():
            parts[name].append(part)
    out = {}
    for name, pieces in parts.items():
        if not pieces:
            out[name] = TRANSCRIPT_TABLES[name].empty_table()
        elif name == "transcript_words":
            out[name] = _assemble(TRANSCRIPT_WORDS, pieces)
        elif len(pieces) == 1:
            out[name] = pieces[0][1]
        else:  # both services in the batch: each file's rows (contiguous in its piece) back in file order
            files = np.concatenate([files for files, _ in pieces])
            table = pa.concat_tables([table for _, table in pieces])
            out[name] = table.take(pa.array(np.argsort(files, kind="stable"))).combine_chunks()
    return out


def _reference(recording_id: str, job_name: str, data: bytes, position: int) -> dict[str, pa.Table]:
    """One file through ``json.loads`` and parse.py; ValueError naming the file's position if it is bad."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"file {position}: not valid JSON ({type(error).__name__})") from None
    ids = {"recording_id": recording_id, "job_name": job_name}
    kind = parse.document_kind(doc)
    try:
        if kind == "transcribe":
            tables = {"transcript_words": parse.transcribe_medical_words_table(doc, **ids)}
        else:  # a HealthScribe transcript, or parse.py's error for anything else
            tables = parse.healthscribe_transcript_tables(doc, **ids, with_insights=True)
    except ValueError as error:
        if kind not in ("transcribe", "healthscribe_transcript"):
            got = "a HealthScribe clinical document" if kind else "no transcript"
            raise ValueError(
                f"file {position}: expected a HealthScribe transcript or a Transcribe output, got {got}"
            ) from None
        raise ValueError(f"file {position}: {error}") from None
    return {name: tables.get(name, schema.empty_table()) for name, schema in TRANSCRIPT_TABLES.items()}


def _flatten_batch(
    batch: Sequence[tuple[str, str, bytes]], first: int, use_threads: bool, counts: dict[str, int]
) -> list[dict[str, pa.Table]]:
    """Tables of one batch: column-wise if possible, else file by file, else through parse.py.

    An Arrow error inside the column-wise code (a kernel refusing a value, such as a cast out of
    range) is treated as a decline: parse.py then gives the rows or its own error."""
    try:
        tables = _columnar(batch, use_threads)
    except (_Decline, pa.ArrowException):
        if len(batch) > 1:
            return [
                part
                for i, item in enumerate(batch)
                for part in _flatten_batch([item], first + i, use_threads, counts)
            ]
        counts["reference"] += 1
        return [_reference(*batch[0], first)]
    counts["columnar"] += len(batch)
    return [tables]


def flatten_transcripts(
    files: Iterable[tuple[str, str, bytes]],
    *,
    batch_bytes: int = BATCH_BYTES,
    use_threads: bool = True,
    counts: dict[str, int] | None = None,
) -> dict[str, pa.Table]:
    """Flatten transcript files (HealthScribe transcripts and Transcribe outputs, mixed) into
    ``transcript_words``, ``transcript_segments``, ``clinical_insights`` and ``insight_attributes``.

    The rows are those of ``parse.healthscribe_transcript_tables(doc, ..., with_insights=True)`` and
    ``parse.transcribe_medical_words_table(doc, ...)`` for each file, concatenated in the files' order.

    :param files: (recording_id, job_name, raw bytes of the file) per file.
    :param batch_bytes: files are parsed together until a batch holds this many bytes (the JSON reader
        parallelises within a batch; memory grows with it).
    :param use_threads: let Arrow use all cores (``pyarrow.cpu_count()``) for parsing and kernels.
    :param counts: if given, ``counts["columnar"]`` and ``counts["reference"]`` are increased by the
        number of files flattened column-wise and through parse.py.
    :return: the four tables, with the schemas of :mod:`medscribe.lake.schemas` (empty if no rows).
    :raises ValueError: a file that is not JSON or not a transcript file, or that parse.py refuses
        (the message names the file's position in ``files`` and never quotes its content).
    """
    counts = counts if counts is not None else {}
    counts.setdefault("columnar", 0)
    counts.setdefault("reference", 0)
    pieces: list[dict[str, pa.Table]] = []
    batch: list[tuple[str, str, bytes]] = []
    size = first = 0
    for position, item in enumerate(files):
        batch.append(item)
        size += len(item[2])
        if size >= batch_bytes:
            pieces += _flatten_batch(batch, first, use_threads, counts)
            batch, size, first = [], 0, position + 1
    if batch:
        pieces += _flatten_batch(batch, first, use_threads, counts)
    return {
        name: pa.concat_tables([p[name] for p in pieces]) if pieces else schema.empty_table()
        for name, schema in TRANSCRIPT_TABLES.items()
    }

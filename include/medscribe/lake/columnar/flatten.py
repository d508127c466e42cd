"""The flattener's entry point: :func:`flatten_transcripts` cuts the files into batches and flattens each
column-wise; a batch that cannot be read as one is flattened file by file, and a file that still cannot
be read raises ``ValueError`` with its position."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medscribe.lake.columnar.healthscribe import _healthscribe
from medscribe.lake.columnar.kernels import _Decline
from medscribe.lake.columnar.reader import _check_column, _read, _struct_column, _Unread
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
_NOT_A_TRANSCRIPT = "expected a HealthScribe transcript or a Transcribe output, got "


def _columnar(batch: Sequence[tuple[str, str, bytes]], use_threads: bool) -> dict[str, pa.Table]:
    """The four tables of a batch, column-wise, or _Decline."""
    for ids in batch:
        for name, value in zip(("recording_id", "job_name"), ids[:2], strict=True):
            if not isinstance(value, str) or not value:
                raise _Decline(f"{name} must be a non-empty string")
    table = _read(batch, use_threads)
    conv, is_hs = _struct_column(table, "Conversation")
    _, is_note = _struct_column(table, "ClinicalDocumentation")
    results, is_tm = _struct_column(table, "results")
    is_tm &= ~is_hs & ~is_note  # a Conversation wins, then a clinical document, then results
    if not (is_hs | is_tm).all():
        other = "a HealthScribe clinical document" if is_note[~(is_hs | is_tm)][0] else "no transcript"
        raise _Decline(_NOT_A_TRANSCRIPT + other)
    if is_hs.any():
        _check_column(conv, "Conversation")
    if is_tm.any():
        _check_column(results, "results")
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


def _reason(data: bytes, decline: _Decline) -> str:
    """Why a single file cannot be flattened. For a file Arrow could not read, ``json`` tells whether it
    is JSON and a transcript at all (Arrow's reason otherwise: NaN, a number beyond float64, a field
    holding two JSON types)."""
    if isinstance(decline, _Unread):
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
            return f"not valid JSON ({type(error).__name__})"
        top = doc if isinstance(doc, dict) else {}
        if not isinstance(top.get("Conversation"), dict):
            if isinstance(top.get("ClinicalDocumentation"), dict):
                return _NOT_A_TRANSCRIPT + "a HealthScribe clinical document"
            if not isinstance(top.get("results"), dict):
                return _NOT_A_TRANSCRIPT + "no transcript"
    return decline.reason


def _flatten_batch(
    batch: Sequence[tuple[str, str, bytes]], first: int, use_threads: bool
) -> list[dict[str, pa.Table]]:
    """Tables of one batch, else of each of its files (a field that is a number in one file and a
    string in another cannot be one Arrow column); ValueError for a single file that cannot be read.

    An Arrow error inside a kernel (a value it cannot convert) is handled as a _Decline."""
    try:
        return [_columnar(batch, use_threads)]
    except (_Decline, pa.ArrowException) as error:
        if len(batch) > 1:
            return [
                part
                for i, item in enumerate(batch)
                for part in _flatten_batch([item], first + i, use_threads)
            ]
        if isinstance(error, _Decline):
            reason = _reason(batch[0][2], error)
        else:
            reason = f"a value Arrow cannot convert ({type(error).__name__})"
        raise ValueError(f"file {first}: {reason}") from None


def flatten_transcripts(
    files: Iterable[tuple[str, str, bytes]],
    *,
    batch_bytes: int = BATCH_BYTES,
    use_threads: bool = True,
) -> dict[str, pa.Table]:
    """Flatten transcript files (HealthScribe transcripts and Transcribe outputs, mixed) into
    ``transcript_words``, ``transcript_segments``, ``clinical_insights`` and ``insight_attributes``,
    each file's rows in the files' order. The rules of each column are in the package's docstring and
    :mod:`medscribe.lake.schemas`; a file's top-level key says which service wrote it.

    :param files: (recording_id, job_name, raw bytes of the file) per file.
    :param batch_bytes: files are parsed together until a batch holds this many bytes (the JSON reader
        parallelises within a batch; memory grows with it).
    :param use_threads: let Arrow use all cores (``pyarrow.cpu_count()``) for parsing and kernels.
    :return: the four tables, with the schemas of :mod:`medscribe.lake.schemas` (empty if no rows).
    :raises ValueError: "file <position in files>: <reason>" for an empty id, a file that is not JSON or
        not a transcript, or a value the rules do not read (the reason names the field's JSON path, such
        as ``results.items[].start_time is not a number``, and never quotes the file's content).
    """
    pieces: list[dict[str, pa.Table]] = []
    batch: list[tuple[str, str, bytes]] = []
    size = first = 0
    for position, item in enumerate(files):
        batch.append(item)
        size += len(item[2])
        if size >= batch_bytes:
            pieces += _flatten_batch(batch, first, use_threads)
            batch, size, first = [], 0, position + 1
    if batch:
        pieces += _flatten_batch(batch, first, use_threads)
    return {
        name: pa.concat_tables([p[name] for p in pieces]) if pieces else schema.empty_table()
        for name, schema in TRANSCRIPT_TABLES.items()
    }

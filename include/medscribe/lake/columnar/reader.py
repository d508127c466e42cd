"""A batch of transcript files -> one Arrow row per file, with pyarrow's JSON reader: first with the
fields and types the flattener reads (:data:`EXPECTED`), else with Arrow's type inference, whose objects
and lists :func:`_check_shape` checks against :data:`EXPECTED`."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from medscribe.lake.columnar.kernels import _Decline


def _items_of(*fields: tuple[str, pa.DataType]) -> pa.DataType:
    return pa.list_(pa.struct(list(fields)))


_SPANS = _items_of(
    ("SegmentId", pa.string()),
    ("BeginCharacterOffset", pa.int64()),
    ("EndCharacterOffset", pa.int64()),
    ("Content", pa.string()),
)
_TRANSCRIBE_ITEMS = _items_of(
    ("id", pa.int64()),
    ("type", pa.string()),
    ("start_time", pa.string()),
    ("end_time", pa.string()),
    ("speaker_label", pa.string()),
    ("channel_label", pa.string()),
    ("alternatives", _items_of(("content", pa.string()), ("confidence", pa.string()))),
)
EXPECTED = pa.schema(
    [
        (
            "Conversation",
            pa.struct(
                [
                    (
                        "TranscriptItems",
                        _items_of(
                            ("Type", pa.string()),
                            ("BeginAudioTime", pa.float64()),
                            ("EndAudioTime", pa.float64()),
                            (
                                "Alternatives",
                                _items_of(("Content", pa.string()), ("Confidence", pa.float64())),
                            ),
                        ),
                    ),
                    (
                        "TranscriptSegments",
                        _items_of(
                            ("SegmentId", pa.string()),
                            ("BeginAudioTime", pa.float64()),
                            ("EndAudioTime", pa.float64()),
                            ("Content", pa.string()),
                            ("ParticipantDetails", pa.struct([("ParticipantRole", pa.string())])),
                            ("SectionDetails", pa.struct([("SectionName", pa.string())])),
                        ),
                    ),
                    (
                        "ClinicalInsights",
                        _items_of(
                            ("InsightId", pa.string()),
                            ("InsightType", pa.string()),
                            ("Category", pa.string()),
                            ("Type", pa.string()),
                            ("Confidence", pa.float64()),
                            ("Traits", _items_of(("Name", pa.string()))),
                            ("Spans", _SPANS),
                            (
                                "Attributes",
                                _items_of(
                                    ("AttributeId", pa.string()),
                                    ("Type", pa.string()),
                                    ("Confidence", pa.float64()),
                                    ("Spans", _SPANS),
                                ),
                            ),
                        ),
                    ),
                ]
            ),
        ),
        ("ClinicalDocumentation", pa.struct([])),
        (
            "results",
            pa.struct(
                [
                    ("items", _TRANSCRIBE_ITEMS),
                    (
                        "speaker_labels",
                        pa.struct(
                            [
                                (
                                    "segments",
                                    _items_of(
                                        ("start_time", pa.string()),
                                        ("end_time", pa.string()),
                                        ("speaker_label", pa.string()),
                                        (
                                            "items",
                                            _items_of(
                                                ("id", pa.int64()),
                                                ("start_time", pa.string()),
                                                ("end_time", pa.string()),
                                                ("speaker_label", pa.string()),
                                            ),
                                        ),
                                    ),
                                )
                            ]
                        ),
                    ),
                    (
                        "channel_labels",
                        pa.struct(
                            [
                                (
                                    "channels",
                                    _items_of(
                                        ("channel_label", pa.string()),
                                        ("items", _TRANSCRIBE_ITEMS),
                                    ),
                                )
                            ]
                        ),
                    ),
                ]
            ),
        ),
    ]
)
"""The fields the flattener reads, with the JSON types AWS and the engine write them with."""
_EXPECTED_OPTIONS = pj.ParseOptions(
    explicit_schema=EXPECTED, unexpected_field_behavior="ignore", newlines_in_values=True
)
_INFERRED_OPTIONS = pj.ParseOptions(newlines_in_values=True)
# Arrow's message when a column holds two JSON types: the column's path (its keys) and the two types
_CHANGED = re.compile(r"Column\((/[^)]*)\) changed from (\w+) to (\w+) in row")


class _Unread(_Decline):
    """Arrow's JSON reader could not read the batch as one table (the reason never quotes a value)."""


def _known(path: str) -> bool:
    """Whether an Arrow column path ("/results/items/[]/start_time") is made of :data:`EXPECTED`'s
    fields only (other keys come from the file and are not quoted)."""
    kind: pa.DataType = pa.struct(list(EXPECTED))
    for key in path.split("/")[1:]:
        if key == "[]" and pa.types.is_list(kind):
            kind = kind.value_type
        elif pa.types.is_struct(kind) and kind.get_field_index(key) >= 0:
            kind = kind.field(key).type
        else:
            return False
    return True


def _unread(error: Exception | None) -> _Unread:
    """The reader's error as a reason: the column and its two JSON types when Arrow names them."""
    found = _CHANGED.search(str(error))
    if found:
        path = found[1].replace("/[]", "[]").lstrip("/").replace("/", ".") if _known(found[1]) else None
        return _Unread(f"{path or 'a field'} holds both {found[2]}s and {found[3]}s")
    if "Number too big" in str(error):
        return _Unread("a number is too big for a float64")
    return _Unread(f"Arrow's JSON reader cannot read it ({type(error).__name__})")


def _read_block(files: Sequence[tuple[str, str, bytes]], options: pj.ParseOptions) -> pa.Table:
    """The files as one block of Arrow's JSON reader (one thread): a file that is not JSON then fails
    the read instead of misleading the chunker that splits a multi-block read."""
    source = b"\n".join(data for _, _, data in files)
    read = pj.ReadOptions(use_threads=False, block_size=len(source) + 1)
    table = pj.read_json(io.BytesIO(source), read_options=read, parse_options=options)
    table.validate()  # Arrow's type inference can build an invalid list from [null, {...}]
    return table


def _shares(batch: Sequence[tuple[str, str, bytes]], parts: int) -> list[Sequence[tuple[str, str, bytes]]]:
    """The batch cut into at most ``parts`` runs of consecutive files of about equal bytes."""
    total = sum(len(data) for _, _, data in batch)
    cuts, size = [0], 0
    for index, (_, _, data) in enumerate(batch[:-1]):
        size += len(data)
        if size >= total * len(cuts) / parts:
            cuts.append(index + 1)
    cuts.append(len(batch))
    return [batch[a:b] for a, b in pairwise(cuts) if a < b]


def _read(batch: Sequence[tuple[str, str, bytes]], use_threads: bool) -> pa.Table:
    """One Arrow row per file of the batch, or _Unread.

    First with :data:`EXPECTED` (the fields the flattener reads, with the types AWS writes; other fields
    are skipped, and a value of another type fails the read), each thread reading its share of the
    files; then, if that fails, with Arrow's type inference in one read (times given as numbers in a
    Transcribe file, ids as strings, ...), whose leaf columns the flattener checks as it converts them.
    Each read is one block per thread: Arrow 26 aborts the process on a truncated file inside a
    multi-block read with ``newlines_in_values``."""
    shares = _shares(batch, pa.cpu_count() if use_threads else 1)
    try:
        if len(shares) > 1:
            with ThreadPoolExecutor(len(shares)) as pool:  # Arrow's reader releases the GIL
                table = pa.concat_tables(
                    pool.map(lambda share: _read_block(share, _EXPECTED_OPTIONS), shares)
                )
        else:
            table = _read_block(batch, _EXPECTED_OPTIONS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        try:
            table = _read_block(batch, _INFERRED_OPTIONS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            raise _unread(error) from None
    if table.num_rows != len(batch):
        raise _Unread("not one JSON value")  # an empty file, or one with several JSON values
    return table


def _check_shape(found: pa.DataType, expected: pa.DataType, path: str) -> None:
    """Raise _Decline naming the first field of ``expected`` that ``found`` (a type Arrow inferred) holds
    as another kind of JSON value than an object or a list where one is expected; nulls pass."""
    if pa.types.is_null(found):
        return
    if pa.types.is_struct(expected):
        if not pa.types.is_struct(found):
            raise _Decline(f"{path} is not an object")
        for field in expected:
            index = found.get_field_index(field.name)
            if index >= 0:
                _check_shape(found.field(index).type, field.type, f"{path}.{field.name}")
    elif pa.types.is_list(expected):
        if not pa.types.is_list(found):
            raise _Decline(f"{path} is not a list")
        _check_shape(found.value_type, expected.value_type, f"{path}[]")


def _struct_column(table: pa.Table, name: str) -> tuple[pa.Array | None, np.ndarray]:
    """(the column as one array, which rows hold an object there)."""
    if name not in table.column_names:
        return None, np.zeros(table.num_rows, bool)
    chunks = table.column(name)
    column = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    if not pa.types.is_struct(column.type):
        return None, np.zeros(table.num_rows, bool)
    return column, pc.is_valid(column).to_numpy(zero_copy_only=False)


def _check_column(column: pa.Array | None, name: str) -> None:
    """:func:`_check_shape` for a top-level column (called only when the batch has files of its service:
    a HealthScribe file's stray ``results`` is not read, so not checked)."""
    if column is not None:
        _check_shape(column.type, EXPECTED.field(name).type, name)

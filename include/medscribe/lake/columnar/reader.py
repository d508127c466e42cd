"""A batch of transcript files -> one Arrow row per file, with pyarrow's JSON reader: first with the
fields and types the flatteners read (:data:`EXPECTED`), else with Arrow's type inference."""

from __future__ import annotations

import io
from collections.abc import Sequence

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
"""The fields the flatteners read, with the JSON types AWS and the engine write them with."""
_EXPECTED_OPTIONS = pj.ParseOptions(
    explicit_schema=EXPECTED, unexpected_field_behavior="ignore", newlines_in_values=True
)
_INFERRED_OPTIONS = pj.ParseOptions(newlines_in_values=True)


def _read(batch: Sequence[tuple[str, str, bytes]], use_threads: bool) -> pa.Table:
    """One Arrow row per file of the batch, or _Decline.

    First with :data:`EXPECTED` (the fields parse.py reads, with the types AWS writes; other fields are
    skipped, and a value of another type fails the read), then, if that fails, with Arrow's type
    inference (times given as numbers in a Transcribe file, ids as strings, ...), whose columns the
    flatteners check."""
    source = b"\n".join(data for _, _, data in batch)
    # one block per thread (fewer chunks to combine afterwards), each holding at least one whole file
    threads = pa.cpu_count() if use_threads else 1
    block = max(max(len(data) for _, _, data in batch) + 1, -(-len(source) // threads) + 1)
    read = pj.ReadOptions(use_threads=use_threads, block_size=block)
    for parse_options in (_EXPECTED_OPTIONS, _INFERRED_OPTIONS):
        try:
            table = pj.read_json(io.BytesIO(source), read_options=read, parse_options=parse_options)
            table.validate()  # Arrow's type inference can build an invalid list from [null, {...}]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue
        if table.num_rows != len(batch):
            raise _Decline  # an empty file, or one with several JSON values
        return table
    raise _Decline


def _struct_column(table: pa.Table, name: str) -> tuple[pa.Array | None, np.ndarray]:
    """(the column as one array, which rows hold an object there)."""
    if name not in table.column_names:
        return None, np.zeros(table.num_rows, bool)
    chunks = table.column(name)
    column = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    if not pa.types.is_struct(column.type):
        return None, np.zeros(table.num_rows, bool)
    return column, pc.is_valid(column).to_numpy(zero_copy_only=False)

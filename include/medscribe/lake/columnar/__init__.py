"""The lake's transcript flattener: raw JSON bytes of many transcript files -> the lake's Arrow tables.

:func:`flatten_transcripts` reads a batch of files (``BATCH_BYTES``) with pyarrow's C++ JSON reader into
one Arrow table, one row per file, reading only the fields the tables need (:data:`EXPECTED`), and
computes every column for the whole batch with Arrow kernels and numpy: lists flattened with their
parent indices, time and confidence strings cast to float64, speaker and channel labels joined by id and
by (start, end) in milliseconds with a stable sort and ``searchsorted`` on packed integer keys (an Arrow
hash join for string ids), HealthScribe segments and Transcribe speaker spans found by ``searchsorted``,
punctuation labels forward-filled. Tables are built once per batch with the schemas of
:mod:`medscribe.lake.schemas`; columns appended to a schema later (filled by other steps) are null.
``night.flatten.flatten_night`` (the nightly DAG's flatten task) calls it in the task's own process, its S3
objects downloaded one batch at a time; ``lake.parse`` calls it on one parsed document.

Rules, for files written by AWS and by the offline engine (unknown fields are ignored, missing optional
fields become nulls):

- Transcribe writes times and confidences as strings ("0.100", "1.0000"), HealthScribe as numbers
  (confidence may be the integer 0 or 1); either is accepted in either service and becomes float64.
- Punctuation: Transcribe punctuation has no times (and often no confidence) -> nulls. HealthScribe
  punctuation carries confidence 0 (kept) and times that are either 0/0 (a placeholder -> nulls) or
  overlap the word before (kept as given).
- Labels that belong to a word (speaker, channel, HealthScribe segment and role) are copied onto the
  punctuation that follows it. One row per item alternative (``alternative_rank``), one row with null
  content for an item without any.
- HealthScribe character offsets (``ClinicalInsights[].Spans``) are end-inclusive ("pain" at 12..15):
  the raw values are kept and a half-open ``end_exclusive`` (= end + 1) is added.

Each file must hold one JSON object (pretty-printed or not; files are joined with newlines and read with
``newlines_in_values``). A batch that cannot be one Arrow table (a field that is a number in one file
and a string in another) is flattened file by file. A file that still cannot be read raises
``ValueError("file <position>: <reason>")``: not JSON, not a transcript ("expected a HealthScribe
transcript or a Transcribe output, got ..."), or a value the rules do not read, the reason naming its
JSON path (``results.items[].start_time is not a number``; also: not a string, an empty label, a time
that is NaN or infinite, a fractional offset, an object or list where the other is expected). Reasons
never quote the file's content. HealthScribe clinical documents are not handled here (small files:
``parse.healthscribe_clinical_document_tables``).

Modules: ``flatten`` (:func:`flatten_transcripts`, batching and errors), ``reader`` (:data:`EXPECTED`,
Arrow's JSON reader over a batch, the shape check), ``kernels`` (the Arrow and numpy helpers every column
is computed with), ``healthscribe`` and ``transcribe`` (the rows of each service's files), ``words``
(``transcript_words`` of both services, assembled in file order).
"""

from medscribe.lake.columnar.flatten import BATCH_BYTES, TRANSCRIPT_TABLES, flatten_transcripts
from medscribe.lake.columnar.reader import EXPECTED

__all__ = ["BATCH_BYTES", "EXPECTED", "TRANSCRIPT_TABLES", "flatten_transcripts"]

"""Column-wise flattening of many transcript files at once: raw JSON bytes -> the lake's Arrow tables.

The fast path of :mod:`medscribe.lake.parse`, with the same rows (``tests/lake/test_lake_columnar.py``
compares both on AWS's examples, the engine's outputs and derived variants). Instead of ``json.loads``
and a Python loop per item, a batch of files (``BATCH_BYTES``) is parsed by pyarrow's C++ JSON reader
into one Arrow table, one row per file, reading only the fields parse.py uses (:data:`EXPECTED`).
Every column is then computed for the whole batch with Arrow kernels and numpy: lists flattened with
their parent indices, time and confidence strings cast to float64, speaker and channel labels joined by
id and by (start, end) in milliseconds with a stable sort and ``searchsorted`` on packed integer keys
(an Arrow hash join for string ids), HealthScribe segments and Transcribe speaker spans found by
``searchsorted``, punctuation labels forward-filled. Tables are built once per batch with the schemas of
:mod:`medscribe.lake.schemas`; columns appended to a schema later (filled by other steps) are null, as
``pa.Table.from_pylist`` makes them in parse.py.

Each file must hold one JSON document (pretty-printed or not; files are joined with newlines and read
with ``newlines_in_values``).

``parse.py`` remains the reference and the path for anything the column-wise code does not cover
exactly. A batch *falls back* - file by file, then to ``json.loads`` + ``parse.py`` for the files that
still need it - when pyarrow cannot read it as one table (a field that is a number in one file and a
string in another, JSON that ``json`` accepts and Arrow does not, such as ``NaN`` or ``1e400``) or when
a column has a shape the vectorised rules do not handle: a value of an unexpected type, a time or
confidence string Arrow's cast refuses (``"1_0"``), an empty-string label, a non-finite number.
Such files therefore get exactly ``parse.py``'s rows, or its ``ValueError``; the ``counts`` of
:func:`flatten_transcripts` say how many files took each path. HealthScribe clinical documents are not
handled here (small files: use ``parse.healthscribe_clinical_document_tables``).

Why two implementations: parse.py works on one parsed document and gives errors that name the JSON
path of a bad value; this package needs the raw bytes of many files to be fast, and hands the shapes it
cannot vectorise exactly to parse.py. ``nightly.flatten_night`` (the nightly DAG's flatten task) uses
this package in the task's own process, its S3 objects downloaded one batch at a time.

Modules: ``flatten`` (:func:`flatten_transcripts`, batching and the fallback to parse.py), ``reader``
(:data:`EXPECTED` and Arrow's JSON reader over a batch), ``kernels`` (the Arrow and numpy helpers every
column is computed with), ``healthscribe`` and ``transcribe`` (the rows of each service's files), ``words``
(``transcript_words`` of both services, assembled in file order).
"""

from medscribe.lake.columnar.flatten import BATCH_BYTES, TRANSCRIPT_TABLES, flatten_transcripts
from medscribe.lake.columnar.reader import EXPECTED

__all__ = ["BATCH_BYTES", "EXPECTED", "TRANSCRIPT_TABLES", "flatten_transcripts"]

"""The lake's table names that more than one module lists; plain strings, no pyarrow, so DAG files import them at parse time.

The schemas of every table are in ``medscribe.lake.schemas`` (``TABLES``).
"""

#: the tables the nightly flatten writes from a night's service outputs (``medscribe.night.flatten``), in
#: that order; the quality gate checks each of them (``medscribe.quality``), and each is a lake asset the
#: flatten task updates (``medscribe.assets``)
FLATTENED_TABLES = (
    "recordings",
    "jobs",
    "transcript_words",
    "transcript_segments",
    "clinical_insights",
    "insight_attributes",
    "note_sentences",
    "note_evidence",
)

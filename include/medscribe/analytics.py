"""Analyst questions over the Parquet lake (local or S3), answered with DuckDB, and the Athena DDL of the lake.

    python -m medscribe.analytics --lake data/lake [--night 2026-03-02]
    python -m medscribe.analytics --ddl s3://bucket/lake [--database medscribe]

The first prints example answers (counts only, never transcript or note text):

- low-confidence words per night and recording: words (best alternative, punctuation excluded) with
  confidence under 0.5, out of all words with a confidence;
- medications mentioned per ISO week of the night: ``clinical_insights`` of category MEDICATION,
  counted once per insight (an insight with several spans is one mention), with the recordings they
  occur in;
- notes per template: clinical documents (recording and job) per ``note_template`` (``(unknown)`` when
  the job's template was not recorded), with their sentence counts.

The second prints ``CREATE EXTERNAL TABLE`` statements for every table (see medscribe.lake.athena):
symlink tables over the nights' pointers, so Athena, like DuckDB here, reads each night's current
generation whole, even while it is being replaced. Each query is a plain function taking a DuckDB
connection from ``medscribe.lake.store.duckdb_connect`` (a snapshot of the lake when it opened).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence

import duckdb

from medscribe.lake.athena import athena_ddl_all
from medscribe.lake.store import duckdb_connect

LOW_CONFIDENCE = 0.5


def _where_night(night: str | None, prefix: str = "where") -> tuple[str, list]:
    return (f"{prefix} night = ?", [night]) if night else ("", [])


def low_confidence_words(
    con: duckdb.DuckDBPyConnection, night: str | None = None, threshold: float = LOW_CONFIDENCE
) -> list[tuple[str, str, int, int]]:
    """(night, recording_id, words under the threshold, words with a confidence), by night and recording.

    :param con: connection from ``duckdb_connect``.
    :param night: ``YYYY-MM-DD`` to restrict to one night; all nights if None.
    :param threshold: confidence below which a word counts as low.
    """
    clause, params = _where_night(night, "and")
    return con.execute(
        f"""
        select night, recording_id,
               count(*) filter (where confidence < ?) as low_words,
               count(confidence) as words
        from transcript_words
        where not is_punctuation and alternative_rank = 0 {clause}
        group by night, recording_id
        order by night, recording_id
        """,
        [threshold, *params],
    ).fetchall()


def medications_per_week(
    con: duckdb.DuckDBPyConnection, night: str | None = None
) -> list[tuple[str, int, int]]:
    """(ISO week ``YYYY-Www`` of the night, medication mentions, recordings), by week.

    :param con: connection from ``duckdb_connect``.
    :param night: ``YYYY-MM-DD`` to restrict to one night; all nights if None.
    """
    clause, params = _where_night(night, "and")
    return con.execute(
        f"""
        select strftime(cast(night as date), '%G-W%V') as iso_week,
               count(distinct (recording_id, job_name, insight_id)) as mentions,
               count(distinct recording_id) as recordings
        from clinical_insights
        where category = 'MEDICATION' {clause}
        group by iso_week
        order by iso_week
        """,
        params,
    ).fetchall()


def notes_per_template(
    con: duckdb.DuckDBPyConnection, night: str | None = None
) -> list[tuple[str, int, int]]:
    """(note template or ``(unknown)``, notes, sentences), by template.

    :param con: connection from ``duckdb_connect``.
    :param night: ``YYYY-MM-DD`` to restrict to one night; all nights if None.
    """
    clause, params = _where_night(night)
    return con.execute(
        f"""
        select coalesce(note_template, '(unknown)') as template,
               count(distinct (recording_id, job_name, night)) as notes,
               count(*) as sentences
        from note_sentences {clause}
        group by template
        order by template
        """,
        params,
    ).fetchall()


def _table(title: str, header: Sequence[str], rows: list[tuple]) -> str:
    """A titled, left-aligned text table; ``(none)`` when there are no rows."""
    cells = [list(map(str, header))] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title]
    for row in cells:
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        lines.append("  (none)")
    return "\n".join(lines)


def report(lake: str, night: str | None = None) -> str:
    """The three example answers for a lake, as text.

    :param lake: local path or ``s3://`` URI of the lake (see ``medscribe.lake.store.duckdb_connect``).
    :param night: ``YYYY-MM-DD`` to restrict to one night; all nights if None.
    """
    con = duckdb_connect(lake)
    try:
        parts = [
            _table(
                f"Low-confidence words (confidence < {LOW_CONFIDENCE}) per night and recording",
                ("night", "recording_id", "low_words", "words"),
                low_confidence_words(con, night),
            ),
            _table(
                "Medications mentioned per ISO week",
                ("iso_week", "mentions", "recordings"),
                medications_per_week(con, night),
            ),
            _table("Notes per template", ("template", "notes", "sentences"), notes_per_template(con, night)),
        ]
    finally:
        con.close()
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status.

    :param argv: arguments without the program name; ``sys.argv[1:]`` if None.
    """
    parser = argparse.ArgumentParser(
        prog="python -m medscribe.analytics", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--lake", help="local path of the Parquet lake to query")
    parser.add_argument("--night", help="restrict the answers to one night, YYYY-MM-DD")
    parser.add_argument(
        "--ddl", metavar="S3_LOCATION", help="print Athena DDL for every table under this lake root"
    )
    parser.add_argument("--database", help="Glue database to qualify the tables with (with --ddl)")
    args = parser.parse_args(argv)
    if not args.lake and not args.ddl:
        parser.error("give --lake and/or --ddl")
    if args.night:
        try:
            dt.date.fromisoformat(args.night)
        except ValueError:
            parser.error("--night must be YYYY-MM-DD")
    try:
        if args.ddl:
            sys.stdout.write(athena_ddl_all(args.ddl, database=args.database))
        if args.lake:
            if args.ddl:
                sys.stdout.write("\n")
            sys.stdout.write(report(args.lake, args.night))
    except (ValueError, NotImplementedError, duckdb.Error) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

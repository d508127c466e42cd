"""SQL that the SQLite and PostgreSQL stores build alike: the newest-first page of a listing (jobs,
vocabularies, filters), written for either dialect, and the page's objects from its rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class Dialect(NamedTuple):
    """What differs between the stores' SQL here: the parameter placeholder and "name contains"."""

    param: str
    name_contains: str  # true when ``name`` holds the parameter, case-insensitively


SQLITE = Dialect("?", "instr(lower(name), lower(?)) > 0")
POSTGRES = Dialect("%s", "strpos(lower(name), lower(%s)) > 0")


def page_query(
    dialect: Dialect,
    table: str,
    equal: Mapping[str, Any],
    name_contains: str | None,
    after_id: int | None,
    limit: int,
) -> tuple[str, tuple]:
    """The SELECT of one page of ``table``, newest first, and its parameters.

    :param equal: column values the rows must have; a None value is no condition.
    :param name_contains: text the name must hold, any case (None or empty: no condition).
    :param after_id: the last id of the previous page: only older rows follow.
    :param limit: the page size; one row more is asked for, to tell whether more follow (:func:`page`).
    """
    clauses = [f"{column}={dialect.param}" for column, value in equal.items() if value is not None]
    params: list[Any] = [value for value in equal.values() if value is not None]
    if name_contains:
        clauses.append(dialect.name_contains)
        params.append(name_contains)
    if after_id is not None:
        clauses.append(f"id<{dialect.param}")
        params.append(after_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT * FROM {table}{where} ORDER BY id DESC LIMIT {dialect.param}", (*params, limit + 1)


def page(rows: Sequence[Any], limit: int, from_row: Callable[[Any], T]) -> tuple[list[T], bool]:
    """The objects of the first ``limit`` rows of a :func:`page_query`, and whether more follow."""
    return [from_row(row) for row in rows[:limit]], len(rows) > limit

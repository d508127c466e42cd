"""Generations and pointers: how a night partition is replaced atomically on S3 and on a local disk.

Layout (``<root>`` is the lake root inside its filesystem)::

    <root>/<table>/night=<night>/gen-<UTC time>-<hex>/part-<i>.parquet         the files of one generation
    <root>/_symlink_format_manifest/<table>/night=<night>/manifest              the pointer

A night's rows are exactly the files its **pointer** names, one absolute URI a line (``s3://...`` or
``file:///...``): the symlink manifest format that Athena's ``SymlinkTextInputFormat`` reads (the same
layout as Delta Lake's ``_symlink_format_manifest``), and that ``store.read_table`` and
``store.duckdb_connect`` read too. A writer puts a whole new generation under a new prefix, which no
reader looks at, then replaces the pointer: one S3 PUT (an object is replaced whole or not at all) or,
on a local disk, ``os.replace`` of a finished temporary file. A reader that read the old pointer reads
the old generation, one that read the new pointer the new one; a writer that dies before the pointer
leaves the old generation current and its own files unnamed.

A pointer line is resolved against the lake being read, from its ``<table>/night=<night>/`` on, so a
copied or re-addressed lake (another bucket, another endpoint) still reads right. A night directory
with Parquet files directly inside and no pointer was written before generations existed: readers take
those files as its generation until a write replaces it (``adopt_legacy`` writes pointers for them, for
Athena).

Superseded generations, and those of writers that died, are garbage. Every superseded generation was
superseded at or before the current pointer's last write, so the pointer's modification time bounds
them all: ``collect_garbage`` deletes those of a night once that is ``grace`` ago, and generations
not older than the pointer (never named: a writer that died, or one still writing) once their files are
``GRACE`` old. S3 times have whole seconds, so the writer that replaces a pointer also puts an empty
``_superseded`` object in the generation it replaced: marked, it counts as superseded whatever its time. ``store.write_partition`` collects the night it replaces with ``GRACE`` before it writes;
the retention DAG sweeps the whole lake daily; forgetting a recording collects its nights at once
(grace 0), so no superseded copy keeps its rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import urllib.parse
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pyarrow.fs as pafs

from medscribe.lake.schemas import PARTITION_COLUMN

POINTER_DIR = "_symlink_format_manifest"
POINTER_NAME = "manifest"
# 1 hour: longer than Athena's default 30-minute query timeout, so a query that read the previous
# pointer finishes before that generation's files go; a DuckDB connection older than this may find
# superseded files gone (reconnect).
GRACE = dt.timedelta(hours=1)

# Pointers read at once when a reader lists every night of a table on S3 (each read is a round trip).
POINTER_READERS = 16

# An empty object a writer puts in each generation its new pointer replaced: S3 modification times have
# whole seconds, so a generation written in the pointer's second is superseded only if marked.
SUPERSEDED = "_superseded"

_GENERATION = re.compile(r"gen-\d{8}T\d{6}Z-[0-9a-f]{12}")
_FILE = re.compile(r"[^/]+\.parquet")
_PART = re.compile(r"part-(\d+)\.parquet")


def new_generation() -> str:
    """A new generation directory name, ``gen-<UTC yyyymmddThhmmssZ>-<12 hex>`` (no ``=``: not a hive key)."""
    return f"gen-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def night_dir(root: str, table_name: str, night: str) -> str:
    """The directory holding a night's generations."""
    return f"{root}/{table_name}/{PARTITION_COLUMN}={night}"


def pointer_path(root: str, table_name: str, night: str) -> str:
    """The path of a night's pointer (symlink manifest)."""
    return f"{root}/{POINTER_DIR}/{table_name}/{PARTITION_COLUMN}={night}/{POINTER_NAME}"


def _uri(fs: pafs.FileSystem, path: str) -> str:
    if isinstance(fs, pafs.LocalFileSystem):
        return "file://" + urllib.parse.quote(path)
    return f"{fs.type_name}://{path}"


def _missing(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type == pafs.FileType.NotFound


# A reader can catch the pointer being replaced between the two requests pyarrow makes of an S3
# object (HEAD for its size, then GETs of byte ranges): it then reads part of one version and part of
# another. A pointer lists one generation's files from the last to part-0, so such a read never looks
# whole; it is read again, up to this many times.
POINTER_READS = 5


def _part_index(path: str) -> int:
    match = _PART.fullmatch(path.rpartition("/")[2])
    return int(match.group(1)) if match else -1


def _parse_pointer(text: str, base: str, table_name: str, night: str) -> list[str]:
    """The paths a pointer's text names, in part order.

    :raises _TornRead: a line outside the night (or cut short), or lines that are not one generation's
        ``part-<n-1>`` down to ``part-0``.
    """
    marker = f"/{table_name}/{PARTITION_COLUMN}={night}/"
    relatives = []
    for line in filter(None, (urllib.parse.unquote(raw.strip()) for raw in text.splitlines())):
        relative = line.rpartition(marker)[2] if marker in line else ""
        parts = relative.split("/")
        if not (
            _FILE.fullmatch(parts[-1])
            and len(parts) <= 2
            and (len(parts) == 1 or _GENERATION.fullmatch(parts[0]))
        ):
            raise _TornRead(f"{table_name}: the pointer of night {night} names a file outside the night")
        relatives.append(relative)
    whole = (
        text.endswith("\n")
        and len({r.rpartition("/")[0] for r in relatives}) == 1
        and [_part_index(r) for r in relatives] == list(range(len(relatives) - 1, -1, -1))
    )
    if not whole:
        raise _TornRead(f"{table_name}: the pointer of night {night} is not one whole generation")
    return [f"{base}/{relative}" for relative in reversed(relatives)]


class _TornRead(Exception):
    """A pointer read that mixes two versions of it, stops short, or names files it may not."""


def read_pointer(fs: pafs.FileSystem, root: str, table_name: str, night: str) -> list[str] | None:
    """The paths (in ``fs``) of the files the night's pointer names, in part order; None if it has none.

    :raises ValueError: a line that does not name a Parquet file of this table and night, or a pointer
        that is still not one whole generation after ``POINTER_READS`` reads (messages name the table
        and night only).
    """
    base = night_dir(root, table_name, night)
    for attempt in range(1, POINTER_READS + 1):
        try:
            with fs.open_input_stream(pointer_path(root, table_name, night)) as stream:
                text = stream.read().decode(errors="replace")  # bytes of a torn read: retried below
        except FileNotFoundError:
            return None
        try:
            return _parse_pointer(text, base, table_name, night)
        except _TornRead as torn:
            if attempt == POINTER_READS:
                raise ValueError(str(torn)) from None
    raise AssertionError("unreachable")


def write_pointer(fs: pafs.FileSystem, root: str, table_name: str, night: str, paths: Iterable[str]) -> None:
    """Make ``paths`` (one generation's ``part-<i>`` files) the night's files, in one atomic step (S3 PUT
    or one completed multipart upload; ``os.replace`` on a local disk). Lines go from the last part to
    part-0, so that a read that stops short of the end is seen as such."""
    pointer = pointer_path(root, table_name, night)
    paths = sorted(paths, key=_part_index, reverse=True)
    body = "".join(f"{_uri(fs, path)}\n" for path in paths).encode()
    if isinstance(fs, pafs.LocalFileSystem):
        os.makedirs(os.path.dirname(pointer), exist_ok=True)
        temporary = f"{pointer}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            with open(temporary, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, pointer)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        return
    with fs.open_output_stream(pointer) as out:  # S3: the object is replaced whole when the upload completes
        out.write(body)


def replace_pointer(
    fs: pafs.FileSystem, root: str, table_name: str, night: str, paths: Iterable[str]
) -> None:
    """``write_pointer``, then mark the generations the previous pointer named as superseded (best effort:
    an unmarked one is collected by its modification time)."""
    paths = list(paths)
    base = night_dir(root, table_name, night)
    try:
        previous = read_pointer(fs, root, table_name, night) or []
    except ValueError:  # a damaged pointer: the new one replaces it, nothing is known to be superseded
        previous = []
    write_pointer(fs, root, table_name, night, paths)
    named = {_generation_of(base, path) for path in paths}
    for generation in {_generation_of(base, path) for path in previous} - named - {""}:
        with contextlib.suppress(OSError), fs.open_output_stream(f"{base}/{generation}/{SUPERSEDED}") as out:
            out.write(b"")


def _listing(fs: pafs.FileSystem, path: str, recursive: bool) -> list[pafs.FileInfo]:
    return fs.get_file_info(pafs.FileSelector(path, recursive=recursive, allow_not_found=True))


def legacy_files(fs: pafs.FileSystem, root: str, table_name: str, night: str) -> list[str]:
    """Parquet files directly in a night directory (written before generations existed), sorted."""
    entries = _listing(fs, night_dir(root, table_name, night), recursive=False)
    return sorted(
        i.path
        for i in entries
        if i.type == pafs.FileType.File
        and _FILE.fullmatch(i.base_name)
        and not i.base_name.startswith((".", "_"))
    )


def pointed_nights(fs: pafs.FileSystem, root: str, table_name: str) -> list[str]:
    """Nights of a table that have a pointer, sorted."""
    prefix = f"{root}/{POINTER_DIR}/{table_name}/{PARTITION_COLUMN}="
    nights = set()
    for info in _listing(fs, f"{root}/{POINTER_DIR}/{table_name}", recursive=True):
        if (
            info.type == pafs.FileType.File
            and info.path.startswith(prefix)
            and info.base_name == POINTER_NAME
        ):
            nights.add(info.path[len(prefix) :].split("/", 1)[0])
    return sorted(nights)


def night_dirs(fs: pafs.FileSystem, root: str, table_name: str) -> list[str]:
    """Nights of a table that have a directory, sorted."""
    prefix = f"{PARTITION_COLUMN}="
    return sorted(
        i.base_name[len(prefix) :]
        for i in _listing(fs, f"{root}/{table_name}", recursive=False)
        if i.type == pafs.FileType.Directory and i.base_name.startswith(prefix)
    )


def current_files(
    fs: pafs.FileSystem, root: str, table_name: str, night: str | None = None
) -> dict[str, list[str]]:
    """{night: paths of its current files} of a table, for one night or all (legacy nights included)."""
    nights = (
        [night]
        if night
        else sorted(set(pointed_nights(fs, root, table_name)) | set(night_dirs(fs, root, table_name)))
    )

    def files(each: str) -> list[str]:
        paths = read_pointer(fs, root, table_name, each)
        return legacy_files(fs, root, table_name, each) if paths is None else paths

    if len(nights) > 1 and not isinstance(fs, pafs.LocalFileSystem):
        with ThreadPoolExecutor(POINTER_READERS) as pool:  # a year of nights: ~730 requests per table
            listed = list(pool.map(files, nights))
    else:
        listed = [files(each) for each in nights]
    return {each: paths for each, paths in zip(nights, listed, strict=True) if paths}


def _generation_of(base: str, path: str, is_dir: bool = False) -> str:
    """The generation directory name an entry under a night directory belongs to ("" for legacy files)."""
    relative = path[len(base) + 1 :]
    if "/" in relative:
        return relative.split("/", 1)[0]
    return relative if is_dir else ""


def collect_garbage(
    fs: pafs.FileSystem,
    root: str,
    table_name: str,
    night: str,
    *,
    grace: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Delete the night's generations that its pointer does not name, if superseded at least ``grace`` ago.

    A generation whose files are all older than the pointer was superseded when the pointer was last
    written: it goes once that is ``grace`` ago. One with files newer than the pointer was never named
    (a writer that died, or one still writing): it goes once its files are ``max(grace, GRACE)`` old,
    so not even a grace of 0 deletes files a writer may be about to name. Nothing is deleted from a
    night without a pointer (its files, if any, are a legacy generation).

    :param grace: how long a superseded generation is kept for readers that read the previous pointer;
        ``GRACE`` if None.
    :param now: the clock (timezone-aware); the current time if None.
    :return: the number of files deleted.
    """
    grace = GRACE if grace is None else grace
    pointer = fs.get_file_info(pointer_path(root, table_name, night))
    if pointer.type != pafs.FileType.File:
        return 0
    now = now or dt.datetime.now(dt.UTC)
    if grace and now - pointer.mtime < grace:
        return 0
    base = night_dir(root, table_name, night)
    named = read_pointer(fs, root, table_name, night)
    if named is None:  # removed meanwhile: nothing is known to be superseded
        return 0
    keep = {_generation_of(base, path) for path in named}
    generations: dict[str, list[pafs.FileInfo]] = {}
    for info in _listing(fs, base, recursive=True):
        generations.setdefault(
            _generation_of(base, info.path, info.type == pafs.FileType.Directory), []
        ).append(info)
    deleted = 0
    unnamed_grace = max(grace, GRACE)
    for name, entries in generations.items():
        files = [i for i in entries if i.type == pafs.FileType.File and i.base_name != SUPERSEDED]
        marked = len(files) < sum(i.type == pafs.FileType.File for i in entries)
        newest = max((i.mtime for i in files), default=pointer.mtime)
        # unmarked and not older than the pointer (same second on S3 included): perhaps never named
        if name in keep or (not marked and newest >= pointer.mtime and now - newest < unnamed_grace):
            continue
        if name:
            fs.delete_dir(f"{base}/{name}")
        else:
            for info in files:
                fs.delete_file(info.path)
        deleted += len(files)
    return deleted


def adopt_legacy(fs: pafs.FileSystem, root: str, table_name: str) -> list[str]:
    """Write a pointer for every night of a table that has legacy files and no pointer (no data is copied).

    :return: the nights adopted.
    """
    adopted = []
    for night in night_dirs(fs, root, table_name):
        if _missing(fs, pointer_path(root, table_name, night)):
            files = legacy_files(fs, root, table_name, night)
            if files and sorted(map(_part_index, files)) == list(range(len(files))):
                write_pointer(fs, root, table_name, night, files)
                adopted.append(night)
    return adopted

"""A night's replace is atomic: writers that fail or are killed mid-replace, readers during a replace.

Every version of the night written here has its own marker (``recording_id``) and row count, so a read
that mixed two versions, or lost files of one, shows as a set of markers or a count that no version has.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from medscribe.lake import generations, store
from medscribe.lake.parse import healthscribe_transcript_tables
from medscribe.lake.store import duckdb_connect, read_table, row_counts, write_partition

NIGHT = "2026-12-01"
TABLE = "transcript_words"
ROWS_PER_FILE = 9  # small files, so that one replace is many objects


@pytest.fixture
def words(hs_transcript) -> pa.Table:
    return healthscribe_transcript_tables(hs_transcript, recording_id="r", job_name="j")["transcript_words"]


def version(words: pa.Table, marker: str, copies: int) -> pa.Table:
    """``copies`` × the fixture's 9 words, every row's recording_id the marker."""
    table = pa.concat_tables([words] * copies)
    return table.set_column(0, table.schema.field(0), pa.array([marker] * table.num_rows, pa.string()))


def seen(table: pa.Table) -> tuple[set[str], int]:
    return set(table.column("recording_id").to_pylist()), table.num_rows


@pytest.fixture
def small_files(monkeypatch):
    monkeypatch.setattr(store, "MAX_ROWS_PER_FILE", ROWS_PER_FILE)
    monkeypatch.setattr(store, "MAX_ROWS_PER_GROUP", ROWS_PER_FILE)


@pytest.fixture
def prefix() -> str:
    """The lake's prefix in the bucket, new for each test (moto's state outlives its server in a process)."""
    return f"lake-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def s3_lake(s3_endpoint, prefix, monkeypatch) -> str:
    """An S3 lake URI (moto) usable by every reader, DuckDB included."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return f"s3://lake-bucket/{prefix}?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"


@pytest.fixture(params=["local", "s3"])
def any_lake(request, tmp_path) -> str:
    return str(tmp_path / "lake") if request.param == "local" else request.getfixturevalue("s3_lake")


def readers_see(lake: str) -> dict[str, tuple[set[str], int]]:
    """What each reader sees of the night: pyarrow, the row counts, and DuckDB's view."""
    con = duckdb_connect(lake)
    try:
        rows = con.execute(f"select recording_id from {TABLE} where night = ?", [NIGHT]).fetchall()
    finally:
        con.close()
    return {
        "read_table": seen(read_table(TABLE, lake, NIGHT)),
        "row_counts": ({"-"}, row_counts(lake, NIGHT)[TABLE]),
        "duckdb": ({r[0] for r in rows}, len(rows)),
    }


def expect(marker: str, rows: int) -> dict[str, tuple[set[str], int]]:
    return {"read_table": ({marker}, rows), "row_counts": ({"-"}, rows), "duckdb": ({marker}, rows)}


def s3_files(s3_endpoint: str, prefix: str) -> list[str]:
    s3 = fs.S3FileSystem(
        endpoint_override=s3_endpoint, scheme="http", access_key="test", secret_key="test", region="us-east-1"
    )
    infos = s3.get_file_info(fs.FileSelector(f"lake-bucket/{prefix}", recursive=True, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == fs.FileType.File)


@pytest.mark.parametrize("failure", ["after 2 data files", "at the pointer"])
def test_writer_failing_mid_replace_leaves_the_previous_partition(
    any_lake, words, small_files, monkeypatch, failure
):
    write_partition(TABLE, version(words, "old", 5), any_lake, NIGHT)
    assert readers_see(any_lake) == expect("old", 45)
    with monkeypatch.context() as patch:
        if failure == "at the pointer":

            def write_pointer(*args, **kwargs):
                raise OSError("killed at the pointer")

            patch.setattr(generations, "write_pointer", write_pointer)
        else:
            real_write_dataset = store.ds.write_dataset

            def write_dataset(data, base_dir, **kwargs):
                visitor, written = kwargs.pop("file_visitor"), []

                def visit(file):
                    visitor(file)
                    written.append(file.path)
                    if len(written) == 2:
                        raise OSError("killed after 2 data files")

                real_write_dataset(data, base_dir, file_visitor=visit, **kwargs)

            patch.setattr(store.ds, "write_dataset", write_dataset)
        with pytest.raises(OSError, match="killed"):
            write_partition(TABLE, version(words, "new", 10), any_lake, NIGHT)
    assert readers_see(any_lake) == expect("old", 45)
    write_partition(TABLE, version(words, "new", 10), any_lake, NIGHT)  # the next run replaces it whole
    assert readers_see(any_lake) == expect("new", 90)


WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow.parquet as pq
    from medscribe.lake import generations, store

    lake, night, source, stop_at = sys.argv[1:5]
    store.MAX_ROWS_PER_FILE = store.MAX_ROWS_PER_GROUP = 9
    if stop_at == "pointer":
        def write_pointer(*args, **kwargs):
            print("at the pointer", flush=True)
            time.sleep(600)
        generations.write_pointer = write_pointer
    else:  # hold the writer once its first data object is written: the kill lands mid-generation
        real_write_dataset = store.ds.write_dataset
        def write_dataset(data, base_dir, **kwargs):
            visitor = kwargs.pop("file_visitor")
            def visit(file):
                visitor(file)
                print("after a data file", flush=True)
                time.sleep(600)
            real_write_dataset(data, base_dir, file_visitor=visit, **kwargs)
        store.ds.write_dataset = write_dataset
    store.write_partition("transcript_words", pq.read_table(source), lake, night)
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("stop_at", ["data", "pointer"])
def test_writer_killed_by_sigkill_mid_replace_leaves_the_previous_partition(
    s3_endpoint, s3_lake, prefix, words, small_files, tmp_path, stop_at
):
    """A real writer process on S3, SIGKILLed once its first data object exists (``data``: held there, so
    the kill lands while the generation is incomplete) or when it is about to replace the pointer."""
    write_partition(TABLE, version(words, "old", 5), s3_lake, NIGHT)
    pointer_key = f"{prefix}/_symlink_format_manifest/{TABLE}/night={NIGHT}/manifest"
    before = s3_files(s3_endpoint, f"{prefix}/{TABLE}")
    source = tmp_path / "new.parquet"
    pq.write_table(version(words, "new", 20), source)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, s3_lake, NIGHT, str(source), stop_at],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        expected = "at the pointer" if stop_at == "pointer" else "after a data file"
        assert writer.stdout.readline().strip() == expected, writer.stderr.read()
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(30)
    assert writer.returncode == -signal.SIGKILL
    written = [f for f in s3_files(s3_endpoint, f"{prefix}/{TABLE}") if f not in before]
    assert written, "the writer was killed before it wrote anything"
    if stop_at == "pointer":
        assert len(written) == 20  # every data object of the new generation, and no pointer change
    assert readers_see(s3_lake) == expect("old", 45)
    assert f"lake-bucket/{pointer_key}" in s3_files(s3_endpoint, f"{prefix}/_symlink_format_manifest")
    # the dead writer's files are never read; newer than the pointer, they could be a writer still at
    # work, so they go only once GRACE has passed, even with grace 0 (requests already sent when the
    # writer died may still complete: count what is there then)
    assert store.collect_garbage(s3_lake, grace=dt.timedelta(0)) == 0
    leftovers = [f for f in s3_files(s3_endpoint, f"{prefix}/{TABLE}") if f not in before]
    later = dt.datetime.now(dt.UTC) + generations.GRACE + dt.timedelta(seconds=1)
    assert (
        generations.collect_garbage(*store.resolve(s3_lake), TABLE, NIGHT, now=later)
        == len(leftovers)
        >= len(written)
    )
    assert s3_files(s3_endpoint, f"{prefix}/{TABLE}") == before
    assert readers_see(s3_lake) == expect("old", 45)


@pytest.mark.parametrize("grace", ["default", "none"])
def test_readers_during_replaces_see_the_old_or_the_new_night_never_both(
    any_lake, words, small_files, monkeypatch, grace
):
    """One thread replaces the night again and again (A: 3 files, B: 5 files); another reads all the while.

    With no grace period the superseded files are deleted at once, under readers that may be reading
    them: ``read_table`` then reads the pointer again (DuckDB, a snapshot at connect time, is not run then).
    """
    if grace == "none":
        monkeypatch.setattr(generations, "GRACE", dt.timedelta(0))
    versions = {"A": version(words, "A", 3), "B": version(words, "B", 5)}
    allowed = [({"A"}, 27), ({"B"}, 45)]
    write_partition(TABLE, versions["A"], any_lake, NIGHT)
    done, errors, replaces = threading.Event(), [], [0]

    def writer():
        try:
            for i in range(12):
                write_partition(TABLE, versions["B" if i % 2 == 0 else "A"], any_lake, NIGHT)
                replaces[0] += 1
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    observed = []
    try:
        while not done.is_set() or not observed:
            observed.append(seen(read_table(TABLE, any_lake, NIGHT)))
            if grace == "default":
                con = duckdb_connect(any_lake)
                rows = con.execute(f"select recording_id from {TABLE}").fetchall()
                con.close()
                observed.append(({r[0] for r in rows}, len(rows)))
    finally:
        thread.join(120)
    assert not errors and replaces[0] == 12
    assert [o for o in observed if o not in allowed] == []
    assert len(observed) >= 2
    assert seen(read_table(TABLE, any_lake, NIGHT)) == ({"A"}, 27)


def test_forgetting_collects_superseded_generations_at_once(tmp_path, words):
    """After a rewrite with grace 0 no file of the night holds the removed rows (what governance relies on)."""
    lake = str(tmp_path / "lake")
    write_partition(
        TABLE, pa.concat_tables([version(words, "keep", 1), version(words, "forget", 1)]), lake, NIGHT
    )
    table = read_table(TABLE, lake, NIGHT)
    write_partition(TABLE, table.filter(pc.equal(table["recording_id"], "keep")), lake, NIGHT)
    assert store.collect_garbage(lake, table_name=TABLE, night=NIGHT, grace=dt.timedelta(0)) == 1
    files = sorted(Path(lake, TABLE).rglob("*.parquet"))
    assert len(files) == 1
    assert set(pq.read_table(files[0]).column("recording_id").to_pylist()) == {"keep"}


def test_legacy_partitions_are_read_then_replaced_and_adopted(tmp_path, words):
    """Nights written before generations (files directly in night=...) read as before; a write replaces
    them; ``adopt_legacy_partitions`` gives the others a pointer (for Athena) without copying data."""
    lake = tmp_path / "lake"
    for night, marker in ((NIGHT, "legacy-1"), ("2026-12-02", "legacy-2")):
        (lake / TABLE / f"night={night}").mkdir(parents=True)
        pq.write_table(version(words, marker, 1), lake / TABLE / f"night={night}" / "part-0.parquet")
    assert seen(read_table(TABLE, str(lake))) == ({"legacy-1", "legacy-2"}, 18)
    write_partition(TABLE, version(words, "new", 2), str(lake), NIGHT)
    assert seen(read_table(TABLE, str(lake), NIGHT)) == ({"new"}, 18)
    assert store.adopt_legacy_partitions(str(lake)) == {TABLE: ["2026-12-02"]}
    assert store.adopt_legacy_partitions(str(lake)) == {}
    manifest = lake / "_symlink_format_manifest" / TABLE / "night=2026-12-02" / "manifest"
    assert (
        manifest.read_text()
        == (lake / TABLE / "night=2026-12-02" / "part-0.parquet").resolve().as_uri() + "\n"
    )
    assert seen(read_table(TABLE, str(lake))) == ({"new", "legacy-2"}, 27)
    # the superseded legacy file of the rewritten night goes with the garbage
    assert store.collect_garbage(str(lake), grace=dt.timedelta(0)) == 1
    assert not (lake / TABLE / f"night={NIGHT}" / "part-0.parquet").exists()
    assert seen(read_table(TABLE, str(lake))) == ({"new", "legacy-2"}, 27)

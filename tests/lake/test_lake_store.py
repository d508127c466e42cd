"""The Parquet lake: partition replacement (idempotent, crash-safe), reads, DuckDB views, S3.

The atomicity of a replace under killed writers and concurrent readers: test_atomic_partitions.py."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from medscribe.lake import generations, store
from medscribe.lake.parse import healthscribe_transcript_tables, transcribe_medical_words_table
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import duckdb_connect, read_table, row_counts, write_partition


def zeros(**counts: int) -> dict[str, int]:
    """Expected ``row_counts``: every table of TABLES, 0 unless given."""
    return {**dict.fromkeys(TABLES, 0), **counts}


NIGHT, OTHER_NIGHT = "2024-05-01", "2024-05-02"


@pytest.fixture
def words(hs_transcript) -> pa.Table:
    tables = healthscribe_transcript_tables(hs_transcript, recording_id="rec-1", job_name="job-1")
    return tables["transcript_words"]


@pytest.fixture
def lake(tmp_path) -> str:
    return str(tmp_path / "lake")


def partition_entries(lake: str, table: str = "transcript_words") -> list[str]:
    """Everything in a table directory, hidden leftovers included."""
    return sorted(os.listdir(Path(lake) / table))


def generations_of(lake: str, night: str = NIGHT, table: str = "transcript_words") -> list[str]:
    """The generation directories of a night, current or not."""
    return sorted(os.listdir(Path(lake) / table / f"night={night}"))


def pointer(lake: str, night: str = NIGHT, table: str = "transcript_words") -> list[str]:
    """The lines of a night's pointer (symlink manifest)."""
    path = Path(lake) / "_symlink_format_manifest" / table / f"night={night}" / "manifest"
    return path.read_text().splitlines()


def without_night(table: pa.Table) -> pa.Table:
    return table.drop_columns(["night"])


def test_write_then_read_round_trip(lake, words):
    path = write_partition("transcript_words", words, lake, NIGHT)
    assert os.path.dirname(path) == f"{Path(lake).resolve()}/transcript_words/night={NIGHT}"
    assert generations_of(lake) == [os.path.basename(path)]
    assert os.path.basename(path).startswith("gen-")
    assert os.listdir(path) == ["part-0.parquet"]
    assert pointer(lake) == [Path(path, "part-0.parquet").as_uri()]
    back = read_table("transcript_words", lake, NIGHT)
    assert back.schema.names == [*TABLES["transcript_words"].names, "night"]
    assert without_night(back).schema.equals(TABLES["transcript_words"], check_metadata=True)
    assert without_night(back).equals(words)
    assert set(back.column("night").to_pylist()) == {NIGHT}
    # night is in the path only, not inside the files
    assert "night" not in pq.read_schema(Path(path) / "part-0.parquet").names
    assert pq.read_schema(Path(path) / "part-0.parquet").field("item_index").metadata == {
        b"description": b"Position of the item in the file (0-based)."
    }


def test_rewrite_is_idempotent(lake, words):
    first = write_partition("transcript_words", words, lake, NIGHT)
    second = write_partition("transcript_words", words, lake, NIGHT)
    back = read_table("transcript_words", lake, NIGHT)
    assert back.num_rows == words.num_rows
    assert without_night(back).equals(words)
    assert partition_entries(lake) == [f"night={NIGHT}"]
    # the superseded generation stays for the grace period, unread; then a collection deletes it
    assert generations_of(lake) == sorted(os.path.basename(p) for p in (first, second))
    assert pointer(lake) == [Path(second, "part-0.parquet").as_uri()]
    assert store.collect_garbage(lake) == 0
    assert store.collect_garbage(lake, grace=dt.timedelta(0)) == 1
    assert generations_of(lake) == [os.path.basename(second)]
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)


def test_rewrite_replaces_only_its_night(lake, words, tm_speakers):
    tm_words = transcribe_medical_words_table(tm_speakers, recording_id="rec-2", job_name="job-2")
    write_partition("transcript_words", words, lake, NIGHT)
    write_partition("transcript_words", words, lake, OTHER_NIGHT)
    write_partition("transcript_words", tm_words, lake, NIGHT)
    assert row_counts(lake, NIGHT)["transcript_words"] == 3
    assert row_counts(lake, OTHER_NIGHT)["transcript_words"] == 9
    assert row_counts(lake)["transcript_words"] == 12
    assert set(read_table("transcript_words", lake, NIGHT).column("recording_id").to_pylist()) == {"rec-2"}


def test_empty_table_replaces_partition_with_a_zero_row_file(lake, words):
    write_partition("transcript_words", words, lake, NIGHT)
    path = write_partition("transcript_words", TABLES["transcript_words"].empty_table(), lake, NIGHT)
    assert os.listdir(path) == ["part-0.parquet"]
    assert pq.read_metadata(Path(path) / "part-0.parquet").num_rows == 0
    assert read_table("transcript_words", lake, NIGHT).num_rows == 0
    assert row_counts(lake, NIGHT)["transcript_words"] == 0
    con = duckdb_connect(lake)
    assert con.execute("select count(*) from transcript_words").fetchone() == (0,)
    assert [c[0] for c in con.execute("describe transcript_words").fetchall()] == [
        *TABLES["transcript_words"].names,
        "night",
    ]


def test_crash_while_writing_files_leaves_previous_partition(lake, words, monkeypatch):
    write_partition("transcript_words", words, lake, NIGHT)
    real_write_dataset = ds.write_dataset

    def write_part_then_die(data, base_dir, **kwargs):
        real_write_dataset(data.slice(0, 2), base_dir, **kwargs)  # some files are on disk ...
        raise OSError("disk full")  # ... then the writer dies

    monkeypatch.setattr(ds, "write_dataset", write_part_then_die)
    with pytest.raises(OSError, match="disk full"):
        write_partition("transcript_words", words.slice(0, 5), lake, NIGHT)
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)
    assert partition_entries(lake) == [f"night={NIGHT}"]


def test_failed_pointer_write_leaves_previous_partition(lake, words, monkeypatch):
    write_partition("transcript_words", words, lake, NIGHT)
    before = pointer(lake)

    def replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(generations.os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        write_partition("transcript_words", words.slice(0, 5), lake, NIGHT)
    monkeypatch.undo()
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)
    assert pointer(lake) == before
    assert os.listdir(Path(lake) / "_symlink_format_manifest" / "transcript_words" / f"night={NIGHT}") == [
        "manifest"
    ]
    # its files stay (had the pointer been written, they would be the night), unread; newer than the
    # pointer, they are not collected even with grace 0 until GRACE has passed (a writer may be at work)
    assert len(generations_of(lake)) == 2
    assert store.collect_garbage(lake, grace=dt.timedelta(0)) == 0
    later = dt.datetime.now(dt.UTC) + generations.GRACE + dt.timedelta(seconds=1)
    assert generations.collect_garbage(*store.resolve(lake), "transcript_words", NIGHT, now=later) == 1
    assert len(generations_of(lake)) == 1
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)


def test_leftovers_of_killed_writers_are_invisible_and_collected(lake, words):
    """A writer killed before its pointer leaves an unnamed generation: never read, collected after the grace."""
    write_partition("transcript_words", words, lake, NIGHT)
    write_partition("transcript_words", words, lake, OTHER_NIGHT)
    (current,) = generations_of(lake)
    dead = Path(lake) / "transcript_words" / f"night={NIGHT}" / generations.new_generation()
    dead.mkdir()
    pq.write_table(words.slice(0, 2), dead / "part-0.parquet")  # half a new partition
    assert row_counts(lake)["transcript_words"] == 18
    assert duckdb_connect(lake).execute("select count(*) from transcript_words").fetchone() == (18,)
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)
    # within the grace period nothing goes (it could be a writer still writing); after it, the dead one
    assert store.collect_garbage(lake, table_name="transcript_words", night=NIGHT) == 0
    later = dt.datetime.now(dt.UTC) + generations.GRACE + dt.timedelta(seconds=1)
    fs, root = store.resolve(lake)
    assert generations.collect_garbage(fs, root, "transcript_words", NIGHT, now=later) == 1
    assert generations_of(lake) == [current]
    assert row_counts(lake)["transcript_words"] == 18


def test_times_in_the_pointers_second_are_told_apart_by_the_superseded_mark(lake, words):
    """S3 keeps whole seconds: a dead writer's files and a superseded generation can both carry the
    pointer's time. The unmarked one (perhaps never named) stays; the one the writer marked goes."""
    first = write_partition("transcript_words", words, lake, NIGHT)
    second = write_partition("transcript_words", words, lake, NIGHT)
    assert (Path(first) / generations.SUPERSEDED).exists()
    assert not (Path(second) / generations.SUPERSEDED).exists()
    dead = Path(lake) / "transcript_words" / f"night={NIGHT}" / generations.new_generation()
    dead.mkdir()
    pq.write_table(words.slice(0, 2), dead / "part-0.parquet")
    _, root = store.resolve(lake)
    pointer_time = os.stat(generations.pointer_path(root, "transcript_words", NIGHT)).st_mtime_ns
    for path in [*Path(first).iterdir(), *dead.iterdir()]:
        os.utime(path, ns=(pointer_time, pointer_time))
    assert store.collect_garbage(lake, grace=dt.timedelta(0)) == 1
    assert not Path(first).exists() and (dead / "part-0.parquet").exists()
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)


def test_a_pointer_naming_files_outside_its_night_is_refused(lake, words):
    write_partition("transcript_words", words, lake, NIGHT)
    write_partition("transcript_words", words, lake, OTHER_NIGHT)
    path = Path(lake) / "_symlink_format_manifest" / "transcript_words" / f"night={NIGHT}" / "manifest"
    path.write_text(pointer(lake, OTHER_NIGHT)[0] + "\n")
    with pytest.raises(ValueError, match="outside the night"):
        read_table("transcript_words", lake, NIGHT)


def test_duckdb_views_count_like_row_counts(lake, words, hs_transcript, tm_channels):
    segments = healthscribe_transcript_tables(hs_transcript, recording_id="r", job_name="j")
    segments = segments["transcript_segments"]
    channel_words = transcribe_medical_words_table(tm_channels, recording_id="r2", job_name="j2")
    write_partition("transcript_words", words, lake, NIGHT)
    write_partition("transcript_words", channel_words, lake, OTHER_NIGHT)
    write_partition("transcript_segments", segments, lake, NIGHT)
    con = duckdb_connect(lake)
    counts = dict(
        con.execute(
            "select 'transcript_words', count(*) from transcript_words union all "
            "select 'transcript_segments', count(*) from transcript_segments union all "
            "select 'jobs', count(*) from jobs"
        ).fetchall()
    )
    assert row_counts(lake) == zeros(transcript_words=15, transcript_segments=6)
    assert counts == {"transcript_words": 15, "transcript_segments": 6, "jobs": 0}
    assert con.execute(
        "select night, typeof(night), count(*) from transcript_words group by all order by night"
    ).fetchall() == [(NIGHT, "VARCHAR", 9), (OTHER_NIGHT, "VARCHAR", 6)]
    assert con.execute(
        "select content, speaker_label, segment_id from transcript_words where night = ? and item_index = 0",
        [NIGHT],
    ).fetchall() == [("Okay", None, "uuid1")]
    assert row_counts(lake, OTHER_NIGHT) == zeros(transcript_words=6)


def test_jobs_table_round_trip_keeps_utc_timestamps(lake):
    submitted = dt.datetime(2024, 5, 1, 22, 15, tzinfo=dt.UTC)
    jobs = pa.Table.from_pylist(
        [
            {
                "recording_id": "rec-1",
                "job_name": "job-1",
                "service": "healthscribe",
                "status": "COMPLETED",
                "submitted_at": submitted,
                "sample_rate_hz": 16000,
                "settings_json": "{}",
                "transcript_uri": "s3://b/t.json",
            }
        ],
        schema=TABLES["jobs"],
    )
    write_partition("jobs", jobs, lake, NIGHT)
    back = read_table("jobs", lake)
    assert back.schema.field("submitted_at").type == pa.timestamp("us", tz="UTC")
    assert back.column("submitted_at").to_pylist() == [submitted]
    con = duckdb_connect(lake)
    assert con.execute("select sample_rate_hz, failure_reason from jobs").fetchall() == [(16000, None)]


def test_write_casts_compatible_tables(lake, words):
    shuffled = words.select(list(reversed(words.column_names)))
    loose = shuffled.cast(
        pa.schema(
            [pa.field(f.name, pa.int64() if f.name == "item_index" else f.type) for f in shuffled.schema]
        )
    )
    write_partition("transcript_words", loose, lake, NIGHT)
    assert without_night(read_table("transcript_words", lake, NIGHT)).equals(words)
    # a night column is accepted when it names this night (e.g. rows read back from the lake)
    write_partition("transcript_words", read_table("transcript_words", lake, NIGHT), lake, NIGHT)
    assert row_counts(lake, NIGHT)["transcript_words"] == 9


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop_columns(["confidence"]), "missing \\['confidence'\\]"),
        (lambda t: t.append_column("extra", pa.array([1] * t.num_rows)), "unexpected \\['extra'\\]"),
        (lambda t: t.set_column(0, "recording_id", pa.nulls(t.num_rows, pa.string())), "not nullable"),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("start_time"), "start_time", pa.array(["Okay"] * t.num_rows)
            ),
            "start_time: string -> double",
        ),
        (lambda t: t.append_column("night", pa.array([OTHER_NIGHT] * t.num_rows)), "other nights"),
    ],
)
def test_write_refuses_tables_that_do_not_fit(lake, words, change, message):
    with pytest.raises(ValueError, match=message) as raised:
        write_partition("transcript_words", change(words), lake, NIGHT)
    assert "Okay" not in str(raised.value)
    assert not Path(lake, "transcript_words").exists() or partition_entries(lake) == []


@pytest.mark.parametrize("night", ["2024-5-1", "2024-W01-1", "../etc", "2024-02-30", "20240501"])
def test_bad_nights_and_tables_are_refused(lake, words, night):
    with pytest.raises(ValueError, match="night"):
        write_partition("transcript_words", words, lake, night)
    with pytest.raises(ValueError, match="unknown table"):
        write_partition("words", words, lake, NIGHT)


def test_old_partitions_without_a_new_column_read_as_null(lake, words):
    """Schema evolution: a column added later (here: segment_id) is null in older files."""
    write_partition("transcript_words", words, lake, OTHER_NIGHT)
    old_dir = Path(lake) / "transcript_words" / f"night={NIGHT}"
    old_dir.mkdir(parents=True)
    pq.write_table(words.drop_columns(["segment_id"]), old_dir / "part-0.parquet")
    back = read_table("transcript_words", lake)
    old = back.filter(pc.equal(back["night"], NIGHT))
    assert old.num_rows == 9 and old.column("segment_id").null_count == 9
    con = duckdb_connect(lake)
    assert con.execute(
        "select night, count(segment_id), count(*) from transcript_words group by night order by night"
    ).fetchall() == [(NIGHT, 0, 9), (OTHER_NIGHT, 9, 9)]


def test_reading_a_lake_with_no_data(lake):
    assert read_table("transcript_segments", lake).num_rows == 0
    assert row_counts(lake) == zeros()
    con = duckdb_connect(lake)
    assert con.execute("select count(*) from transcript_segments").fetchone() == (0,)


def test_file_uri_is_a_local_lake(tmp_path, words):
    uri = (tmp_path / "lake").as_uri()
    write_partition("transcript_words", words, uri, NIGHT)
    assert row_counts(uri)["transcript_words"] == 9
    assert duckdb_connect(uri).execute("select count(*) from transcript_words").fetchone() == (9,)


def test_duckdb_connect_refuses_other_schemes():
    with pytest.raises(ValueError, match="s3://"):
        duckdb_connect("gs://bucket/lake")


def test_s3_lake_write_rewrite_read(s3_endpoint, words, tm_speakers, monkeypatch):
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        endpoint_override=s3_endpoint, scheme="http", access_key="test", secret_key="test", region="us-east-1"
    )
    lake = "s3://lake-bucket/lake"
    first = write_partition("transcript_words", words, lake, NIGHT, filesystem=s3)
    assert first.startswith(f"s3://lake-bucket/lake/transcript_words/night={NIGHT}/gen-")
    path = write_partition("transcript_words", words, lake, NIGHT, filesystem=s3)  # idempotent
    tm_words = transcribe_medical_words_table(tm_speakers, recording_id="rec-2", job_name="job-2")
    write_partition("transcript_words", tm_words, lake, OTHER_NIGHT, filesystem=s3)
    assert row_counts(lake, filesystem=s3)["transcript_words"] == 12
    assert without_night(read_table("transcript_words", lake, NIGHT, filesystem=s3)).equals(words)
    files = s3.get_file_info(fs.FileSelector("lake-bucket/lake/transcript_words", recursive=True))
    data = sorted(f.path for f in files if f.type == fs.FileType.File and f.path.endswith(".parquet"))
    assert (
        len(data) == 3 and f"{first[len('s3://') :]}/part-0.parquet" in data
    )  # superseded, kept for the grace
    assert f"{first[len('s3://') :]}/{generations.SUPERSEDED}" in [f.path for f in files]
    # the pointer is an Athena symlink manifest: the s3:// URIs of the current files, one a line
    with s3.open_input_stream(
        f"lake-bucket/lake/_symlink_format_manifest/transcript_words/night={NIGHT}/manifest"
    ) as f:
        assert f.read().decode() == f"{path}/part-0.parquet\n"
    assert store.collect_garbage(lake, grace=dt.timedelta(0), filesystem=s3) == 1
    files = s3.get_file_info(fs.FileSelector("lake-bucket/lake/transcript_words", recursive=True))
    assert f"{path[len('s3://') :]}/part-0.parquet" in [f.path for f in files]
    assert without_night(read_table("transcript_words", lake, NIGHT, filesystem=s3)).equals(words)
    # the same lake by URI alone (endpoint in the URI, credentials from the environment)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    uri = f"{lake}?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    write_partition("transcript_words", TABLES["transcript_words"].empty_table(), uri, OTHER_NIGHT)
    assert row_counts(uri) == zeros(transcript_words=9)
    # or with the endpoint in AWS_ENDPOINT_URL, as Airflow workers pointed at a local S3 would have it
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{s3_endpoint}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert read_table("transcript_words", lake, NIGHT).num_rows == 9


def test_duckdb_views_over_an_s3_lake(s3_endpoint, words, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    lake = f"s3://lake-bucket/lake?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    write_partition("transcript_words", words, lake, NIGHT)
    sql = "select night, count(*), sum(confidence) from transcript_words group by night"
    expected = [(NIGHT, len(words), pytest.approx(sum(c for c in words["confidence"].to_pylist() if c)))]
    assert duckdb_connect(lake).execute(sql).fetchall() == expected
    assert duckdb_connect(lake).execute("select count(*) from jobs").fetchone() == (0,)  # no data: empty view
    # the endpoint from the environment, as on Airflow workers pointed at the local S3; a rewrite of the
    # night (fewer rows) is seen by the next connection (no stale listing or cached filesystem)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{s3_endpoint}")
    write_partition("transcript_words", words.slice(0, 4), lake, NIGHT)
    con = duckdb_connect("s3://lake-bucket/lake")
    assert con.execute("select count(*) from transcript_words").fetchone() == (4,)
    assert con.execute("select content from transcript_words order by item_index").fetchall() == [
        (w,) for w in words.slice(0, 4)["content"].to_pylist()
    ]

"""The phases of ``run.py``, each run in a fresh child process (``run.py --phase NAME``) and returning its
figures as a dict: the naive pandas baseline, the column-wise flattener (``columnar``), the night's own
call (``nightly``), the parse-only floors (``json``, ``arrow``) and the DuckDB query (``duckdb``). Wall
and CPU time are measured from after the imports, peak RSS is the process's ``ru_maxrss``."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

NIGHT = "2026-03-02"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _write_night(parts: dict, out: Path) -> dict:
    """One write_partition per table; returns the row counts."""
    import pyarrow as pa

    from medscribe.lake.schemas import TABLES
    from medscribe.lake.store import write_partition

    for name, tables in parts.items():
        write_partition(
            name, pa.concat_tables(tables) if tables else TABLES[name].empty_table(), str(out), NIGHT
        )
    return {name: sum(t.num_rows for t in tables) for name, tables in parts.items()}


def phase_columnar(inputs: Path, out: Path, threads: int) -> dict:
    """The fast path: read the bytes, ``columnar.flatten_transcripts``, one write_partition per table."""
    import pyarrow as pa

    import medscribe.lake.store  # noqa: F401  (imported before the clock starts, like pandas for the baseline)
    from medscribe.lake.columnar import flatten_transcripts

    pa.set_cpu_count(threads)
    pa.set_io_thread_count(threads)
    rss_before = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    files = ((p.stem, f"job-{p.stem}", p.read_bytes()) for p in sorted(inputs.glob("*.json")))
    tables = flatten_transcripts(files, use_threads=threads > 1)
    flatten_cpu = time.process_time() - cpu
    rows = _write_night({name: [table] for name, table in tables.items()}, out)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "write_cpu_seconds": cpu_seconds - flatten_cpu,
        "word_rows": rows["transcript_words"],
        "rows": rows,
        "threads": threads,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def phase_baseline(inputs: Path, out: Path) -> dict:
    """Naive pandas: per file ``json.loads`` + ``json_normalize`` of the items' alternatives (times and
    type as meta); the night's frames concatenated per service and written with ``to_parquet``."""
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (to_parquet imports it on first use)

    rss_before = _rss_mb()
    out.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    frames: dict[str, list] = {"healthscribe": [], "transcribe_medical": []}
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        if "Conversation" in doc:
            frame = pd.json_normalize(
                doc["Conversation"]["TranscriptItems"],
                record_path="Alternatives",
                meta=["BeginAudioTime", "EndAudioTime", "Type"],
            )
            frames["healthscribe"].append(frame.assign(recording_id=path.stem, job_name=f"job-{path.stem}"))
        else:
            frame = pd.json_normalize(
                doc["results"]["items"],
                record_path="alternatives",
                meta=["start_time", "end_time", "type"],
                errors="ignore",
            )
            frames["transcribe_medical"].append(
                frame.assign(recording_id=path.stem, job_name=f"job-{path.stem}")
            )
    word_rows = 0
    for service, parts in frames.items():
        if parts:
            night = pd.concat(parts, ignore_index=True)
            night.to_parquet(out / f"{service}.parquet", index=False)
            word_rows += len(night)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "word_rows": word_rows,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def phase_json(inputs: Path) -> dict:
    """Only read and ``json.loads`` every file: the floor of any flattener that parses with json."""
    started, cpu = time.perf_counter(), time.process_time()
    items = 0
    for path in sorted(inputs.glob("*.json")):
        doc = json.loads(path.read_bytes())
        items += len(
            doc["Conversation"]["TranscriptItems"] if "Conversation" in doc else doc["results"]["items"]
        )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "items": items,
    }


def phase_arrow(inputs: Path) -> dict:
    """Only read the files and parse them with Arrow's JSON reader as the fast path does (one thread):
    the floor of the column-wise flattener."""
    import pyarrow as pa

    from medscribe.lake.columnar import BATCH_BYTES
    from medscribe.lake.columnar.reader import _read

    pa.set_cpu_count(1)
    started, cpu = time.perf_counter(), time.process_time()
    batch, size, rows = [], 0, 0
    for path in sorted(inputs.glob("*.json")):
        batch.append((path.stem, path.stem, path.read_bytes()))
        size += len(batch[-1][2])
        if size >= BATCH_BYTES:
            rows += _read(batch, use_threads=False).num_rows
            batch, size = [], 0
    rows += _read(batch, use_threads=False).num_rows if batch else 0
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu, "files": rows}


def phase_nightly(inputs: Path, out: Path) -> dict:
    """The night's own call: ``night.flatten.flatten_night``, as the DAG's ``flatten`` task makes it (the
    column-wise flattener in the task's process, Arrow using every core). The outputs are served from
    the local files in place of S3 (``get_object`` only), so the S3 downloads are not in the figure; the
    jobs table is."""
    import medscribe.lake.store  # noqa: F401
    from medscribe.night.flatten import flatten_night

    class LocalObjects:
        def get_object(self, Bucket: str, Key: str) -> dict:
            return {"Body": open(inputs / Key, "rb")}

    recordings, jobs = [], {}
    for path in sorted(inputs.glob("*.json")):
        service = "healthscribe" if "healthscribe" in path.stem else "transcribe_medical"
        name = f"job-{path.stem}"
        uri = f"s3://bench/{path.name}"
        recordings.append(
            {
                "recording_id": path.stem,
                "job_name": name,
                "service": service,
                "options": {},
                "audio": {"media_format": "wav", "sample_rate_hz": 16000},
            }
        )
        jobs[name] = (
            {"MedicalScribeJobStatus": "COMPLETED", "MedicalScribeOutput": {"TranscriptFileUri": uri}}
            if service == "healthscribe"
            else {"TranscriptionJobStatus": "COMPLETED", "Transcript": {"TranscriptFileUri": uri}}
        )
    rss_before = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    rows = flatten_night(
        recordings=recordings,
        describe_job=lambda _service, name: jobs[name],
        s3_client=LocalObjects(),
        lake_uri=str(out),
        night=NIGHT,
    )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "word_rows": rows["transcript_words"],
        "rows": {
            name: rows[name]
            for name in ("transcript_words", "transcript_segments", "clinical_insights", "insight_attributes")
        },
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def phase_duckdb(out: Path, rows: int) -> dict:
    import numpy as np
    import pyarrow as pa

    from medscribe.lake.schemas import TABLES
    from medscribe.lake.store import duckdb_connect, write_partition

    rng = np.random.default_rng(8)
    ids = pa.array([f"rec-{i:04d}" for i in range(1000)])
    pick = pa.array(rng.integers(0, 1000, rows))
    recording = ids.take(pick)
    table = pa.table(
        {
            "recording_id": recording,
            "job_name": recording,
            "service": pa.array(["healthscribe"] * rows),
            "item_index": pa.array(np.arange(rows, dtype=np.int32)),
            "is_punctuation": pa.array(rng.random(rows) < 0.1),
            "confidence": pa.array(rng.random(rows)),
            "alternative_rank": pa.array(np.zeros(rows, dtype=np.int16)),
        }
    )
    schema = TABLES["transcript_words"]
    table = pa.table(
        {f.name: table[f.name] if f.name in table.column_names else pa.nulls(rows, f.type) for f in schema},
        schema=schema,
    )
    started = time.perf_counter()
    write_partition("transcript_words", table, str(out), NIGHT)
    write_seconds = time.perf_counter() - started
    del table
    query = (
        "select recording_id, avg(confidence) as mean_confidence, count(*) as words "
        "from transcript_words where not is_punctuation group by recording_id"
    )
    con = duckdb_connect(str(out))
    timings = []
    for _ in range(4):
        started = time.perf_counter()
        result = con.execute(query).fetchall()
        timings.append(time.perf_counter() - started)
    return {
        "rows": rows,
        "groups": len(result),
        "write_seconds": write_seconds,
        "first_seconds": timings[0],
        "best_of_3_seconds": min(timings[1:]),
        "threads": con.execute("select current_setting('threads')").fetchone()[0],
        "peak_rss_mb": _rss_mb(),
    }

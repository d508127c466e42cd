"""What bench/night/run.py reads back after a night: engine time, ledger states, task timings, XCom
bytes, and (while the night runs) the peak RSS of Airflow's processes.

Engine time comes from the engine's own job records (boto3), the ledger from S3, task instances and
XComs from Airflow's REST API (the Celery stack) or from the SQLite metadata DB (``airflow dags test``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from medscribe_harness.demo import RECORDINGS_BUCKET
from medscribe_harness.devstack import local_credentials_env

DAG_ID = "medscribe_nightly"
DISCOVERY_TASKS = ("discover_shard", "discover")
# The process title (cmdline) of each kind of Airflow process, most specific first; task kinds are the
# ones the printed peak RSS is taken over.
PROCESS_KINDS = (
    ("airflow worker --", "task runner"),
    ("airflow task supervisor", "task supervisor"),
    ("airflow supervisor", "task supervisor"),
    ("celery worker", "celery worker"),
    ("celeryd", "celery worker"),
    ("dags test", "dags test"),
    ("triggerer", "triggerer"),
    ("scheduler", "scheduler"),
    ("dag-processor", "dag-processor"),
    ("api-server", "api-server"),
    ("api_server", "api-server"),
    ("serve-logs", "serve-logs"),
    (" db migrate", "airflow cli"),
    (" pools set", "airflow cli"),
)
TASK_KINDS = ("task runner", "task supervisor", "celery worker", "dags test")
RSS_INTERVAL_S = 0.5


# -- the engine ------------------------------------------------------------------------------------


def transcribe_client(endpoint: str):
    import boto3

    creds = local_credentials_env()
    return boto3.client(
        "transcribe",
        endpoint_url=endpoint,
        region_name=creds["AWS_DEFAULT_REGION"],
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
    )


def engine_intervals(endpoint: str, job_names: set[str]) -> list[tuple[datetime, datetime]]:
    """[StartTime, CompletionTime] of each job, as the engine reports them."""
    client = transcribe_client(endpoint)
    intervals = []
    for name in sorted(job_names):
        if name.startswith("medscribe-hs-"):
            job = client.get_medical_scribe_job(MedicalScribeJobName=name)["MedicalScribeJob"]
        else:
            job = client.get_medical_transcription_job(MedicalTranscriptionJobName=name)[
                "MedicalTranscriptionJob"
            ]
        intervals.append((job["StartTime"], job["CompletionTime"]))
    return intervals


def busy_and_compute_s(intervals: list[tuple[datetime, datetime]]) -> tuple[float, float]:
    """(the length of the union of the intervals, the sum of their lengths), in seconds."""
    busy, compute = 0.0, 0.0
    current_start = current_end = None
    for start, end in sorted(intervals):
        compute += (end - start).total_seconds()
        if current_end is None or start > current_end:
            if current_end is not None:
                busy += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        busy += (current_end - current_start).total_seconds()
    return busy, compute


def night_job_names(lake: str, night: str) -> set[str]:
    from medscribe.lake.store import read_table

    return {row["job_name"] for row in read_table("jobs", lake, night=night).to_pylist()}


# -- the ledger ------------------------------------------------------------------------------------


def ledger_states(s3, night: str, expected_ids: set[str]) -> tuple[dict[str, int], list[str]]:
    """The night's count of entries per state, and what is wrong: a seeded recording with no entry, an
    entry of a recording not seeded, a failed one (entries are one object per recording id, so a
    recording cannot have two)."""
    from medscribe.ledger import Ledger

    entries = Ledger(s3, RECORDINGS_BUCKET).night(night)
    ids = [entry["recording_id"] for entry in entries]
    problems = []
    if missing := expected_ids - set(ids):
        problems.append(f"{len(missing)} seeded recordings have no ledger entry")
    if extra := set(ids) - expected_ids:
        problems.append(f"{len(extra)} ledger entries are of recordings not seeded")
    if duplicated := [i for i, count in Counter(ids).items() if count > 1]:
        problems.append(f"{len(duplicated)} recordings have several entries")
    states = Counter(entry["state"] for entry in entries)
    if states.get("failed"):
        reasons = Counter(entry.get("reason") for entry in entries if entry["state"] == "failed")
        problems.append(f"{states['failed']} failed: {dict(reasons.most_common(3))}")
    if set(states) - {"succeeded"}:
        problems.append(f"not all succeeded: {dict(states)}")
    return dict(sorted(states.items())), problems


# -- task instances and XComs ----------------------------------------------------------------------


def _span_s(starts: list[datetime], ends: list[datetime]) -> float | None:
    return (max(ends) - min(starts)).total_seconds() if starts and ends else None


def _paged(api, path: str, field: str) -> list[dict]:
    items: list[dict] = []
    while True:
        sep = "&" if "?" in path else "?"
        body = api.get(f"{path}{sep}limit=100&offset={len(items)}")
        items += body[field]
        if not body[field] or len(items) >= body["total_entries"]:
            return items


def rest_task_instances(api, run_id: str) -> list[dict]:
    return _paged(api, f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances", "task_instances")


def rest_discovery_wall_s(task_instances: list[dict]) -> float | None:
    """First start to last end of the discovery task instances (the shards and the merge)."""
    mine = [t for t in task_instances if t["task_id"] in DISCOVERY_TASKS]
    return _span_s(
        [datetime.fromisoformat(t["start_date"]) for t in mine if t.get("start_date")],
        [datetime.fromisoformat(t["end_date"]) for t in mine if t.get("end_date")],
    )


def _stored_bytes(value) -> int:
    """Bytes of an XCom value as the metadata DB's JSON column holds it."""
    return len((value if isinstance(value, str) else json.dumps(value)).encode())


def xcom_figures(entries: list[tuple[str, str, object]]) -> dict:
    """Entries and bytes of a run's XComs, ``(task_id, key, value)`` each, in all and per task and key."""
    by_task: Counter[str] = Counter()
    for task_id, key, value in entries:
        by_task[f"{task_id}:{key}"] += _stored_bytes(value)
    return {
        "entries": len(entries),
        "bytes": sum(by_task.values()),
        "bytes_by_task": dict(sorted(by_task.items())),
    }


def rest_xcom_figures(api, run_id: str) -> dict:
    """:func:`xcom_figures` of a run, each value read back raw (not deserialized) through the REST API."""
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
    entries = []
    for entry in _paged(api, f"{base}/~/xcomEntries", "xcom_entries"):
        value = api.get(
            f"{base}/{quote(entry['task_id'])}/xcomEntries/{quote(entry['key'])}?map_index={entry['map_index']}"
        )["value"]
        entries.append((entry["task_id"], entry["key"], value))
    return xcom_figures(entries)


def sqlite_run_figures(db: Path) -> tuple[float | None, dict | None]:
    """(discovery wall s, :func:`xcom_figures`) of the latest run of the DAG in a SQLite metadata DB;
    None where a figure cannot be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            (run_id,) = con.execute(
                "select run_id from dag_run where dag_id = ? order by id desc limit 1", (DAG_ID,)
            ).fetchone()
            rows = con.execute(
                "select start_date, end_date from task_instance where dag_id = ? and run_id = ? "
                f"and task_id in ({', '.join('?' * len(DISCOVERY_TASKS))})",
                (DAG_ID, run_id, *DISCOVERY_TASKS),
            ).fetchall()
            discovery = _span_s(
                [datetime.fromisoformat(start) for start, _ in rows if start],
                [datetime.fromisoformat(end) for _, end in rows if end],
            )
            xcom = xcom_figures(
                con.execute(
                    "select task_id, key, coalesce(value, 'null') from xcom where dag_id = ? and run_id = ?",
                    (DAG_ID, run_id),
                ).fetchall()
            )
    except (sqlite3.Error, TypeError, ValueError):
        return None, None
    return discovery, xcom


# -- peak RSS --------------------------------------------------------------------------------------


def process_title(pid: int) -> str:
    try:
        return (
            (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def process_kind(title: str) -> str | None:
    """The kind of Airflow process a process title (cmdline) names, or None."""
    if "airflow" not in title or title.startswith("postgres"):
        return None  # a PostgreSQL backend names its database (airflow)
    return next((kind for marker, kind in PROCESS_KINDS if marker in title), "other airflow")


def vm_hwm_kb(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def reset_peak_rss(pids: list[int]) -> None:
    """Reset VmHWM of long-lived processes (Linux ≥ 4.0), so each N's peak is its own."""
    for pid in pids:
        with contextlib.suppress(OSError):
            (Path("/proc") / str(pid) / "clear_refs").write_text("5")


class PeakRss:
    """Samples VmHWM of the Airflow processes among ``pids()`` every 0.5 s while the block runs.

    ``peaks`` maps a process kind to its largest VmHWM in MB; a process shorter than the interval may
    be missed, so the figure is a lower bound (tasks of this DAG run for seconds)."""

    def __init__(self, pids):
        self.pids = pids
        self.peaks: dict[str, float] = {}
        self.titles: dict[str, str] = {}  # kind -> the title of one such process (what the kind was told by)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        for pid in self.pids():
            title = process_title(pid)
            kind = process_kind(title)
            kb = vm_hwm_kb(pid) if kind else None
            if kind and kb:
                self.peaks[kind] = max(self.peaks.get(kind, 0.0), kb / 1024)
                self.titles.setdefault(kind, title.strip()[:100])

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL_S):
            self._sample()

    def task_peak(self) -> tuple[float | None, str | None]:
        """The largest peak over task-running processes, and their kind."""
        tasks = {kind: mb for kind, mb in self.peaks.items() if kind in TASK_KINDS}
        if not tasks:
            return None, None
        kind = max(tasks, key=tasks.__getitem__)
        return tasks[kind], kind

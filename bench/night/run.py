"""Night benchmark: wall time of one nightly run split into engine time and orchestration overhead.

For each N, seeds a night of N distinct short recordings (windows of 5-20 s cut from the committed
fixtures at offsets drawn from a seed), runs the nightly DAG on one of two paths, and prints one row:
wall time, engine busy time (the union of the jobs' [StartTime, CompletionTime], read back from the
engine) and engine compute (their sum), overhead = wall - busy and its share of compute, discovery wall
time, XCom bytes, the peak RSS of Airflow's task processes, and the recordings per ledger state.

- ``--path dags-test`` (default): ``airflow dags test`` on moto S3 + the offline engine, SQLite metadata.
- ``--path celery``: the distributed stack of tests/stack (PostgreSQL, Redis, CeleryExecutor, a real
  triggerer), one stack for every N of the run; nights are triggered through Airflow's REST API.

    .venv/bin/python bench/night/run.py --n 10 20 50                  # the dags-test curve
    .venv/bin/python bench/night/run.py --path celery --n 200 1000 --json bench/out/night-celery.json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import sys
import tempfile
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import probes

from medscribe_harness.demo import RECORDINGS_BUCKET, run_night, s3_client, seed_night
from medscribe_harness.devstack import REPO_ROOT, LocalStack
from medscribe_harness.procfs import process_tree

AUDIO = REPO_ROOT / "tests" / "fixtures" / "audio"
SOURCES = [
    ("dictation.wav", "dictations/bench"),
    ("conversation_mono.wav", "conversations/bench-mono"),
    ("conversation_stereo.wav", "conversations/bench-stereo"),
]


# -- the recordings --------------------------------------------------------------------------------


def window(fixture: str, start_s: float, seconds: float) -> bytes:
    with wave.open(str(AUDIO / fixture)) as source:
        rate = source.getframerate()
        source.setpos(int(start_s * rate))
        frames = source.readframes(int(seconds * rate))
        channels = source.getnchannels()
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(channels)
        target.setsampwidth(2)
        target.setframerate(rate)
        target.writeframes(frames)
    return out.getvalue()


def fixture_seconds(fixture: str) -> float:
    with wave.open(str(AUDIO / fixture)) as source:
        return source.getnframes() / source.getframerate()


def recordings(
    n: int, rng: random.Random, shortest: float, longest: float, seen: set[str]
) -> tuple[dict[str, bytes], float]:
    """n recordings, a third of each fixture, each a window of a length and at an offset drawn from
    ``rng``; none with the content of another (in ``seen``: job names are content hashes, so a repeat
    would reuse a job). Returns {relative key: wav bytes} and the audio seconds."""
    made, audio = {}, 0.0
    for i in range(n):
        fixture, folder = SOURCES[i % 3]
        while True:
            seconds = round(rng.uniform(shortest, min(longest, fixture_seconds(fixture))), 2)
            offset = round(rng.uniform(0.0, fixture_seconds(fixture) - seconds), 2)
            data = window(fixture, offset, seconds)
            digest = hashlib.sha256(data).hexdigest()
            if digest not in seen:
                break
        seen.add(digest)
        made[f"{folder}/n{n}-rec-{i:04d}.wav"] = data
        audio += seconds
    return made, audio


def recording_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def seed(s3, night: str, made: dict[str, bytes]) -> None:
    seed_night(s3, night, samples={})  # the buckets
    for key, data in made.items():
        s3.put_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{night}/{key}", Body=data)


# -- one night on each path ------------------------------------------------------------------------


def night_row(n, audio, wall, engine_endpoint, lake, night, s3, made, discovery, xcom, rss) -> dict:
    """The row of one night: the engine's, the ledger's and the run's figures."""
    jobs = probes.night_job_names(lake, night)
    busy, compute = probes.busy_and_compute_s(probes.engine_intervals(engine_endpoint, jobs))
    states, problems = probes.ledger_states(s3, night, {recording_id(data) for data in made.values()})
    if len(jobs) != n:
        problems.append(f"{len(jobs)} jobs in the night's jobs table for {n} recordings")
    peak, peak_kind = rss.task_peak()
    return {
        "n": n,
        "night": night,
        "audio_s": round(audio, 1),
        "wall_s": round(wall, 1),
        "engine_busy_s": round(busy, 1),
        "engine_compute_s": round(compute, 1),
        "overhead_s": round(wall - busy, 1),
        "overhead_pct_of_compute": round(100 * (wall - busy) / compute, 1) if compute else None,
        "discovery_wall_s": round(discovery, 1) if discovery is not None else None,
        "xcom_entries": xcom["entries"] if xcom else None,
        "xcom_bytes": xcom["bytes"] if xcom else None,
        "xcom_bytes_by_task": xcom["bytes_by_task"] if xcom else None,
        "peak_rss_mb": round(peak, 0) if peak is not None else None,
        "peak_rss_process": peak_kind,
        "peak_rss_mb_by_process": {kind: round(mb) for kind, mb in sorted(rss.peaks.items())},
        "process_titles": rss.titles,
        "ledger_states": states,
        "problems": problems,
        "audio_h_per_engine_busy_h": round(audio / busy, 2) if busy else None,
        "audio_h_per_engine_worker_h": round(audio / compute, 2) if compute else None,
    }


def children() -> list[int]:
    """The processes this one started (``airflow dags test`` among them)."""
    return process_tree(os.getpid())[1:]


def run_dags_test(args, nights: list[tuple[int, str, dict[str, bytes], float]], tmp: Path) -> list[dict]:
    rows = []
    with LocalStack.start(run_dir=tmp / "stack", engine_workers=args.engine_workers) as stack:
        s3 = s3_client(stack.s3_endpoint)
        lake = str(tmp / "lake")
        for n, night, made, audio in nights:
            seed(s3, night, made)
            log = tmp / f"{night}.log"
            with probes.PeakRss(children) as rss:
                started = time.monotonic()
                result = run_night(night, stack, lake, tmp / "airflow", log)
                wall = time.monotonic() - started
            if result.returncode != 0 or "jobs of the batch" not in log.read_text():
                raise SystemExit(f"the run for N={n} failed; see {log}")
            discovery, xcom = probes.sqlite_run_figures(tmp / "airflow" / "airflow.db")
            rows.append(
                night_row(n, audio, wall, stack.engine_endpoint, lake, night, s3, made, discovery, xcom, rss)
            )
            print_row(rows[-1])
    return rows


def celery_side(stack) -> set[int]:
    """The stack's processes, and every descendant of its celery workers: a task process's new title
    (setproctitle) can overwrite the environment that marks it as the stack's."""
    from medscribe_harness.stack.distributed import stack_processes

    pids = set(stack_processes(stack.stack_id))
    for worker in stack.airflow.workers:
        if worker.process is not None:
            pids.update(process_tree(worker.process.pid))
    return pids


def run_celery(args, nights: list[tuple[int, str, dict[str, bytes], float]], tmp: Path) -> list[dict]:
    from medscribe_harness.stack.distributed import DAG_ID, DistributedStack

    rows = []
    started = time.monotonic()
    with DistributedStack.start(
        tmp / "stack", celery_workers=args.celery_workers, engine_workers=args.engine_workers
    ) as stack:
        print(f"stack up in {time.monotonic() - started:.0f} s", flush=True)
        s3 = s3_client(stack.s3_endpoint)
        for n, night, made, audio in nights:
            seed(s3, night, made)
            probes.reset_peak_rss(celery_side(stack))
            timeout = args.timeout or 900 + 5 * audio
            with probes.PeakRss(lambda: celery_side(stack)) as rss:
                triggered = datetime.now(UTC)
                run_id = stack.trigger_night(night)
                run = stack.api.wait_for_run(
                    DAG_ID, run_id, timeout, on_poll=lambda _run: stack.check_alive(), interval=1.0
                )
            if run["state"] != "success":
                failed = [(t["task_id"], t["map_index"], t["state"]) for t in stack.task_instances(run_id)]
                raise SystemExit(f"the run for N={n} ended {run['state']}: {failed}")
            wall = (datetime.fromisoformat(run["end_date"]) - triggered).total_seconds()
            tis = probes.rest_task_instances(stack.api, run_id)
            row = night_row(
                n,
                audio,
                wall,
                stack.engine_endpoint,
                str(stack.lake),
                night,
                s3,
                made,
                probes.rest_discovery_wall_s(tis),
                probes.rest_xcom_figures(stack.api, run_id),
                rss,
            )
            rows.append({**row, "run_id": run_id, "task_instances": len(tis)})
            print_row(rows[-1])
    stack.assert_no_orphans()
    return rows


# -- output ----------------------------------------------------------------------------------------

COLUMNS = (
    ("N", 5, "n", "d"),
    ("audio s", 8, "audio_s", ".0f"),
    ("wall s", 8, "wall_s", ".1f"),
    ("busy s", 8, "engine_busy_s", ".1f"),
    ("compute s", 10, "engine_compute_s", ".1f"),
    ("overhead s", 11, "overhead_s", ".1f"),
    ("ovh % cmp", 10, "overhead_pct_of_compute", ".1f"),
    ("disc s", 7, "discovery_wall_s", ".1f"),
    ("XCom B", 8, "xcom_bytes", "d"),
    ("RSS MB", 7, "peak_rss_mb", ".0f"),
)


def print_header() -> None:
    print(" ".join(f"{title:>{width}}" for title, width, _, _ in COLUMNS) + "  RSS of / ledger", flush=True)


def print_row(row: dict) -> None:
    cells = [
        f"{row[key]:>{width}{spec}}" if row[key] is not None else f"{'-':>{width}}"
        for _, width, key, spec in COLUMNS
    ]
    states = " ".join(f"{state}={count}" for state, count in row["ledger_states"].items())
    print(" ".join(cells) + f"  {row['peak_rss_process'] or '-'} / {states}", flush=True)
    for problem in row["problems"]:
        print(f"      PROBLEM: {problem}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=("dags-test", "celery"), default="dags-test")
    parser.add_argument(
        "--n", type=int, nargs="+", default=[20], help="recordings per night (several: one night each)"
    )
    parser.add_argument("--seconds-min", type=float, default=5.0, help="shortest recording (s)")
    parser.add_argument("--seconds-max", type=float, default=20.0, help="longest recording (s)")
    parser.add_argument("--seconds", type=float, help="every recording this long (sets min and max)")
    parser.add_argument("--seed", type=int, default=23, help="seed of the windows' lengths and offsets")
    parser.add_argument(
        "--engine-workers", type=int, help="engine workers (default: 1 on dags-test, 2 on celery)"
    )
    parser.add_argument("--celery-workers", type=int, default=2, help="celery workers (celery path)")
    parser.add_argument("--timeout", type=float, help="per night, s (celery; default 900 + 5 x audio s)")
    parser.add_argument("--json", type=Path, help="write the rows (and the settings) to this file")
    args = parser.parse_args()
    if args.seconds is not None:
        args.seconds_min = args.seconds_max = args.seconds
    if args.engine_workers is None:
        args.engine_workers = 1 if args.path == "dags-test" else 2
    rng, seen = random.Random(args.seed), set()
    nights = []
    for index, n in enumerate(args.n):
        made, audio = recordings(n, rng, args.seconds_min, args.seconds_max, seen)
        nights.append((n, f"2026-11-{index + 2:02d}", made, audio))
    print(
        f"path {args.path}, engine workers {args.engine_workers}"
        + (f", celery workers {args.celery_workers}" if args.path == "celery" else "")
        + f", recordings {args.seconds_min:g}-{args.seconds_max:g} s (seed {args.seed})",
        flush=True,
    )
    print_header()
    with tempfile.TemporaryDirectory() as tmp:
        runner = run_celery if args.path == "celery" else run_dags_test
        rows = runner(args, nights, Path(tmp))
    for row in rows:
        print(
            f"N={row['n']}: engine throughput {row['audio_h_per_engine_busy_h']} audio h per engine-busy h "
            f"({args.engine_workers} engine workers), {row['audio_h_per_engine_worker_h']} per worker-hour of "
            f"job time; peak RSS by process (MB): {row['peak_rss_mb_by_process']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        args.json.write_text(
            json.dumps({"settings": settings, "machine": platform.platform(), "rows": rows}, indent=2) + "\n"
        )
    if any(row["problems"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()

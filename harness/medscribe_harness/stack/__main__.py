"""The distributed stack from the command line (``scripts/stack.sh`` calls this).

    python -m medscribe_harness.stack run [--night 2026-11-23]   start, seed the samples, run the night through
                                                         the REST API, print the tables, stop
    python -m medscribe_harness.stack up                         start and keep running until Ctrl-C

Both stop everything they started and check that no process of the stack is left (exit code 3 if one is).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from medscribe_harness.devstack import REPO_ROOT, ServiceError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medscribe_harness.stack", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["run", "up"])
    parser.add_argument("--night", default="2026-11-23", help="the night to process (YYYY-MM-DD)")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO_ROOT / ".run" / "stack",
        help="data and logs (default: .run/stack)",
    )
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--engine-workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run")
    args = parser.parse_args(argv)

    from medscribe.lake.store import row_counts
    from medscribe_harness.demo import s3_client, seed_night
    from medscribe_harness.stack.distributed import DistributedStack

    def interrupt(*_):
        raise KeyboardInterrupt  # unwinds through the stack's shutdown

    signal.signal(signal.SIGTERM, interrupt)
    status = 0
    started = time.monotonic()
    try:
        with DistributedStack.start(
            args.run_dir, celery_workers=args.celery_workers, engine_workers=args.engine_workers
        ) as stack:
            if args.command == "up":
                print(
                    f"stack up; Airflow UI/API {stack.airflow.api.endpoint} (user admin, password in "
                    f"{stack.run_dir / 'airflow' / 'passwords.json'}); S3 {stack.s3_endpoint}; "
                    f"engine {stack.engine_endpoint}. Ctrl-C stops it."
                )
                try:
                    while True:
                        stack.check_alive()
                        time.sleep(2.0)
                except KeyboardInterrupt:
                    pass
            else:
                seeded = seed_night(s3_client(stack.s3_endpoint), args.night)
                print(
                    f"seeded {seeded} recordings for night {args.night}; triggering {args.night} via the REST API"
                )
                run = stack.run_night(args.night, timeout=args.timeout)
                print(f"run {run['dag_run_id']}: {run['state']} after {time.monotonic() - started:.0f}s")
                for ti in sorted(
                    stack.task_instances(run["dag_run_id"]), key=lambda t: t["start_date"] or ""
                ):
                    print(
                        f"  {ti['task_id']:<22} map {ti['map_index']:>2}  {ti['state']:<10} try {ti['try_number']}"
                    )
                for table, rows in row_counts(str(stack.lake), night=args.night).items():
                    print(f"  {table:<22} {rows:>7} rows")
                status = 0 if run["state"] == "success" else 1
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        stack.assert_no_orphans()
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(f"stopped; no process left ({time.monotonic() - started:.0f}s in all)")
    return status


if __name__ == "__main__":
    sys.exit(main())

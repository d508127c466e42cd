"""Command 1 of the README: run the nightly DAG end to end on the embedded default.

Starts moto S3 and the offline engine on loopback, seeds the sample recordings for one night, runs
``airflow dags test medscribe_nightly <night>`` (SQLite metadata; the deferred job tasks really defer
and their triggers run), prints what it produced, and stops everything it started.

    python -m medscribe_harness.demo [--night YYYY-MM-DD] [--s3-port 5055] [--engine-port 5056]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from medscribe_harness.airflow_services import airflow_env
from medscribe_harness.devstack import REPO_ROOT, LocalStack, ServiceError, local_credentials_env

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "audio"
RECORDINGS_BUCKET = "medscribe-recordings"
OUTPUT_BUCKET = "medscribe-outputs"
# Where each sample goes in the night folder, and its sidecar (None: routed by its path).
SAMPLES = {
    "conversation_stereo.wav": (
        "conversations/clinic-a/visit-0001.wav",
        {"kind": "conversation", "channel_roles": ["CLINICIAN", "PATIENT"]},
    ),
    "conversation_mono.wav": (
        "conversations/clinic-a/visit-0002.wav",
        {"kind": "conversation", "max_speakers": 2},
    ),
    "dictation.wav": ("dictations/dr-0001/note-0001.wav", None),
}


def s3_client(endpoint: str):
    import boto3

    creds = local_credentials_env()
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        region_name=creds["AWS_DEFAULT_REGION"],
    )


def seed_night(client, night: str, samples: dict | None = None, fixtures: Path = FIXTURES) -> int:
    """Create the buckets and upload the sample recordings (and sidecars) under the night's prefix."""
    for bucket in (RECORDINGS_BUCKET, OUTPUT_BUCKET):
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
    count = 0
    for name, (relative_key, sidecar) in (SAMPLES if samples is None else samples).items():
        key = f"incoming/{night}/{relative_key}"
        client.upload_file(str(fixtures / name), RECORDINGS_BUCKET, key)
        if sidecar is not None:
            client.put_object(Bucket=RECORDINGS_BUCKET, Key=key + ".json", Body=json.dumps(sidecar).encode())
        count += 1
    return count


def run_night(
    night: str,
    stack: LocalStack,
    lake_uri: str,
    airflow_home: Path,
    log_path: Path | None = None,
    conf: dict | None = None,
) -> subprocess.CompletedProcess:
    """Migrate the metadata DB if needed and run ``airflow dags test`` for one night."""
    env = {
        **os.environ,
        **airflow_env(airflow_home, stack.airflow_connection_uri_json()),
        "MEDSCRIBE_LAKE_URI": lake_uri,
        "MEDSCRIBE_RECORDINGS_BUCKET": RECORDINGS_BUCKET,
        "MEDSCRIBE_OUTPUT_BUCKET": OUTPUT_BUCKET,
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    airflow_home.mkdir(parents=True, exist_ok=True)
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    # The pool bounding concurrent jobs (sized to the service quota; deferred tasks hold their slots).
    subprocess.run(
        [
            airflow,
            "pools",
            "set",
            "transcribe_jobs",
            "20",
            "concurrent transcription jobs",
            "--include-deferred",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    out = open(log_path, "w") if log_path else None  # noqa: SIM115
    try:
        return subprocess.run(
            [
                airflow,
                "dags",
                "test",
                "medscribe_nightly",
                night,
                *(["--conf", json.dumps(conf)] if conf else []),
            ],
            env=env,
            stdout=out or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if out:
            out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--night", default="2026-11-23", help="the night to process (YYYY-MM-DD)")
    parser.add_argument("--s3-port", type=int, default=int(os.environ.get("MEDSCRIBE_S3_PORT", 5055)))
    parser.add_argument("--engine-port", type=int, default=int(os.environ.get("MEDSCRIBE_ENGINE_PORT", 5056)))
    parser.add_argument(
        "--lake", default=str(REPO_ROOT / "data" / "lake"), help="local folder of the Parquet lake"
    )
    args = parser.parse_args(argv)

    from medscribe.lake.store import row_counts

    run_dir = REPO_ROOT / ".run"
    lake = str(Path(args.lake).resolve())
    started = time.monotonic()
    try:
        with LocalStack.start(s3_port=args.s3_port, engine_port=args.engine_port, run_dir=run_dir) as stack:
            print(f"local S3 (moto) at {stack.s3_endpoint}, offline engine at {stack.engine_endpoint}")
            seeded = seed_night(s3_client(stack.s3_endpoint), args.night)
            print(f"seeded {seeded} recordings for night {args.night}; running the nightly DAG ...")
            log_path = run_dir / "logs" / f"dags-test-{args.night}.log"
            result = run_night(args.night, stack, lake, REPO_ROOT / ".airflow", log_path)
            if result.returncode != 0:
                print(f"the DAG run failed (exit {result.returncode}); its log: {log_path}", file=sys.stderr)
                return 1
    except ServiceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"\nnight {args.night} done in {time.monotonic() - started:.0f} s. Parquet lake: {lake}")
    for table, rows in row_counts(lake, night=args.night).items():
        if not (Path(lake) / table / f"night={args.night}").is_dir():
            continue  # a table the night does not write (governance_audit)
        print(f"  {table:<22} {rows:>7} rows   {lake}/{table}/night={args.night}/")
    from medscribe.lake.store import duckdb_connect

    statuses = (
        duckdb_connect(lake)
        .sql(
            f"select service, status, count(*) from jobs where night = '{args.night}' group by all order by all"
        )
        .fetchall()
    )
    print("jobs: " + ", ".join(f"{service} {status} x{count}" for service, status, count in statuses))
    report_path = Path(lake) / "_quality" / f"night={args.night}" / "word_confidence.json"
    report = json.loads(report_path.read_text())
    print(
        f"quality gate: structural {'ok' if report['structural_ok'] else 'FAILED'}, "
        f"{report['under_bar']} of {len(report['transcripts'])} transcripts under the confidence bar "
        f"(mean >= {report['bar']['min_mean_confidence']}); report: {report_path}"
    )
    print(
        f'query it: .venv/bin/python -c "from medscribe.lake.store import duckdb_connect; '
        f"print(duckdb_connect('{lake}').sql('select * from jobs'))\""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

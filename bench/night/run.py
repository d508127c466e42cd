"""Night benchmark: wall time of one nightly run split into engine compute and orchestration overhead.

For each N, seeds a night of N distinct short recordings (windows cut from the committed fixtures),
runs the nightly DAG with ``airflow dags test`` against moto S3 and the offline engine (one engine
worker), and prints: wall time, engine compute (the sum of the jobs' CompletionTime - StartTime, read
back from the engine), overhead = wall - compute, the overhead ratio, and how it grows with N.

    .venv/bin/python bench/night/run.py              # N = 20
    .venv/bin/python bench/night/run.py --n 10 20 50 # the growth curve
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import wave
from pathlib import Path

from medscribe_harness.demo import RECORDINGS_BUCKET, run_night, s3_client, seed_night
from medscribe_harness.devstack import REPO_ROOT, LocalStack, local_credentials_env

AUDIO = REPO_ROOT / "tests" / "fixtures" / "audio"
SOURCES = [
    ("dictation.wav", "dictations/bench"),
    ("conversation_mono.wav", "conversations/bench-mono"),
    ("conversation_stereo.wav", "conversations/bench-stereo"),
]


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


def recordings(n: int, seconds: float) -> dict[str, bytes]:
    """n distinct recordings: windows of ``seconds`` at staggered offsets over the three fixtures."""
    made = {}
    for i in range(n):
        fixture, folder = SOURCES[i % 3]
        offset = (i // 3) * 1.1 % 18
        made[f"{folder}/rec-{i:03d}.wav"] = window(fixture, offset, seconds)
    return made


def engine_compute_s(stack, night_jobs: set[str]) -> float:
    import boto3

    creds = local_credentials_env()
    client = boto3.client(
        "transcribe",
        endpoint_url=stack.engine_endpoint,
        region_name=creds["AWS_DEFAULT_REGION"],
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
    )
    total = 0.0
    for name in night_jobs:
        if name.startswith("medscribe-hs-"):
            job = client.get_medical_scribe_job(MedicalScribeJobName=name)["MedicalScribeJob"]
        else:
            job = client.get_medical_transcription_job(MedicalTranscriptionJobName=name)[
                "MedicalTranscriptionJob"
            ]
        total += (job["CompletionTime"] - job["StartTime"]).total_seconds()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, nargs="+", default=[20], help="recordings per night (several: a curve)"
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each recording")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LocalStack.start(run_dir=Path(tmp) / "stack") as stack:
        s3 = s3_client(stack.s3_endpoint)
        seed_night(s3, "2000-01-01", samples={})
        for index, n in enumerate(args.n):
            night = f"2026-11-{index + 2:02d}"
            made = recordings(n, args.seconds)
            for key, data in made.items():
                s3.put_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{night}/{key}", Body=data)
            started = time.monotonic()
            result = run_night(
                night, stack, str(Path(tmp) / "lake"), Path(tmp) / "airflow", Path(tmp) / f"{night}.log"
            )
            wall = time.monotonic() - started
            if result.returncode != 0 or "jobs of the batch" not in (Path(tmp) / f"{night}.log").read_text():
                raise SystemExit(f"the run for N={n} failed; see {Path(tmp) / f'{night}.log'}")
            from medscribe.lake.store import read_table

            jobs = {
                row["job_name"]
                for row in read_table("jobs", str(Path(tmp) / "lake"), night=night).to_pylist()
            }
            compute = engine_compute_s(stack, jobs)
            rows.append((n, n * args.seconds, wall, compute, wall - compute, (wall - compute) / wall))
    print(f"{'N':>4} {'audio s':>8} {'wall s':>8} {'engine s':>9} {'overhead s':>11} {'overhead %':>11}")
    for n, audio, wall, compute, overhead, ratio in rows:
        print(f"{n:>4} {audio:>8.0f} {wall:>8.1f} {compute:>9.1f} {overhead:>11.1f} {ratio * 100:>10.1f}%")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"overhead grows {last[4] / first[4]:.2f}x from N={first[0]} to N={last[0]} "
            f"(per recording: {first[4] / first[0]:.2f}s -> {last[4] / last[0]:.2f}s)"
        )


if __name__ == "__main__":
    main()

"""Benchmark: the offline engine under load, against the raw model on the same audio.

    .venv/bin/python bench/engine/run.py [--jobs 200] [--clients 4] [--workers 2] [--seed 7]
                                         [--engine-source DIR] [--skip-baseline]

1. Cuts ``--jobs`` windows of 5-20 s (seeded) out of the three sample recordings in tests/fixtures/audio
   (dictation, two-channel and mono conversations) and uploads each as its own object to a fresh moto S3.
2. Starts the engine (``--workers`` workers) on a fresh data directory, measures Get/List latency idle
   (the same calls, nothing running), then ``--clients`` threads submit the jobs, half Transcribe
   Medical (speaker labels, channels, alternatives, PHI in turn) and half HealthScribe (two channels or
   speaker labels), while two more threads call Get and List until every job has ended.
3. Prints: jobs completed exactly once (each job COMPLETED, one output object, one COMPLETED line in
   the engine log: must be all), failed jobs, throughput (audio seconds per wall second from the first
   Start to the last completion), p50/p95/max latency of Start/Get/List under load and idle, and the
   engine process's peak RSS (VmHWM).
4. The baseline, in the same run: raw faster-whisper (tiny.en, int8, default options, one model with
   ``--workers`` threads of transcription) over the same windows in the engine's environment: its
   throughput, and the engine's as a ratio of it (the engine also diarizes, writes outputs and, for
   HealthScribe, builds insights and notes).

``--engine-source DIR`` runs the engine from another checkout's ``include/`` (e.g. a worktree of an
older commit) to compare two revisions on the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include"))

from medscribe_harness.devstack import LocalStack, engine_python, local_credentials_env  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "audio"
RECORDINGS = ("dictation", "conversation_stereo", "conversation_mono")
MEDIA, OUTPUT = "bench-engine-media", "bench-engine-output"
ROLE_ARN = "arn:aws:iam::123456789012:role/medscribe-healthscribe"
CHANNELS = [{"ChannelId": 0, "ParticipantRole": "CLINICIAN"}, {"ChannelId": 1, "ParticipantRole": "PATIENT"}]
TERMINAL = ("COMPLETED", "FAILED")


def cut_windows(count: int, seed: int) -> list[dict]:
    """``count`` WAV windows of 5-20 s: {name, recording, channels, seconds, wav bytes}."""
    rng = random.Random(seed)
    sources = {}
    for name in RECORDINGS:
        with wave.open(str(FIXTURES / f"{name}.wav"), "rb") as reader:
            sources[name] = (reader.getparams(), reader.readframes(reader.getnframes()))
    windows = []
    for index in range(count):
        recording = RECORDINGS[index % len(RECORDINGS)]
        params, frames = sources[recording]
        frame_bytes = params.sampwidth * params.nchannels
        total = len(frames) // frame_bytes
        length = min(total, int(rng.uniform(5.0, 20.0) * params.framerate))
        start = rng.randrange(0, total - length + 1)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as writer:
            writer.setparams(params)
            writer.writeframes(frames[start * frame_bytes : (start + length) * frame_bytes])
        windows.append(
            {
                "name": f"bench-{seed}-{index:04d}",
                "recording": recording,
                "channels": params.nchannels,
                "seconds": length / params.framerate,
                "wav": buffer.getvalue(),
            }
        )
    return windows


def request_for(index: int, window: dict) -> tuple[str, dict]:
    """(service, request): even jobs Transcribe Medical, odd ones HealthScribe, settings in turn."""
    media = {"MediaFileUri": f"s3://{MEDIA}/{window['name']}.wav"}
    two_channels = window["channels"] == 2
    if index % 2 == 0:
        variants = [
            {"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}},
            {"Settings": {"ShowAlternatives": True, "MaxAlternatives": 2}},
            {"ContentIdentificationType": "PHI"},
            {},
        ]
        options = (
            {"Settings": {"ChannelIdentification": True}} if two_channels else variants[(index // 2) % 4]
        )
        return "transcription", {
            "MedicalTranscriptionJobName": window["name"],
            "LanguageCode": "en-US",
            "Media": media,
            "OutputBucketName": OUTPUT,
            "Specialty": "PRIMARYCARE",
            "Type": "CONVERSATION",
            **options,
        }
    if two_channels:
        options = {"Settings": {"ChannelIdentification": True}, "ChannelDefinitions": CHANNELS}
    else:
        options = {"Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}}
    return "scribe", {
        "MedicalScribeJobName": window["name"],
        "Media": media,
        "OutputBucketName": OUTPUT,
        "DataAccessRoleArn": ROLE_ARN,
        **options,
    }


class Timings:
    """Latencies per call name, thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: dict[str, list[float]] = {}

    def timed(self, name: str, call, *args, **kwargs):
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:  # an error answer is a call too
            with self._lock:
                self.calls.setdefault(name, []).append(time.perf_counter() - started)

    def row(self, name: str) -> str:
        values = sorted(self.calls.get(name, []))
        if not values:
            return f"{name:<22} (none)"
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        return (
            f"{name:<22} n={len(values):<5} p50 {statistics.median(values) * 1000:7.1f} ms   "
            f"p95 {p95 * 1000:7.1f} ms   max {values[-1] * 1000:7.1f} ms"
        )


def job_status(client, service: str, name: str, timings: Timings, label: str) -> dict:
    if service == "scribe":
        job = timings.timed(label, client.get_medical_scribe_job, MedicalScribeJobName=name)[
            "MedicalScribeJob"
        ]
        return {"status": job["MedicalScribeJobStatus"], "reason": job.get("FailureReason")}
    job = timings.timed(label, client.get_medical_transcription_job, MedicalTranscriptionJobName=name)[
        "MedicalTranscriptionJob"
    ]
    return {"status": job["TranscriptionJobStatus"], "reason": job.get("FailureReason")}


def readers(client, jobs: list[tuple[str, dict]], timings: Timings, stop: threading.Event) -> None:
    """Get a random started job and List each service's running jobs, until ``stop``."""
    rng = random.Random(1)
    while not stop.is_set():
        service, request = rng.choice(jobs)
        name = request.get("MedicalScribeJobName") or request["MedicalTranscriptionJobName"]
        with contextlib.suppress(client.exceptions.NotFoundException):  # not started yet
            job_status(client, service, name, timings, "Get (load)")
        timings.timed(
            "List (load)", client.list_medical_transcription_jobs, Status="IN_PROGRESS", MaxResults=20
        )
        timings.timed("List (load)", client.list_medical_scribe_jobs, Status="QUEUED", MaxResults=20)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_engine(args, windows: list[dict], run_dir: Path) -> dict:
    import boto3
    from botocore.config import Config

    env = {"PYTHONPATH": str(Path(args.engine_source).resolve() / "include")} if args.engine_source else None
    with LocalStack.start(run_dir=run_dir, engine_workers=args.workers, env=env) as stack:
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint)
        s3.create_bucket(Bucket=MEDIA)
        s3.create_bucket(Bucket=OUTPUT)
        for window in windows:
            s3.put_object(Bucket=MEDIA, Key=f"{window['name']}.wav", Body=window["wav"])
        config = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=16)
        client = boto3.client("transcribe", endpoint_url=stack.engine_endpoint, config=config)
        jobs = [request_for(index, window) for index, window in enumerate(windows)]
        timings = Timings()
        for _ in range(50):  # idle: nothing queued yet
            timings.timed("List (idle)", client.list_medical_scribe_jobs, MaxResults=20)
            with contextlib.suppress(client.exceptions.NotFoundException):
                timings.timed("Get (idle)", client.get_medical_scribe_job, MedicalScribeJobName="none")
        stop = threading.Event()
        reader_threads = [
            threading.Thread(target=readers, args=(client, jobs, timings, stop), daemon=True)
            for _ in range(2)
        ]
        for thread in reader_threads:
            thread.start()

        def submit(job):
            service, request = job
            call = (
                client.start_medical_scribe_job
                if service == "scribe"
                else client.start_medical_transcription_job
            )
            timings.timed("Start (load)", call, **request)

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(submit, jobs))
        pending = {
            (service, request.get("MedicalScribeJobName") or request["MedicalTranscriptionJobName"])
            for service, request in jobs
        }
        outcomes: dict[str, dict] = {}
        while pending:
            for service, name in sorted(pending):
                state = job_status(client, service, name, timings, "Get (poll)")
                if state["status"] in TERMINAL:
                    outcomes[name] = state
                    pending.discard((service, name))
            time.sleep(0.5)
        wall = time.monotonic() - started
        stop.set()
        for thread in reader_threads:
            thread.join()
        rss = peak_rss_mb(stack.engine.process.pid)
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=OUTPUT)
            for item in page.get("Contents", [])
        ]
        log = stack.engine.log_path.read_text()
    completed_lines = {name: log.count(f"job {name} COMPLETED") for name in outcomes}
    transcript_keys = {key for key in keys if key.endswith(".json") and not key.endswith("summary.json")}
    completed = [name for name, state in outcomes.items() if state["status"] == "COMPLETED"]
    exactly_once = [
        name
        for name in completed
        if completed_lines[name] == 1
        and (f"medical/{name}.json" in transcript_keys or f"{name}/transcript.json" in transcript_keys)
    ]
    return {
        "jobs": len(jobs),
        "completed": len(completed),
        "exactly_once": len(exactly_once),
        "failed": {name: state["reason"] for name, state in outcomes.items() if state["status"] == "FAILED"},
        "internal_retries": log.count("queued again, retried"),
        "wall_s": wall,
        "audio_s": sum(window["seconds"] for window in windows),
        "peak_rss_mb": rss,
        "timings": timings,
    }


BASELINE = r"""
import json, sys, time, io, wave
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from faster_whisper import WhisperModel
from medscribe_engine.resources import whisper_model_dir
paths, workers = json.loads(sys.argv[1]), int(sys.argv[2])
model = WhisperModel(str(whisper_model_dir()), device="cpu", compute_type="int8", cpu_threads=2,
                     num_workers=workers, local_files_only=True)
def channels(path):
    with wave.open(path, "rb") as reader:
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        count = reader.getnchannels()
    audio = pcm.reshape(-1, count).astype(np.float32) / 32768.0
    return [audio[:, channel] for channel in range(count)]
def transcribe(path):
    return sum(len(list(model.transcribe(audio, language="en")[0])) for audio in channels(path))
started = time.monotonic()
with ThreadPoolExecutor(workers) as pool:
    segments = sum(pool.map(transcribe, paths))
print(json.dumps({"wall_s": time.monotonic() - started, "segments": segments}))
"""


def run_baseline(args, windows: list[dict], work: Path) -> dict:
    """Raw faster-whisper over the same windows (each channel of a two-channel window on its own)."""
    paths = []
    for window in windows:
        path = work / f"{window['name']}.wav"
        path.write_bytes(window["wav"])
        paths.append(str(path))
    result = subprocess.run(
        [str(engine_python()), "-c", BASELINE, json.dumps(paths), str(args.workers)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **local_credentials_env()},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engine-source", help="a checkout whose include/ the engine runs from")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    os.environ.update(local_credentials_env())
    windows = cut_windows(args.jobs, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as temp:
        engine = run_engine(args, windows, Path(temp) / "run")
        baseline = None if args.skip_baseline else run_baseline(args, windows, Path(temp))
    audio = engine["audio_s"]
    print(
        f"engine source: {args.engine_source or 'this checkout'}; {args.workers} workers, {args.clients} clients, "
        f"{engine['jobs']} jobs, {audio / 60:.1f} min of audio (seed {args.seed}), {os.cpu_count()} CPUs"
    )
    print(
        f"completed exactly once: {engine['exactly_once']} / {engine['jobs']} "
        f"(COMPLETED {engine['completed']}, FAILED {len(engine['failed'])}, internal retries {engine['internal_retries']})"
    )
    for name, reason in sorted(engine["failed"].items()):
        print(f"  FAILED {name}: {reason}")
    print(
        f"engine throughput: {audio / engine['wall_s']:.2f} audio s / wall s ({engine['wall_s']:.0f} s wall)"
    )
    if baseline:
        raw = audio / baseline["wall_s"]
        print(
            f"raw faster-whisper: {raw:.2f} audio s / wall s ({baseline['wall_s']:.0f} s wall); "
            f"engine / raw = {audio / engine['wall_s'] / raw:.2f}"
        )
    print(f"engine peak RSS: {engine['peak_rss_mb']:.0f} MiB")
    for name in ("Start (load)", "Get (load)", "List (load)", "Get (poll)", "Get (idle)", "List (idle)"):
        print(engine["timings"].row(name))
    return 0 if engine["exactly_once"] == engine["jobs"] else 1


if __name__ == "__main__":
    sys.exit(main())

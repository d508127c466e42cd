"""Two engine processes on different data directories (as on two hosts) sharing one PostgreSQL job store
(``MEDSCRIBE_ENGINE_STORE``): 40 short jobs, one replica killed with SIGKILL mid-job. Every job is
COMPLETED exactly once, each output object is written once (the bucket is versioned), the killed
replica's job is back in the queue within 30 s (queued again by the other replica when its lease ran out,
or resumed by the killed replica restarted at once on its data directory, whichever comes first: the
store's unit tests check each path alone), and the restarted replica takes jobs again."""

from __future__ import annotations

import json
import re
import time
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor

import boto3
import psycopg2
import pytest
from engine_helpers import FIXTURES, media_key

from medscribe_harness.devstack import LocalStack, Service, engine_python, free_port, offline_engine
from medscribe_harness.stack.services import ENGINE_DATABASE, Postgres, postgres_bin_dir

pytestmark = pytest.mark.engine

FIRST_WAVE, SECOND_WAVE = 30, 10  # before the kill; after the restart (40 jobs)
CLIP_S = 4.0  # seconds of the dictation fixture per job: a short job keeps the test near a minute
REQUEUE_LIMIT_S = 30.0  # the bound on re-queuing a dead replica's jobs
STORE_ENV = "MEDSCRIBE_ENGINE_STORE"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL binaries are absent (Debian package postgresql): needed for the shared store")
    run_dir = tmp_path_factory.mktemp("engine-postgres")
    server = Postgres(data_dir=run_dir / "pg", port=free_port(), log_dir=run_dir / "logs")
    server.start()
    server.create_database(ENGINE_DATABASE)
    yield server
    server.stop()
    server.cleanup()


@pytest.fixture(scope="module")
def moto(tmp_path_factory, aws_env):
    if not engine_python().exists():
        pytest.skip(f"the engine environment is missing ({engine_python()})")
    if not (FIXTURES / "dictation.wav").exists():
        pytest.skip(f"sample recordings missing in {FIXTURES}; run scripts/make_fixtures.py")
    with LocalStack.start(run_dir=tmp_path_factory.mktemp("moto"), with_engine=False) as running:
        yield running


def replica(name: str, tmp_path, s3_endpoint: str, store_url: str) -> Service:
    """An engine with its own data directory and log, on the shared store (given by the environment)."""
    engine = offline_engine(free_port(), s3_endpoint, tmp_path / name / "data", tmp_path / name / "logs")
    engine.env[STORE_ENV] = store_url
    return engine


def short_clip(path) -> None:
    """The first CLIP_S seconds of the dictation fixture."""
    with wave.open(str(FIXTURES / "dictation.wav")) as source, wave.open(str(path), "wb") as clip:
        clip.setparams(source.getparams())
        clip.writeframes(source.readframes(int(CLIP_S * source.getframerate())))


def log_events(engine: Service, event: str) -> list[str]:
    """Job names of ``event`` lines ('started' or 'COMPLETED') in the engine's log, in order."""
    text = engine.log_path.read_text(errors="replace") if engine.log_path.exists() else ""
    pattern = r"job (\S+) \(transcription\) started" if event == "started" else r"job (\S+) COMPLETED in"
    return re.findall(pattern, text)


def job_row(postgres: Postgres, name: str) -> tuple[str, str | None]:
    """(status, owner) of a job, read from the shared store."""
    connection = psycopg2.connect(postgres.libpq_url(ENGINE_DATABASE))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, owner FROM jobs WHERE name = %s", (name,))
            return cursor.fetchone()
    finally:
        connection.close()


def test_two_replicas_share_a_postgres_store_through_a_crash(tmp_path, postgres, moto):
    started = time.monotonic()
    url = postgres.libpq_url(ENGINE_DATABASE)
    s3 = boto3.client("s3", endpoint_url=moto.s3_endpoint)
    media, output = f"pg-media-{uuid.uuid4().hex[:8]}", f"pg-output-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=media)
    s3.create_bucket(Bucket=output)
    s3.put_bucket_versioning(Bucket=output, VersioningConfiguration={"Status": "Enabled"})
    short_clip(tmp_path / "clip.wav")
    key = media_key("short-dictation")
    s3.upload_file(str(tmp_path / "clip.wav"), media, key)

    first, second = (replica(name, tmp_path, moto.s3_endpoint, url) for name in ("a", "b"))
    restarted = None
    starting = ThreadPoolExecutor(2)  # engines load their models in the background, at once
    for future in [starting.submit(engine.start, timeout=300) for engine in (first, second)]:
        future.result()
    try:
        clients = [boto3.client("transcribe", endpoint_url=e.endpoint) for e in (first, second)]
        run = uuid.uuid4().hex[:6]
        names = [f"pg-{run}-{n:02d}" for n in range(FIRST_WAVE + SECOND_WAVE)]

        def submit(client, name: str) -> None:
            client.start_medical_transcription_job(
                MedicalTranscriptionJobName=name,
                LanguageCode="en-US",
                MediaFormat="wav",
                Media={"MediaFileUri": f"s3://{media}/{key}"},
                OutputBucketName=output,
                Specialty="PRIMARYCARE",
                Type="DICTATION",
            )

        for n, name in enumerate(names[:FIRST_WAVE]):
            submit(clients[n % 2], name)  # either replica's API: one queue

        # SIGKILL the first replica just after it started a job, once it has finished two
        seen, deadline = len(log_events(first, "started")), time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "the first replica never started a third job"
            events = log_events(first, "started")
            if len(events) > seen and len(log_events(first, "COMPLETED")) >= 2:
                break
            seen = len(events)
            time.sleep(0.02)
        first.kill()
        killed_at, killed = time.monotonic(), events[-1]
        assert killed not in log_events(first, "COMPLETED"), "killed after the job ended: not mid-job"
        status, dead_owner = job_row(postgres, killed)
        assert status == "IN_PROGRESS" and dead_owner

        # restarted at once on the same data directory; the job is taken back within 30 s
        before_restart = len(log_events(first, "COMPLETED"))
        restarted = replica("a", tmp_path, moto.s3_endpoint, url)
        restarting = starting.submit(restarted.start, timeout=300)
        while job_row(postgres, killed)[1] == dead_owner:
            assert time.monotonic() - killed_at < REQUEUE_LIMIT_S, "the dead replica's job was not requeued"
            time.sleep(0.1)
        requeued_after = time.monotonic() - killed_at
        restarting.result()
        client = boto3.client("transcribe", endpoint_url=restarted.endpoint)
        for name in names[FIRST_WAVE:]:
            submit(client, name)

        deadline = time.monotonic() + 150
        jobs = {}
        while len(jobs) < len(names):
            assert time.monotonic() < deadline, f"{len(names) - len(jobs)} job(s) never ended"
            for name in set(names) - set(jobs):
                job = clients[1].get_medical_transcription_job(MedicalTranscriptionJobName=name)
                job = job["MedicalTranscriptionJob"]
                if job["TranscriptionJobStatus"] in ("COMPLETED", "FAILED"):
                    jobs[name] = job
            time.sleep(0.5)
    finally:
        starting.shutdown(wait=True)
        for engine in (first, second, restarted):
            if engine is not None:
                engine.stop()

    assert {job["TranscriptionJobStatus"] for job in jobs.values()} == {"COMPLETED"}, [
        job.get("FailureReason") for job in jobs.values()
    ]
    # exactly once: one COMPLETED line per job over both replicas (the first replica's log spans both
    # its processes); the killed job was started twice and completed once
    completions = log_events(first, "COMPLETED") + log_events(second, "COMPLETED")
    assert sorted(completions) == sorted(names)
    starts = log_events(first, "started") + log_events(second, "started")
    assert starts.count(killed) == 2
    assert len(log_events(first, "COMPLETED")) > before_restart, "the restarted replica took no job"
    second_log = second.log_path.read_text()
    by_lease = "queued again 1 job(s) of replicas whose lease expired" in second_log or (
        "queued again the jobs of an engine process that is gone" in second_log
    )
    by_restart = "(1 resumed)" in first.log_path.read_text()
    assert by_lease != by_restart, (by_lease, by_restart)  # taken back once, by one of the two
    # each output object written once, and each holds the clip's transcript
    versions = s3.list_object_versions(Bucket=output)
    assert not versions.get("DeleteMarkers")
    keys = [version["Key"] for version in versions["Versions"]]
    assert sorted(keys) == sorted(f"medical/{name}.json" for name in names)
    texts = {
        json.loads(s3.get_object(Bucket=output, Key=k)["Body"].read())["results"]["transcripts"][0][
            "transcript"
        ]
        for k in keys
    }
    assert len(texts) == 1 and len(next(iter(texts)).split()) >= 3, texts
    # the store agrees, and the database's password is in no log
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, COUNT(*) FROM jobs WHERE name LIKE %s GROUP BY status", (f"pg-{run}-%",)
            )
            assert dict(cursor.fetchall()) == {"COMPLETED": len(names)}
    finally:
        connection.close()
    for engine in (first, second):
        assert postgres.password not in engine.log_path.read_text()
    elapsed = time.monotonic() - started
    path = "the other replica's lease scan" if by_lease else "the restarted replica"
    print(
        f"40 jobs, 2 replicas, 1 SIGKILL: requeued by {path} after {requeued_after:.1f}s; total {elapsed:.0f}s"
    )

"""The distributed run without Docker, and faults on it.

One stack for the module (``medscribe_harness.stack``): PostgreSQL and Redis on loopback, Airflow 3 on the
CeleryExecutor as separate processes (api-server, scheduler, dag-processor, triggerer, two celery
workers), the offline engine with two workers, moto S3 behind a relay that can be cut. Nights are
triggered through Airflow's REST API. Tests, in order:

1. a night of the three samples succeeds and the tables hold what the SQLite path's tests assert;
2. a celery worker killed (SIGKILL, whole process group) while it runs a task of the night: the task is
   failed by the heartbeat timeout, retried on the other worker, the night succeeds, one job per
   recording at the engine, no duplicated row;
3. the engine restarted while it runs a job of the night: the job completes (or fails with a reason);
4. S3 unreachable for 30 s from the start of a night: tasks fail, are retried, and the night succeeds;
5. the shutdown leaves no process of the stack behind.

Nights 2-4 use short slices of the fixtures (new content, so new jobs: job names are content hashes).
"""

from __future__ import annotations

import os
import time

import pytest
from medwer import Scorer

from medscribe.lake.store import read_table
from medscribe_harness.demo import RECORDINGS_BUCKET, SAMPLES, s3_client, seed_night
from medscribe_harness.devstack import engine_python
from medscribe_harness.stack.distributed import DistributedStack
from tests.conftest import AUDIO, engine_jobs, reference
from tests.test_nightly_operations import rid, wav_slice

pytestmark = pytest.mark.e2e
NIGHT = "2026-11-23"
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def dstack(tmp_path_factory):
    if not engine_python().exists():
        pytest.fail("the engine environment .venv-engine is missing: run `make test`, which creates it")
    started = time.monotonic()
    # retries after 5 s instead of 30: the fault nights wait for them (the DAG's default stays 30 s)
    manager = DistributedStack.start(
        tmp_path_factory.mktemp("dstack"), airflow_extra_env={"MEDSCRIBE_TASK_RETRY_DELAY_S": "5"}
    )
    stack = manager.__enter__()
    stack.close = lambda: manager.__exit__(None, None, None)
    TIMINGS["start"] = time.monotonic() - started
    yield stack
    stack.close()  # a no-op when test_shutdown_leaves_no_process already stopped it
    print("\ndistributed stack timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in TIMINGS.items()))


def jobs_of(stack, recording_id: str) -> dict[str, dict]:
    """The engine's jobs for one recording (job names carry sha256[:40]; the recording id is sha256[:32])."""
    return {name: job for name, job in engine_jobs(stack).items() if f"-{recording_id}" in name}


def seed(stack, night: str, recordings: dict[str, bytes]) -> dict[str, str]:
    """Upload ``{relative key: wav bytes}`` under the night; returns {relative key: recording id}."""
    s3 = s3_client(stack.s3_endpoint)
    seed_night(s3, night, samples={})  # the buckets
    for key, data in recordings.items():
        s3.put_object(Bucket=RECORDINGS_BUCKET, Key=f"incoming/{night}/{key}", Body=data)
    return {key: rid(data) for key, data in recordings.items()}


def assert_night_rows(lake: str, night: str, expected_ids: set[str]) -> None:
    """One succeeded ledger entry (1 attempt) and one COMPLETED job row per recording; words unique."""
    recordings = read_table("recordings", lake, night=night).to_pylist()
    assert sorted((r["recording_id"], r["state"], r["attempts"]) for r in recordings) == sorted(
        (i, "succeeded", 1) for i in expected_ids
    )
    jobs = read_table("jobs", lake, night=night).to_pylist()
    assert sorted((j["recording_id"], j["status"]) for j in jobs) == sorted(
        (i, "COMPLETED") for i in expected_ids
    )
    words = read_table("transcript_words", lake, night=night).to_pandas()
    assert set(words["recording_id"]) == expected_ids
    keys = words[["recording_id", "item_index", "alternative_rank"]]
    assert not keys.duplicated().any(), "a word row is duplicated"


def states(stack, run_id: str) -> dict[tuple[str, int], tuple[str, int]]:
    return {
        (t["task_id"], t["map_index"]): (t["state"], t["try_number"]) for t in stack.task_instances(run_id)
    }


# -- 1. the night, as on the SQLite path -----------------------------------------------------------


@pytest.fixture(scope="module")
def night(dstack):
    seed_night(s3_client(dstack.s3_endpoint), NIGHT)
    started = time.monotonic()
    run = dstack.run_night(NIGHT, timeout=900)
    TIMINGS["night"] = time.monotonic() - started
    return run


def fixture_id(fixture: str) -> str:
    return rid((AUDIO / fixture).read_bytes())


def test_night_succeeds_through_the_rest_api_on_celery(dstack, night):
    assert night["state"] == "success", states(dstack, night["dag_run_id"])
    tis = states(dstack, night["dag_run_id"])
    assert {task for task, _ in tis} == {
        "discover_shard",
        "discover",
        "streaming_sessions",
        "plan",
        "jobs",
        "settle",
        "flatten",
        "word_confidence_gate",
        "summary",
    }
    assert all(state == "success" for state, _ in tis.values()), tis
    # the tasks ran in the celery workers (each logs the workloads it received), not in the scheduler
    received = sum(
        w.log_path.read_text(errors="replace").count("execute_workload[") for w in dstack.airflow.workers
    )
    assert received >= len(tis)


def test_night_tables_match_the_sqlite_path(dstack, night):
    lake = str(dstack.lake)
    ids = {fixture_id(f) for f in SAMPLES}
    assert_night_rows(lake, NIGHT, ids)
    jobs = {j["recording_id"]: j for j in read_table("jobs", lake, night=NIGHT).to_pylist()}
    assert jobs[fixture_id("dictation.wav")]["service"] == "transcribe_medical"
    assert jobs[fixture_id("conversation_stereo.wav")]["service"] == "healthscribe"
    words = read_table("transcript_words", lake, night=NIGHT).to_pandas()
    for fixture in SAMPLES:
        mine = words[(words["recording_id"] == fixture_id(fixture)) & (words["alternative_rank"] == 0)]
        mine = mine.sort_values("item_index")
        spoken = mine[~mine["is_punctuation"]]
        assert len(spoken) > 20
        assert (spoken["start_time"] <= spoken["end_time"]).all() and spoken["confidence"].between(0, 1).all()
        score = Scorer().corpus(
            [reference(fixture.removesuffix(".wav"))["text"]], [" ".join(mine["content"])]
        )
        assert score["wer"] < 0.25, (fixture, score)
    segments = read_table("transcript_segments", lake, night=NIGHT).to_pandas()
    stereo = segments[segments["recording_id"] == fixture_id("conversation_stereo.wav")]
    assert len(stereo) >= 5 and set(stereo["participant_role"].str.split("_").str[0]) == {
        "CLINICIAN",
        "PATIENT",
    }
    for fixture in SAMPLES:
        assert len(jobs_of(dstack, fixture_id(fixture))) == 1


# -- 2. a celery worker killed mid-night ---------------------------------------------------------------


def test_killed_celery_worker_night_completes_without_duplicates(dstack):
    night = "2026-11-12"
    ids = seed(
        dstack,
        night,
        {
            "dictations/dr-31/a.wav": wav_slice("dictation.wav", 0.0, 6.0),
            "dictations/dr-31/b.wav": wav_slice("dictation.wav", 7.0, 6.0),
        },
    )
    started = time.monotonic()
    run_id = dstack.trigger_night(night)
    killed: dict = {}

    def kill_a_busy_worker(_run):
        if killed:
            return
        for ti in dstack.task_instances(run_id):
            # the job-starting task first (the duplicate-job risk); any running task will do
            if (
                ti["state"] == "running"
                and ti["pid"]
                and ti["task_id"] in ("jobs", "settle", "flatten", "plan")
            ):
                worker = dstack.worker_of(ti["pid"])
                if worker is not None:
                    dstack.down_on_purpose.add(worker.name)
                    worker.kill()
                    killed.update(
                        task=(ti["task_id"], ti["map_index"]), worker=worker.name, at=time.monotonic()
                    )
                    return

    run = dstack.api.wait_for_run("medscribe_nightly", run_id, 900, on_poll=kill_a_busy_worker, interval=0.3)
    TIMINGS["worker_kill_night"] = time.monotonic() - started
    tis = states(dstack, run_id)
    number = int(killed["worker"].removeprefix("airflow-celery-worker")) if killed else 1
    dstack.airflow.start_worker(number)  # back to two workers for the next tests
    dstack.down_on_purpose.discard(f"airflow-celery-worker{number}")
    assert killed, f"no task of the night was seen running to kill its worker: {tis}"
    assert run["state"] == "success", tis
    state, tries = tis[killed["task"]]
    assert state == "success" and tries >= 2, (killed, tis)  # the killed attempt failed and was retried
    assert_night_rows(str(dstack.lake), night, set(ids.values()))
    for recording_id in ids.values():
        jobs = jobs_of(dstack, recording_id)
        assert [job["status"] for job in jobs.values()] == ["COMPLETED"], jobs  # one job, started once


# -- 3. the engine restarted mid-job -------------------------------------------------------------------


def test_engine_restart_mid_job_completes_or_fails_with_a_reason(dstack):
    night = "2026-11-13"
    ids = seed(
        dstack, night, {"conversations/clinic-r/visit.wav": wav_slice("conversation_mono.wav", 1.0, 24.0)}
    )
    (recording_id,) = ids.values()
    started = time.monotonic()
    run_id = dstack.trigger_night(night)
    restarted: dict = {}

    def restart_while_in_progress(_run):
        if restarted:
            return
        jobs = jobs_of(dstack, recording_id)
        if any(job["status"] == "IN_PROGRESS" for job in jobs.values()):
            dstack.down_on_purpose.add("engine")
            t0 = time.monotonic()
            dstack.local.restart_engine()
            dstack.down_on_purpose.discard("engine")
            restarted.update(seconds=time.monotonic() - t0)

    run = dstack.api.wait_for_run(
        "medscribe_nightly", run_id, 900, on_poll=restart_while_in_progress, interval=0.3
    )
    TIMINGS["engine_restart_night"] = time.monotonic() - started
    assert restarted, "the job was never seen IN_PROGRESS"
    (job,) = jobs_of(dstack, recording_id).values()
    if job["status"] == "COMPLETED":
        assert run["state"] == "success", states(dstack, run_id)
        assert_night_rows(str(dstack.lake), night, {recording_id})
    else:  # allowed: failed, with the reason in the job and in the ledger, and the night red
        assert job["status"] == "FAILED" and job["reason"], job
        (entry,) = read_table("recordings", str(dstack.lake), night=night).to_pylist()
        assert entry["state"] == "failed" and entry["reason"]
        assert run["state"] == "failed"
    # the engine stopped with the job IN_PROGRESS and resumed it when it came back
    assert "(1 resumed)" in dstack.local.engine.log_path.read_text(errors="replace")


# -- 4. S3 unreachable for 30 s ------------------------------------------------------------------------


def test_s3_unreachable_for_30s_tasks_retry_and_succeed(dstack):
    night = "2026-11-14"
    ids = seed(dstack, night, {"dictations/dr-41/c.wav": wav_slice("dictation.wav", 12.0, 6.0)})
    started = time.monotonic()
    run_id = dstack.trigger_night(night)
    outage: dict = {}

    def cut_when_discovery_runs(_run):
        # discover is the first task and needs S3: cut as soon as it runs, restore 30 s later
        if not outage and states(dstack, run_id).get(("discover", -1), ("", 0))[0] == "running":
            dstack.relay.cut()
            outage["cut"] = time.monotonic()
        elif outage and "restored" not in outage and time.monotonic() - outage["cut"] >= 30:
            dstack.relay.restore()
            outage["restored"] = time.monotonic()

    try:
        run = dstack.api.wait_for_run(
            "medscribe_nightly", run_id, 900, on_poll=cut_when_discovery_runs, interval=0.3
        )
    finally:
        dstack.relay.restore()
    TIMINGS["s3_outage_night"] = time.monotonic() - started
    tis = states(dstack, run_id)
    assert outage.get("restored"), f"discover was never seen running: {tis}"
    assert run["state"] == "success", tis
    # a task that needed S3 during the outage failed its first try, and a retry succeeded (discover, unless
    # it was already past its S3 calls when the relay was cut: then the next task)
    retried = {task for task, (_, tries) in tis.items() if tries >= 2}
    assert retried & {("discover", -1), ("plan", -1)}, tis
    assert_night_rows(str(dstack.lake), night, set(ids.values()))
    (job,) = jobs_of(dstack, *ids.values()).values()
    assert job["status"] == "COMPLETED"


# -- 5. shutdown -----------------------------------------------------------------------------------------


def test_shutdown_leaves_no_process(dstack):
    pids = [s.process.pid for s in dstack.services()]
    assert (
        len(pids) >= 10
    )  # postgres, redis, moto, engine, api-server, scheduler, dag-processor, triggerer, 2 workers
    assert dstack.leftover_processes(), "the stack's processes should carry its id"
    started = time.monotonic()
    dstack.close()
    TIMINGS["stop"] = time.monotonic() - started
    dstack.assert_no_orphans()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

"""Engine replicas sharing one data directory (docker-compose runs two): a queued job is claimed by exactly
one process, a replica starting up never re-queues a job a live replica is running, the jobs of a replica
that died are queued again, and scratch folders are removed only for processes that are gone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from medscribe_engine.store import IN_PROGRESS, QUEUED, SCRIBE, JobStore
from medscribe_engine.workers import WorkerPool

CLAIM_ALL = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from medscribe_engine.store import JobStore
    store = JobStore(Path(sys.argv[1]))
    Path(sys.argv[3]).touch()  # ready: imported and opened
    while not Path(sys.argv[2]).exists():  # start together
        time.sleep(0.01)
    claimed = []
    while (job := store.claim_next()) is not None:
        claimed.append(job.id)
        time.sleep(0.002)  # work between claims: without it SQLite may let one process starve the other
    print(json.dumps(claimed))
""")

CLAIM_ONE_AND_DIE = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from medscribe_engine.store import JobStore
    store = JobStore(Path(sys.argv[1]))
    job = store.claim_next()
    (Path(sys.argv[1]) / "work" / store.owner).mkdir(parents=True)
    print(job.id, store.owner, flush=True)
    os._exit(0)  # like a crash: no close(), the kernel drops the owner lock
""")


def queue(store: JobStore, count: int) -> list[int]:
    return [store.insert(SCRIBE, f"job-{n:04d}", {"n": n}).id for n in range(count)]


def test_two_processes_never_claim_the_same_job(tmp_path):
    data = tmp_path / "data"
    ids = queue(JobStore(data), 300)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_ALL, str(data), str(go), str(flag)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)  # both imported and holding their store before either starts claiming
    go.touch()
    claims = [json.loads(p.communicate(timeout=120)[0]) for p in replicas]
    assert all(p.returncode == 0 for p in replicas)
    first, second = (set(c) for c in claims)
    assert len(claims[0]) + len(claims[1]) == 300
    assert first.isdisjoint(second) and first | second == set(ids)
    assert first and second, "one process claimed everything: the race was not exercised"


def test_a_starting_replica_leaves_live_jobs_alone_and_requeues_dead_ones(tmp_path):
    data = tmp_path / "data"
    live = JobStore(data)
    queue(live, 3)
    running = live.claim_next()  # this process: a live replica running a job
    died = subprocess.run(
        [sys.executable, "-c", CLAIM_ONE_AND_DIE, str(data)], capture_output=True, text=True, check=True
    )
    dead_id, dead_owner = died.stdout.split()
    live_scratch = data / "work" / live.owner
    (live_scratch / "job-in-flight").mkdir(parents=True)

    starting = JobStore(data)  # a replica (re)starting on the same data directory
    assert starting.recover() == 1
    assert starting.get_by_id(running.id).status == IN_PROGRESS  # still the live replica's
    assert starting.get_by_id(int(dead_id)).status == QUEUED
    # the dead replica's job is queued first, and is now claimed by the new replica
    assert starting.claim_next().id == int(dead_id)
    assert starting.recover() == 0

    WorkerPool(starting, None, data).remove_stale_scratch()
    assert (live_scratch / "job-in-flight").is_dir()
    assert not (data / "work" / dead_owner).exists()
    assert not (data / "owners" / f"{dead_owner}.lock").exists()
    assert (data / "owners" / f"{live.owner}.lock").exists()


def test_a_closed_store_counts_as_gone(tmp_path):
    data = tmp_path / "data"
    first = JobStore(data)
    queue(first, 1)
    job = first.claim_next()
    first.close()  # the engine stopped without finishing the job (SIGTERM mid-stage)
    second = JobStore(data)
    assert second.recover() == 1 and second.claim_next().id == job.id

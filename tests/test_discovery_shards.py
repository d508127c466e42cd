"""Issue 23, item 2: parallel discovery. The DAG maps ``discover_shard`` over a fixed number of shards of
the night's keys, each writing its own part of the ``discover`` manifest, and ``discover`` merges them.

A night of 60 recordings (plus duplicates under other keys, invalid files and a sidecar without its
audio) is discovered by 4 shards at once and by one pass: the same recordings and reasons, each
recording discovered by exactly one shard, one ledger object per recording, XCom one small value per
shard; a rerun changes no ledger object or manifest and starts no job. Discovery's wall time on real
nights is measured by bench/night.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from medscribe.aws.operators.transcribe_batch import StartMedicalJobsBatchOperator
from medscribe.ledger import FINAL_STATES, Ledger
from medscribe.manifests import manifest_key, read_manifest, save_batch_outcomes, write_manifest
from medscribe.night.discover import ORPHAN_SIDECAR, discover_night
from medscribe.night.discover_manifest import merge_discovery, night_recordings, save_discovery_part
from medscribe.night.keys import shard_of
from medscribe.night.plan import plan_batch_manifests
from medscribe.night.settle import settle_night
from tests.conftest import boto3_client
from tests.test_discovery import DESTINATION, tone_wav

BUCKET = "sharded-discovery"
NIGHT = "2026-12-04"
N, SHARDS = 60, 4
SECRET = "Jane-Canary"  # a name in the keys: must reach no XCom value and no manifest
PLACES = {"bucket": BUCKET, "prefix": "incoming", "night": NIGHT, **DESTINATION}


def rid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def build_night() -> dict:
    """{relative key: bytes} of the night, and the ids of what must be admitted or quarantined."""
    valid = [tone_wav(seconds=0.6 + i / 97, channels=1 + i % 2) for i in range(N)]
    files = {}
    for i, data in enumerate(valid):
        folder = "dictations" if i % 5 == 0 else "conversations"
        files[f"{folder}/{SECRET}/visit-{i:03d}.wav"] = data
    for i in (3, 17, 41):  # the same audio under a second key, routed the same way
        files[f"conversations/{SECRET}/copy-{i:03d}.wav"] = valid[i]
    files[f"zz/{SECRET}/copy-008.wav"] = valid[8]  # and once routed differently (by its sidecar)
    files[f"zz/{SECRET}/copy-008.wav.json"] = json.dumps({"kind": "dictation"}).encode()
    invalid = {
        "empty.wav": b"",
        "document.wav": b"%PDF-1.7 not audio" * 40,
        "phone.wav": tone_wav(rate=8000),
        "blip.wav": tone_wav(seconds=0.1),
    }
    files.update({f"conversations/{SECRET}/{name}": data for name, data in invalid.items()})
    orphan = json.dumps({"kind": "conversation", "max_speakers": 3}).encode()
    files[f"conversations/{SECRET}/lost-visit.wav.json"] = orphan
    return {
        "files": files,
        "valid": {rid(data) for data in valid},
        "quarantined": {rid(data) for data in invalid.values()} | {rid(orphan)},
        "orphan": rid(orphan),
        "rerouted": rid(valid[8]),
    }


@pytest.fixture(scope="module")
def s3(s3_only):
    client = boto3_client("s3", s3_only.s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def night(s3):
    built = build_night()
    for relative, data in built["files"].items():
        s3.put_object(Bucket=BUCKET, Key=f"incoming/{NIGHT}/{relative}", Body=data)
    return built


def discover_sharded(s3_endpoint: str, ledger_prefix: str, shards: int = SHARDS) -> dict:
    """The DAG's discovery: ``shards`` mapped tasks at once (threads here, each with its own client), merged."""

    def shard_task(shard: int) -> dict:
        s3 = boto3_client("s3", s3_endpoint)
        ledger = Ledger(s3, BUCKET, ledger_prefix)
        recordings, rejected = discover_night(
            s3,
            **PLACES,
            staging_prefix="staging/media",
            quarantine_prefix=f"{ledger_prefix}-quarantine",
            ledger=ledger,
            shard=shard,
            shards=shards,
        )
        return save_discovery_part(ledger, NIGHT, shard, recordings, rejected)

    with ThreadPoolExecutor(shards) as pool:
        parts = list(pool.map(shard_task, range(shards)))
    ledger = Ledger(boto3_client("s3", s3_endpoint), BUCKET, ledger_prefix)
    return {"parts": parts, "discover": merge_discovery(ledger, NIGHT, parts), "ledger": ledger}


def objects(s3, prefix: str) -> dict[str, bytes]:
    """Every object under a prefix, with its bytes."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def comparable(manifest: dict) -> dict:
    """A discover manifest keyed by recording id (order depends on the shards, content must not)."""
    return {name: {entry["recording_id"]: entry for entry in manifest[name]} for name in manifest}


@pytest.fixture(scope="module")
def sharded(s3, s3_only, night):
    return discover_sharded(s3_only.s3_endpoint, "ledger")


@pytest.fixture(scope="module")
def one_pass(s3, night):
    """The same night in one pass (``shards=1``), on its own ledger: what the shards must add up to."""
    ledger = Ledger(s3, BUCKET, "one-pass-ledger")
    recordings, rejected = discover_night(
        s3,
        **PLACES,
        staging_prefix="staging/media",
        quarantine_prefix="one-pass-quarantine",
        ledger=ledger,
    )
    return {"recordings": [r.to_dict() for r in recordings], "rejected": [r.to_dict() for r in rejected]}


def test_each_recording_is_discovered_by_exactly_one_shard(s3, night, sharded):
    parts = [read_manifest(s3, BUCKET, part["manifest"]) for part in sharded["parts"]]
    ids_per_part = [
        [entry["recording_id"] for name in ("recordings", "rejected") for entry in part[name]]
        for part in parts
    ]
    every_id = [recording_id for ids in ids_per_part for recording_id in ids]
    assert len(every_id) == len(set(every_id)) == N + 5  # once each, duplicates under other keys included
    assert set(every_id) == night["valid"] | night["quarantined"]  # the parts' union: every key's content
    assert all(ids_per_part), [len(ids) for ids in ids_per_part]  # every shard had work
    assert [part["manifest"] for part in sharded["parts"]] == [
        manifest_key("ledger", NIGHT, f"discover/{shard:04d}") for shard in range(SHARDS)
    ]
    # the same bytes under two keys always meet in one shard, whatever the shard count
    for shards in (SHARDS, 7):
        shards_of_content: dict[str, set[int]] = {}
        for data in night["files"].values():
            shards_of_content.setdefault(rid(data), set()).add(shard_of(len(data), shards))
        assert all(len(found) == 1 for found in shards_of_content.values())


def test_the_shards_add_up_to_one_pass(s3, sharded, one_pass, night):
    merged = read_manifest(s3, BUCKET, sharded["discover"]["manifest"])
    assert sharded["discover"] == {
        "manifest": f"ledger/_manifests/{NIGHT}/discover.json",
        "recordings": N,
        "rejected": 5,
    }
    assert comparable(merged) == comparable(one_pass)
    assert {r["recording_id"] for r in merged["recordings"]} == night["valid"]
    reasons = {r["recording_id"]: r["reason"] for r in merged["rejected"]}
    assert set(reasons) == night["quarantined"] and reasons[night["orphan"]] == ORPHAN_SIDECAR
    (rerouted,) = [r for r in merged["recordings"] if r["recording_id"] == night["rerouted"]]
    assert rerouted["kind"] == "conversation" and "routed" in rerouted["notes"][0]  # the first key's routing


def test_one_ledger_object_per_recording(s3, sharded, one_pass, night):
    entries = objects(s3, f"ledger/{NIGHT}/")
    assert sorted(entries) == sorted(
        f"ledger/{NIGHT}/{i}.json" for i in night["valid"] | night["quarantined"]
    )
    states = {json.loads(body)["recording_id"]: json.loads(body)["state"] for body in entries.values()}
    assert states == {
        **{i: "discovered" for i in night["valid"]},
        **{i: "quarantined" for i in night["quarantined"]},
    }
    moments = ("discovered_at", "finished_at")

    def without_times(entry: dict) -> dict:
        return {k: v for k, v in entry.items() if k not in moments}

    one_pass_entries = Ledger(s3, BUCKET, "one-pass-ledger").night(NIGHT)
    assert [without_times(e) for e in sharded["ledger"].night(NIGHT)] == [
        without_times(e) for e in one_pass_entries
    ]
    assert len(objects(s3, f"ledger-quarantine/{NIGHT}/")) == 5


def test_xcom_is_one_small_value_per_shard_and_holds_no_key(s3, sharded):
    values = [*sharded["parts"], sharded["discover"]]
    assert len(values) == SHARDS + 1
    assert max(len(json.dumps(value)) for value in values) < 120  # a key and two counts
    texts = [json.dumps(values)] + [
        body.decode() for body in objects(s3, f"ledger/_manifests/{NIGHT}/discover").values()
    ]
    assert len(texts) == SHARDS + 2
    assert [t for t in texts if SECRET in t or "visit-" in t or "copy-" in t] == []


def run_jobs(s3, ledger: Ledger, found: dict) -> dict:
    """plan, every job COMPLETED, settle: as the DAG's tasks after discover."""
    keys = plan_batch_manifests(
        night_recordings(ledger, found),
        ledger=ledger,
        night=NIGHT,
        batch_size=8,
        output_bucket=DESTINATION["output_bucket"],
        data_access_role_arn=DESTINATION["data_access_role_arn"],
    )
    results = []
    for key in keys:
        jobs = read_manifest(s3, BUCKET, key)["jobs"]
        names = [
            job["request"].get("MedicalScribeJobName") or job["request"]["MedicalTranscriptionJobName"]
            for job in jobs
        ]
        outcome = {name: {"status": "COMPLETED", "failure_reason": None} for name in names}
        results.append(save_batch_outcomes(s3, BUCKET, key, StartMedicalJobsBatchOperator._result(outcome)))

    def never_described(service, name):
        raise AssertionError("every outcome is in the outcomes manifests")

    states = settle_night(
        recordings=night_recordings(ledger, found),
        outcomes={name: o for r in results for name, o in read_manifest(s3, BUCKET, r["outcomes"]).items()},
        describe_job=never_described,
        ledger=ledger,
        night=NIGHT,
    )
    jobs = [job for key in keys for job in read_manifest(s3, BUCKET, key)["jobs"]]
    return {"jobs": jobs, "states": states}


def test_a_rerun_changes_nothing_and_starts_no_job(s3, s3_only, sharded, night):
    """Discovery twice gives the same ledger objects and manifests; after the jobs ran, a rerun of the
    night plans none, and every recording ends in exactly one final state."""
    before = objects(s3, "ledger/")
    staged = sorted(objects(s3, "staging/media/"))
    again = discover_sharded(s3_only.s3_endpoint, "ledger")
    assert again["discover"] == sharded["discover"]
    assert objects(s3, "ledger/") == before
    assert sorted(objects(s3, "staging/media/")) == staged and len(staged) == N

    first = run_jobs(s3, again["ledger"], again["discover"])
    assert len(first["jobs"]) == N and first["states"] == {"succeeded": N, "quarantined": 5}
    rerun = discover_sharded(s3_only.s3_endpoint, "ledger")
    second = run_jobs(s3, rerun["ledger"], rerun["discover"])
    assert second == {"jobs": [], "states": {"succeeded": N, "quarantined": 5}}
    entries = rerun["ledger"].night(NIGHT)
    assert len(entries) == N + 5 and all(e["state"] in FINAL_STATES for e in entries)
    assert {e["attempts"] for e in entries if e["state"] == "succeeded"} == {1}


def test_a_rerun_with_fewer_shards_gives_the_same_night_and_no_stale_part(s3, s3_only, one_pass):
    folder = f"reshard-ledger/_manifests/{NIGHT}/discover/"
    write_manifest(s3, BUCKET, f"{folder}0003.json", {"recordings": [], "rejected": []})  # a 4-shard run's
    two = discover_sharded(s3_only.s3_endpoint, "reshard-ledger", shards=2)
    assert comparable(read_manifest(s3, BUCKET, two["discover"]["manifest"])) == comparable(one_pass)
    assert sorted(objects(s3, folder)) == [f"{folder}0000.json", f"{folder}0001.json"]
    assert len(objects(s3, f"reshard-ledger/{NIGHT}/")) == N + 5


def test_merge_refuses_a_recording_found_by_two_shards(s3):
    ledger = Ledger(s3, BUCKET, "merge-ledger")
    entry = {"recording_id": "a" * 32, "night": NIGHT, "reason": "x", "size_bytes": 1, "notes": []}
    parts = [
        {
            "manifest": write_manifest(
                s3, BUCKET, f"merge-ledger/p{i}.json", {"recordings": [], "rejected": [entry]}
            )
        }
        for i in range(2)
    ]
    with pytest.raises(ValueError, match="1 recordings of 2026-12-04 were found by two shards"):
        merge_discovery(ledger, NIGHT, parts)


def test_a_shard_outside_the_shards_is_refused(s3):
    with pytest.raises(ValueError, match="shard 4 is not one of 4 shards"):
        discover_night(s3, **PLACES, staging_prefix="staging/media", shard=4, shards=4)

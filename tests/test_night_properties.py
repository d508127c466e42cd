"""Property (issue 28): whatever sidecars (any JSON, or not JSON at all) and keys a night holds, no input
fails a different recording, every recording ends in exactly one state, and every planned request passes
botocore's own validation. Drives discovery, planning and settling directly on moto S3 (no DAG)."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medscribe.admission import check_request, sidecar_schema
from medscribe.ledger import FINAL_STATES, Ledger
from medscribe.night.discover import discover_night
from medscribe.night.plan import plan_batches
from medscribe.night.settle import settle_night
from tests.conftest import boto3_client
from tests.test_discovery import DESTINATION, tone_wav

BUCKET = "property-nights"
NIGHT = "2026-12-01"
CANARY = "Canary"
CONTROL_KEY = "conversations/clinic-z/control.wav"
CONTROL_SIDECAR = {"kind": "conversation", "max_speakers": 3, "note_template": "DAP"}
CONTROL_AUDIO = tone_wav(seconds=1.3)
# A few distinct valid recordings, so that generated nights reuse bytes under several keys.
POOL = [tone_wav(seconds=0.8 + 0.1 * i, channels=1 + i % 2) for i in range(3)]
NIGHTS = itertools.count()

KNOWN_KEYS = list(sidecar_schema()["properties"])
NEAR_VALUES = st.sampled_from(
    [
        0,
        1,
        2,
        3,
        30,
        31,
        -1,
        2.0,
        2.5,
        1e308,
        True,
        None,
        "",
        "dictation",
        "conversation",
        "PRIMARYCARE",
        "DAP",
        f"Jane {CANARY}",
        ["CLINICIAN", "PATIENT"],
        ["PATIENT", "PATIENT"],
        ["CLINICIAN"],
        [],
        {},
    ]
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# A sidecar: absent, near-valid (known keys, edge values), any JSON value, or bytes that are not JSON.
SIDECARS = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from([*KNOWN_KEYS, CANARY]), NEAR_VALUES | ANY_JSON, max_size=4).map(
        json.dumps
    ),
    ANY_JSON.map(json.dumps),
    st.binary(max_size=24),
)
# Key folders as users name them: any printable text (no control characters, not only dots).
SEGMENTS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: "/" not in s and s.strip(".") != ""
)
AUDIO = st.one_of(
    st.sampled_from(range(len(POOL))), st.binary(max_size=48), st.none()
)  # POOL index, bytes, or None: never arrived
ENTRIES = st.lists(
    st.tuples(
        st.lists(SEGMENTS, max_size=2),
        st.sampled_from(["dictations", "conversations"]),
        st.sampled_from([".wav", ".mp3", "", ".json"]),
        AUDIO,
        SIDECARS,
    ),
    min_size=1,
    max_size=4,
)


def rid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@pytest.fixture(scope="module")
def s3(s3_only):
    client = boto3_client("s3", s3_only.s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def run_night(s3, objects: dict[str, bytes]) -> tuple[str, Ledger, list, list]:
    prefix = f"nights-{next(NIGHTS)}"
    for key, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{NIGHT}/{key}", Body=body)
    ledger = Ledger(s3, BUCKET, f"ledger-{prefix}")
    recordings, rejected = discover_night(
        s3,
        bucket=BUCKET,
        prefix=prefix,
        night=NIGHT,
        staging_prefix="staging/media",
        ledger=ledger,
        **DESTINATION,
    )
    return prefix, ledger, recordings, rejected


@pytest.fixture(scope="module")
def control_job_name(s3):
    """The control recording's job name on a night of its own."""
    _, _, (control,), _ = run_night(
        s3, {CONTROL_KEY: CONTROL_AUDIO, f"{CONTROL_KEY}.json": json.dumps(CONTROL_SIDECAR).encode()}
    )
    return control.job_name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=ENTRIES)
def test_no_input_harms_another_recording_and_each_ends_in_one_state(s3, control_job_name, entries):
    objects = {CONTROL_KEY: CONTROL_AUDIO, f"{CONTROL_KEY}.json": json.dumps(CONTROL_SIDECAR).encode()}
    for index, (folders, kind_folder, extension, audio, sidecar) in enumerate(entries):
        key = "/".join([kind_folder, *folders, f"{CANARY}-{index}{extension}"])
        if audio is not None:
            objects[key] = POOL[audio] if isinstance(audio, int) else audio
        if sidecar is not None:
            objects[f"{key}.json"] = sidecar if isinstance(sidecar, bytes) else sidecar.encode()
    _, ledger, recordings, rejected = run_night(s3, objects)

    # the control recording is admitted with its own routing, whatever shares its night
    admitted = {r.recording_id: r for r in recordings}
    assert admitted[rid(CONTROL_AUDIO)].job_name == control_job_name

    # every object of the night is one recording (or an orphan sidecar), and each is in exactly one list
    audio_keys = {key for key in objects if not key.endswith(".json")}
    expected_ids = {rid(objects[key]) for key in audio_keys}
    expected_ids |= {
        rid(body) for key, body in objects.items() if key.endswith(".json") and key[:-5] not in audio_keys
    }
    quarantined = {r.recording_id for r in rejected}
    assert not set(admitted) & quarantined and set(admitted) | quarantined == expected_ids
    assert all(r.reason for r in rejected)

    # nothing planned can be refused by the client before it reaches the service
    batches = plan_batches([r.to_dict() for r in recordings], ledger=ledger, batch_size=3, **DESTINATION)
    jobs = [job for batch in batches for job in batch["jobs"]]
    for job in jobs:
        check_request(job["service"], job["request"])
    assert len(jobs) == len(recordings)

    # settled, every ledger entry is in exactly one final state; the failed job fails only its recording
    names = sorted(r.job_name for r in recordings)
    failing = names[-1] if len(names) > 1 and names[-1] != control_job_name else None
    outcomes = {
        name: {
            "status": "FAILED" if name == failing else "COMPLETED",
            "failure_reason": "BadRequestException: refused",
        }
        for name in names
    }
    settle_night(
        recordings=[r.to_dict() for r in recordings],
        outcomes=outcomes,
        describe_job=lambda service, name: pytest.fail(f"job {name} was not in the outcomes"),
        ledger=ledger,
        night=NIGHT,
    )
    entries_by_id = {e["recording_id"]: e for e in ledger.night(NIGHT)}
    assert set(entries_by_id) == expected_ids and len(ledger.night(NIGHT)) == len(expected_ids)
    assert all(e["state"] in FINAL_STATES for e in entries_by_id.values())
    assert entries_by_id[rid(CONTROL_AUDIO)]["state"] == "succeeded"
    assert [e["job_name"] for e in entries_by_id.values() if e["state"] == "failed"] == (
        [failing] if failing else []
    )

    # no key or sidecar content leaves discovery
    said = json.dumps([r.to_dict() for r in recordings + rejected]) + json.dumps(list(entries_by_id.values()))
    assert CANARY not in said

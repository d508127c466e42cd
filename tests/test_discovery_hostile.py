"""Issue 28, the night: hostile sidecars and keys are quarantined at discovery with a reason, and never
harm another recording of the night (regressions of each case found, on moto S3 with the ledger)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from medscribe.admission import MAX_SIDECAR_BYTES, RefusedInput, check_request, check_sidecar
from medscribe.audio import InvalidRecording
from medscribe.ledger import Ledger
from medscribe.night.discover import ORPHAN_SIDECAR, discover_night
from medscribe.night.plan import plan_batches
from medscribe.night.routing import routing_options
from tests.conftest import boto3_client
from tests.test_discovery import DESTINATION, tone_wav

BUCKET = "hostile-night"
NIGHT = "2026-11-25"


def sha_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [
        ({"max_speakers": 0}, "sidecar max_speakers must be at least 2"),
        ({"max_speakers": 99}, "sidecar max_speakers must be at most 30"),
        ({"max_speakers": True}, "sidecar max_speakers must be an integer, not a boolean"),
        ([1, 2], "sidecar must be a JSON object, not an array"),
        ("dictation", "sidecar must be a JSON object, not a string"),
        ({"kind": "podcast"}, "sidecar kind must be one of conversation, dictation"),
        ({"specialty": "CARDIOLOGY"}, "sidecar specialty must be one of PRIMARYCARE"),
        ({"channel_roles": ["CLINICIAN", "CLINICIAN"]}, "sidecar channel_roles must not repeat an item"),
        ({"note_template": None}, "sidecar note_template must be one of HISTORY_AND_PHYSICAL, GIRPP"),
        (
            {"patient": "Jane Canary", "max_speakers": 3},
            "sidecar has 1 unknown key (known: kind, channel_roles",
        ),
    ],
    ids=[
        "speakers-0",
        "speakers-99",
        "speakers-bool",
        "array",
        "string",
        "kind",
        "specialty",
        "roles",
        "template-null",
        "unknown-key",
    ],
)
def test_sidecar_schema_reasons_name_the_rule_not_the_value(sidecar, reason):
    with pytest.raises(InvalidRecording) as refused:
        routing_options("incoming/x/a.wav", sidecar)
    assert str(refused.value).startswith(reason)
    assert "Canary" not in str(refused.value) and "patient" not in str(refused.value)


def test_sidecar_schema_takes_its_ranges_from_botocore():
    assert check_sidecar({"max_speakers": 30, "kind": "conversation"}) == {
        "max_speakers": 30,
        "kind": "conversation",
    }
    assert check_sidecar(None) == {}
    with pytest.raises(RefusedInput, match="at most 30"):
        check_sidecar({"max_speakers": 31})


def test_request_validation_is_botocores():
    request = {
        "MedicalScribeJobName": "medscribe-hs-x",
        "Media": {"MediaFileUri": "s3://b/k.wav"},
        "OutputBucketName": "out",
        "DataAccessRoleArn": "arn:aws:iam::000000000000:role/r",
        "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 0},
    }
    with pytest.raises(
        RefusedInput, match=re.escape("Settings.MaxSpeakerLabels, value: 0, valid min value: 2")
    ):
        check_request("healthscribe", request)
    check_request("healthscribe", {**request, "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}})


@pytest.fixture(scope="module")
def hostile_night(s3_only):
    """One night: good recordings beside sidecars that used to crash or stop it, an orphan sidecar, and
    the same audio under two keys routed differently."""
    s3 = boto3_client("s3", s3_only.s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    base = f"incoming/{NIGHT}"
    audio = {
        name: tone_wav(seconds=1.0 + 0.1 * i)
        for i, name in enumerate(
            [
                "good-mono",
                "good-dictation",
                "speakers-0",
                "speakers-99",
                "array",
                "not-utf8",
                "null",
                "deep",
                "huge",
                "twice",
            ]
        )
    }
    sidecars = {
        "conversations/Jane-Canary/good-mono.wav": {"max_speakers": 3},
        "conversations/Jane-Canary/speakers-0.wav": {"max_speakers": 0},
        "conversations/Jane-Canary/speakers-99.wav": {"max_speakers": 99},
        "conversations/Jane-Canary/array.wav": [1, 2],
        "conversations/Jane-Canary/not-utf8.wav": b"\xff\xfe{\x00",
        "conversations/Jane-Canary/null.wav": None,
        "conversations/Jane-Canary/deep.wav": b"[" * 10_000 + b"]" * 10_000,
        "conversations/Jane-Canary/huge.wav": {"kind": "conversation", "padding": "x" * MAX_SIDECAR_BYTES},
        "conversations/Jane-Canary/twice-b.wav": {"kind": "conversation"},
        "conversations/Jane-Canary/lost.wav": {"kind": "dictation"},  # its audio never arrived
    }
    keys = {
        "conversations/Jane-Canary/good-mono.wav": audio["good-mono"],
        "dictations/Jane-Canary/good-dictation.wav": audio["good-dictation"],
        "conversations/Jane-Canary/speakers-0.wav": audio["speakers-0"],
        "conversations/Jane-Canary/speakers-99.wav": audio["speakers-99"],
        "conversations/Jane-Canary/array.wav": audio["array"],
        "conversations/Jane-Canary/not-utf8.wav": audio["not-utf8"],
        "conversations/Jane-Canary/null.wav": audio["null"],
        "conversations/Jane-Canary/deep.wav": audio["deep"],
        "conversations/Jane-Canary/huge.wav": audio["huge"],
        "dictations/Jane-Canary/twice-a.wav": audio["twice"],  # a dictation by its folder ...
        "conversations/Jane-Canary/twice-b.wav": audio["twice"],  # ... and a conversation by its sidecar
    }
    for key, data in keys.items():
        s3.put_object(Bucket=BUCKET, Key=f"{base}/{key}", Body=data)
    for key, sidecar in sidecars.items():
        body = sidecar if isinstance(sidecar, bytes) else json.dumps(sidecar).encode()
        s3.put_object(Bucket=BUCKET, Key=f"{base}/{key}.json", Body=body)
    ledger = Ledger(s3, BUCKET)
    recordings, rejected = discover_night(
        s3,
        bucket=BUCKET,
        prefix="incoming",
        night=NIGHT,
        staging_prefix="staging/media",
        ledger=ledger,
        **DESTINATION,
    )
    return {
        "s3": s3,
        "ledger": ledger,
        "audio": audio,
        "recordings": recordings,
        "rejected": rejected,
        "lost": json.dumps(sidecars["conversations/Jane-Canary/lost.wav"]).encode(),
        "huge_bytes": len(json.dumps(sidecars["conversations/Jane-Canary/huge.wav"])),
    }


def test_bad_sidecars_are_quarantined_and_the_good_recordings_go_on(hostile_night):
    audio = hostile_night["audio"]
    admitted = {r.recording_id: r for r in hostile_night["recordings"]}
    assert sorted(admitted) == sorted(sha_id(audio[n]) for n in ("good-mono", "good-dictation", "twice"))
    assert admitted[sha_id(audio["good-mono"])].options["Settings"] == {
        "ShowSpeakerLabels": True,
        "MaxSpeakerLabels": 3,
    }
    assert admitted[sha_id(audio["good-dictation"])].service == "transcribe_medical"
    reasons = {r.recording_id: r.reason for r in hostile_night["rejected"]}
    assert reasons == {
        sha_id(audio["speakers-0"]): "sidecar max_speakers must be at least 2",
        sha_id(audio["speakers-99"]): "sidecar max_speakers must be at most 30",
        sha_id(audio["array"]): "sidecar must be a JSON object, not an array",
        sha_id(audio["not-utf8"]): "sidecar is not valid JSON",
        sha_id(audio["null"]): "sidecar must be a JSON object, not null",
        sha_id(audio["deep"]): "sidecar is not valid JSON",
        sha_id(
            audio["huge"]
        ): f"sidecar too large ({hostile_night['huge_bytes']} bytes > {MAX_SIDECAR_BYTES})",
        sha_id(hostile_night["lost"]): ORPHAN_SIDECAR,
    }


def test_every_recording_and_orphan_sidecar_has_one_ledger_entry(hostile_night):
    entries = hostile_night["ledger"].night(NIGHT)
    expected = {r.recording_id: "discovered" for r in hostile_night["recordings"]}
    expected |= {r.recording_id: "quarantined" for r in hostile_night["rejected"]}
    assert {e["recording_id"]: e["state"] for e in entries} == expected and len(entries) == 11
    orphan = next(e for e in entries if e["recording_id"] == sha_id(hostile_night["lost"]))
    assert (orphan["reason"], orphan["size_bytes"]) == (ORPHAN_SIDECAR, len(hostile_night["lost"]))
    copy = hostile_night["s3"].head_object(Bucket=BUCKET, Key=f"quarantine/{NIGHT}/{orphan['recording_id']}")
    assert copy["Metadata"]["reason"] == ORPHAN_SIDECAR and copy["ContentLength"] == len(
        hostile_night["lost"]
    )


def test_same_audio_routed_two_ways_gets_a_note(hostile_night):
    twice = sha_id(hostile_night["audio"]["twice"])
    entry = hostile_night["ledger"].get(NIGHT, twice)
    # keys in order: conversations/... (the sidecar's conversation) comes before dictations/...
    assert entry["kind"] == "conversation"
    assert entry["notes"] == [
        'the same audio is also under another key, routed {"kind": "dictation"} there; '
        'this entry follows the first key ({"kind": "conversation"})'
    ]
    (recording,) = [r for r in hostile_night["recordings"] if r.recording_id == twice]
    assert recording.notes == entry["notes"]


def test_nothing_returned_or_recorded_names_a_key_or_sidecar_value(hostile_night):
    returned = json.dumps([r.to_dict() for r in hostile_night["recordings"] + hostile_night["rejected"]])
    recorded = json.dumps(hostile_night["ledger"].night(NIGHT))
    for text in (returned, recorded):
        assert "Canary" not in text and "padding" not in text and "good-mono" not in text


def test_every_planned_request_passes_botocores_validation(hostile_night):
    recordings = [r.to_dict() for r in hostile_night["recordings"]]
    batches = plan_batches(recordings, ledger=hostile_night["ledger"], batch_size=2, **DESTINATION)
    jobs = [job for batch in batches for job in batch["jobs"]]
    assert len(jobs) == 3
    for job in jobs:
        check_request(job["service"], job["request"])


def test_a_refused_destination_fails_discovery_before_anything_is_recorded(s3_only):
    s3 = boto3_client("s3", s3_only.s3_endpoint)
    s3.create_bucket(Bucket="hostile-destination")
    s3.put_object(Bucket="hostile-destination", Key=f"incoming/{NIGHT}/a.wav", Body=tone_wav())
    ledger = Ledger(s3, "hostile-destination")
    with pytest.raises(ValueError, match="DataAccessRoleArn"):
        discover_night(
            s3,
            bucket="hostile-destination",
            prefix="incoming",
            night=NIGHT,
            staging_prefix="staging/media",
            ledger=ledger,
            output_bucket="out",
            data_access_role_arn="arn:short",
        )
    assert ledger.night(NIGHT) == []

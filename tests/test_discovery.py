"""Discovery: content sniffing, validation with reasons, routing, deterministic names, no keys leaked."""

from __future__ import annotations

import io
import json
import math
import struct
import wave

import pytest

from medscribe.audio import InvalidRecording, probe_audio, sniff_format
from medscribe.night.discover import discover_night
from medscribe.night.routing import job_name_for, routing_options
from tests.conftest import AUDIO, boto3_client

DESTINATION = {
    "output_bucket": "medscribe-outputs",
    "data_access_role_arn": "arn:aws:iam::000000000000:role/medscribe-test",
}


def tone_wav(rate: int = 16000, seconds: float = 1.0, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) * channels
            for i in range(int(rate * seconds))
        )
        out.writeframes(frames)
    return buffer.getvalue()


def test_sniff_by_content_not_extension():
    assert sniff_format((AUDIO / "dictation.wav").read_bytes()[:16]) == "wav"
    assert sniff_format(b"fLaC\x00\x00\x00\x22") == "flac"
    assert sniff_format(b"OggS\x00\x02") == "ogg"
    assert sniff_format(b"\x00\x00\x00\x20ftypM4A ") == "mp4"
    assert sniff_format(b"ID3\x04\x00") == "mp3"
    assert sniff_format(b"Patient name: ...") is None


def test_probe_reads_the_fixtures():
    stereo = probe_audio((AUDIO / "conversation_stereo.wav").read_bytes())
    reference = json.loads((AUDIO / "conversation_stereo.json").read_text())
    assert (stereo.media_format, stereo.sample_rate_hz, stereo.channels) == ("wav", 16000, 2)
    assert stereo.duration_s == pytest.approx(reference["duration_s"], abs=0.01)
    assert probe_audio((AUDIO / "dictation.wav").read_bytes()).channels == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"%PDF-1.7 this is a document, not audio" * 20, "not an audio file"),
        (tone_wav(rate=8000), "sample rate 8000 Hz is under the minimum of 16000 Hz"),
        (tone_wav()[: len(tone_wav()) // 2], "truncated wav"),
        (tone_wav(seconds=0.1), "audio too short"),
        (tone_wav(channels=4, seconds=1), "4 channels"),
    ],
    ids=["empty", "not-audio", "8khz", "truncated", "too-short", "four-channels"],
)
def test_invalid_recordings_have_reasons(data, reason):
    with pytest.raises(InvalidRecording, match=reason):
        probe_audio(data)


def test_routing_sidecar_wins_then_path():
    assert routing_options("incoming/2026-11-23/dictations/a.wav", None)["kind"] == "dictation"
    assert routing_options("incoming/2026-11-23/clinic/a.wav", None)["kind"] == "conversation"
    assert (
        routing_options("incoming/2026-11-23/dictations/a.wav", {"kind": "conversation"})["kind"]
        == "conversation"
    )
    with pytest.raises(InvalidRecording, match="kind must be one of"):
        routing_options("x/a.wav", {"kind": "podcast"})
    with pytest.raises(InvalidRecording, match="channel_roles"):
        routing_options("x/a.wav", {"channel_roles": ["CLINICIAN", "CLINICIAN"]})


def test_job_names_depend_on_content_and_settings_only():
    a = job_name_for("healthscribe", "ab" * 32, {"Settings": {"ChannelIdentification": True}})
    assert a == job_name_for("healthscribe", "ab" * 32, {"Settings": {"ChannelIdentification": True}})
    assert a != job_name_for("healthscribe", "ab" * 32, {"Settings": {"ShowSpeakerLabels": True}})
    assert a.startswith("medscribe-hs-abab")


def test_discover_night_stages_valid_and_records_rejected(s3_only):
    s3 = boto3_client("s3", s3_only.s3_endpoint)
    bucket, night = "discovery-test", "2026-11-20"
    s3.create_bucket(Bucket=bucket)
    base = f"incoming/{night}"
    s3.put_object(
        Bucket=bucket,
        Key=f"{base}/conversations/Jane-Canary-Doe.wav",
        Body=(AUDIO / "conversation_stereo.wav").read_bytes(),
    )
    s3.put_object(
        Bucket=bucket,
        Key=f"{base}/dictations/Jane-Canary-Doe-note.wav",
        Body=(AUDIO / "dictation.wav").read_bytes(),
    )
    s3.put_object(Bucket=bucket, Key=f"{base}/conversations/Jane-Canary-Doe-8k.wav", Body=tone_wav(rate=8000))
    s3.put_object(Bucket=bucket, Key=f"{base}/conversations/notes.wav", Body=b"hello, not audio at all")
    s3.put_object(
        Bucket=bucket,
        Key=f"{base}/conversations/Jane-Canary-Doe.wav.json",
        Body=json.dumps({"channel_roles": ["PATIENT", "CLINICIAN"]}).encode(),
    )
    s3.put_object(Bucket=bucket, Key="incoming/2026-11-21/conversations/other-night.wav", Body=tone_wav())

    recordings, rejected = discover_night(
        s3, bucket=bucket, prefix="incoming", night=night, staging_prefix="staging/media", **DESTINATION
    )

    assert sorted(r.service for r in recordings) == ["healthscribe", "transcribe_medical"]
    scribe = next(r for r in recordings if r.service == "healthscribe")
    assert scribe.options["ChannelDefinitions"] == [
        {"ChannelId": 0, "ParticipantRole": "PATIENT"},
        {"ChannelId": 1, "ParticipantRole": "CLINICIAN"},
    ]
    dictation = next(r for r in recordings if r.service == "transcribe_medical")
    assert dictation.options["Type"] == "DICTATION" and dictation.options["MediaSampleRateHertz"] == 16000
    assert sorted(r.reason.split(" (")[0] for r in rejected) == [
        "not an audio file: content matches no supported format",
        "sample rate 8000 Hz is under the minimum of 16000 Hz",
    ]
    for recording in recordings:  # staged copy exists and is byte-identical
        staged_key = recording.media_uri.split(f"s3://{bucket}/", 1)[1]
        assert s3.head_object(Bucket=bucket, Key=staged_key)["ContentLength"] == recording.size_bytes
    returned = json.dumps([r.to_dict() for r in recordings] + [r.to_dict() for r in rejected])
    assert "Canary" not in returned and "notes.wav" not in returned  # keys never leave discovery

    again, rejected_again = discover_night(
        s3, bucket=bucket, prefix="incoming", night=night, staging_prefix="staging/media", **DESTINATION
    )
    assert [r.job_name for r in again] == [r.job_name for r in recordings]
    assert len(rejected_again) == 2

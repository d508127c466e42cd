"""The night's plain steps: request building and output URI handling."""

from __future__ import annotations

import pytest

from medscribe.night.plan import job_request
from medscribe.outputs import split_output_uri

RECORDINGS = [
    {
        "recording_id": "a1",
        "service": "healthscribe",
        "job_name": "medscribe-hs-a1",
        "media_uri": "s3://b/staging/a1.wav",
        "options": {
            "Settings": {"ChannelIdentification": True},
            "ChannelDefinitions": [
                {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
                {"ChannelId": 1, "ParticipantRole": "PATIENT"},
            ],
        },
    },
    {
        "recording_id": "b2",
        "service": "transcribe_medical",
        "job_name": "medscribe-tm-b2",
        "media_uri": "s3://b/staging/b2.flac",
        "options": {
            "Type": "DICTATION",
            "Specialty": "PRIMARYCARE",
            "MediaFormat": "flac",
            "MediaSampleRateHertz": 16000,
        },
    },
]


def test_job_requests_per_service():
    destination = {"output_bucket": "out", "data_access_role_arn": "arn:aws:iam::1:role/r"}
    scribe = job_request(RECORDINGS[0], **destination)
    assert scribe == {
        "service": "healthscribe",
        "request": {
            "MedicalScribeJobName": "medscribe-hs-a1",
            "Media": {"MediaFileUri": "s3://b/staging/a1.wav"},
            "OutputBucketName": "out",
            "DataAccessRoleArn": "arn:aws:iam::1:role/r",
            "Settings": {"ChannelIdentification": True},
            "ChannelDefinitions": RECORDINGS[0]["options"]["ChannelDefinitions"],
        },
    }
    dictation = job_request(RECORDINGS[1], **destination)
    assert dictation["service"] == "transcribe_medical"
    request = dictation["request"]
    assert request["OutputKey"] == "transcribe-medical/medscribe-tm-b2.json"
    assert (request["MediaFormat"], request["MediaSampleRateHertz"], request["Type"]) == (
        "flac",
        16000,
        "DICTATION",
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://out/medscribe-hs-a1/transcript.json", ("out", "medscribe-hs-a1/transcript.json")),
        (
            "https://s3.us-west-2.amazonaws.com/out/medscribe-hs-a1/transcript.json",
            ("out", "medscribe-hs-a1/transcript.json"),
        ),
        ("https://out.s3.us-west-2.amazonaws.com/medical/job.json", ("out", "medical/job.json")),
        ("http://127.0.0.1:5055/out/transcribe-medical/job.json", ("out", "transcribe-medical/job.json")),
    ],
)
def test_split_output_uri(uri, expected):
    assert split_output_uri(uri) == expected


def test_split_output_uri_rejects_bucket_only():
    with pytest.raises(ValueError, match="no bucket and key"):
        split_output_uri("https://s3.amazonaws.com/out")

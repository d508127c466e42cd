"""Constants and helpers shared by the engine's tests (imported as a plain module: engine/tests/api is on
sys.path under pytest's default import mode)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

from medscribe_harness.devstack import REPO_ROOT, engine_python, free_port

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "audio"
FIXTURE_NAMES = ("dictation", "conversation_stereo", "conversation_mono")
MEDIA_BUCKET = "medscribe-test-media"
OUTPUT_BUCKET = "medscribe-test-output"
# Keys carry a (fake) patient name, as real ones can: the engine must never log them.
PATIENT_FRAGMENT = "Zebulon-Quixote-Testpatient"
ROLE_ARN = "arn:aws:iam::123456789012:role/medscribe-healthscribe"
CHANNEL_DEFINITIONS = [
    {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
    {"ChannelId": 1, "ParticipantRole": "PATIENT"},
]
TERMINAL = ("COMPLETED", "FAILED")


def media_key(name: str, suffix: str = ".wav") -> str:
    return f"patients/{PATIENT_FRAGMENT}/2026-11-20/{name}{suffix}"


def media_uri(key: str) -> str:
    return f"s3://{MEDIA_BUCKET}/{key}"


def transcription_request(name: str, recording: str = "dictation", **overrides) -> dict:
    """A StartMedicalTranscriptionJob request: the sample ``recording`` as a PRIMARYCARE dictation into the
    output bucket; ``overrides`` replace or add fields."""
    return {
        "MedicalTranscriptionJobName": name,
        "LanguageCode": "en-US",
        "Media": {"MediaFileUri": media_uri(media_key(recording))},
        "OutputBucketName": OUTPUT_BUCKET,
        "Specialty": "PRIMARYCARE",
        "Type": "DICTATION",
        **overrides,
    }


def scribe_request(name: str, settings: dict, recording: str = "conversation_stereo", **overrides) -> dict:
    """A StartMedicalScribeJob request: the sample ``recording`` with ``settings`` into the output bucket;
    ``overrides`` replace or add fields."""
    return {
        "MedicalScribeJobName": name,
        "Media": {"MediaFileUri": media_uri(media_key(recording))},
        "OutputBucketName": OUTPUT_BUCKET,
        "DataAccessRoleArn": ROLE_ARN,
        "Settings": settings,
        **overrides,
    }


def stereo_scribe_request(name: str, **overrides) -> dict:
    """:func:`scribe_request` of the stereo visit, its two channels identified (clinician, patient)."""
    return scribe_request(
        name, {"ChannelIdentification": True}, ChannelDefinitions=CHANNEL_DEFINITIONS, **overrides
    )


def run_engine(
    data_dir: Path,
    *args: str,
    port: int | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """``python -m medscribe_engine`` on ``port`` (a free one when None) with ``data_dir`` and ``args``,
    expected to stop at start-up; ``env``: its environment (None: this process's)."""
    return subprocess.run(
        [
            str(engine_python()),
            "-m",
            "medscribe_engine",
            "--port",
            str(free_port() if port is None else port),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def load_reference(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_transcription(client, name: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_medical_transcription_job(MedicalTranscriptionJobName=name)[
            "MedicalTranscriptionJob"
        ]
        if job["TranscriptionJobStatus"] in TERMINAL or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def wait_scribe(client, name: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_medical_scribe_job(MedicalScribeJobName=name)["MedicalScribeJob"]
        if job["MedicalScribeJobStatus"] in TERMINAL or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def read_output(s3, uri: str, endpoint: str) -> dict:
    """The JSON document at a TranscriptFileUri of the form <endpoint>/<bucket>/<key>."""
    assert uri.startswith(endpoint + "/"), uri
    bucket, _, key = uri[len(endpoint) + 1 :].partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

"""SigV4 authentication: the stack's credentials work; wrong, unknown, missing, stale or tampered
signatures are refused with AWS's error codes (HTTP 403); /health stays open."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from medscribe_harness.devstack import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY

pytestmark = pytest.mark.engine

NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(stack, access_key_id: str = LOCAL_ACCESS_KEY_ID, secret: str = LOCAL_SECRET_ACCESS_KEY):
    return boto3.client(
        "transcribe",
        endpoint_url=stack.engine_endpoint,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=NO_RETRY,
    )


def refusal(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_the_configured_credentials_work(stack):
    answer = client(stack).list_medical_transcription_jobs(MaxResults=1)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "MedicalTranscriptionJobSummaries" in answer


def test_a_wrong_secret_is_an_invalid_signature(stack):
    code, status, message = refusal(
        lambda: client(stack, secret="not-the-secret").list_medical_transcription_jobs(MaxResults=1)
    )
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "signature we calculated does not match" in message


def test_an_unknown_key_is_unrecognized(stack):
    code, status, message = refusal(
        lambda: client(stack, access_key_id="AKIAUNKNOWN0000000", secret="x").get_medical_scribe_job(
            MedicalScribeJobName="anything"
        )
    )
    assert (code, status) == ("UnrecognizedClientException", 403)
    assert "security token included in the request is invalid" in message


def test_an_unsigned_request_is_refused(stack):
    request = urllib.request.Request(
        stack.engine_endpoint + "/",
        data=json.dumps({"MaxResults": 1}).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "Transcribe.ListMedicalTranscriptionJobs",
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    body = json.loads(excinfo.value.read())
    assert body == {
        "__type": "MissingAuthenticationTokenException",
        "Message": "Missing Authentication Token",
    }


def test_health_needs_no_signature(stack):
    with urllib.request.urlopen(stack.engine_endpoint + "/health", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ready"}


def _signed_at(monkeypatch, offset: timedelta) -> None:
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + offset)


def test_a_clock_skew_of_up_to_15_minutes_is_allowed(stack, monkeypatch):
    _signed_at(monkeypatch, timedelta(minutes=-10))
    assert client(stack).list_medical_scribe_jobs(MaxResults=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    _signed_at(monkeypatch, timedelta(minutes=10))
    assert client(stack).list_medical_scribe_jobs(MaxResults=1)["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("minutes, phrase", [(-20, "Signature expired"), (20, "Signature not yet current")])
def test_a_request_signed_too_far_from_now_is_refused(stack, monkeypatch, minutes, phrase):
    _signed_at(monkeypatch, timedelta(minutes=minutes))
    code, status, message = refusal(lambda: client(stack).list_medical_scribe_jobs(MaxResults=1))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert phrase in message
    now = datetime.now(UTC)
    assert (now + timedelta(minutes=minutes)).strftime("%Y%m%d") in message


def test_a_body_changed_after_signing_is_refused(stack):
    tampering = client(stack)

    def change_body(request, **_):
        request.body = request.body.replace(b'"MaxResults": 1', b'"MaxResults": 2')

    tampering.meta.events.register("before-send.transcribe.ListMedicalScribeJobs", change_body)
    code, status, _message = refusal(lambda: tampering.list_medical_scribe_jobs(MaxResults=1))
    assert (code, status) == ("InvalidSignatureException", 403)


def test_a_signature_for_another_service_is_refused(stack):
    other = client(stack)
    other._request_signer._signing_name = "s3"  # sign for S3 instead of transcribe
    code, status, message = refusal(lambda: other.list_medical_scribe_jobs(MaxResults=1))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert "scoped to correct service" in message

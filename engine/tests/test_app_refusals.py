"""The engine's app in process: headers alone settle a refusal, and the body is never read for one."""

from __future__ import annotations

import json

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY_ID, SECRET_ACCESS_KEY = "engine-test", "engine-test-secret"


def signed(target: str, body: bytes) -> dict:
    """The headers of a correctly signed JSON 1.1 request (botocore's own signer)."""
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1:5056/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "transcribe", "us-east-1").add_auth(request)
    return dict(request.headers)


def test_the_body_is_not_read_when_the_headers_already_refuse():
    """In process: the WSGI input raises if read; headers alone settle both refusals."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from medscribe_engine.app import EngineApp
    from medscribe_engine.auth import SigningKey, SigV4Verifier

    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

        readline = read

    verifier = SigV4Verifier([SigningKey(ACCESS_KEY_ID, SECRET_ACCESS_KEY)], region="us-east-1")
    app = EngineApp(type("State", (), {"ready": True, "stopping": False, "handler": None})(), verifier)
    size, target = 400 * 1024 * 1024, "Transcribe.ListMedicalScribeJobs"
    cases = [
        ({}, 403, "MissingAuthenticationTokenException"),
        (signed(target, b"{}"), 413, "RequestEntityTooLargeException"),
    ]
    for headers, status, code in cases:
        environ = EnvironBuilder(
            method="POST", path="/", headers={**headers, "X-Amz-Target": target, "Content-Length": str(size)}
        ).get_environ()
        environ["wsgi.input"] = Unreadable()
        environ["CONTENT_LENGTH"] = str(size)
        response = app.handle(Request(environ))
        assert (response.status_code, json.loads(response.get_data())["__type"]) == (status, code)

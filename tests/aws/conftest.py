"""Transcribe answered by botocore's Stubber, for the tests of the operators, sensors and triggers on their own."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from medscribe.aws.hooks.transcribe import TranscribeHook


@pytest.fixture
def transcribe():
    """A real boto3 Transcribe client whose calls are answered by a Stubber (requests validated), with
    ``.client`` and ``.hook``, a TranscribeHook on that client to hand to the task under test."""
    client = boto3.client(
        "transcribe", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stubber:
        stubber.client = client
        stubber.hook = TranscribeHook(aws_conn_id=None, region_name="us-east-1")
        stubber.hook.__dict__["conn"] = client  # the hook's cached client
        yield stubber
        stubber.assert_no_pending_responses()

"""Triggers serialize and deserialize (round trip), and name waiters botocore really ships."""

from __future__ import annotations

import importlib

import botocore.session
import pytest

from medscribe.aws.hooks.transcribe import TranscribeHook
from medscribe.aws.triggers.transcribe import (
    MedicalJobsCompletedTrigger,
    MedicalScribeJobCompletedTrigger,
    MedicalTranscriptionJobCompletedTrigger,
)


@pytest.mark.parametrize(
    "trigger_class", [MedicalScribeJobCompletedTrigger, MedicalTranscriptionJobCompletedTrigger]
)
def test_round_trip(trigger_class):
    trigger = trigger_class(
        job_name="medscribe-hs-abc",
        waiter_delay=7,
        waiter_max_attempts=9,
        aws_conn_id="my_aws",
        region_name="eu-west-1",
    )
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is trigger_class  # importable by a real triggerer
    rebuilt = trigger_class(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs == {
        "job_name": "medscribe-hs-abc",
        "waiter_delay": 7,
        "waiter_max_attempts": 9,
        "aws_conn_id": "my_aws",
        "region_name": "eu-west-1",
    }
    hook = rebuilt.hook()
    assert (
        isinstance(hook, TranscribeHook) and hook.client_type == "transcribe" and hook.aws_conn_id == "my_aws"
    )


@pytest.mark.parametrize(
    "trigger_class", [MedicalScribeJobCompletedTrigger, MedicalTranscriptionJobCompletedTrigger]
)
def test_waiters_are_botocores_own(trigger_class):
    waiters = botocore.session.get_session().get_waiter_model("transcribe").waiter_names
    trigger = trigger_class(job_name="j")
    camel = "".join(part.title() for part in trigger.waiter_name.split("_"))
    assert camel in waiters
    assert any(query.endswith(".FailureReason") for query in trigger.status_queries)


def test_batch_trigger_round_trip_keeps_the_known_outcomes():
    refused = {"medscribe-hs-b": {"status": "NOT_STARTED", "failure_reason": "BadRequestException: refused"}}
    trigger = MedicalJobsCompletedTrigger(
        jobs={"medscribe-tm-a": "transcribe_medical"}, outcomes=refused, waiter_delay=3
    )
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert (rebuilt.jobs, rebuilt.outcomes, rebuilt.waiter_delay) == (
        {"medscribe-tm-a": "transcribe_medical"},
        refused,
        3,
    )


@pytest.mark.parametrize(
    ("trigger_class", "waiter_name", "waiter_args", "status_queries", "kind"),
    [
        (
            MedicalScribeJobCompletedTrigger,
            "medical_scribe_job_completed",
            {"MedicalScribeJobName": "j"},
            ["MedicalScribeJob.MedicalScribeJobStatus", "MedicalScribeJob.FailureReason"],
            "HealthScribe",
        ),
        (
            MedicalTranscriptionJobCompletedTrigger,
            "medical_transcription_job_completed",
            {"MedicalTranscriptionJobName": "j"},
            ["MedicalTranscriptionJob.TranscriptionJobStatus", "MedicalTranscriptionJob.FailureReason"],
            "Transcribe Medical",
        ),
    ],
)
def test_each_trigger_waits_on_its_own_services_job(
    trigger_class, waiter_name, waiter_args, status_queries, kind
):
    trigger = trigger_class(job_name="j")
    assert (trigger.waiter_name, trigger.waiter_args, trigger.status_queries) == (
        waiter_name,
        waiter_args,
        status_queries,
    )
    assert (trigger.failure_message, trigger.status_message) == (
        f"{kind} job j failed",
        f"Status of {kind} job j is",
    )
    assert (trigger.return_key, trigger.return_value) == ("job_name", "j")

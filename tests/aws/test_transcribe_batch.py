"""The batch operator and the batch trigger (what the nightly DAG runs) on their own: Transcribe through
botocore's Stubber (moto has no HealthScribe), the manifests in moto's S3. No engine, no Airflow DB."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import boto3
import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred
from botocore.stub import Stubber

from medscribe.aws.operators.manifest import StartMedicalJobsFromManifestOperator
from medscribe.aws.operators.transcribe_batch import StartMedicalJobsBatchOperator
from medscribe.aws.triggers import transcribe as triggers
from medscribe.aws.triggers.transcribe import MedicalJobsCompletedTrigger

ROLE = "arn:aws:iam::000000000000:role/test"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def scribe_job(name: str) -> dict:
    return {
        "service": "healthscribe",
        "request": {
            "MedicalScribeJobName": name,
            "Media": {"MediaFileUri": "s3://in/a.wav"},
            "OutputBucketName": "out",
            "DataAccessRoleArn": ROLE,
            "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        },
    }


def dictation_job(name: str, **request) -> dict:
    return {
        "service": "transcribe_medical",
        "request": {
            "MedicalTranscriptionJobName": name,
            "LanguageCode": "en-US",
            "Media": {"MediaFileUri": "s3://in/b.wav"},
            "MediaFormat": "wav",
            "OutputBucketName": "out",
            "Specialty": "PRIMARYCARE",
            "Type": "DICTATION",
            **request,
        },
    }


def scribe(name: str, status: str, reason: str | None = None) -> dict:
    job = {"MedicalScribeJobName": name, "MedicalScribeJobStatus": status, "CreationTime": NOW}
    return {**job, "FailureReason": reason} if reason else job


def transcription(name: str, status: str, reason: str | None = None) -> dict:
    job = {"MedicalTranscriptionJobName": name, "TranscriptionJobStatus": status, "CreationTime": NOW}
    return {**job, "FailureReason": reason} if reason else job


def batch_operator(stubber: Stubber, jobs: list[dict], **kwargs) -> StartMedicalJobsBatchOperator:
    operator = StartMedicalJobsBatchOperator(
        task_id="jobs", jobs=jobs, waiter_delay=0, waiter_max_attempts=5, **kwargs
    )
    operator.__dict__["hook"] = stubber.hook
    return operator


def started(stubber: Stubber, job: dict, described: dict) -> None:
    service, request = job["service"], job["request"]
    if service == "healthscribe":
        stubber.add_response("start_medical_scribe_job", {"MedicalScribeJob": described}, request)
    else:
        stubber.add_response(
            "start_medical_transcription_job", {"MedicalTranscriptionJob": described}, request
        )


def test_deferred_batch_carries_pending_jobs_and_known_outcomes(transcribe):
    jobs = [
        scribe_job("hs-running"),
        dictation_job("tm-done"),
        dictation_job("tm-refused"),
        dictation_job("tm-failed"),
    ]
    started(transcribe, jobs[0], scribe("hs-running", "IN_PROGRESS"))
    started(transcribe, jobs[1], transcription("tm-done", "COMPLETED"))
    transcribe.add_client_error(
        "start_medical_transcription_job",
        "BadRequestException",
        "The media format is not supported.",
        expected_params=jobs[2]["request"],
    )
    started(transcribe, jobs[3], transcription("tm-failed", "FAILED", "The media file is corrupt."))
    operator = batch_operator(
        transcribe, jobs, deferrable=True, aws_conn_id="my_aws", region_name="eu-west-1"
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    assert deferred.value.method_name == "execute_complete" and not deferred.value.kwargs
    trigger = deferred.value.trigger
    assert isinstance(trigger, MedicalJobsCompletedTrigger)
    path, payload = trigger.serialize()
    assert path == "medscribe.aws.triggers.transcribe.MedicalJobsCompletedTrigger"
    assert payload == {
        "jobs": {"hs-running": "healthscribe"},
        "outcomes": {
            "tm-done": {"status": "COMPLETED", "failure_reason": None},
            "tm-refused": {
                "status": "NOT_STARTED",
                "failure_reason": "BadRequestException: The media format is not supported.",
            },
            "tm-failed": {"status": "FAILED", "failure_reason": "The media file is corrupt."},
        },
        "waiter_delay": 0,
        "waiter_max_attempts": 5,
        "aws_conn_id": "my_aws",
        "region_name": "eu-west-1",
        "verify": None,
        "botocore_config": None,
    }


def test_a_request_botocore_refuses_is_not_started_and_the_others_go_on(transcribe):
    bad = dictation_job("tm-bad", MediaSampleRateHertz=1)  # under the service model's minimum (8000)
    good = dictation_job("tm-good")
    # botocore validates after the Stubber's own check and before it answers: one answer, unchecked, is
    # left for the good request
    transcribe.add_response(
        "start_medical_transcription_job", {"MedicalTranscriptionJob": transcription("tm-good", "QUEUED")}
    )
    with pytest.raises(TaskDeferred) as deferred:
        batch_operator(transcribe, [bad, good], deferrable=True).execute({})
    trigger = deferred.value.trigger
    assert trigger.jobs == {"tm-good": "transcribe_medical"}
    assert trigger.outcomes["tm-bad"]["status"] == "NOT_STARTED"
    reason = trigger.outcomes["tm-bad"]["failure_reason"]
    assert (
        reason.startswith("ParamValidationError: Parameter validation failed:")
        and "MediaSampleRateHertz" in reason
    )


def test_a_taken_name_with_other_input_is_not_started(transcribe):
    job = dictation_job("tm-taken")
    transcribe.add_client_error(
        "start_medical_transcription_job", "ConflictException", "exists", expected_params=job["request"]
    )
    other = {**transcription("tm-taken", "COMPLETED"), "Media": {"MediaFileUri": "s3://in/other.wav"}}
    transcribe.add_response(
        "get_medical_transcription_job",
        {"MedicalTranscriptionJob": other},
        {"MedicalTranscriptionJobName": "tm-taken"},
    )
    result = batch_operator(transcribe, [job], deferrable=True).execute({})
    assert result["jobs"]["tm-taken"]["status"] == "NOT_STARTED"
    assert result["jobs"]["tm-taken"]["failure_reason"].startswith(
        "AirflowException: A job named tm-taken already exists"
    )


def test_an_existing_job_with_the_same_input_is_adopted(transcribe):
    job = scribe_job("hs-again")
    transcribe.add_client_error(
        "start_medical_scribe_job", "ConflictException", "exists", expected_params=job["request"]
    )
    same = {
        **scribe("hs-again", "COMPLETED"),
        **{k: job["request"][k] for k in ("Media", "Settings", "DataAccessRoleArn")},
    }
    transcribe.add_response(
        "get_medical_scribe_job", {"MedicalScribeJob": same}, {"MedicalScribeJobName": "hs-again"}
    )
    result = batch_operator(transcribe, [job], deferrable=True).execute({})
    assert result == {
        "jobs": {"hs-again": {"status": "COMPLETED", "failure_reason": None}},
        "counts": {"COMPLETED": 1},
    }


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "LimitExceededException", "ServiceUnavailableException"]
)
def test_quota_and_transient_errors_fail_the_task_for_a_retry(transcribe, code):
    job = dictation_job("tm-throttled")
    transcribe.add_client_error(
        "start_medical_transcription_job", code, "slow down", expected_params=job["request"]
    )
    with pytest.raises(Exception) as raised:
        batch_operator(transcribe, [job], deferrable=True).execute({})
    assert raised.value.response["Error"]["Code"] == code


def test_waiting_in_the_worker_polls_each_pending_job_until_it_ends(transcribe):
    jobs = [scribe_job("hs-1"), dictation_job("tm-1")]
    started(transcribe, jobs[0], scribe("hs-1", "QUEUED"))
    started(transcribe, jobs[1], transcription("tm-1", "IN_PROGRESS"))
    rounds = [
        (scribe("hs-1", "IN_PROGRESS"), transcription("tm-1", "IN_PROGRESS")),
        (scribe("hs-1", "COMPLETED"), transcription("tm-1", "FAILED", "No speech.")),
    ]
    for hs, tm in rounds:
        transcribe.add_response(
            "get_medical_scribe_job", {"MedicalScribeJob": hs}, {"MedicalScribeJobName": "hs-1"}
        )
        transcribe.add_response(
            "get_medical_transcription_job",
            {"MedicalTranscriptionJob": tm},
            {"MedicalTranscriptionJobName": "tm-1"},
        )
    result = batch_operator(transcribe, jobs, deferrable=False).execute({})
    assert result["jobs"] == {
        "hs-1": {"status": "COMPLETED", "failure_reason": None},
        "tm-1": {"status": "FAILED", "failure_reason": "No speech."},
    }
    assert result["counts"] == {"COMPLETED": 1, "FAILED": 1}


def test_jobs_still_running_after_the_last_check_fail_the_task(transcribe):
    job = dictation_job("tm-slow")
    started(transcribe, job, transcription("tm-slow", "IN_PROGRESS"))
    for _ in range(2):
        transcribe.add_response(
            "get_medical_transcription_job",
            {"MedicalTranscriptionJob": transcription("tm-slow", "IN_PROGRESS")},
            {"MedicalTranscriptionJobName": "tm-slow"},
        )
    operator = batch_operator(transcribe, [job], deferrable=False)
    operator.waiter_max_attempts = 2
    with pytest.raises(AirflowException, match="1 jobs still running after 2 checks"):
        operator.execute({})


def test_without_waiting_pending_jobs_are_returned_in_progress(transcribe):
    job = dictation_job("tm-started")
    started(transcribe, job, transcription("tm-started", "IN_PROGRESS"))
    result = batch_operator(transcribe, [job], deferrable=False, wait_for_completion=False).execute({})
    assert result == {
        "jobs": {"tm-started": {"status": "IN_PROGRESS", "failure_reason": None}},
        "counts": {"IN_PROGRESS": 1},
    }


def test_execute_complete_merges_the_event_over_older_kwargs_and_refuses_an_error_event():
    operator = StartMedicalJobsBatchOperator(task_id="jobs", jobs=[])
    event = {
        "status": "success",
        "jobs": {
            "a": {"status": "COMPLETED", "failure_reason": None},
            "b": {"status": "NOT_STARTED", "failure_reason": "BadRequestException: x"},
        },
    }
    older = {
        "b": {"status": "IN_PROGRESS", "failure_reason": None},
        "c": {"status": "FAILED", "failure_reason": "y"},
    }
    result = operator.execute_complete({}, event, outcomes=older)
    assert result["jobs"]["b"]["status"] == "NOT_STARTED" and result["jobs"]["c"]["status"] == "FAILED"
    assert result["counts"] == {"COMPLETED": 1, "NOT_STARTED": 1, "FAILED": 1}
    with pytest.raises(AirflowException, match="2 jobs still running"):
        operator.execute_complete(
            {}, {"status": "error", "message": "2 jobs still running after 5 checks", "jobs": {}}
        )


# --- the batch trigger ---------------------------------------------------------------------------


class FakeAsyncTranscribe:
    """The two Get calls of aiobotocore's client, answering from a list of statuses per job."""

    def __init__(self, statuses: dict[str, list[str]], reasons: dict[str, str] | None = None):
        self.statuses, self.reasons, self.calls, self.methods = statuses, reasons or {}, [], {}

    def _next(self, name: str) -> tuple[str, str | None]:
        self.calls.append(name)
        queue = self.statuses[name]
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        return status, self.reasons.get(name) if status == "FAILED" else None

    async def get_medical_scribe_job(self, MedicalScribeJobName: str) -> dict:
        self.methods[MedicalScribeJobName] = "get_medical_scribe_job"
        return {"MedicalScribeJob": scribe(MedicalScribeJobName, *self._next(MedicalScribeJobName))}

    async def get_medical_transcription_job(self, MedicalTranscriptionJobName: str) -> dict:
        self.methods[MedicalTranscriptionJobName] = "get_medical_transcription_job"
        return {
            "MedicalTranscriptionJob": transcription(
                MedicalTranscriptionJobName, *self._next(MedicalTranscriptionJobName)
            )
        }


def events(
    trigger: MedicalJobsCompletedTrigger, client: FakeAsyncTranscribe, monkeypatch
) -> tuple[list[dict], list]:
    """Run the trigger to its end on the fake client, without sleeping: (event payloads, sleeps asked)."""

    class Connection(contextlib.nullcontext):
        async def __aenter__(self):
            return self.enter_result

        async def __aexit__(self, *exc):
            return False

    class Hook:
        async def get_async_conn(self):
            return Connection(client)

    monkeypatch.setattr(trigger, "hook", Hook)
    sleeps = []

    async def no_sleep(seconds):
        sleeps.append(seconds)

    monkeypatch.setattr(triggers.asyncio, "sleep", no_sleep)

    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect()), sleeps


def test_trigger_waits_for_every_job_and_its_event_carries_all_outcomes(monkeypatch):
    known = {"tm-refused": {"status": "NOT_STARTED", "failure_reason": "BadRequestException: x"}}
    trigger = MedicalJobsCompletedTrigger(
        jobs={"hs-1": "healthscribe", "tm-1": "transcribe_medical"},
        outcomes=known,
        waiter_delay=7,
        waiter_max_attempts=10,
    )
    client = FakeAsyncTranscribe(
        {"hs-1": ["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"], "tm-1": ["QUEUED", "FAILED"]},
        reasons={"tm-1": "No speech."},
    )
    payloads, sleeps = events(trigger, client, monkeypatch)
    assert payloads == [
        {
            "status": "success",
            "jobs": {
                "tm-refused": {"status": "NOT_STARTED", "failure_reason": "BadRequestException: x"},
                "tm-1": {"status": "FAILED", "failure_reason": "No speech."},
                "hs-1": {"status": "COMPLETED", "failure_reason": None},
            },
        }
    ]
    assert client.calls == ["hs-1", "tm-1", "hs-1", "tm-1", "hs-1"]  # a finished job is not asked again
    assert client.methods == {"hs-1": "get_medical_scribe_job", "tm-1": "get_medical_transcription_job"}
    assert sleeps == [7, 7]
    assert trigger.jobs == {
        "hs-1": "healthscribe",
        "tm-1": "transcribe_medical",
    }  # not consumed: a rerun starts over


def test_trigger_gives_up_after_its_attempts_with_the_outcomes_so_far(monkeypatch):
    trigger = MedicalJobsCompletedTrigger(
        jobs={"hs-1": "healthscribe", "tm-1": "transcribe_medical"}, waiter_delay=1, waiter_max_attempts=3
    )
    client = FakeAsyncTranscribe({"hs-1": ["IN_PROGRESS"], "tm-1": ["COMPLETED"]})
    payloads, sleeps = events(trigger, client, monkeypatch)
    assert sleeps == [1, 1, 1]
    assert payloads == [
        {
            "status": "error",
            "message": "1 jobs still running after 3 checks",
            "jobs": {"tm-1": {"status": "COMPLETED", "failure_reason": None}},
        }
    ]
    assert client.calls.count("hs-1") == 3 and client.calls.count("tm-1") == 1
    with pytest.raises(AirflowException, match="1 jobs still running"):
        StartMedicalJobsBatchOperator(task_id="jobs", jobs=[]).execute_complete({}, payloads[0])


def test_trigger_round_trip_and_resume_gives_the_task_result(monkeypatch):
    trigger = MedicalJobsCompletedTrigger(
        jobs={"tm-1": "transcribe_medical"}, waiter_delay=0, waiter_max_attempts=2, aws_conn_id="my_aws"
    )
    path, kwargs = trigger.serialize()
    rebuilt = MedicalJobsCompletedTrigger(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    payloads, _ = events(rebuilt, FakeAsyncTranscribe({"tm-1": ["COMPLETED"]}), monkeypatch)
    result = StartMedicalJobsBatchOperator(task_id="jobs", jobs=[]).execute_complete({}, payloads[0])
    assert result == {
        "jobs": {"tm-1": {"status": "COMPLETED", "failure_reason": None}},
        "counts": {"COMPLETED": 1},
    }


# --- the manifest operator: jobs read from, outcomes written to moto's S3 -----------------------------


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="recordings")
        yield client


def test_manifest_operator_reads_its_batch_and_writes_the_outcomes(s3, transcribe):
    from medscribe.manifests import manifest_key, outcomes_key, read_manifest, write_manifest

    jobs = [dictation_job("tm-m2", MediaSampleRateHertz=1), dictation_job("tm-m1")]
    key = write_manifest(
        s3, "recordings", manifest_key("ledger", "2026-03-02", "batches/0000"), {"jobs": jobs}
    )
    # as above: the refused request is validated after the Stubber's check, the answer is tm-m1's
    transcribe.add_response(
        "start_medical_transcription_job", {"MedicalTranscriptionJob": transcription("tm-m1", "IN_PROGRESS")}
    )
    operator = StartMedicalJobsFromManifestOperator(
        task_id="jobs", manifest_bucket="recordings", manifest_key=key, deferrable=True, waiter_delay=0
    )
    operator.__dict__["hook"] = batch_operator(transcribe, []).hook
    operator._s3 = lambda: s3
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    trigger = deferred.value.trigger
    assert (
        trigger.jobs == {"tm-m1": "transcribe_medical"}
        and trigger.outcomes["tm-m2"]["status"] == "NOT_STARTED"
    )
    assert read_manifest(s3, "recordings", key) == {"jobs": jobs}  # the batch manifest is left as planned
    event = {
        "status": "success",
        "jobs": {**trigger.outcomes, "tm-m1": {"status": "COMPLETED", "failure_reason": None}},
    }
    result = operator.execute_complete({}, event)
    assert result == {"outcomes": outcomes_key(key), "counts": {"NOT_STARTED": 1, "COMPLETED": 1}}
    outcomes = read_manifest(s3, "recordings", result["outcomes"])  # {job name: outcome}
    assert outcomes == event["jobs"]

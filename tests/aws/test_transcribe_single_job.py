"""The single-job operators and sensors on their own, each service's requests checked by botocore's Stubber:
start or adopt, wait in the worker or defer, the result, and a FAILED job's error. No engine, no Airflow DB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred
from botocore.stub import Stubber

from medscribe.aws.operators.transcribe import (
    StartMedicalScribeJobOperator,
    StartMedicalTranscriptionJobOperator,
)
from medscribe.aws.sensors.transcribe import MedicalScribeJobCompletedSensor
from medscribe.aws.triggers.transcribe import (
    MedicalScribeJobCompletedTrigger,
    MedicalTranscriptionJobCompletedTrigger,
)

ROLE = "arn:aws:iam::000000000000:role/test"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SCRIBE_REQUEST = {
    "MedicalScribeJobName": "hs-1",
    "Media": {"MediaFileUri": "s3://in/a.wav"},
    "OutputBucketName": "out",
    "DataAccessRoleArn": ROLE,
    "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
}
DICTATION_REQUEST = {
    "MedicalTranscriptionJobName": "tm-1",
    "LanguageCode": "en-US",
    "MediaFormat": "wav",
    "Media": {"MediaFileUri": "s3://in/b.wav"},
    "OutputBucketName": "out",
    "Specialty": "PRIMARYCARE",
    "Type": "DICTATION",
}


def scribe(status: str, **fields) -> dict:
    return {"MedicalScribeJob": {"MedicalScribeJobName": "hs-1", "MedicalScribeJobStatus": status, **fields}}


def transcription(status: str, **fields) -> dict:
    job = {"MedicalTranscriptionJobName": "tm-1", "TranscriptionJobStatus": status, "CreationTime": NOW}
    return {"MedicalTranscriptionJob": {**job, **fields}}


def stubbed(task, stubber: Stubber):
    task.__dict__["hook"] = stubber.hook
    return task


class RecordingTI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def scribe_operator(stubber: Stubber, **kwargs) -> StartMedicalScribeJobOperator:
    operator = StartMedicalScribeJobOperator(
        task_id="scribe",
        medical_scribe_job_name="hs-1",
        media_file_uri="s3://in/a.wav",
        output_bucket_name="out",
        data_access_role_arn=ROLE,
        settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
        waiter_delay=0,
        **kwargs,
    )
    return stubbed(operator, stubber)


def dictation_operator(stubber: Stubber, **kwargs) -> StartMedicalTranscriptionJobOperator:
    operator = StartMedicalTranscriptionJobOperator(
        task_id="dictation",
        medical_transcription_job_name="tm-1",
        media_file_uri="s3://in/b.wav",
        output_bucket_name="out",
        media_format="wav",
        waiter_delay=0,
        **kwargs,
    )
    return stubbed(operator, stubber)


def test_scribe_operator_starts_the_job_and_waits_with_the_scribe_waiter(transcribe):
    name = {"MedicalScribeJobName": "hs-1"}
    transcribe.add_response("start_medical_scribe_job", scribe("QUEUED"), SCRIBE_REQUEST)
    transcribe.add_response("get_medical_scribe_job", scribe("IN_PROGRESS"), name)  # the waiter's checks
    transcribe.add_response("get_medical_scribe_job", scribe("COMPLETED"), name)
    output = {"TranscriptFileUri": "s3://out/hs-1/transcript.json", "ClinicalDocumentUri": "s3://out/hs-1/n"}
    transcribe.add_response("get_medical_scribe_job", scribe("COMPLETED", MedicalScribeOutput=output), name)
    ti = RecordingTI()
    result = scribe_operator(transcribe, deferrable=False).execute({"ti": ti})
    assert result == {
        "job_name": "hs-1",
        "status": "COMPLETED",
        "transcript_uri": "s3://out/hs-1/transcript.json",
        "clinical_document_uri": "s3://out/hs-1/n",
    }
    assert ti.pushed["medscribe_medical_scribe_job"]["job_name"] == "hs-1"


def test_scribe_operator_fails_with_the_reason_when_the_waiter_sees_failed(transcribe):
    transcribe.add_response("start_medical_scribe_job", scribe("IN_PROGRESS"), SCRIBE_REQUEST)
    transcribe.add_response(
        "get_medical_scribe_job", scribe("FAILED", FailureReason="bad"), {"MedicalScribeJobName": "hs-1"}
    )
    with pytest.raises(AirflowException, match="HealthScribe job hs-1 failed"):
        scribe_operator(transcribe, deferrable=False).execute({"ti": RecordingTI()})


def test_dictation_operator_adopts_an_existing_job_and_defers_to_its_trigger(transcribe):
    transcribe.add_client_error(
        "start_medical_transcription_job", "ConflictException", "exists", expected_params=DICTATION_REQUEST
    )
    same = {k: DICTATION_REQUEST[k] for k in ("Media", "MediaFormat", "LanguageCode", "Specialty", "Type")}
    name = {"MedicalTranscriptionJobName": "tm-1"}
    transcribe.add_response("get_medical_transcription_job", transcription("IN_PROGRESS", **same), name)
    operator = dictation_operator(transcribe, deferrable=True, aws_conn_id="my_aws")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": RecordingTI()})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MedicalTranscriptionJobCompletedTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert trigger.serialize()[1] == {
        "job_name": "tm-1",
        "waiter_delay": 0,
        "waiter_max_attempts": 120,
        "aws_conn_id": "my_aws",
    }
    transcript = {"TranscriptFileUri": "s3://out/medical/tm-1.json"}
    transcribe.add_response(
        "get_medical_transcription_job", transcription("COMPLETED", Transcript=transcript), name
    )
    assert operator.execute_complete({}, {"status": "success", "job_name": "tm-1"}) == {
        "job_name": "tm-1",
        "status": "COMPLETED",
        "transcript_uri": "s3://out/medical/tm-1.json",
        "clinical_document_uri": None,
    }
    with pytest.raises(AirflowException, match="Error while waiting for Transcribe Medical job: it broke"):
        operator.execute_complete({}, {"status": "error", "message": "it broke", "job_name": "tm-1"})


def test_dictation_operator_fails_at_once_on_a_job_already_failed(transcribe):
    transcribe.add_response(
        "start_medical_transcription_job",
        transcription("FAILED", FailureReason="No audio."),
        DICTATION_REQUEST,
    )
    with pytest.raises(AirflowException, match="Transcribe Medical job tm-1 FAILED: No audio"):
        dictation_operator(transcribe, deferrable=True).execute({"ti": RecordingTI()})


def test_scribe_sensor_pokes_its_service_and_fails_with_the_reason(transcribe):
    sensor = stubbed(MedicalScribeJobCompletedSensor(task_id="sense", job_name="hs-1"), transcribe)
    name = {"MedicalScribeJobName": "hs-1"}
    transcribe.add_response("get_medical_scribe_job", scribe("IN_PROGRESS"), name)
    transcribe.add_response("get_medical_scribe_job", scribe("COMPLETED"), name)
    transcribe.add_response("get_medical_scribe_job", scribe("FAILED", FailureReason="Too short."), name)
    assert sensor.poke({}) is False
    assert sensor.poke({}) is True
    with pytest.raises(AirflowException, match="HealthScribe job hs-1 FAILED: Too short"):
        sensor.poke({})


def test_deferred_sensor_waits_in_its_services_trigger():
    sensor = MedicalScribeJobCompletedSensor(
        task_id="sense", job_name="hs-1", poke_interval=5, max_retries=7, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, MedicalScribeJobCompletedTrigger)
    assert (trigger.waiter_delay, trigger.attempts) == (5, 7)
    with pytest.raises(AirflowException, match="Error while waiting for HealthScribe job: gone"):
        sensor.execute_complete({}, {"status": "error", "message": "gone", "job_name": "hs-1"})

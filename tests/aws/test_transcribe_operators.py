"""The start operators against the real offline engine and moto S3: both wait paths, adoption, failures."""

from __future__ import annotations

import asyncio
import json

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from medscribe.aws.operators.transcribe import (
    StartMedicalScribeJobOperator,
    StartMedicalTranscriptionJobOperator,
)
from medscribe.aws.operators.transcribe_batch import StartMedicalJobsBatchOperator
from medscribe.aws.sensors.transcribe import MedicalTranscriptionJobCompletedSensor
from tests.conftest import AUDIO, boto3_client, reference

BUCKET = "operator-tests"


@pytest.fixture(scope="module")
def media(stack):
    s3 = boto3_client("s3", stack.s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for name in ("dictation.wav", "conversation_stereo.wav"):
        s3.upload_file(str(AUDIO / name), BUCKET, f"media/{name}")
    s3.put_object(Bucket=BUCKET, Key="media/not-audio.wav", Body=b"this is not audio " * 100)
    return s3


@pytest.fixture(autouse=True)
def aws_default(stack, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", stack.airflow_connection_uri_json())


def dictation_operator(
    name: str, key: str = "media/dictation.wav", **kwargs
) -> StartMedicalTranscriptionJobOperator:
    return StartMedicalTranscriptionJobOperator(
        task_id="start_dictation",
        medical_transcription_job_name=name,
        media_file_uri=f"s3://{BUCKET}/{key}",
        output_bucket_name=BUCKET,
        output_key=f"out/{name}.json",
        media_format="wav",
        waiter_delay=1,
        waiter_max_attempts=600,
        **kwargs,
    )


def run_trigger(trigger) -> dict:
    async def first_event():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(first_event())


def assert_no_text(result: dict, fixture: str) -> None:
    words = {w.strip(".,?").lower() for w in reference(fixture)["text"].split() if len(w) > 6}
    serialized = json.dumps(result).lower()
    assert not [w for w in words if w in serialized]


class RecordingTI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def test_sync_path_waits_and_returns_locations_only(stack, media):
    ti = RecordingTI()
    result = dictation_operator("op-sync", deferrable=False).execute({"ti": ti})
    link = ti.pushed["medscribe_medical_transcription_job"]
    assert (link["job_name"], link["endpoint_url"]) == (
        "op-sync",
        stack.engine_endpoint,
    )  # the engine's job view
    assert result["job_name"] == "op-sync" and result["status"] == "COMPLETED"
    assert (
        result["transcript_uri"].endswith(f"/{BUCKET}/out/op-sync.json")
        and result["clinical_document_uri"] is None
    )
    assert_no_text(result, "dictation")
    body = json.loads(media.get_object(Bucket=BUCKET, Key="out/op-sync.json")["Body"].read())
    transcript = body["results"]["transcripts"][0]["transcript"].lower()
    assert "hypertension" in transcript and "denies chest pain" in transcript


def test_deferred_path_trigger_runs_and_task_resumes(media):
    operator = dictation_operator("op-deferred", deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    assert deferred.value.method_name == "execute_complete"
    event = run_trigger(deferred.value.trigger)
    assert event == {"status": "success", "job_name": "op-deferred"}
    result = operator.execute_complete({}, event)
    assert result["status"] == "COMPLETED" and result["job_name"] == "op-deferred"


def test_retry_adopts_the_existing_job(stack, media):
    first = dictation_operator("op-adopt", deferrable=False).execute({})
    transcribe = boto3_client("transcribe", stack.engine_endpoint)
    created = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName="op-adopt")[
        "MedicalTranscriptionJob"
    ]["CreationTime"]
    second = dictation_operator("op-adopt", deferrable=True).execute(
        {}
    )  # COMPLETED already: no deferral, no new job
    assert second == first
    jobs = transcribe.list_medical_transcription_jobs(JobNameContains="op-adopt")[
        "MedicalTranscriptionJobSummaries"
    ]
    assert [j["MedicalTranscriptionJobName"] for j in jobs] == ["op-adopt"]
    assert (
        transcribe.get_medical_transcription_job(MedicalTranscriptionJobName="op-adopt")[
            "MedicalTranscriptionJob"
        ]["CreationTime"]
        == created
    )


def test_conflict_with_different_input_is_refused(media):
    dictation_operator("op-conflict", deferrable=False).execute({})
    with pytest.raises(AirflowException, match="already exists with different input \\(Media\\)"):
        dictation_operator("op-conflict", key="media/conversation_stereo.wav", deferrable=False).execute({})


def test_failed_job_fails_with_its_reason_sync(media):
    with pytest.raises(AirflowException, match="FAILED") as failure:
        dictation_operator("op-fail-sync", key="media/not-audio.wav", deferrable=False).execute({})
    assert "failed" in str(failure.value).lower()


def test_failed_job_fails_with_its_reason_deferred(stack, media):
    operator = dictation_operator("op-fail-deferred", key="media/not-audio.wav", deferrable=True)
    try:
        operator.execute({})
    except TaskDeferred as deferred:
        event = run_trigger(deferred.trigger)
        assert event["status"] == "error" and event["job_name"] == "op-fail-deferred"
        reason = boto3_client("transcribe", stack.engine_endpoint).get_medical_transcription_job(
            MedicalTranscriptionJobName="op-fail-deferred"
        )["MedicalTranscriptionJob"]["FailureReason"]
        assert reason in event["message"]
        with pytest.raises(AirflowException, match="Error while waiting"):
            operator.execute_complete({}, event)
    else:
        pytest.fail("a queued job should defer")


def test_healthscribe_operator_on_two_channels(media):
    operator = StartMedicalScribeJobOperator(
        task_id="scribe",
        medical_scribe_job_name="op-scribe",
        media_file_uri=f"s3://{BUCKET}/media/conversation_stereo.wav",
        output_bucket_name=BUCKET,
        data_access_role_arn="arn:aws:iam::000000000000:role/test",
        settings={"ChannelIdentification": True},
        channel_definitions=[
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
        deferrable=True,
        waiter_delay=1,
        waiter_max_attempts=600,
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    result = operator.execute_complete({}, run_trigger(deferred.value.trigger))
    assert result["status"] == "COMPLETED" and result["transcript_uri"].endswith(
        f"/{BUCKET}/op-scribe/transcript.json"
    )
    conversation = json.loads(
        media.get_object(Bucket=BUCKET, Key="op-scribe/transcript.json")["Body"].read()
    )["Conversation"]
    roles = {s["ParticipantDetails"]["ParticipantRole"] for s in conversation["TranscriptSegments"]}
    assert roles == {"CLINICIAN_0", "PATIENT_0"}


def test_templated_fields_render():
    operator = dictation_operator(
        "{{ params.prefix }}-{{ ds_nodash }}",
        key="media/{{ ds }}.wav",
        settings={"ShowAlternatives": "{{ params.alt }}"},
    )
    operator.render_template_fields(
        {"params": {"prefix": "night", "alt": "yes"}, "ds": "2026-11-23", "ds_nodash": "20261123"}
    )
    assert operator.medical_transcription_job_name == "night-20261123"
    assert operator.media_file_uri == f"s3://{BUCKET}/media/2026-11-23.wav"
    assert operator.settings == {"ShowAlternatives": "yes"}


def test_sensor_for_a_job_started_elsewhere(media):
    dictation_operator("op-sensed", deferrable=False, wait_for_completion=False).execute({})
    sensor = MedicalTranscriptionJobCompletedSensor(
        task_id="sense", job_name="op-sensed", poke_interval=1, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    sensor.execute_complete({}, run_trigger(deferred.value.trigger))
    assert sensor.poke({}) is True


def test_engine_job_view_is_what_the_extra_link_opens(stack, media):
    import urllib.request

    from medscribe.aws.links.transcribe import MedicalTranscriptionJobLink

    dictation_operator("op-view", deferrable=False).execute({})
    url = MedicalTranscriptionJobLink().format_link(
        region_name="us-east-1",
        aws_domain="aws.amazon.com",
        job_name="op-view",
        endpoint_url=stack.engine_endpoint,
    )
    with urllib.request.urlopen(url) as response:  # unsigned, as a browser opens it
        page = response.read().decode()
    assert response.status == 200 and "<h1>op-view</h1>" in page and "COMPLETED" in page
    assert "out/op-view.json" in page  # the output location
    assert "media/dictation.wav" not in page  # never the media key
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{stack.engine_endpoint}/jobs/medical-transcription/no-such-job")
    assert missing.value.code == 404


def scribe_job(name: str, settings: dict, key: str = "media/conversation_stereo.wav", **extra) -> dict:
    return {
        "service": "healthscribe",
        "request": {
            "MedicalScribeJobName": name,
            "Media": {"MediaFileUri": f"s3://{BUCKET}/{key}"},
            "OutputBucketName": BUCKET,
            "DataAccessRoleArn": "arn:aws:iam::000000000000:role/test",
            "Settings": settings,
            **extra,
        },
    }


def dictation_job(name: str, key: str = "media/dictation.wav") -> dict:
    return {
        "service": "transcribe_medical",
        "request": {
            "MedicalTranscriptionJobName": name,
            "LanguageCode": "en-US",
            "Media": {"MediaFileUri": f"s3://{BUCKET}/{key}"},
            "MediaFormat": "wav",
            "OutputBucketName": BUCKET,
            "OutputKey": f"out/{name}.json",
            "Specialty": "PRIMARYCARE",
            "Type": "DICTATION",
        },
    }


def test_batch_each_refused_job_fails_alone_and_outcomes_ride_the_event(media):
    """Issue 28: a client-side ParamValidationError, a service refusal and a name taken by other input
    each fail only their own job; deferred, their reasons come back in the trigger's event (the inline
    runner of ``airflow dags test`` resumes the task with the event alone)."""
    dictation_operator("batch-taken", deferrable=False, wait_for_completion=False).execute({})
    jobs = [
        scribe_job(
            "batch-speakers-0", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 0}, key="media/dictation.wav"
        ),
        scribe_job(
            "batch-both", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2, "ChannelIdentification": True}
        ),
        dictation_job("batch-taken", key="media/conversation_stereo.wav"),
        dictation_job("batch-good"),
    ]
    operator = StartMedicalJobsBatchOperator(
        task_id="jobs", jobs=jobs, deferrable=True, waiter_delay=1, waiter_max_attempts=600
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})
    assert not deferred.value.kwargs and sorted(deferred.value.trigger.jobs) == ["batch-good"]
    result = operator.execute_complete({}, run_trigger(deferred.value.trigger))
    outcomes = result["jobs"]
    assert (
        result["counts"] == {"NOT_STARTED": 3, "COMPLETED": 1}
        and outcomes["batch-good"]["status"] == "COMPLETED"
    )
    assert outcomes["batch-speakers-0"]["failure_reason"] == (
        "ParamValidationError: Parameter validation failed: "
        "Invalid value for parameter Settings.MaxSpeakerLabels, value: 0, valid min value: 2"
    )
    refusal = outcomes["batch-both"]["failure_reason"]
    assert (
        refusal.startswith("BadRequestException: ")
        and "ShowSpeakerLabels or ChannelIdentification" in refusal
    )
    assert outcomes["batch-taken"]["failure_reason"] == (
        "AirflowException: A job named batch-taken already exists with different input (Media); "
        "job names must be unique per account: change the name or delete the old job"
    )


def test_batch_endpoint_errors_fail_the_task_for_a_retry(stack, monkeypatch):
    """An unreachable endpoint is not a job's fault: the task fails (and retries) instead of the jobs."""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    connection = json.loads(stack.airflow_connection_uri_json())
    connection["extra"]["service_config"]["transcribe"]["endpoint_url"] = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    operator = StartMedicalJobsBatchOperator(
        task_id="jobs",
        jobs=[dictation_job("batch-unreachable")],
        deferrable=True,
        botocore_config={"retries": {"max_attempts": 1}, "connect_timeout": 1},
    )
    from botocore.exceptions import EndpointConnectionError

    with pytest.raises(EndpointConnectionError):
        operator.execute({})

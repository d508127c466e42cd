"""Extra links: the AWS console with AWS, the engine's job view with the engine; registered by the plugin."""

from __future__ import annotations

import importlib.util

from medscribe.aws.links.transcribe import MedicalScribeJobLink, MedicalTranscriptionJobLink
from medscribe.aws.operators.transcribe import (
    StartMedicalScribeJobOperator,
    StartMedicalTranscriptionJobOperator,
)
from medscribe_harness.devstack import REPO_ROOT


class RecordingTI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def test_aws_console_link():
    link = MedicalScribeJobLink().format_link(
        region_name="us-west-2", aws_domain="aws.amazon.com", job_name="medscribe-hs-1", endpoint_url=None
    )
    assert (
        link
        == "https://console.aws.amazon.com/transcribe/home?region=us-west-2#/medical-scribe-jobs/medscribe-hs-1"
    )
    link = MedicalTranscriptionJobLink().format_link(
        region_name="us-gov-west-1", aws_domain="amazonaws-us-gov.com", job_name="tm-2"
    )
    assert link.startswith(
        "https://console.amazonaws-us-gov.com/transcribe/home?region=us-gov-west-1#/medical-transcription-jobs/tm-2"
    )


def test_engine_link():
    link = MedicalTranscriptionJobLink().format_link(
        region_name="us-east-1",
        aws_domain="aws.amazon.com",
        job_name="tm-2",
        endpoint_url="http://127.0.0.1:5056/",
    )
    assert link == "http://127.0.0.1:5056/jobs/medical-transcription/tm-2"


def test_persist_stores_what_the_link_needs():
    ti = RecordingTI()
    operator = StartMedicalScribeJobOperator(
        task_id="t",
        medical_scribe_job_name="j",
        media_file_uri="s3://b/k",
        output_bucket_name="b",
        data_access_role_arn="arn",
        settings={"ChannelIdentification": True},
    )
    MedicalScribeJobLink.persist(
        context={"ti": ti},
        operator=operator,
        region_name="eu-west-1",
        aws_partition="aws",
        job_name="j",
        endpoint_url="http://127.0.0.1:1",
    )
    assert ti.pushed == {
        "medscribe_medical_scribe_job": {
            "region_name": "eu-west-1",
            "aws_domain": "aws.amazon.com",
            "job_name": "j",
            "endpoint_url": "http://127.0.0.1:1",
        }
    }


def test_operators_declare_their_links():
    assert [type(link) for link in StartMedicalScribeJobOperator.operator_extra_links] == [
        MedicalScribeJobLink
    ]
    assert [type(link) for link in StartMedicalTranscriptionJobOperator.operator_extra_links] == [
        MedicalTranscriptionJobLink
    ]


def test_plugin_registers_the_links():
    spec = importlib.util.spec_from_file_location(
        "medscribe_plugin", REPO_ROOT / "plugins" / "medscribe_plugin.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.MedscribePlugin.name == "medscribe"
    assert {type(link) for link in module.MedscribePlugin.operator_extra_links} == {
        MedicalScribeJobLink,
        MedicalTranscriptionJobLink,
    }

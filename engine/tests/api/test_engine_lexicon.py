"""The built-in medical lexicon through boto3: a PRIMARYCARE job with no custom vocabulary writes the drug
name tiny.en splits ("Metform in" on the patient's channel of the stereo sample), and the engine logs the
lexicons it built before it was ready."""

from __future__ import annotations

import re

import pytest
from engine_helpers import read_output, transcription_request, unique, wait_transcription

pytestmark = pytest.mark.engine


def test_a_primary_care_job_writes_the_repaired_drug_name(s3, stack, transcribe):
    name = unique("tm-lexicon")
    transcribe.start_medical_transcription_job(
        **transcription_request(
            name, "conversation_stereo", Type="CONVERSATION", Settings={"ChannelIdentification": True}
        )
    )
    job = wait_transcription(transcribe, name)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert "VocabularyName" not in (job.get("Settings") or {})
    results = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    transcript = results["transcripts"][0]["transcript"]
    assert "Metform in" not in transcript
    assert transcript.lower().count("metformin") == 2, transcript  # the clinician's and the patient's
    patient = [
        item["alternatives"][0]["content"]
        for channel in results["channel_labels"]["channels"]
        if channel["channel_label"] == "ch_1"
        for item in channel["items"]
        if item["type"] == "pronunciation"
    ]
    assert "metformin" in [word.lower() for word in patient]


def test_the_lexicons_are_built_before_the_engine_is_ready(engine_log):
    log = engine_log.read_text()
    built = re.search(r"medical lexicons built in [\d.]+s: (.*)", log)
    assert built, "no lexicon line in the engine log"
    sizes = dict(re.findall(r"(\w+) (\d+) words", built.group(1)))
    assert set(sizes) == {"PRIMARYCARE", "CARDIOLOGY", "NEUROLOGY", "ONCOLOGY", "RADIOLOGY", "UROLOGY"}
    assert int(sizes["PRIMARYCARE"]) > 5000
    assert log.index("medical lexicons built") < log.index("all models and libraries loaded")

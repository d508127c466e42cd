"""Transcribe Medical through boto3: a dictation is recognized, and the output file has AWS's format."""

from __future__ import annotations

import itertools
import re
from datetime import datetime

import pytest
from engine_helpers import (
    MEDIA_BUCKET,
    OUTPUT_BUCKET,
    load_reference,
    media_key,
    media_uri,
    read_output,
    unique,
    wait_transcription,
)

pytestmark = pytest.mark.engine

NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
}


def normalize(text: str) -> list[str]:
    """Lowercase, hyphens to spaces, punctuation stripped, small number words as digits."""
    text = re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " "))
    return [NUMBER_WORDS.get(word, word) for word in text.replace("'", "").split()]


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1] / max(len(ref), 1)


def test_normalizer_and_wer():
    assert normalize("A 58-year-old, in four weeks.") == ["a", "58", "year", "old", "in", "4", "weeks"]
    assert word_error_rate("one two three four", "one too three") == 0.5


@pytest.fixture(scope="module")
def dictation_job(transcribe, reference_jobs):
    name = reference_jobs["dictation"]
    waiter = transcribe.get_waiter("medical_transcription_job_completed")
    waiter.wait(MedicalTranscriptionJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    return transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=name)[
        "MedicalTranscriptionJob"
    ]


@pytest.fixture(scope="module")
def dictation_output(s3, stack, dictation_job):
    return read_output(s3, dictation_job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)


def test_job_description_follows_the_service_model(dictation_job, reference_jobs):
    job = dictation_job
    assert job["MedicalTranscriptionJobName"] == reference_jobs["dictation"]
    assert job["TranscriptionJobStatus"] == "COMPLETED"
    assert job["LanguageCode"] == "en-US"
    assert job["MediaFormat"] == "wav"
    assert job["MediaSampleRateHertz"] == 16000  # detected: the request did not give it
    assert job["Specialty"] == "PRIMARYCARE" and job["Type"] == "DICTATION"
    assert job["Tags"] == [{"Key": "suite", "Value": "engine"}]
    assert "FailureReason" not in job
    for field in ("CreationTime", "StartTime", "CompletionTime"):
        assert isinstance(job[field], datetime), field
    assert job["CreationTime"] <= job["StartTime"] <= job["CompletionTime"]
    expected_uri = f"/{OUTPUT_BUCKET}/medical/{reference_jobs['dictation']}.json"
    assert job["Transcript"]["TranscriptFileUri"].endswith(expected_uri)


def test_dictation_is_recognized(dictation_output, reference_jobs):
    reference = load_reference("dictation")["text"]
    transcript = dictation_output["results"]["transcripts"][0]["transcript"]
    wer = word_error_rate(reference, transcript)
    print(f"dictation WER {wer:.3f}")
    assert wer < 0.25, f"WER {wer:.2f}"
    for distinctive in ("hypertension", "headaches", "pressure", "assessment"):
        assert distinctive in transcript.lower()
    assert dictation_output["jobName"] == reference_jobs["dictation"]
    assert dictation_output["status"] == "COMPLETED"
    assert dictation_output["accountId"]


def test_items_have_transcribe_types_and_string_numbers(dictation_output):
    items = dictation_output["results"]["items"]
    words = [item for item in items if item["type"] == "pronunciation"]
    marks = [item for item in items if item["type"] == "punctuation"]
    assert {item["type"] for item in items} == {"pronunciation", "punctuation"}
    assert len(words) >= 40 and marks
    previous_start = 0.0
    for item in words:
        start, end = float(item["start_time"]), float(item["end_time"])
        assert isinstance(item["start_time"], str) and isinstance(item["end_time"], str)
        assert 0.0 <= start <= end <= 25.0
        assert start >= previous_start
        previous_start = start
        (alternative,) = item["alternatives"]
        assert isinstance(alternative["confidence"], str)
        assert 0.0 <= float(alternative["confidence"]) <= 1.0
        assert alternative["content"].strip() == alternative["content"] and alternative["content"]
        assert not re.search(r"[.,?!;:]$", alternative["content"]), "punctuation left on a word"
    for item in marks:
        assert "start_time" not in item and "end_time" not in item
        assert item["alternatives"][0]["content"] in {".", ",", "?", "!", ";", ":"}
        assert item["alternatives"][0]["confidence"] == "0.0"
    assert "speaker_labels" not in dictation_output["results"]
    assert "channel_labels" not in dictation_output["results"]
    # the transcript text is the items joined
    joined = " ".join(item["alternatives"][0]["content"] for item in items)
    assert normalize(joined) == normalize(dictation_output["results"]["transcripts"][0]["transcript"])


def test_output_key_rules(s3, stack, transcribe):
    """OutputKey naming a .json file is used as is; naming a folder, <folder>/medical/<name>.json."""
    file_job, folder_job = unique("outkey-file"), unique("outkey-folder")
    common = dict(
        LanguageCode="en-US",
        Media={"MediaFileUri": media_uri(media_key("dictation"))},
        OutputBucketName=OUTPUT_BUCKET,
        Specialty="PRIMARYCARE",
        Type="CONVERSATION",
        Settings={"ChannelIdentification": False},
    )
    transcribe.start_medical_transcription_job(
        MedicalTranscriptionJobName=file_job, OutputKey="reports/night-1/dictation.json", **common
    )
    transcribe.start_medical_transcription_job(
        MedicalTranscriptionJobName=folder_job,
        OutputKey="reports/night-2/",
        MediaSampleRateHertz=16000,
        **common,
    )
    first, second = wait_transcription(transcribe, file_job), wait_transcription(transcribe, folder_job)
    assert first["TranscriptionJobStatus"] == second["TranscriptionJobStatus"] == "COMPLETED"
    assert first["Transcript"]["TranscriptFileUri"] == (
        f"{stack.s3_endpoint}/{OUTPUT_BUCKET}/reports/night-1/dictation.json"
    )
    assert second["Transcript"]["TranscriptFileUri"] == (
        f"{stack.s3_endpoint}/{OUTPUT_BUCKET}/reports/night-2/medical/{folder_job}.json"
    )
    document = read_output(s3, second["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)
    assert document["jobName"] == folder_job


def test_speaker_and_channel_labels(s3, stack, transcribe):
    """Transcribe Medical's speaker_labels (mono, diarized) and channel_labels (stereo)."""
    speakers_job, channels_job = unique("tm-speakers"), unique("tm-channels")
    common = dict(
        LanguageCode="en-US", OutputBucketName=OUTPUT_BUCKET, Specialty="PRIMARYCARE", Type="CONVERSATION"
    )
    try:
        transcribe.start_medical_transcription_job(
            MedicalTranscriptionJobName=speakers_job,
            Media={"MediaFileUri": media_uri(media_key("conversation_mono"))},
            Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
            **common,
        )
    except transcribe.exceptions.BadRequestException as error:
        assert "not available in this engine build" in error.response["Error"]["Message"]
        speakers_job = None
    transcribe.start_medical_transcription_job(
        MedicalTranscriptionJobName=channels_job,
        Media={"MediaFileUri": media_uri(media_key("conversation_stereo"))},
        Settings={"ChannelIdentification": True},
        **common,
    )
    job = wait_transcription(transcribe, channels_job)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    results = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    channels = results["channel_labels"]
    assert channels["number_of_channels"] == 2
    reference = load_reference("conversation_stereo")
    for channel in channels["channels"]:
        number = int(channel["channel_label"].removeprefix("ch_"))
        spoken = " ".join(
            i["alternatives"][0]["content"] for i in channel["items"] if i["type"] == "pronunciation"
        )
        said = " ".join(t["text"] for t in reference["turns"] if t["channel"] == number)
        assert word_error_rate(said, spoken) < 0.35, (number, spoken)
    assert all(item["channel_label"] in ("ch_0", "ch_1") for item in results["items"])

    if speakers_job is None:
        return
    job = wait_transcription(transcribe, speakers_job)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    results = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)["results"]
    labels = results["speaker_labels"]
    assert labels["speakers"] == 2
    turns = load_reference("conversation_mono")["turns"]
    # speaker segments follow the reference turns: each segment's middle lies in a turn of one speaker,
    # and consecutive segments alternate between the two labels like the turns do
    assert len(labels["segments"]) >= len(turns) - 2
    assert all(a["speaker_label"] != b["speaker_label"] for a, b in itertools.pairwise(labels["segments"]))
    words = sum(len(segment["items"]) for segment in labels["segments"])
    assert words == sum(1 for item in results["items"] if item["type"] == "pronunciation")


def _load_make_fixtures():
    """``scripts/make_fixtures.py`` as a module: its espeak-ng voices synthesize the PHI recording."""
    import importlib.util
    import shutil

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to synthesize the PHI recording")
    from medscribe_harness.devstack import REPO_ROOT

    spec = importlib.util.spec_from_file_location("make_fixtures", REPO_ROOT / "scripts" / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_phi_identification_marks_name_age_and_date(s3, stack, transcribe, tmp_path):
    """ContentIdentificationType=PHI: results.entities as in AWS's example, and the lake parser reads
    the file's words as before (it ignores entities)."""
    from medscribe.lake.parse import transcribe_medical_words_table

    make_fixtures = _load_make_fixtures()
    turns = [
        ("CLINICIAN", "Good morning, what is your name?"),
        ("PATIENT", "My name is Brian White. I'm 54 years old, and I was born on March 3rd."),
    ]
    frames, reference = make_fixtures.build(
        {"name": "phi", "kind": "conversation", "channels": 1, "turns": turns}, tmp_path
    )
    make_fixtures.write_wav(tmp_path / "phi.wav", frames, 1)
    key = media_key("phi")
    s3.upload_file(str(tmp_path / "phi.wav"), MEDIA_BUCKET, key)
    name, plain = unique("tm-phi"), unique("tm-no-phi")
    common = dict(
        LanguageCode="en-US",
        Media={"MediaFileUri": media_uri(key)},
        OutputBucketName=OUTPUT_BUCKET,
        Specialty="PRIMARYCARE",
        Type="CONVERSATION",
    )
    transcribe.start_medical_transcription_job(
        MedicalTranscriptionJobName=name, ContentIdentificationType="PHI", **common
    )
    transcribe.start_medical_transcription_job(MedicalTranscriptionJobName=plain, **common)
    job = wait_transcription(transcribe, name)
    assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
    assert job["ContentIdentificationType"] == "PHI"
    listed = transcribe.list_medical_transcription_jobs(JobNameContains=name)[
        "MedicalTranscriptionJobSummaries"
    ]
    assert [summary["ContentIdentificationType"] for summary in listed] == ["PHI"]
    document = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)
    entities = document["results"]["entities"]
    for entity in entities:
        assert set(entity) == {"content", "category", "startTime", "endTime", "confidence"}
        assert entity["category"].startswith("PHI-")
        assert isinstance(entity["startTime"], float | int) and isinstance(entity["confidence"], float | int)
        assert 0.0 <= entity["startTime"] <= entity["endTime"] <= reference["duration_s"]
        assert 0.0 <= entity["confidence"] <= 1.0
    patient_turn = reference["turns"][1]
    by_content = {entity["content"]: entity for entity in entities}
    assert "54" in by_content and "March 3rd" in by_content, entities
    names = [content for content in by_content if content.endswith("White")]
    assert names, entities  # tiny.en hears "Brian" or "Ryan"; the surname it gets right
    for content in (names[0], "54", "March 3rd"):
        entity = by_content[content]
        assert entity["category"] == "PHI-Personal"
        assert patient_turn["start_s"] - 0.5 <= entity["startTime"] <= patient_turn["end_s"]
    transcript = document["results"]["transcripts"][0]["transcript"]
    assert all(entity["content"].split()[0] in transcript for entity in entities)

    words = transcribe_medical_words_table(document, recording_id="rec-phi", job_name=name)
    spoken = [item for item in document["results"]["items"] if item["type"] == "pronunciation"]
    assert words.num_rows >= len(spoken) > 0

    other = wait_transcription(transcribe, plain)
    assert other["TranscriptionJobStatus"] == "COMPLETED" and "ContentIdentificationType" not in other
    other_document = read_output(s3, other["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)
    assert "entities" not in other_document["results"]

"""Stage ``writers``: the Transcribe Medical and HealthScribe documents from a fixed job document."""

from __future__ import annotations

import json
import uuid

import pytest
from stage_helpers import document, sentence

from medscribe_engine.pipeline.document import JobFailed
from medscribe_engine.pipeline.roles import AssignRoles
from medscribe_engine.pipeline.segments import Segments
from medscribe_engine.pipeline.writers import (
    WriteHealthScribe,
    WriteTranscribeMedical,
    format_confidence,
    format_time,
    healthscribe_transcript_json,
    transcribe_medical_json,
    transcribe_output_key,
)


def test_number_formats():
    assert [format_time(t) for t in (0, 0.74, 1.0, 12.3456, -1)] == ["0.0", "0.74", "1.0", "12.346", "0.0"]
    assert [format_confidence(c) for c in (1, 0.97, 0.123456, 2)] == ["1.0", "0.97", "0.1235", "1.0"]


def test_output_keys():
    assert transcribe_output_key("job", None) == "medical/job.json"
    assert transcribe_output_key("job", "night/out.json") == "night/out.json"
    assert transcribe_output_key("job", "night") == "night/medical/job.json"
    assert transcribe_output_key("job", "night/") == "night/medical/job.json"


def test_transcribe_medical_plain():
    doc = document("transcription")
    doc.tokens = sentence("Blood pressure is high.", 0.5)
    out = transcribe_medical_json(doc)
    assert out["jobName"] == "job-under-test" and out["status"] == "COMPLETED"
    assert out["results"]["transcripts"] == [{"transcript": "Blood pressure is high."}]
    first, last = out["results"]["items"][0], out["results"]["items"][-1]
    assert first == {
        "id": 0,
        "start_time": "0.5",
        "end_time": "0.75",
        "alternatives": [{"confidence": "0.9", "content": "Blood"}],
        "type": "pronunciation",
    }
    assert last == {"id": 4, "alternatives": [{"confidence": "0.0", "content": "."}], "type": "punctuation"}
    assert set(out["results"]) == {"transcripts", "items"}


def test_transcribe_medical_speaker_labels():
    doc = document("transcription", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    doc.tokens = sentence("How are you?", 0.0, speaker="spk_0") + sentence("Fine.", 1.5, speaker="spk_1")
    labels = transcribe_medical_json(doc)["results"]["speaker_labels"]
    assert labels["speakers"] == 2
    assert [
        (s["speaker_label"], s["start_time"], s["end_time"], len(s["items"])) for s in labels["segments"]
    ] == [
        ("spk_0", "0.0", "0.85", 3),
        ("spk_1", "1.5", "1.75", 1),
    ]
    assert labels["segments"][0]["items"][1] == {
        "start_time": "0.3",
        "end_time": "0.55",
        "speaker_label": "spk_0",
    }
    assert all("speaker_label" not in item for item in transcribe_medical_json(doc)["results"]["items"])


def test_transcribe_medical_channel_labels():
    doc = document("transcription", {"ChannelIdentification": True})
    doc.audio = [None, None]
    doc.tokens = sentence("Hello.", 0.0, channel=0) + sentence("Hi.", 1.0, channel=1)
    results = transcribe_medical_json(doc)["results"]
    channels = results["channel_labels"]
    assert channels["number_of_channels"] == 2
    assert [c["channel_label"] for c in channels["channels"]] == ["ch_0", "ch_1"]
    assert [i["alternatives"][0]["content"] for i in channels["channels"][1]["items"]] == ["Hi", "."]
    assert [i["channel_label"] for i in results["items"]] == ["ch_0", "ch_0", "ch_1", "ch_1"]


def scribe_doc():
    doc = document(
        "scribe",
        {"ChannelIdentification": True},
        ChannelDefinitions=[
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
    )
    doc.tokens = sentence("Any chest pain?", 0.0, channel=0) + sentence("No.", 1.2, channel=1)
    Segments()(doc)
    AssignRoles()(doc)
    return doc


def test_healthscribe_transcript():
    conversation = healthscribe_transcript_json(scribe_doc())["Conversation"]
    assert conversation["JobName"] == "job-under-test" and conversation["JobType"] == "ASYNC"
    assert conversation["LanguageCode"] == "en-US"
    uuid.UUID(conversation["ConversationId"])
    assert set(conversation) == {
        "ConversationId",
        "JobName",
        "JobType",
        "LanguageCode",
        "ClinicalInsights",
        "TranscriptItems",
        "TranscriptSegments",
    }
    assert conversation["ClinicalInsights"] == []  # the insights stage did not run on this document
    assert conversation["TranscriptItems"][0] == {
        "Alternatives": [{"Confidence": 0.9, "Content": "Any"}],
        "BeginAudioTime": 0.0,
        "EndAudioTime": 0.25,
        "Type": "PRONUNCIATION",
    }
    assert conversation["TranscriptItems"][3]["Type"] == "PUNCTUATION"
    assert conversation["TranscriptItems"][3]["Alternatives"][0]["Confidence"] == 0
    first, second = conversation["TranscriptSegments"]
    assert first["Content"] == "Any chest pain?" and first["ParticipantDetails"] == {
        "ParticipantRole": "CLINICIAN_0"
    }
    assert second["Content"] == "No." and second["ParticipantDetails"] == {"ParticipantRole": "PATIENT_0"}
    assert "SectionDetails" not in first  # the sections stage did not run either
    assert (first["BeginAudioTime"], first["EndAudioTime"]) == (0.0, 0.85)


class RecordingS3:
    def __init__(self, fail: bool = False):
        self.objects, self.fail = {}, fail

    def put_object(self, Bucket, Key, Body, ContentType):
        if self.fail:
            raise RuntimeError(f"NoSuchBucket {Bucket}/{Key}")
        self.objects[(Bucket, Key)] = json.loads(Body)


def test_writer_stages_put_the_files(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9999")
    s3 = RecordingS3()
    doc = scribe_doc()
    WriteHealthScribe(s3)(doc)
    assert doc.outputs["transcript"] == "http://127.0.0.1:9999/out-bucket/job-under-test/transcript.json"
    assert ("out-bucket", "job-under-test/transcript.json") in s3.objects
    doc = document("transcription", OutputKey="reports/")
    doc.tokens = sentence("Fine.", 0.0)
    WriteTranscribeMedical(s3)(doc)
    assert doc.outputs["transcript"] == "http://127.0.0.1:9999/out-bucket/reports/medical/job-under-test.json"


def test_write_failure_fails_the_job_without_the_key():
    doc = scribe_doc()
    with pytest.raises(JobFailed) as excinfo:
        WriteHealthScribe(RecordingS3(fail=True))(doc)
    assert "job-under-test" not in excinfo.value.reason and excinfo.value.__cause__ is None


def test_alternative_segments_and_encryption_arguments():
    import base64
    import json

    from stage_helpers import document, sentence

    from medscribe_engine.pipeline.alternatives import AlternativeSegment, split_segments
    from medscribe_engine.pipeline.writers import encryption_arguments, transcribe_medical_json

    tokens = (
        sentence("Hello there. How are you", 0.0)
        + sentence("today?", 3.0)
        + sentence("Fine.", 3.5, speaker="spk_1")
    )
    parts = split_segments(tokens)
    assert [" ".join(t.content for t in part) for part in parts] == [
        "Hello there .",
        "How are you",
        "today ?",
        "Fine .",
    ]
    doc = document("transcription", {"ShowAlternatives": True, "MaxAlternatives": 2})
    doc.tokens = parts[0]
    doc.alternative_segments = [AlternativeSegment(0.0, 0.55, [parts[0], sentence("Yellow there", 0.0)])]
    (segment,) = transcribe_medical_json(doc)["results"]["segments"]
    assert segment["start_time"] == "0.0" and segment["end_time"] == "0.55"
    assert [a["transcript"] for a in segment["alternatives"]] == ["Hello there.", "Yellow there"]
    assert segment["alternatives"][0]["items"][0] == {
        "start_time": "0.0",
        "confidence": "0.9",
        "end_time": "0.25",
        "type": "pronunciation",
        "content": "Hello",
    }
    assert segment["alternatives"][0]["items"][-1] == {
        "confidence": "0.0",
        "type": "punctuation",
        "content": ".",
    }

    assert encryption_arguments({}) == {}
    arguments = encryption_arguments(
        {"OutputEncryptionKMSKeyId": "alias/phi", "KMSEncryptionContext": {"a": "b"}}
    )
    assert arguments["ServerSideEncryption"] == "aws:kms" and arguments["SSEKMSKeyId"] == "alias/phi"
    assert json.loads(base64.b64decode(arguments["SSEKMSEncryptionContext"])) == {"a": "b"}


def test_vocabulary_filter_methods():
    from stage_helpers import document, sentence

    from medscribe_engine.pipeline.document import join_tokens
    from medscribe_engine.pipeline.filtering import FilterWords
    from medscribe_engine.pipeline.writers import healthscribe_transcript_json

    tokens = sentence("Take Metformin daily. metformin helps.", 0.0)
    removed, count = FilterWords(["metformin"], "remove").apply(tokens)
    assert join_tokens(removed) == "Take daily. helps." and count == 2
    masked, _ = FilterWords(["METFORMIN"], "mask").apply(tokens)
    assert join_tokens(masked) == "Take *** daily. *** helps."
    tagged, _ = FilterWords(["metformin"], "tag").apply(tokens)
    assert join_tokens(tagged) == join_tokens(tokens)
    doc = document("scribe", {"ChannelIdentification": True})
    doc.tokens = tagged
    items = healthscribe_transcript_json(doc)["Conversation"]["TranscriptItems"]
    assert [i["Alternatives"][0]["Content"] for i in items if i.get("VocabularyFilterMatch")] == [
        "Metformin",
        "metformin",
    ]
    assert sum("VocabularyFilterMatch" in i for i in items) == 2

"""HealthScribe streaming sessions without a server: the ConfigurationEvent's rules, the session table's
pause / resume rules, and the post-stream analytics' request and output layout."""

from __future__ import annotations

import json

import pytest

from medscribe_engine.exceptions import BadRequestException, ConflictException
from medscribe_engine.streaming.analytics import job_request, output_prefix
from medscribe_engine.streaming.scribe_settings import (
    channel_count,
    parse_configuration,
    parse_scribe_headers,
)
from medscribe_engine.streaming.sessions import COMPLETED, IN_PROGRESS, PAUSED, SessionStore

SESSION = "0f8fad5b-d9cb-469f-a165-70867728950e"
ROLE = "arn:aws:iam::123456789012:role/scribe"
CONFIGURATION = {
    "ResourceAccessRoleArn": ROLE,
    "PostStreamAnalyticsSettings": {"ClinicalNoteGenerationSettings": {"OutputBucketName": "outputs"}},
}
TWO_CHANNELS = [
    {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
    {"ChannelId": 1, "ParticipantRole": "PATIENT"},
]


def headers(**extra) -> dict:
    values = {
        "language-code": "en-US",
        "sample-rate": "16000",
        "media-encoding": "pcm",
        "session-id": SESSION,
    }
    values.update(extra)
    return {f"x-amzn-transcribe-{name}": value for name, value in values.items()}


def configuration(**extra) -> bytes:
    return json.dumps({**CONFIGURATION, **extra}).encode()


def test_headers_are_checked_as_healthscribe_streams_take_them():
    settings = parse_scribe_headers(headers())
    assert (settings.sample_rate, settings.session_id) == (16000, SESSION)
    assert parse_scribe_headers(headers(**{"media-encoding": "flac"})).media_encoding == "flac"
    assert ("x-amzn-transcribe-session-id", SESSION) in settings.response_headers()
    for bad in (
        {"sample-rate": "8000"},
        {"media-encoding": "mp3"},
        {"language-code": "de-DE"},
        {"session-id": "x"},
    ):
        with pytest.raises(BadRequestException):
            parse_scribe_headers(headers(**bad))


@pytest.mark.parametrize(
    "extra",
    [
        {"ChannelDefinitions": TWO_CHANNELS[:1]},
        {"ChannelDefinitions": [TWO_CHANNELS[0], {"ChannelId": 1, "ParticipantRole": "CLINICIAN"}]},
        {"VocabularyFilterMethod": "mask"},
        {"VocabularyFilterName": "f", "VocabularyFilterMethod": "hide"},
        {"EncryptionSettings": {}},
        {"MedicalScribeContext": {"PatientContext": {"Pronouns": "IT"}}},
        {
            "PostStreamAnalyticsSettings": {
                "ClinicalNoteGenerationSettings": {"OutputBucketName": "Not_A_Bucket"}
            }
        },
        {"ResourceAccessRoleArn": "not-an-arn"},
        {"Unknown": 1},
    ],
)
def test_configurations_the_service_refuses(extra):
    with pytest.raises(BadRequestException):
        parse_configuration(configuration(**extra))


def test_channel_definitions_mean_two_channels():
    assert channel_count(parse_configuration(configuration(ChannelDefinitions=TWO_CHANNELS))) == 2
    assert channel_count(parse_configuration(configuration())) == 1


def test_pause_resume_and_end(tmp_path):
    store = SessionStore(tmp_path)
    settings = parse_scribe_headers(headers())
    config = parse_configuration(configuration())
    session = store.open(settings, config, 1)
    assert session.status == IN_PROGRESS and session.streams == 1
    with pytest.raises(ConflictException):  # a second stream while the first runs
        store.open(settings, config, 1)
    store.audio_path(SESSION).write_bytes(b"\x01" * 3201)
    store.close_stream(session, 3201, end_of_session=False)
    paused = store.get(SESSION)
    assert paused.status == PAUSED and paused.audio_bytes == 3200  # whole frames only
    assert store.audio_path(SESSION).stat().st_size == 3200
    with pytest.raises(BadRequestException):  # resumed with another configuration
        store.open(settings, parse_configuration(configuration(VocabularyName="v")), 1)
    with pytest.raises(BadRequestException):  # resumed at another sample rate
        store.open(parse_scribe_headers(headers(**{"sample-rate": "48000"})), config, 1)
    resumed = store.open(settings, config, 1)
    assert resumed.status == IN_PROGRESS and resumed.streams == 2 and resumed.audio_seconds == 0.1
    store.close_stream(resumed, 6400, end_of_session=True)
    ended = store.get(SESSION)
    assert (ended.status, ended.analytics_status) == (COMPLETED, IN_PROGRESS)
    assert [s.session_id for s in store.pending_analytics()] == [SESSION]
    with pytest.raises(BadRequestException):  # a COMPLETED session can't be resumed
        store.open(settings, config, 1)
    store.finish_analytics(SESSION, COMPLETED, transcript_uri="t", clinical_note_uri="n")
    assert not store.audio_path(SESSION).exists() and not store.pending_analytics()


def test_a_stream_cut_short_by_a_restart_is_paused(tmp_path):
    store = SessionStore(tmp_path)
    store.open(parse_scribe_headers(headers()), parse_configuration(configuration()), 2)
    store.audio_path(SESSION).write_bytes(b"\x00" * 4005)
    store.close()
    again = SessionStore(tmp_path)
    assert again.recover() == 1
    assert (again.get(SESSION).status, again.get(SESSION).audio_bytes) == (PAUSED, 4004)


def test_the_analytics_request_is_a_batch_scribe_job_request():
    config = parse_configuration(
        configuration(
            ChannelDefinitions=TWO_CHANNELS,
            VocabularyFilterName="f",
            VocabularyFilterMethod="tag",
            EncryptionSettings={"KmsKeyId": "k", "KmsEncryptionContext": {"a": "b"}},
        )
    )
    store_row = type("Row", (), {"configuration": config})
    request = job_request(store_row, diarization_available=True)
    assert (
        request["Settings"]["ChannelIdentification"] is True
        and "ShowSpeakerLabels" not in request["Settings"]
    )
    assert request["Settings"]["VocabularyFilterMethod"] == "tag"
    assert request["ChannelDefinitions"] == TWO_CHANNELS
    assert request["OutputEncryptionKMSKeyId"] == "k" and request["KMSEncryptionContext"] == {"a": "b"}
    mono = job_request(type("Row", (), {"configuration": parse_configuration(configuration())}), True)
    assert mono["Settings"]["ShowSpeakerLabels"] is True
    assert mono["Settings"]["ClinicalNoteGenerationSettings"] == {"NoteTemplate": "HISTORY_AND_PHYSICAL"}
    assert output_prefix(SESSION) == f"healthscribe-streaming/{SESSION}/post-stream-analytics/clinical-notes"

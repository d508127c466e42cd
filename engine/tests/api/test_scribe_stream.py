"""StartMedicalScribeStream and GetMedicalScribeStream through the official AWS SDK for JavaScript v3
against the engine's streaming port: live segments (partials, then finals), END_OF_SESSION's post-stream
analytics in S3, pause and resume, signatures and bad configurations.

Each test runs ``engine/tests/streaming/scribe.mjs`` (``@aws-sdk/client-transcribe-streaming``, pinned in
``package.json``, installed by ``scripts/node_deps.sh``) on a sample recording and reads the JSON lines it
prints. Two sessions carry most tests: the stereo visit four times faster than real time with
ChannelDefinitions, and the mono visit in real time, paused between two turns and resumed.
"""

from __future__ import annotations

import pytest
from engine_helpers import (
    CHANNEL_DEFINITIONS,
    FIXTURES,
    OUTPUT_BUCKET,
    ROLE_ARN,
    load_reference,
    read_output,
    wait_scribe,
)
from streaming_client import run_client
from test_engine_transcription import normalize, word_error_rate

pytestmark = pytest.mark.engine

WER_MARGIN = 0.02  # the post-stream transcript (one batch pipeline run) against the batch job
# Live finals are a function of the audio (engine/tests/streaming/test_stream_finals.py), not of the
# stream's pace; over 82 words one garbled final is several points, so parity with batch is the post-stream
# transcript's (WER_MARGIN) and, for live finals, measured by bench/streaming/arrival.py on the benchmark
# corpora; here the live finals must be the recording's words, at most one in four wrong.
LIVE_WER_AT_MOST = 0.25
CONFIGURATION = {
    "ResourceAccessRoleArn": ROLE_ARN,
    "PostStreamAnalyticsSettings": {"ClinicalNoteGenerationSettings": {"OutputBucketName": OUTPUT_BUCKET}},
}
STEREO_CONFIGURATION = {**CONFIGURATION, "ChannelDefinitions": CHANNEL_DEFINITIONS}
PAUSE_AT_S = 14.68  # between two turns of the mono visit (14.48 s and 14.88 s)
SEGMENT_KEYS = {"SegmentId", "BeginAudioTime", "EndAudioTime", "Content", "Items", "IsPartial", "ChannelId"}


def scribe(node: str, endpoint: str, name: str = "dictation", timeout: float = 300, **options) -> list[dict]:
    """The lines scribe.mjs printed for the recording ``name`` with ``options``."""
    options = {
        "endpoint": endpoint,
        "file": str(FIXTURES / f"{name}.wav"),
        "pace": 1,
        "configuration": CONFIGURATION,
        **options,
    }
    return run_client(node, "scribe.mjs", options, timeout)


def segments(lines: list[dict]) -> list[dict]:
    return [line["segment"] for line in lines if line["type"] == "segment"]


def errors(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["type"] == "error"]


def last_details(lines: list[dict]) -> dict:
    return [line["details"] for line in lines if line["type"] == "details"][-1]


def final_words(lines: list[dict]) -> str:
    """The final segments' words of all channels merged by start time (as a batch job merges them)."""
    items = [
        item
        for segment in segments(lines)
        if not segment["IsPartial"]
        for item in segment["Items"]
        if item["Type"] == "pronunciation"
    ]
    return " ".join(item["Content"] for item in sorted(items, key=lambda item: item["BeginAudioTime"]))


def word_errors(reference: str, hypothesis: str) -> float:
    return word_error_rate(reference, hypothesis) * len(normalize(reference))


def batch_text(s3, stack, transcribe, name: str) -> str:
    job = wait_scribe(transcribe, name, timeout=600)
    assert job["MedicalScribeJobStatus"] == "COMPLETED"
    conversation = read_output(s3, job["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint)
    return " ".join(s["Content"] for s in conversation["Conversation"]["TranscriptSegments"])


def post_stream_text(s3, stack, details: dict) -> str:
    result = details["PostStreamAnalyticsResult"]["ClinicalNoteGenerationResult"]
    conversation = read_output(s3, result["TranscriptOutputLocation"], stack.s3_endpoint)
    return " ".join(s["Content"] for s in conversation["Conversation"]["TranscriptSegments"])


@pytest.fixture(scope="module")
def batch_texts(s3, stack, transcribe, reference_jobs) -> dict:
    """The batch jobs' transcripts; every reference job has ended before a stream starts, so the streams
    are timed against the audio, not against a queue of jobs."""
    texts = {"stereo": batch_text(s3, stack, transcribe, reference_jobs["stereo"]), "mono": None}
    if "mono_refused" not in reference_jobs:
        texts["mono"] = batch_text(s3, stack, transcribe, reference_jobs["mono"])
    return texts


@pytest.fixture(scope="module")
def stereo_batch_text(batch_texts) -> str:
    return batch_texts["stereo"]


@pytest.fixture(scope="module")
def fast_stereo(node, endpoint, s3, stereo_batch_text) -> list[dict]:
    return scribe(
        node, endpoint, "conversation_stereo", pace=4, configuration=STEREO_CONFIGURATION, waitAnalyticsS=240
    )


@pytest.fixture(scope="module")
def mono_batch_text(batch_texts, reference_jobs) -> str:
    if batch_texts["mono"] is None:
        pytest.skip(reference_jobs["mono_refused"])
    return batch_texts["mono"]


@pytest.fixture(scope="module")
def paused_and_resumed(node, endpoint, s3, mono_batch_text) -> tuple[list[dict], list[dict]]:
    """The mono visit in real time: its first turns, a pause, then the rest with the same SessionId."""
    first = scribe(
        node, endpoint, "conversation_mono", stopAfterS=PAUSE_AT_S, endSession=False, waitAnalyticsS=0
    )
    session_id = next(line["sessionId"] for line in first if line["type"] == "started")
    second = scribe(
        node, endpoint, "conversation_mono", sessionId=session_id, startS=PAUSE_AT_S, waitAnalyticsS=240
    )
    return first, second


def check_partials_then_finals(lines: list[dict], min_partials: int) -> None:
    assert not errors(lines), errors(lines)
    seen = segments(lines)
    assert seen[0]["IsPartial"] is True
    finals = [s for s in seen if not s["IsPartial"]]
    assert finals
    for final in finals:  # every final comes after the partials of its segment, none after it
        positions = [i for i, s in enumerate(seen) if s["SegmentId"] == final["SegmentId"]]
        assert seen[positions[-1]] is final
        assert all(seen[i]["IsPartial"] for i in positions[:-1])
    assert len([s for s in seen if s["IsPartial"]]) >= min_partials


def test_faster_than_real_time_with_channel_definitions(fast_stereo):
    # four times faster, an utterance has often ended before its first step: fewer partials
    check_partials_then_finals(fast_stereo, min_partials=1)
    seen = segments(fast_stereo)
    assert {s["ChannelId"] for s in seen if not s["IsPartial"]} == {"ch_0", "ch_1"}
    start = next(line["t"] for line in fast_stereo if line["type"] == "audio-start")
    sent = next(line["t"] for line in fast_stereo if line["type"] == "sent")
    assert sent - start < load_reference("conversation_stereo")["duration_s"] / 2


def test_real_time_stream_gives_partials_while_the_audio_is_sent(paused_and_resumed):
    first, _second = paused_and_resumed
    check_partials_then_finals(first, min_partials=3)  # one a second or so while a turn is spoken
    sent = next(line["t"] for line in first if line["type"] == "sent")
    first_partial = next(line["t"] for line in first if line["type"] == "segment")
    assert first_partial < sent - 5  # the first 14.7 s are sent in real time
    assert all("ChannelId" not in s for s in segments(first))  # no ChannelDefinitions: no ChannelId


def test_segments_follow_the_service_model(fast_stereo):
    last_end = {"ch_0": 0.0, "ch_1": 0.0}
    for segment in segments(fast_stereo):
        assert set(segment) <= SEGMENT_KEYS and SEGMENT_KEYS - set(segment) <= {"ChannelId"}
        assert segment["Content"] and segment["Items"]
        assert {item["Type"] for item in segment["Items"]} <= {"pronunciation", "punctuation"}
        for item in segment["Items"]:
            assert segment["BeginAudioTime"] <= item["BeginAudioTime"] <= item["EndAudioTime"]
            assert item["EndAudioTime"] <= segment["EndAudioTime"]
            if item["Type"] == "pronunciation":
                assert 0 <= item["Confidence"] <= 1
        if not segment["IsPartial"]:  # finals advance through each channel's audio
            assert segment["BeginAudioTime"] >= last_end[segment["ChannelId"]] - 0.5
            last_end[segment["ChannelId"]] = segment["EndAudioTime"]
    assert max(last_end.values()) <= load_reference("conversation_stereo")["duration_s"] + 0.1


def test_end_of_session_writes_the_transcript_and_clinical_document(fast_stereo, s3, stack):
    details = last_details(fast_stereo)
    session_id = details["SessionId"]
    assert details["StreamStatus"] == "COMPLETED"
    assert details["StreamEndedAt"] >= details["StreamCreatedAt"]
    assert details["ChannelDefinitions"] == CHANNEL_DEFINITIONS
    assert details["ResourceAccessRoleArn"] == ROLE_ARN
    result = details["PostStreamAnalyticsResult"]["ClinicalNoteGenerationResult"]
    assert result["Status"] == "COMPLETED", result
    prefix = f"{stack.s3_endpoint}/{OUTPUT_BUCKET}/healthscribe-streaming/{session_id}/post-stream-analytics/clinical-notes/"
    assert result["TranscriptOutputLocation"] == prefix + "transcript.json"
    assert result["ClinicalNoteOutputLocation"] == prefix + "summary.json"
    conversation = read_output(s3, result["TranscriptOutputLocation"], stack.s3_endpoint)["Conversation"]
    assert conversation["SessionId"] == session_id and "JobName" not in conversation
    roles = {s["ParticipantDetails"]["ParticipantRole"] for s in conversation["TranscriptSegments"]}
    assert roles == {"CLINICIAN_0", "PATIENT_0"}  # from the ChannelDefinitions
    note = read_output(s3, result["ClinicalNoteOutputLocation"], stack.s3_endpoint)["ClinicalDocumentation"]
    assert note["SessionId"] == session_id and note["Sections"]
    segment_ids = {s["SegmentId"] for s in conversation["TranscriptSegments"]}
    links = [
        link["SegmentId"]
        for section in note["Sections"]
        for s in section["Summary"]
        for link in s["EvidenceLinks"]
    ]
    assert links and set(links) <= segment_ids


def test_final_segments_are_as_good_as_the_batch_job(fast_stereo, stereo_batch_text, s3, stack):
    """WER of the stereo session's final segments, of its post-stream transcript and of the batch job
    on the same recording (82 reference words: one word is 1.2 points); live finals at most LIVE_WER_AT_MOST."""
    reference = load_reference("conversation_stereo")["text"]
    count = len(normalize(reference))
    streamed = word_errors(reference, final_words(fast_stereo)) / count
    analytics = word_errors(reference, post_stream_text(s3, stack, last_details(fast_stereo))) / count
    batch = word_errors(reference, stereo_batch_text) / count
    print(
        f"\nWER conversation_stereo: stream finals {streamed:.3f}, post-stream {analytics:.3f}, batch {batch:.3f}"
    )
    assert streamed <= LIVE_WER_AT_MOST, (streamed, batch)
    assert analytics <= batch + WER_MARGIN, (analytics, batch)


def test_the_resumed_session_is_transcribed_as_the_batch_job(paused_and_resumed, mono_batch_text, s3, stack):
    """The mono session, paused and resumed: its post-stream transcript (all of its audio, one batch
    pipeline run) is within 2 points of the batch job's; its live finals at most LIVE_WER_AT_MOST."""
    first, second = paused_and_resumed
    reference = load_reference("conversation_mono")["text"]
    count = len(normalize(reference))
    streamed = word_errors(reference, final_words(first) + " " + final_words(second)) / count
    analytics = word_errors(reference, post_stream_text(s3, stack, last_details(second))) / count
    batch = word_errors(reference, mono_batch_text) / count
    print(
        f"\nWER conversation_mono: stream finals {streamed:.3f}, post-stream {analytics:.3f}, batch {batch:.3f}"
    )
    assert analytics <= batch + WER_MARGIN, (analytics, batch)
    assert streamed <= LIVE_WER_AT_MOST, (streamed, batch)


def test_pause_and_resume_with_the_same_session_id(paused_and_resumed, s3, stack):
    first, second = paused_and_resumed
    paused = last_details(first)
    assert paused["StreamStatus"] == "PAUSED" and "PostStreamAnalyticsResult" not in paused
    assert not errors(second), errors(second)
    resumed = last_details(second)
    assert resumed["SessionId"] == paused["SessionId"]
    assert resumed["StreamStatus"] == "COMPLETED"
    assert resumed["PostStreamAnalyticsResult"]["ClinicalNoteGenerationResult"]["Status"] == "COMPLETED"
    # the resumed stream's times go on from the audio of the first
    assert min(s["BeginAudioTime"] for s in segments(second)) >= PAUSE_AT_S - 0.5
    duration = load_reference("conversation_mono")["duration_s"]
    assert max(s["EndAudioTime"] for s in segments(second)) > duration - 3
    # the session's transcript is of all its audio, both streams (its WER: the test above)
    result = resumed["PostStreamAnalyticsResult"]["ClinicalNoteGenerationResult"]
    conversation = read_output(s3, result["TranscriptOutputLocation"], stack.s3_endpoint)["Conversation"]
    times = [(s["BeginAudioTime"], s["EndAudioTime"]) for s in conversation["TranscriptSegments"]]
    assert min(times)[0] < 1.0 and max(end for _begin, end in times) > duration - 3


def test_an_ogg_opus_session_is_kept_decoded_and_transcribed_as_the_pcm_one(
    node, endpoint, fast_stereo, s3, stack, tmp_path
):
    """The stereo visit streamed as Ogg-Opus at four times real time: the session keeps its audio
    decoded (16 kHz PCM), and its post-stream transcript is as good as the PCM session's (82 reference
    words: one word is 1.2 points; Opus is lossy)."""
    from test_streaming import encoded_copy

    encoded = encoded_copy("conversation_stereo", "ogg-opus", tmp_path)
    lines = scribe(
        node, endpoint, "conversation_stereo", pace=4, configuration=STEREO_CONFIGURATION,
        waitAnalyticsS=240, encoded=encoded,
    )  # fmt: skip
    assert not errors(lines), errors(lines)
    details = last_details(lines)
    assert details["MediaEncoding"] == "ogg-opus" and details["MediaSampleRateHertz"] == encoded["rate"]
    result = details["PostStreamAnalyticsResult"]["ClinicalNoteGenerationResult"]
    assert result["Status"] == "COMPLETED", result
    check_partials_then_finals(lines, min_partials=1)
    reference = load_reference("conversation_stereo")["text"]
    count = len(normalize(reference))
    opus = word_errors(reference, post_stream_text(s3, stack, details)) / count
    pcm = word_errors(reference, post_stream_text(s3, stack, last_details(fast_stereo))) / count
    assert opus <= pcm + 0.05, (opus, pcm)


def test_a_completed_session_cannot_be_resumed(node, endpoint, fast_stereo):
    session_id = last_details(fast_stereo)["SessionId"]
    lines = scribe(
        node,
        endpoint,
        "conversation_stereo",
        pace=0,
        sessionId=session_id,
        configuration=STEREO_CONFIGURATION,
    )
    assert [line["name"] for line in errors(lines)] == ["BadRequestException"]
    assert not segments(lines)


def test_a_wrongly_signed_stream_is_refused(node, endpoint, fast_stereo):
    lines = scribe(node, endpoint, pace=0, secret="not-the-engine-secret")
    assert [line["name"] for line in errors(lines)] == ["InvalidSignatureException"]
    assert not segments(lines)
    session_id = last_details(fast_stereo)["SessionId"]
    lines = scribe(node, endpoint, getOnly=True, sessionId=session_id, secret="not-the-engine-secret")
    assert [line["name"] for line in errors(lines)] == ["InvalidSignatureException"]


def test_an_unknown_session_is_not_found(node, endpoint):
    lines = scribe(node, endpoint, getOnly=True, sessionId="00000000-0000-4000-8000-000000000000")
    assert [line["name"] for line in errors(lines)] == ["ResourceNotFoundException"]


def _analytics(**notes) -> dict:
    return {"ClinicalNoteGenerationSettings": {"OutputBucketName": OUTPUT_BUCKET, **notes}}


@pytest.mark.parametrize(
    ("options", "wording"),
    [
        ({"noConfiguration": True}, "first event of a stream must be a ConfigurationEvent"),
        ({"configuration": {"ResourceAccessRoleArn": ROLE_ARN}}, "PostStreamAnalyticsSettings"),
        (
            {"configuration": {**CONFIGURATION, "ResourceAccessRoleArn": "arn:aws:iam::1:user/x"}},
            "ResourceAccessRoleArn",
        ),
        (
            {
                "configuration": {
                    **CONFIGURATION,
                    "PostStreamAnalyticsSettings": _analytics(NoteTemplate="SONNET"),
                }
            },
            "noteTemplate",
        ),
        (
            {"configuration": {**CONFIGURATION, "ChannelDefinitions": CHANNEL_DEFINITIONS[:1]}},
            "exactly two channels",
        ),
        ({"configuration": {**CONFIGURATION, "VocabularyFilterName": "some-filter"}}, "must be set together"),
        (
            {"configuration": {**CONFIGURATION, "VocabularyName": "no-such-vocabulary"}},
            "vocabulary couldn't be found",
        ),
        ({"settings": {"MediaSampleRateHertz": 8000}}, "sample rate"),
    ],
)
def test_a_bad_configuration_is_a_bad_request(node, endpoint, options, wording):
    lines = scribe(node, endpoint, pace=0, **options)
    (error,) = errors(lines)
    assert error["name"] == "BadRequestException"
    assert wording in error["message"]
    assert not segments(lines)

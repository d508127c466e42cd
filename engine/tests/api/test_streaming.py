"""StartMedicalStreamTranscription through the official AWS SDK for JavaScript v3 against the engine's
streaming port (cleartext HTTP/2, event-stream framing, SigV4 with signed event chunks).

Each test runs ``engine/tests/streaming/stream.mjs`` (``@aws-sdk/client-transcribe-streaming``, pinned in
``package.json`` / ``package-lock.json``, installed by ``scripts/node_deps.sh``) on a sample recording and
reads the JSON lines it prints.
"""

from __future__ import annotations

import threading
import time

import pytest
from engine_helpers import FIXTURES, load_reference, read_output, run_engine, wait_scribe
from streaming_client import run_client
from test_engine_transcription import normalize, word_error_rate

pytestmark = pytest.mark.engine

# A stream's finals are a function of its audio, whatever its pace or the engine's load
# (engine/tests/streaming/test_stream_finals.py), but not as good as the batch jobs on every recording: on
# these three (217 words) tiny.en garbles one final of the mono conversation with the speech before it
# ("My mother had asthma" -> "and her husband"), 7 points over the batch jobs, while over 2,600 words of
# the benchmark corpora the finals are within 0.4-2.0 points of the batch recognizer
# (bench/streaming/README.md, arrival.py: that is where parity is measured). Here each stream's finals must
# be its recording's words, at most one in four wrong (as the HealthScribe streams' live finals).
LIVE_WER_AT_MOST = 0.25


def stream(node: str, endpoint: str, name: str, timeout: float = 240, **options) -> list[dict]:
    """The lines stream.mjs printed for the recording ``name`` with ``options``."""
    options = {"endpoint": endpoint, "file": str(FIXTURES / f"{name}.wav"), "pace": 1, **options}
    return run_client(node, "stream.mjs", options, timeout)


def results(lines: list[dict]) -> list[dict]:
    return [line["result"] for line in lines if line["type"] == "result"]


def final_text(lines: list[dict], channel: str | None = None) -> str:
    finals = [
        r for r in results(lines) if not r["IsPartial"] and (channel is None or r["ChannelId"] == channel)
    ]
    return " ".join(r["Alternatives"][0]["Transcript"] for r in sorted(finals, key=lambda r: r["StartTime"]))


def words_in_time_order(lines: list[dict]) -> str:
    """The finals' words of all channels merged by start time (as a batch job merges its channels)."""
    items = [
        item
        for result in results(lines)
        if not result["IsPartial"]
        for item in result["Alternatives"][0]["Items"]
        if item["Type"] == "pronunciation"
    ]
    return " ".join(item["Content"] for item in sorted(items, key=lambda item: item["StartTime"]))


def errors(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["type"] == "error"]


@pytest.fixture(scope="module")
def dictation_batch_text(s3, stack, transcribe, reference_jobs) -> str:
    name = reference_jobs["dictation"]
    waiter = transcribe.get_waiter("medical_transcription_job_completed")
    waiter.wait(MedicalTranscriptionJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    job = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=name)[
        "MedicalTranscriptionJob"
    ]
    output = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)
    return output["results"]["transcripts"][0]["transcript"]


@pytest.fixture(scope="module")
def realtime_dictation(node, endpoint, dictation_batch_text) -> list[dict]:
    # the batch job runs first: the stream is timed against the audio, not against a queue of jobs
    return stream(node, endpoint, "dictation", pace=1, settings={"Type": "DICTATION"})


def test_realtime_stream_gives_partials_then_finals(realtime_dictation):
    lines = realtime_dictation
    assert not errors(lines), errors(lines)
    assert lines[-1]["type"] == "done"
    seen = results(lines)
    assert seen[0]["IsPartial"] is True
    finals = [r for r in seen if not r["IsPartial"]]
    assert finals
    for final in finals:  # every final comes after the partials of its utterance, none after it
        positions = [i for i, r in enumerate(seen) if r["ResultId"] == final["ResultId"]]
        assert seen[positions[-1]] is final
        assert all(seen[i]["IsPartial"] for i in positions[:-1])
    partials = [r for r in seen if r["IsPartial"]]
    assert len(partials) >= 3  # one per second or so of speech while it is spoken
    # partials arrive while the audio is still being sent (real time: the file lasts 24.6 s)
    sent = next(line["t"] for line in lines if line["type"] == "sent")
    first_partial = next(line["t"] for line in lines if line["type"] == "result")
    assert first_partial < sent - 10


def test_final_results_follow_the_service_model(realtime_dictation):
    finals = [r for r in results(realtime_dictation) if not r["IsPartial"]]
    last_end = 0.0
    for final in finals:
        assert set(final) == {"ResultId", "StartTime", "EndTime", "IsPartial", "Alternatives"}
        (alternative,) = final["Alternatives"]
        assert alternative["Transcript"]
        words = [item for item in alternative["Items"] if item["Type"] == "pronunciation"]
        assert words and {item["Type"] for item in alternative["Items"]} <= {"pronunciation", "punctuation"}
        for item in words:
            assert 0 <= item["Confidence"] <= 1
            assert final["StartTime"] <= item["StartTime"] <= item["EndTime"] <= final["EndTime"]
        assert final["StartTime"] >= last_end - 0.5  # finals advance through the audio
        last_end = final["EndTime"]
    assert last_end <= load_reference("dictation")["duration_s"] + 0.1


def word_errors(reference: str, hypothesis: str) -> tuple[float, int]:
    """(errors, reference words) of ``hypothesis``."""
    words = len(normalize(reference))
    return word_error_rate(reference, hypothesis) * words, words


@pytest.fixture(scope="module")
def stereo_batch_text(s3, stack, transcribe, reference_jobs) -> str:
    job = wait_scribe(transcribe, reference_jobs["stereo"], timeout=600)
    assert job["MedicalScribeJobStatus"] == "COMPLETED"
    conversation = read_output(s3, job["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint)
    return " ".join(s["Content"] for s in conversation["Conversation"]["TranscriptSegments"])


@pytest.fixture(scope="module")
def fast_stereo(node, endpoint, stereo_batch_text) -> list[dict]:
    return stream(node, endpoint, "conversation_stereo", pace=4)


@pytest.fixture(scope="module")
def mono_batch_text(s3, stack, transcribe, reference_jobs) -> str:
    if "mono_refused" in reference_jobs:
        pytest.skip(reference_jobs["mono_refused"])
    job = wait_scribe(transcribe, reference_jobs["mono"], timeout=600)
    assert job["MedicalScribeJobStatus"] == "COMPLETED"
    conversation = read_output(s3, job["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint)
    return " ".join(s["Content"] for s in conversation["Conversation"]["TranscriptSegments"])


@pytest.fixture(scope="module")
def fast_mono_with_speakers(node, endpoint, mono_batch_text) -> list[dict]:
    settings = {"ShowSpeakerLabel": True, "ContentIdentificationType": "PHI"}
    return stream(node, endpoint, "conversation_mono", pace=2, settings=settings)


def test_speaker_labels_and_phi_entities_on_finals(fast_mono_with_speakers):
    lines = fast_mono_with_speakers
    assert not errors(lines), errors(lines)
    finals = [r for r in results(lines) if not r["IsPartial"]]
    items = [item for r in finals for item in r["Alternatives"][0]["Items"]]
    assert items and all(item["Speaker"].isdigit() for item in items)
    assert len({item["Speaker"] for item in items}) >= 2  # a clinician and a patient
    assert all("Entities" in r["Alternatives"][0] for r in finals)
    partials = [r for r in results(lines) if r["IsPartial"]]
    assert all("Entities" not in r["Alternatives"][0] for r in partials)


def test_faster_than_real_time_with_channel_identification(fast_stereo):
    lines = fast_stereo
    assert not errors(lines), errors(lines)
    seen = results(lines)
    assert seen[0]["IsPartial"] is True
    assert {r["ChannelId"] for r in seen if not r["IsPartial"]} == {"ch_0", "ch_1"}
    reference = load_reference("conversation_stereo")
    # each channel holds one side: its finals hold that side's turns
    for channel in (0, 1):
        side = " ".join(turn["text"] for turn in reference["turns"] if turn["channel"] == channel)
        assert word_error_rate(side, final_text(lines, f"ch_{channel}")) < 0.3
    sent = next(line["t"] for line in lines if line["type"] == "sent")
    start = next(line["t"] for line in lines if line["type"] == "audio-start")
    assert (
        sent - start < reference["duration_s"] / 2
    )  # the SDK sent the audio four times faster than real time


def test_final_transcripts_hold_each_recordings_words(
    realtime_dictation, fast_stereo, fast_mono_with_speakers
):
    """Each stream's finals, all channels merged by start time as a batch job merges them, are its
    recording's words (LIVE_WER_AT_MOST): a word recovered from a final's context keeps the time it was
    said at, so it is not placed among the other channel's words."""
    for name, lines in (
        ("dictation", realtime_dictation),
        ("conversation_stereo", fast_stereo),
        ("conversation_mono", fast_mono_with_speakers),
    ):
        assert not errors(lines), errors(lines)
        wrong, count = word_errors(load_reference(name)["text"], words_in_time_order(lines))
        assert wrong / count <= LIVE_WER_AT_MOST, (name, wrong, count)


def encoded_copy(name: str, encoding: str, folder) -> dict:
    """The recording ``name`` encoded as FLAC or Ogg-Opus (PyAV) in ``folder``: stream.mjs's ``encoded``."""
    import av

    target = folder / f"{name}.{'ogg' if encoding == 'ogg-opus' else 'flac'}"
    with av.open(str(FIXTURES / f"{name}.wav")) as source:
        audio = source.streams.audio[0]
        rate, channels = audio.codec_context.sample_rate, audio.codec_context.channels
        with av.open(str(target), "w", format="ogg" if encoding == "ogg-opus" else "flac") as out:
            stream = out.add_stream("libopus" if encoding == "ogg-opus" else "flac", rate=rate)
            stream.layout = audio.layout.name
            for frame in source.decode(audio):
                frame.pts = None
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    duration = load_reference(name)["duration_s"]
    return {
        "file": str(target),
        "encoding": encoding,
        "rate": rate,
        "channels": channels,
        "durationS": duration,
    }


def test_a_flac_stream_is_transcribed_as_the_pcm_one(node, endpoint, tmp_path, realtime_dictation):
    """The dictation streamed as FLAC bytes at four times real time: partials, then finals that are the
    recording's words (LIVE_WER_AT_MOST; 53 reference words). Ogg-Opus goes end to end through a
    HealthScribe stream (test_scribe_stream.py); both are decoded in streaming/test_stream_protocol.py."""
    lines = stream(
        node, endpoint, "dictation", pace=4, settings={"Type": "DICTATION"},
        encoded=encoded_copy("dictation", "flac", tmp_path),
    )  # fmt: skip
    assert not errors(lines), errors(lines)
    seen = results(lines)
    assert seen[0]["IsPartial"] is True and seen[-1]["IsPartial"] is False
    reference = load_reference("dictation")["text"]
    encoded_errors, words = word_errors(reference, final_text(lines))
    assert encoded_errors / words <= LIVE_WER_AT_MOST, (final_text(lines), encoded_errors)


def test_the_websocket_form_gives_partials_then_finals_as_the_http2_form(node, stack, realtime_dictation):
    """The dictation through the SDK's WebSocket handler (presigned URL, one signed event per message) at
    four times real time, the microphone left open until the last final (the handler closes the socket
    after its last event): the same kind of results as over HTTP/2, finals that are the recording's words
    (LIVE_WER_AT_MOST; 53 reference words)."""
    lines = stream(
        node, stack.engine_websocket_endpoint, "dictation", pace=4, websocket=True, holdOpenS=30,
        settings={"Type": "DICTATION"},
    )  # fmt: skip
    assert not errors(lines), errors(lines)
    seen = results(lines)
    assert seen[0]["IsPartial"] is True and seen[-1]["IsPartial"] is False
    assert lines[-1]["type"] == "done"
    reference = load_reference("dictation")["text"]
    socket_errors, words = word_errors(reference, final_text(lines))
    assert socket_errors / words <= LIVE_WER_AT_MOST, (final_text(lines), socket_errors)


def test_a_websocket_stream_with_a_bad_presigned_url_or_settings_is_refused(node, stack):
    lines = stream(
        node, stack.engine_websocket_endpoint, "dictation", websocket=True, secret="not-the-secret"
    )
    assert errors(lines) and not results(lines)  # the upgrade was answered 403: no socket
    log = stack.engine.log_path.read_text()
    assert "websocket stream refused: InvalidSignatureException" in log
    # in real time: the SDK's handler closes the socket once its last event is sent, and an exception that
    # arrives after that is not delivered (a WebSocket in CLOSING drops messages)
    lines = stream(
        node, stack.engine_websocket_endpoint, "dictation", pace=1, websocket=True,
        settings={"MediaSampleRateHertz": 7000},
    )  # fmt: skip
    (error,) = errors(lines)
    assert error["name"] == "BadRequestException" and "sample rate" in error["message"]


def test_a_wrongly_signed_stream_is_refused(node, endpoint):
    lines = stream(node, endpoint, "dictation", secret="not-the-engine-secret")
    assert [line["name"] for line in errors(lines)] == ["InvalidSignatureException"]
    assert not results(lines)


def test_a_client_that_stops_sending_is_ended_after_the_timeout(node, endpoint, stack):
    started = time.monotonic()
    lines = stream(node, endpoint, "dictation", stopAfterS=2, holdS=60, timeout=120)
    took = time.monotonic() - started
    (error,) = errors(lines)
    assert error["name"] == "BadRequestException"
    assert "no new audio was received for 15 seconds" in error["message"]
    assert 15 <= took < 45
    log = stack.engine.log_path.read_text()
    assert "stream ended with BadRequestException" in log


@pytest.mark.parametrize(
    ("settings", "wording"),
    [
        ({"MediaSampleRateHertz": 7000}, "sample rate"),
        ({"MediaEncoding": "flac"}, "isn't valid flac"),  # the WAV's PCM, said to be FLAC
        ({"LanguageCode": "es-US"}, "language code"),
        ({"EnableChannelIdentification": True, "NumberOfChannels": 3}, "number of channels"),
        ({"VocabularyName": "no-such-vocabulary"}, "vocabulary couldn't be found"),
    ],
)
def test_settings_the_engine_refuses_are_bad_requests(node, endpoint, settings, wording):
    lines = stream(node, endpoint, "dictation", pace=0, settings=settings)
    (error,) = errors(lines)
    assert error["name"] == "BadRequestException"
    assert wording in error["message"]
    assert not results(lines)


def test_streams_past_the_limit_get_limit_exceeded(node, endpoint):
    # two streams that send half a second of audio and then wait hold the engine's two places
    holders = [
        threading.Thread(
            target=stream, args=(node, endpoint, "dictation"), kwargs={"stopAfterS": 0.5, "holdS": 8}
        )
        for _ in range(2)
    ]
    for holder in holders:
        holder.start()
    time.sleep(3)
    lines = stream(node, endpoint, "dictation", pace=0)
    for holder in holders:
        holder.join()
    (error,) = errors(lines)
    assert error["name"] == "LimitExceededException"


def test_a_stream_port_in_use_exits_2_before_loading_models(tmp_path, stack):
    result = run_engine(tmp_path / "data", "--stream-port", str(stack.engine_stream_port), timeout=60)
    assert result.returncode == 2
    assert f"port {stack.engine_stream_port}" in result.stderr and "already in use" in result.stderr

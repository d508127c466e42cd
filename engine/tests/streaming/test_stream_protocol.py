"""The streaming API's pieces on fixed inputs: event-stream framing, the chain of event signatures, the
request headers, PCM, FLAC and Ogg-Opus decoding (engine environment; the end-to-end test with the AWS SDK for JavaScript is
engine/tests/api/test_streaming.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("botocore", reason="needs the engine environment (.venv-engine)")

from medscribe_engine.auth import SignedHeaders, SigningKey, SigV4Verifier
from medscribe_engine.exceptions import BadRequestException, InvalidSignatureException
from medscribe_engine.streaming import eventstream
from medscribe_engine.streaming.settings import PcmDecoder, audio_decoder, parse_settings
from medscribe_engine.streaming.signing import ChunkVerifier, signing_key, verify_presigned

SECRET = "medscribe-local-secret"
NOW = datetime(2026, 12, 6, 0, 30, tzinfo=UTC)
REGION = "us-east-1"


def test_messages_round_trip_in_pieces():
    first = eventstream.event("TranscriptEvent", {"Transcript": {"Results": []}})
    second = eventstream.exception_event("BadRequestException", "no")
    data = first + second
    reader = eventstream.MessageReader()
    got = reader.feed(data[:7]) + reader.feed(data[7:40]) + reader.feed(data[40:])
    assert [m.headers[":message-type"] for m in got] == ["event", "exception"]
    assert json.loads(got[0].payload) == {"Transcript": {"Results": []}}
    assert got[1].headers[":exception-type"] == "BadRequestException"
    assert json.loads(got[1].payload) == {"Message": "no"}


def test_typed_headers_and_crcs():
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    data = eventstream.encode({":date": stamp, ":chunk-signature": b"\x01" * 32, "n": 7, "ok": True}, b"x")
    (message,) = eventstream.MessageReader().feed(data)
    assert message.headers == {":date": 1767323045678, ":chunk-signature": b"\x01" * 32, "n": 7, "ok": True}
    corrupted = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
    with pytest.raises(eventstream.ParserError):
        eventstream.MessageReader().feed(corrupted)


def sign_chunk(prior: str, payload: bytes, when: datetime, secret: str = SECRET) -> bytes:
    """A signed chunk as the AWS SDKs make it (``signEvent`` of @smithy/signature-v4)."""
    millis = int(when.timestamp() * 1000)
    date_header = struct.pack("!B", 5) + b":date" + b"\x08" + struct.pack("!q", millis)
    long_date = when.strftime("%Y%m%dT%H%M%SZ")
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            long_date,
            f"{long_date[:8]}/{REGION}/transcribe/aws4_request",
            prior,
            hashlib.sha256(date_header).hexdigest(),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    signature = hmac.new(
        signing_key(secret, long_date[:8], REGION), to_sign.encode(), hashlib.sha256
    ).digest()
    return eventstream.encode({":date": when, ":chunk-signature": signature}, payload)


def chunk_verifier(seed: str = "ab" * 32) -> ChunkVerifier:
    verifier = SigV4Verifier([SigningKey.from_env()], now=lambda: NOW, region=REGION)
    signed = SignedHeaders("medscribe-local", SECRET, NOW.strftime("%Y%m%dT%H%M%SZ"), [], seed, {})
    return ChunkVerifier(signed, verifier)


def chain(payloads: list[bytes], seed: str = "ab" * 32, secret: str = SECRET) -> list[bytes]:
    chunks, prior = [], seed
    for index, payload in enumerate(payloads):
        data = sign_chunk(prior, payload, NOW + timedelta(seconds=index), secret)
        (message,) = eventstream.MessageReader().feed(data)
        prior = message.headers[":chunk-signature"].hex()
        chunks.append(data)
    return chunks


def opened(verifier: ChunkVerifier, chunks: list[bytes]) -> list[bytes]:
    reader = eventstream.MessageReader()
    return [verifier.open(message) for data in chunks for message in reader.feed(data)]


def test_a_chain_of_signed_chunks_opens_in_order():
    audio = [
        eventstream.encode({":message-type": "event", ":event-type": "AudioEvent"}, b"\x00" * n)
        for n in (2, 4)
    ]
    assert opened(chunk_verifier(), chain([*audio, b""])) == [*audio, b""]


@pytest.mark.parametrize(
    "tamper",
    ["other secret", "other seed", "reordered", "payload changed", "too old"],
)
def test_a_broken_chain_is_refused(tamper):
    payloads = [b"one", b"two"]
    chunks = chain(payloads, secret="wrong" if tamper == "other secret" else SECRET)
    verifier = chunk_verifier("cd" * 32 if tamper == "other seed" else "ab" * 32)
    if tamper == "reordered":
        chunks.reverse()
    if tamper == "payload changed":
        (message,) = eventstream.MessageReader().feed(chunks[0])
        chunks[0] = eventstream.encode(message.headers | {":date": NOW}, b"ONE")
    if tamper == "too old":
        verifier.verifier.now = lambda: NOW + timedelta(minutes=16)
    with pytest.raises(InvalidSignatureException):
        opened(verifier, chunks)


HEADERS = {
    "x-amzn-transcribe-language-code": "en-US",
    "x-amzn-transcribe-sample-rate": "16000",
    "x-amzn-transcribe-media-encoding": "pcm",
    "x-amzn-transcribe-specialty": "PRIMARYCARE",
    "x-amzn-transcribe-type": "CONVERSATION",
}


def test_settings_from_headers():
    settings = parse_settings(
        HEADERS
        | {
            "x-amzn-transcribe-enable-channel-identification": "true",
            "x-amzn-transcribe-number-of-channels": "2",
            "x-amzn-transcribe-content-identification-type": "PHI",
        }
    )
    assert (settings.channel_identification, settings.number_of_channels) == (True, 2)
    assert settings.content_identification == "PHI"
    assert len(settings.session_id) == 36
    echoed = dict(settings.response_headers())
    assert echoed["x-amzn-transcribe-session-id"] == settings.session_id


@pytest.mark.parametrize(
    "change",
    [
        {"x-amzn-transcribe-sample-rate": "7999"},
        {"x-amzn-transcribe-sample-rate": "48001"},
        {"x-amzn-transcribe-media-encoding": "mp3"},
        {"x-amzn-transcribe-specialty": "DERMATOLOGY"},
        {"x-amzn-transcribe-type": None},
        {"x-amzn-transcribe-number-of-channels": "2"},
        {"x-amzn-transcribe-enable-channel-identification": "true"},
        {"x-amzn-transcribe-content-identification-type": "PII"},
        {"x-amzn-transcribe-session-id": "not-a-uuid"},
    ],
)
def test_settings_the_model_refuses(change):
    headers = {name: value for name, value in (HEADERS | change).items() if value is not None}
    with pytest.raises(BadRequestException):
        parse_settings(headers)


def test_pcm_channels_split_and_resampled():
    stereo = np.array([[1000, -1000]] * 800, dtype="<i2").tobytes()
    decoder = PcmDecoder(16000, 2)
    left, _right = decoder.decode(stereo[:3])  # half a frame waits for the rest
    assert len(left) == 0
    left, right = decoder.decode(stereo[3:])
    assert len(left) == len(right) == 800
    assert left[0] == pytest.approx(1000 / 32768) and right[0] == pytest.approx(-1000 / 32768)
    narrow = PcmDecoder(8000, 1)
    total = sum(len(narrow.decode(np.zeros(800, dtype="<i2").tobytes())[0]) for _ in range(10))
    total += len(narrow.flush()[0])  # what the resampler held back
    assert abs(total - 16000) <= 2  # one second at 8 kHz is one second at 16 kHz


@pytest.mark.parametrize(
    ("change", "wording"),
    [
        ({"X-Amz-Signature": None}, "needs a presigned URL"),
        ({"X-Amz-SignedHeaders": "host;x-amz-date"}, "host header only"),
        ({"X-Amz-Expires": "301"}, "between 1 and 300"),
        ({"X-Amz-Date": (NOW - timedelta(seconds=61)).strftime("%Y%m%dT%H%M%SZ")}, "has expired"),
        ({"language-code": "de-DE"}, "signature we calculated does not match"),  # changed after signing
    ],
)
def test_presigned_websocket_urls_are_checked_before_the_upgrade(change, wording):
    """A URL presigned as the AWS SDKs do (query authentication, host signed, the empty body's hash)
    passes; one missing a part, expired, or changed after signing is refused."""
    from urllib.parse import quote

    from medscribe_engine.streaming.signing import EMPTY_PAYLOAD

    verifier = SigV4Verifier([SigningKey("medscribe-local", SECRET)], now=lambda: NOW, region=REGION)
    path, host = "/medical-stream-transcription-websocket", "127.0.0.1:5058"

    def presigned(date: datetime) -> dict:
        amz_date = date.strftime("%Y%m%dT%H%M%SZ")
        query = {
            "language-code": "en-US", "media-encoding": "pcm", "sample-rate": "16000",
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": amz_date, "X-Amz-Expires": "60",
            "X-Amz-Credential": f"medscribe-local/{amz_date[:8]}/{REGION}/transcribe/aws4_request",
            "X-Amz-SignedHeaders": "host",
        }  # fmt: skip
        canonical_query = "&".join(
            sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query.items())
        )
        canonical = f"GET\n{path}\n{canonical_query}\nhost:{host}\n\nhost\n{EMPTY_PAYLOAD}"
        scope = f"{amz_date[:8]}/{REGION}/transcribe/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = signing_key(SECRET, amz_date[:8], REGION)
        return {**query, "X-Amz-Signature": hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()}

    query = presigned(NOW - timedelta(seconds=30))
    assert verify_presigned(verifier, path, query, host).access_key_id == "medscribe-local"
    if "X-Amz-Date" in change:  # signed then, so only its age is wrong
        query = presigned(NOW - timedelta(seconds=61))
    else:
        query = {name: value for name, value in (query | change).items() if value is not None}
    with pytest.raises(InvalidSignatureException, match=wording):
        verify_presigned(verifier, path, query, host)


def encoded(encoding: str, rate: int, channels: int, seconds: float = 3.0) -> bytes:
    """A tone (a different one per channel: 300 Hz, 500 Hz) encoded as FLAC or Ogg-Opus."""
    import io

    import av

    t = np.arange(int(rate * seconds)) / rate
    tones = np.stack([np.sin(2 * np.pi * (300 + 200 * k) * t) * 0.3 for k in range(channels)])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg" if encoding == "ogg-opus" else "flac") as container:
        stream = container.add_stream("libopus" if encoding == "ogg-opus" else "flac", rate=rate)
        stream.layout = "mono" if channels == 1 else "stereo"
        samples = (tones.T.reshape(1, -1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=stream.layout)
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(("encoding", "rate"), [("flac", 44100), ("ogg-opus", 48000)])
def test_flac_and_ogg_opus_arrive_in_pieces_and_come_out_at_16_khz(encoding, rate):
    data = encoded(encoding, rate, 2)
    decoder = audio_decoder(encoding, rate, 2)
    cut = len(data) * 2 // 3 // 700 * 700
    parts = [decoder.decode(data[i : i + 700]) for i in range(0, cut, 700)]
    waited = time.monotonic()
    while sum(len(part[0]) for part in parts) < 8000 and time.monotonic() - waited < 10:
        parts.append(decoder.decode(b""))  # the decoder thread catching up
        time.sleep(0.01)
    # 2 s sent: FFmpeg holds about a second while it reads the container's start; the rest comes out
    assert sum(len(part[0]) for part in parts) >= 8000
    parts += [decoder.decode(data[i : i + 700]) for i in range(cut, len(data), 700)]
    parts.append(decoder.flush())
    left, right = (np.concatenate([part[k] for part in parts]) for k in (0, 1))
    assert abs(len(left) - 3 * 16000) <= 400 and len(left) == len(right)  # 3 s (Opus adds its pre-skip)
    for channel, tone in ((left, 300), (right, 500)):  # each channel its own tone
        spectrum = np.abs(np.fft.rfft(channel[8000:40000]))
        assert abs(np.argmax(spectrum) * 16000 / 32000 - tone) <= 2


@pytest.mark.parametrize(
    ("data", "channels", "wording"),
    [
        (np.zeros(8000, dtype="<i2").tobytes(), 1, "isn't valid flac"),  # PCM said to be FLAC
        (encoded("flac", 16000, 1, 0.5), 2, "has 1 channel(s); the stream was started for 2"),
    ],
)
def test_audio_that_is_not_what_the_stream_said_is_a_bad_request(data, channels, wording):
    decoder = audio_decoder("flac", 16000, channels)
    with pytest.raises(BadRequestException, match=wording.replace("(", r"\(").replace(")", r"\)")):
        for i in range(0, len(data), 1000):
            decoder.decode(data[i : i + 1000])
        decoder.flush()
    decoder.close()


def test_silence_gives_no_result_and_is_not_kept(whisper_model):
    from medscribe_engine.streaming.recognition import VAD_CHUNK, ChannelStream, StreamParams

    stream = ChannelStream(whisper_model, params=StreamParams())
    for _ in range(5):
        stream.add(np.zeros(16000, dtype=np.float32))
        assert stream.due()
        assert stream.step() == []
    assert stream.decodes == 0  # voice activity found nothing to decode
    assert len(stream._window) < StreamParams().keep_silence_s * 16000 + VAD_CHUNK  # whole chunks dropped
    assert stream.step(end_of_stream=True) == []


def test_words_missed_at_a_finals_end_are_given_with_the_next_final():
    """The context's words after the last final's words (Whisper dropped them before the end of its audio)
    are kept; a context word heard otherwise than it was said is not given twice."""
    from medscribe_engine.pipeline.asr import RawWord
    from medscribe_engine.streaming.recognition import ChannelStream

    def words(*spans):
        return [RawWord(text, start, end, 0.9) for text, start, end in spans]

    stream = ChannelStream(model=None)
    stream._said = ["assessment", "and", "plan", "hypertension"]
    heard = words(
        ("plan,", 0.6, 1.4),
        ("hypertension,", 2.1, 2.1),
        ("not", 2.6, 2.9),
        ("controlled,", 2.9, 3.6),
        ("start", 4.3, 4.5),
    )
    assert [w.text for w in stream._not_said(heard, shift=4.0)] == ["not", "controlled,", "start"]

    stream._said = ["tell", "me", "about", "your", "cough"]
    heard = words(("about", 1.0, 1.3), ("your", 1.3, 1.6), ("car.", 1.6, 1.9), ("It", 2.3, 2.4))
    assert [w.text for w in stream._not_said(heard, shift=2.0)] == ["It"]

    stream._said = []  # nothing final yet: the times decide
    assert [w.text for w in stream._not_said(heard, shift=2.0)] == ["It"]


def test_silence_does_not_become_a_finals_context(whisper_model):
    from medscribe_engine.streaming.recognition import ChannelStream

    stream = ChannelStream(whisper_model)
    for _ in range(3):
        stream.add(np.zeros(16000, dtype=np.float32))
        stream.step()
    assert len(stream._context) == 0  # the other side's turn on a channel: its silence misplaced times

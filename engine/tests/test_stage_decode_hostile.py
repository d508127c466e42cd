"""Stage ``decode`` against hostile media and URIs (issue 28 items 5 and 6, issue 27's m4a): the key read
is the key named, 4-hour media is refused from its container before decoding, decoding is bounded, and
MediaFormat=m4a is accepted for MP4 audio."""

from __future__ import annotations

import shutil
import struct
import tracemalloc
import wave
from pathlib import Path

import pytest

av = pytest.importorskip("av", reason="needs PyAV (engine environment)")
np = pytest.importorskip("numpy")
pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")

from medscribe_engine.pipeline.decode import (  # noqa: E402
    FORMAT_MISMATCH,
    MAX_DURATION_S,
    MEDIA_NOT_ACCESSIBLE,
    TOO_LONG,
    Decode,
    check_media,
    load_audio,
    probe,
)
from medscribe_engine.pipeline.document import JobDocument, JobFailed, MediaInfo  # noqa: E402
from medscribe_engine.pipeline.s3 import parse_media_uri  # noqa: E402

RATE = 16000


def probe_like(**overrides) -> MediaInfo:
    values = dict(format="wav", container="wav", sample_rate=RATE, channels=1, duration=3.0, size_bytes=1000)
    values.update(overrides)
    return MediaInfo(**values)


class RecordingS3:
    """Serves one local file under any key and records the (bucket, key) pairs asked for."""

    def __init__(self, path: Path):
        self.path = path
        self.asked: list[tuple[str, str]] = []

    def head_object(self, Bucket, Key):
        self.asked.append((Bucket, Key))
        return {"ContentLength": self.path.stat().st_size}

    def download_file(self, bucket, key, target):
        self.asked.append((bucket, key))
        shutil.copyfile(self.path, target)


def write_tone_flac(path: Path, seconds: float) -> Path:
    """A 440 Hz tone as 16 kHz mono FLAC, encoded by PyAV."""
    samples = (np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE) * 3000).astype(np.int16)
    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def declare_total_samples(path: Path, total: int) -> None:
    """Rewrite the total-samples field of a FLAC file's STREAMINFO (what the container says it holds)."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO is the first metadata block
    (packed,) = struct.unpack(">Q", data[18:26])  # rate, channels, bits per sample, 36-bit total samples
    data[18:26] = struct.pack(">Q", (packed & ~((1 << 36) - 1)) | total)
    path.write_bytes(bytes(data))


def m4a_from(source: Path, target: Path) -> Path:
    """AAC in an M4A (``ipod``) container, made by PyAV from a WAV fixture."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=RATE, layout="mono")
        for frame in inp.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def media_doc(tmp_path: Path, uri: str, **request) -> JobDocument:
    return JobDocument("job", "transcription", {"Media": {"MediaFileUri": uri}, **request}, workdir=tmp_path)


# --- item 5: the object read is the object named --------------------------------------------------------


@pytest.mark.parametrize(
    "uri, key",
    [
        ("s3://media-bucket/q?x.wav", "q?x.wav"),
        ("s3://media-bucket/visit#2.wav", "visit#2.wav"),
        ("s3://media-bucket/100%25/a%20b.wav", "100%25/a%20b.wav"),
        ("s3://media-bucket/dir//x.wav", "dir//x.wav"),
    ],
    ids=["question-mark", "hash", "percent", "double-slash"],
)
def test_s3_uri_keys_are_read_verbatim(tmp_path, fixtures_dir, uri, key):
    s3 = RecordingS3(fixtures_dir / "dictation.wav")
    Decode(s3)(media_doc(tmp_path, uri))
    assert set(s3.asked) == {("media-bucket", key)}


def test_https_uris_are_percent_decoded_and_never_cut_short(tmp_path, fixtures_dir):
    location = parse_media_uri("https://s3.us-east-1.amazonaws.com/media-bucket/q%3Fx%23y%25.wav")
    assert (location.bucket, location.key) == ("media-bucket", "q?x#y%.wav")
    hosted = parse_media_uri("https://media-bucket.s3.eu-west-1.amazonaws.com/a%20b.wav")
    assert (hosted.bucket, hosted.key) == ("media-bucket", "a b.wav")
    for uri in (
        "https://s3.us-east-1.amazonaws.com/media-bucket/q?x.wav",
        "https://s3.us-east-1.amazonaws.com/media-bucket/q#x.wav",
        "https://s3.us-east-1.amazonaws.com/media-bucket/q?",
        "https://[::1/media-bucket/x.wav",
        "s3://media-bucket/\ud800.wav",
        "s3://media-bucket/",
        "ftp://media-bucket/x.wav",
    ):
        assert parse_media_uri(uri) is None, uri
    s3 = RecordingS3(fixtures_dir / "dictation.wav")
    with pytest.raises(JobFailed) as excinfo:
        Decode(s3)(media_doc(tmp_path, "https://s3.us-east-1.amazonaws.com/media-bucket/q?x.wav"))
    assert excinfo.value.reason == MEDIA_NOT_ACCESSIBLE and s3.asked == []


# --- item 6: duration capped from the container, decoding bounded ----------------------------------------


def test_media_over_four_hours_is_refused_from_its_container(tmp_path):
    media = write_tone_flac(tmp_path / "long.flac", 2.0)
    declare_total_samples(media, int(4.2 * 3600 * RATE))
    assert probe(media).duration == pytest.approx(4.2 * 3600)
    s3 = RecordingS3(media)
    with pytest.raises(JobFailed) as excinfo:
        Decode(s3)(media_doc(tmp_path, "s3://media-bucket/long.flac"))
    assert excinfo.value.reason == TOO_LONG
    assert "Maximum audio duration is 4.000000 hours" in TOO_LONG


def test_check_media_allows_four_hours_exactly():
    media = probe_like(duration=MAX_DURATION_S)
    check_media(media, "transcription", {})
    with pytest.raises(JobFailed) as excinfo:
        check_media(probe_like(duration=MAX_DURATION_S + 1), "scribe", {})
    assert excinfo.value.reason == TOO_LONG


def test_decoding_stops_at_the_limit_when_the_container_understates(tmp_path):
    media = write_tone_flac(tmp_path / "liar.flac", 3.0)
    declare_total_samples(media, RATE)  # claims 1 s, holds 3 s
    assert probe(media).duration == pytest.approx(1.0)
    with pytest.raises(JobFailed) as excinfo:
        load_audio(media, split_channels=False, expected_s=1.0, max_duration_s=2.0)
    assert excinfo.value.reason == TOO_LONG
    (audio,) = load_audio(media, split_channels=False, expected_s=1.0, max_duration_s=4.0)
    assert len(audio) == 3 * RATE and audio.dtype == np.float32  # the arrays grew past the claim


def test_decoded_samples_match_faster_whisper(fixtures_dir):
    from faster_whisper import decode_audio

    stereo = fixtures_dir / "conversation_stereo.wav"
    left, right = load_audio(stereo, split_channels=True, expected_s=probe(stereo).duration)
    reference_left, reference_right = decode_audio(str(stereo), split_stereo=True)
    assert np.array_equal(left, reference_left) and np.array_equal(right, reference_right)
    (mono,) = load_audio(fixtures_dir / "dictation.wav", split_channels=False)
    assert np.array_equal(mono, decode_audio(str(fixtures_dir / "dictation.wav")))


def test_decoding_memory_is_the_audio_plus_one_chunk(tmp_path):
    seconds = 300
    path = tmp_path / "five-minutes.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"\x10\x00" * RATE * seconds)
    audio_bytes = seconds * RATE * 4  # float32
    tracemalloc.start()
    try:
        (audio,) = load_audio(path, split_channels=False, expected_s=probe(path).duration)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(audio) == seconds * RATE
    # one chunk of 500,000 samples as int16 and float32 is 3 MB; a whole-file buffer would add 19 MB
    assert peak < audio_bytes + 8 * 1024**2, (peak, audio_bytes)


# --- issue 27 item 5: MediaFormat=m4a ---------------------------------------------------------------------


def test_m4a_made_by_pyav_is_accepted_as_m4a_and_mp4(tmp_path, fixtures_dir):
    media = m4a_from(fixtures_dir / "dictation.wav", tmp_path / "dictation.m4a")
    info = probe(media)
    assert info.container == "mov,mp4,m4a,3gp,3g2,mj2" and info.format == "mp4"
    check_media(info, "transcription", {"MediaFormat": "m4a", "MediaSampleRateHertz": RATE})
    check_media(info, "transcription", {"MediaFormat": "mp4"})
    with pytest.raises(JobFailed) as excinfo:
        check_media(info, "transcription", {"MediaFormat": "wav"})
    assert excinfo.value.reason == FORMAT_MISMATCH

    doc = media_doc(tmp_path, "s3://media-bucket/dictation.m4a", MediaFormat="m4a")
    Decode(RecordingS3(media))(doc)
    (audio,) = doc.audio
    assert abs(len(audio) / RATE - probe(fixtures_dir / "dictation.wav").duration) < 0.2
    assert float(np.abs(audio).max()) > 0.05  # speech, not silence


def test_m4a_declared_for_other_audio_is_a_mismatch(fixtures_dir):
    with pytest.raises(JobFailed) as excinfo:
        check_media(probe(fixtures_dir / "dictation.wav"), "transcription", {"MediaFormat": "m4a"})
    assert excinfo.value.reason == FORMAT_MISMATCH

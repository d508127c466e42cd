"""Stage ``decode``: probing, checks against the request, decoding, and the S3 download (fake client)."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

pytest.importorskip("av", reason="needs PyAV (engine environment)")
pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")

from medscribe_engine.pipeline.decode import (
    FORMAT_MISMATCH,
    MEDIA_NOT_ACCESSIBLE,
    PARSE_FAILED,
    RATE_MISMATCH,
    TOO_SHORT,
    TRUNCATED,
    Decode,
    check_media,
    load_audio,
    probe,
    wav_is_truncated,
)
from medscribe_engine.pipeline.document import JobDocument, JobFailed, MediaInfo


def write_wav(path: Path, rate: int, seconds: float, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x10\x00" * int(rate * seconds) * channels)
    return path


def info(**overrides) -> MediaInfo:
    values = dict(
        format="wav", container="wav", sample_rate=16000, channels=1, duration=3.0, size_bytes=96044
    )
    values.update(overrides)
    return MediaInfo(**values)


def test_probe_reads_the_fixtures(fixtures_dir):
    mono = probe(fixtures_dir / "dictation.wav")
    assert (mono.format, mono.sample_rate, mono.channels) == ("wav", 16000, 1)
    assert 20 < mono.duration < 30 and mono.size_bytes == (fixtures_dir / "dictation.wav").stat().st_size
    stereo = probe(fixtures_dir / "conversation_stereo.wav")
    assert stereo.channels == 2


@pytest.mark.parametrize(
    "content, reason",
    [(b"", PARSE_FAILED), (b"not audio at all\n" * 100, PARSE_FAILED)],
    ids=["empty", "text"],
)
def test_probe_refuses_unreadable_files(tmp_path, content, reason):
    path = tmp_path / "media"
    path.write_bytes(content)
    with pytest.raises(JobFailed) as excinfo:
        probe(path)
    assert excinfo.value.reason == reason


def test_truncated_wav_is_detected(tmp_path, fixtures_dir):
    path = tmp_path / "media"
    path.write_bytes((fixtures_dir / "dictation.wav").read_bytes()[:30000])
    assert wav_is_truncated(path)
    assert not wav_is_truncated(fixtures_dir / "dictation.wav")
    with pytest.raises(JobFailed) as excinfo:
        probe(path)
    assert excinfo.value.reason == TRUNCATED


def test_flac_is_probed_as_flac(tmp_path):
    av = pytest.importorskip("av")
    source = write_wav(tmp_path / "a.wav", 16000, 1.0)
    target = tmp_path / "media"
    with av.open(str(source)) as inp, av.open(str(target), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16000)
        for frame in inp.decode(audio=0):
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert probe(target).format == "flac"


@pytest.mark.parametrize(
    "media, request_fields, kind, phrase",
    [
        (info(), {"MediaFormat": "mp3"}, "transcription", FORMAT_MISMATCH),
        (info(), {"MediaSampleRateHertz": 44100}, "transcription", RATE_MISMATCH),
        (info(sample_rate=8000), {}, "transcription", "Unsupported audio sample rate: 8000 Hz"),
        (info(sample_rate=96000), {}, "scribe", "Unsupported audio sample rate: 96000 Hz"),
        (info(format="amr", container="amr"), {}, "scribe", "not supported for this job type"),
        (info(), {"Settings": {"ChannelIdentification": True}}, "scribe", "exactly two channels"),
    ],
    ids=["format", "rate", "8k", "96k", "amr-scribe", "channels"],
)
def test_check_media_failures(media, request_fields, kind, phrase):
    with pytest.raises(JobFailed) as excinfo:
        check_media(media, kind, request_fields)
    assert phrase in excinfo.value.reason


def test_check_media_accepts_matching_requests():
    check_media(info(), "transcription", {"MediaFormat": "wav", "MediaSampleRateHertz": 16000})
    check_media(info(channels=2), "scribe", {"Settings": {"ChannelIdentification": True}})
    check_media(info(format="amr", container="amr"), "transcription", {})


def test_load_audio_splits_or_mixes(fixtures_dir):
    left, right = load_audio(fixtures_dir / "conversation_stereo.wav", split_channels=True)
    (mixed,) = load_audio(fixtures_dir / "conversation_stereo.wav", split_channels=False)
    assert len(left) == len(right) == len(mixed)
    assert (
        str(left.dtype) == "float32"
        and abs(len(left) / 16000 - probe(fixtures_dir / "conversation_stereo.wav").duration) < 0.05
    )


def test_too_short_media_fails(tmp_path):
    with pytest.raises(JobFailed) as excinfo:
        load_audio(write_wav(tmp_path / "short.wav", 16000, 0.2), split_channels=False)
    assert excinfo.value.reason == TOO_SHORT


class FakeS3:
    """Serves one local file as s3://media-bucket/<key>."""

    def __init__(self, path: Path | None):
        self.path = path

    def head_object(self, Bucket, Key):
        if self.path is None:
            raise RuntimeError(f"NoSuchKey {Bucket}/{Key}")
        return {"ContentLength": self.path.stat().st_size}

    def download_file(self, bucket, key, target):
        shutil.copyfile(self.path, target)


def test_decode_stage_downloads_probes_and_decodes(tmp_path, fixtures_dir):
    doc = JobDocument(
        "job",
        "scribe",
        {
            "Media": {"MediaFileUri": "s3://media-bucket/patients/Jane Roe/visit.wav"},
            "Settings": {"ChannelIdentification": True},
        },
        workdir=tmp_path,
    )
    Decode(FakeS3(fixtures_dir / "conversation_stereo.wav"))(doc)
    assert doc.media.channels == 2 and len(doc.audio) == 2
    assert doc.media_path.name == "media"  # the key never becomes a local file name


def test_decode_stage_missing_object_names_no_key(tmp_path):
    doc = JobDocument(
        "job",
        "transcription",
        {
            "Media": {
                "MediaFileUri": "https://s3.us-east-1.amazonaws.com/media-bucket/patients/Jane Roe/visit.wav"
            }
        },
        workdir=tmp_path,
    )
    with pytest.raises(JobFailed) as excinfo:
        Decode(FakeS3(None))(doc)
    assert excinfo.value.reason == MEDIA_NOT_ACCESSIBLE
    assert "Jane" not in str(excinfo.value) and excinfo.value.__cause__ is None

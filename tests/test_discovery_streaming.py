"""Issue 23, item 1: discovery streams each recording (hash on the way, bounded spool, S3's full-object
checksum when there is one) and gives the same reasons as before; its peak RSS does not grow with the
size of a recording (a generated 500 MB WAV, measured in a child process)."""

from __future__ import annotations

import hashlib
import os
import random
import struct
from collections import Counter

import pytest

from medscribe.audio import InvalidRecording, Limits, probe_audio
from medscribe.night.discover import discover_night
from medscribe.spool import MEMORY_SPOOL_BYTES, full_object_sha256
from tests.conftest import boto3_client, run_child
from tests.test_discovery import DESTINATION, tone_wav

BUCKET = "streamed-discovery"
NIGHT = "2026-12-03"
# The figure: a 500 MB recording ... (MEDSCRIBE_BIG_RECORDING_BYTES=2000000000 checks a ~2 GB one)
BIG_BYTES = int(os.environ.get("MEDSCRIBE_BIG_RECORDING_BYTES", 500 * 10**6))
MAX_PEAK_GROWTH_BYTES = 50 * 10**6  # ... may raise discovery's peak RSS by at most 50 MB


def sha_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """A canonical 44-byte PCM16 WAV header for ``data_bytes`` of samples."""
    block = 2 * channels
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def noise_block(size: int, seed: int = 23) -> bytes:
    """``size`` bytes of low-level PCM16 noise (about -54 dBFS)."""
    rng = random.Random(seed)
    return struct.pack(f"<{size // 2}h", *(rng.randint(-64, 64) for _ in range(size // 2)))


def noise_wav(seconds: float, rate: int = 16000, channels: int = 1) -> bytes:
    block = 2 * channels
    data_bytes = int(seconds * rate) * block
    return (
        wav_header(rate, channels, data_bytes)
        + (noise_block(1 << 16) * (data_bytes // (1 << 16) + 1))[:data_bytes]
    )


@pytest.fixture(scope="module")
def s3(s3_only):
    client = boto3_client("s3", s3_only.s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def put_full_object_sha256(s3, key: str, data: bytes) -> None:
    """Upload with a full-object SHA-256, as S3 keeps one for a PUT with ChecksumAlgorithm=SHA256.

    moto reports ChecksumType only for multipart uploads, so a one-part upload gives that response shape.
    """
    upload = s3.create_multipart_upload(
        Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"
    )
    part = s3.upload_part(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=data,
        ChecksumAlgorithm="SHA256",
    )
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        ChecksumType="FULL_OBJECT",
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}]
        },
    )


def put_composite_sha256(s3, key: str, data: bytes) -> None:
    """Upload in two parts with SHA-256: S3 keeps a COMPOSITE checksum (a hash of the parts' hashes)."""
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256")
    split = 5 * 1024 * 1024  # S3's smallest part but the last
    parts = []
    for number, chunk in enumerate((data[:split], data[split:]), start=1):
        part = s3.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=chunk,
            ChecksumAlgorithm="SHA256",
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]})
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )


def gets_by_key(s3) -> Counter:
    """GetObject calls per key, counted from botocore's own events."""
    calls: Counter = Counter()

    def count(params, **_):
        calls[params["Key"]] += 1

    s3.meta.events.register("before-parameter-build.s3.GetObject", count)
    return calls


def reason_of(data: bytes) -> str:
    try:
        probe_audio(data)
    except InvalidRecording as error:
        return str(error)
    raise AssertionError("expected an invalid recording")


def test_streamed_discovery_gives_the_reasons_probe_audio_gives_in_memory_and_on_disk(s3):
    """Every content check gives the same reason from the spool, small (in memory) or large (a temporary file)."""
    long_valid = noise_wav(seconds=300)  # 9.6 MB: over the memory spool, so checked from a temporary file
    long_8khz = noise_wav(seconds=600, rate=8000)
    assert len(long_valid) > MEMORY_SPOOL_BYTES and len(long_8khz) > MEMORY_SPOOL_BYTES
    invalid = {
        "empty.wav": b"",
        "document.wav": b"%PDF-1.7 this is a document, not audio" * 300_000,
        "short-8khz.wav": tone_wav(rate=8000),
        "long-8khz.wav": long_8khz,
        "short-truncated.wav": tone_wav()[: len(tone_wav()) // 2],
        "long-truncated.wav": long_valid[: len(long_valid) - 1_000_000],
        "too-short.wav": tone_wav(seconds=0.1),
        "four-channels.wav": tone_wav(channels=4),
    }
    valid = {"short.wav": tone_wav(seconds=1.7), "long.wav": long_valid}
    base = f"reasons/{NIGHT}/conversations/Jane-Canary"
    for name, data in {**invalid, **valid}.items():
        s3.put_object(Bucket=BUCKET, Key=f"{base}/{name}", Body=data)

    recordings, rejected = discover_night(
        s3, bucket=BUCKET, prefix="reasons", night=NIGHT, staging_prefix="staging/media", **DESTINATION
    )

    assert {r.recording_id: r.reason for r in rejected} == {
        sha_id(data): reason_of(data) for data in invalid.values()
    }
    assert "truncated wav: data chunk declares 9600000 bytes, 8600000 present" in {r.reason for r in rejected}
    admitted = {r.recording_id: (r.audio.duration_s, r.size_bytes) for r in recordings}
    assert admitted == {
        sha_id(valid["short.wav"]): (1.7, len(valid["short.wav"])),
        sha_id(long_valid): (300.0, len(long_valid)),
    }


def test_a_full_object_checksum_names_the_recording_without_hashing_or_reading_it_twice(s3):
    """S3's FULL_OBJECT SHA-256 is the recording id: a duplicate or an oversize file is never downloaded.
    A COMPOSITE checksum is not the content's hash: that recording is hashed from its stream."""
    first, composite, oversize = tone_wav(seconds=1.1), noise_wav(seconds=200), noise_wav(seconds=210)
    base = f"checksums/{NIGHT}/conversations/Jane-Canary"
    put_full_object_sha256(s3, f"{base}/a.wav", first)
    put_full_object_sha256(s3, f"{base}/b-same-audio.wav", first)
    put_full_object_sha256(s3, f"{base}/c-oversize.wav", oversize)
    put_composite_sha256(s3, f"{base}/d-composite.wav", composite)
    head = s3.head_object(Bucket=BUCKET, Key=f"{base}/a.wav", ChecksumMode="ENABLED")
    assert full_object_sha256(head) == hashlib.sha256(first).hexdigest()
    composite_head = s3.get_object(Bucket=BUCKET, Key=f"{base}/d-composite.wav", ChecksumMode="ENABLED")
    assert composite_head["ChecksumType"] == "COMPOSITE" and full_object_sha256(composite_head) is None
    gets = gets_by_key(s3)

    limits = Limits(max_size_bytes=len(composite))
    recordings, rejected = discover_night(
        s3,
        bucket=BUCKET,
        prefix="checksums",
        night=NIGHT,
        staging_prefix="staging/media",
        limits=limits,
        **DESTINATION,
    )

    assert sorted(r.recording_id for r in recordings) == sorted([sha_id(first), sha_id(composite)])
    assert [(r.recording_id, r.reason) for r in rejected] == [
        (sha_id(oversize), f"file too large ({len(oversize)} bytes > {len(composite)})")
    ]
    assert gets == {f"{base}/a.wav": 1, f"{base}/d-composite.wav": 1}


CHILD = """
import json, sys
import boto3
from medscribe.night.discover import discover_night

args = json.loads(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=args["endpoint"])

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

def night(prefix):
    return discover_night(s3, bucket=args["bucket"], prefix=prefix, night=args["night"], staging_prefix="staging/media",
                          **args["destination"])

night(args["warm_prefix"])  # imports, PyAV's codecs and the S3 connection pool: the baseline
before = peak_kib()
recordings, rejected = night(args["big_prefix"])
after = peak_kib()
print(json.dumps({"before_kib": before, "after_kib": after, "recordings": [r.to_dict() for r in recordings],
                  "rejected": [r.to_dict() for r in rejected]}))
"""


@pytest.mark.memory
def test_discovery_peak_rss_does_not_grow_with_a_500_mb_recording(s3, s3_only, tmp_path):
    """A 48 kHz stereo WAV of BIG_BYTES (500 MB: 43 minutes), uploaded in parts, discovered in a child
    process whose peak RSS (VmHWM) is read after a one-second night and again after the big one."""
    rate, channels = 48_000, 2
    data_bytes = (BIG_BYTES - 44) // 4 * 4
    path, digest = tmp_path / "big.wav", hashlib.sha256()
    block = noise_block(1 << 20)
    with path.open("wb") as out:  # written in chunks: the test holds no more than a block either
        chunks = [
            wav_header(rate, channels, data_bytes),
            *[block] * (data_bytes // len(block)),
            block[: data_bytes % len(block)],
        ]
        for chunk in chunks:
            out.write(chunk)
            digest.update(chunk)
    sha256 = digest.hexdigest()
    big_key = f"big/{NIGHT}/conversations/Jane-Canary/visit.wav"
    s3.put_object(Bucket=BUCKET, Key=f"warm/{NIGHT}/conversations/warm.wav", Body=noise_wav(seconds=1.0))
    s3.upload_file(str(path), BUCKET, big_key)  # multipart
    path.unlink()
    staged_key = f"staging/media/{sha256}.wav"
    try:
        args = {
            "endpoint": s3_only.s3_endpoint,
            "bucket": BUCKET,
            "night": NIGHT,
            "destination": DESTINATION,
            "warm_prefix": "warm",
            "big_prefix": "big",
        }
        result = run_child(CHILD, args, stderr_tail=2000)

        (recording,) = result["recordings"]
        assert result["rejected"] == []
        assert recording["recording_id"] == sha256[:32] and recording["size_bytes"] == 44 + data_bytes
        assert recording["audio"] == {
            "media_format": "wav",
            "sample_rate_hz": rate,
            "channels": channels,
            "duration_s": round(data_bytes / 4 / rate, 3),
        }
        assert (
            s3.head_object(Bucket=BUCKET, Key=staged_key)["ContentLength"] == 44 + data_bytes
        )  # server-side copy
        growth = (result["after_kib"] - result["before_kib"]) * 1024
        assert growth <= MAX_PEAK_GROWTH_BYTES, (
            f"peak RSS grew {growth / 1e6:.1f} MB for {BIG_BYTES / 1e6:.0f} MB of audio"
        )
    finally:
        s3.delete_object(Bucket=BUCKET, Key=big_key)
        s3.delete_object(Bucket=BUCKET, Key=staged_key)

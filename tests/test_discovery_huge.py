"""Issue 23, item 6: one huge recording. A night holding a generated 4-hour WAV of 1.84 GB (32 kHz stereo
PCM16: AWS's 4-hour limit exactly, under its 2 GB limit) and a fixture is discovered as the DAG does it
(every ``discover_shard``, then ``discover``) in a child process: both recordings are admitted and
staged per the limits, one ledger object each, and the child's peak RSS (VmHWM) stays under 1 GB.

Discovery and ledger only: transcribing 4 hours of audio would take the engine far longer than a test
may. The WAV is written in one-second blocks to a temporary file, uploaded in parts and deleted at once;
moto and the discovery spool then hold it on disk (about 6 GB at the peak, all freed at the end).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import time
import wave

import pytest

from medscribe.night.discover import DEFAULT_LIMITS
from medscribe.night.keys import shard_of
from tests.conftest import AUDIO, boto3_client, run_child
from tests.test_discovery import DESTINATION

BUCKET = "huge-recording-night"
NIGHT = "2026-12-05"
RATE, CHANNELS, SECONDS = 32_000, 2, 4 * 3600
SIZE = 44 + SECONDS * RATE * CHANNELS * 2  # 1,843,200,044 bytes
SHARDS = 4  # as the DAG's default
MAX_PEAK_RSS_BYTES = 1_000_000_000
BIG_KEY = f"incoming/{NIGHT}/conversations/Jane-Canary/all-day-visit.wav"
SMALL_KEY = f"incoming/{NIGHT}/dictations/dr-canary/dictation.wav"

pytestmark = pytest.mark.memory


class _Hashing:
    """A file that hashes what is written to it (``wave`` writes the header and blocks through it)."""

    def __init__(self, file) -> None:
        self.file, self.digest = file, hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.file.write(data)

    def tell(self) -> int:
        return self.file.tell()

    def seek(self, *args) -> int:  # wave patches the header only when fewer frames came than announced
        raise OSError("not seekable: the frame count is announced up front")

    def flush(self) -> None:
        self.file.flush()


def write_huge_wav(path) -> str:
    """A 4-hour 32 kHz stereo PCM16 WAV: a quiet 440/660 Hz tone in one-second blocks; returns its SHA-256."""
    second = b"".join(
        struct.pack(
            "<hh",
            int(300 * math.sin(2 * math.pi * 440 * i / RATE)),
            int(300 * math.sin(2 * math.pi * 660 * i / RATE)),
        )
        for i in range(RATE)
    )
    with path.open("wb") as file:
        hashing = _Hashing(file)
        out = wave.open(hashing, "wb")  # noqa: SIM115 (closed below: it must not close the file)
        out.setnchannels(CHANNELS)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.setnframes(SECONDS * RATE)
        for _ in range(SECONDS):
            out.writeframesraw(second)
        out.close()
    assert path.stat().st_size == SIZE
    return hashing.digest.hexdigest()


CHILD = """
import json, sys, time
import av, boto3
from medscribe.admission import service_model
from medscribe.night.discover import discover_night
from medscribe.ledger import Ledger
from medscribe.manifests import read_manifest
from medscribe.night.discover_manifest import merge_discovery, save_discovery_part

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

args = json.loads(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=args["endpoint"])
ledger = Ledger(s3, args["bucket"], "ledger")
s3.list_buckets(), service_model()
baseline = peak_kib()
started = time.monotonic()
parts = []
for shard in range(args["shards"]):  # every mapped discover_shard task, one after the other in this process
    recordings, rejected = discover_night(s3, bucket=args["bucket"], prefix="incoming", night=args["night"],
                                          staging_prefix="staging/media", ledger=ledger, shard=shard,
                                          shards=args["shards"], **args["destination"])
    parts.append(save_discovery_part(ledger, args["night"], shard, recordings, rejected))
found = merge_discovery(ledger, args["night"], parts)  # the discover task
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak_kib(), "seconds": time.monotonic() - started,
                  "found": found, "manifest": read_manifest(s3, args["bucket"], found["manifest"]),
                  "ledger": ledger.night(args["night"])}))
"""


def test_a_four_hour_recording_is_discovered_under_1_gb_of_rss(s3_only, tmp_path):
    from boto3.s3.transfer import TransferConfig

    s3 = boto3_client("s3", s3_only.s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    small = (AUDIO / "dictation.wav").read_bytes()
    timings = {}
    started = time.monotonic()
    path = tmp_path / "huge.wav"
    sha256 = write_huge_wav(path)
    timings["write_s"] = time.monotonic() - started
    staged_key = f"staging/media/{sha256}.wav"
    try:
        started = time.monotonic()
        config = TransferConfig(multipart_chunksize=64 << 20, max_concurrency=2)
        s3.upload_file(str(path), BUCKET, BIG_KEY, Config=config)
        path.unlink()
        s3.put_object(Bucket=BUCKET, Key=SMALL_KEY, Body=small)
        timings["upload_s"] = time.monotonic() - started
        args = {
            "endpoint": s3_only.s3_endpoint,
            "bucket": BUCKET,
            "night": NIGHT,
            "shards": SHARDS,
            "destination": DESTINATION,
        }
        result = run_child(CHILD, args, stderr_tail=3000)
        timings["discover_s"] = result["seconds"]

        # per the limits: exactly 4 hours (not over) and under 2 GB, so admitted, not quarantined
        assert DEFAULT_LIMITS.max_duration_s == SECONDS and DEFAULT_LIMITS.max_size_bytes >= SIZE
        assert result["found"] == {
            "manifest": f"ledger/_manifests/{NIGHT}/discover.json",
            "recordings": 2,
            "rejected": 0,
        }
        recordings = {r["recording_id"]: r for r in result["manifest"]["recordings"]}
        big, fixture = recordings[sha256[:32]], recordings[hashlib.sha256(small).hexdigest()[:32]]
        assert big["size_bytes"] == SIZE and big["service"] == "healthscribe"
        assert big["audio"] == {
            "media_format": "wav",
            "sample_rate_hz": RATE,
            "channels": CHANNELS,
            "duration_s": float(SECONDS),
        }
        assert big["options"]["Settings"] == {"ChannelIdentification": True}
        assert fixture["service"] == "transcribe_medical"
        assert [(e["recording_id"], e["state"]) for e in result["ledger"]] == sorted(
            (r, "discovered") for r in recordings
        )
        assert s3.head_object(Bucket=BUCKET, Key=staged_key)["ContentLength"] == SIZE  # server-side copy
        assert "Jane-Canary" not in json.dumps(result)

        peak = result["peak_kib"] * 1024
        print(
            f"\nhuge recording: shard {shard_of(SIZE, SHARDS)} of {SHARDS}; peak RSS {peak / 1e6:.0f} MB "
            f"(after imports {result['baseline_kib'] * 1024 / 1e6:.0f} MB); "
            + ", ".join(f"{name} {seconds:.1f}" for name, seconds in timings.items())
        )
        assert peak < MAX_PEAK_RSS_BYTES, f"discovery's peak RSS was {peak / 1e6:.0f} MB"
    finally:
        path.unlink(missing_ok=True)
        for key in (BIG_KEY, SMALL_KEY, staged_key):
            s3.delete_object(Bucket=BUCKET, Key=key)

"""The engine log carries job names, durations, sizes and counts - never transcript text, S3 keys or URIs."""

from __future__ import annotations

import re

import pytest
from engine_helpers import (
    FIXTURE_NAMES,
    MEDIA_BUCKET,
    PATIENT_FRAGMENT,
    load_reference,
    media_key,
    wait_scribe,
    wait_transcription,
)

pytestmark = pytest.mark.engine

# Words of the references that may legitimately appear in the log for other reasons (failure reasons
# are logged, and they say "Check ... and try your request again").
ALLOWED = {"speaker", "speakers", "channel", "channels", "engine", "started", "stopped", "again", "check"}


def distinctive_words() -> set[str]:
    words: set[str] = set()
    for name in FIXTURE_NAMES:
        words |= {w for w in re.findall(r"[a-z]+", load_reference(name)["text"].lower()) if len(w) >= 5}
    return words - ALLOWED


def test_no_phi_in_the_engine_log(transcribe, reference_jobs, engine_log):
    wait_transcription(transcribe, reference_jobs["dictation"])
    wait_scribe(transcribe, reference_jobs["stereo"])
    if "mono" in reference_jobs and "mono_refused" not in reference_jobs:
        wait_scribe(transcribe, reference_jobs["mono"])
    log = engine_log.read_text()
    assert f"job {reference_jobs['dictation']} COMPLETED" in log  # the log is the right one, and useful
    lowered = log.lower()
    leaked = sorted(word for word in distinctive_words() if re.search(rf"\b{word}\b", lowered))
    context = [line for line in log.splitlines() if any(re.search(rf"\b{w}\b", line.lower()) for w in leaked)]
    assert not leaked, f"transcript words in the engine log: {leaked}; lines: {context[:5]}"
    for name in FIXTURE_NAMES:
        assert media_key(name) not in log
    assert PATIENT_FRAGMENT.lower() not in lowered
    assert "s3://" not in log and f"/{MEDIA_BUCKET}/" not in log
    assert "patients/" not in log

"""The sample recordings in tests/fixtures/audio agree with their reference JSON and are reproducible."""

from __future__ import annotations

import array
import json
import math
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
AUDIO = REPO_ROOT / "tests" / "fixtures" / "audio"
MAKE_FIXTURES = REPO_ROOT / "scripts" / "make_fixtures.py"
NAMES = ("conversation_stereo", "conversation_mono", "dictation")
SPEAKERS = {"CLINICIAN", "PATIENT"}


def load(name: str) -> tuple[dict, dict, array.array]:
    """(reference JSON, WAV header params, interleaved int16 samples) of one fixture."""
    reference = json.loads((AUDIO / f"{name}.json").read_text(encoding="utf-8"))
    with wave.open(str(AUDIO / f"{name}.wav"), "rb") as w:
        params = {
            "channels": w.getnchannels(),
            "sample_width": w.getsampwidth(),
            "sample_rate": w.getframerate(),
            "frames": w.getnframes(),
            "compression": w.getcomptype(),
        }
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder != "little":
        samples.byteswap()
    return reference, params, samples


def rms(values) -> float:
    values = list(values)
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


@pytest.mark.parametrize("name", NAMES)
def test_header_matches_reference(name):
    reference, params, _ = load(name)
    assert reference["name"] == name
    assert params["compression"] == "NONE" and params["sample_width"] == 2  # 16-bit PCM
    assert params["sample_rate"] == reference["sample_rate"] == 16000
    assert params["channels"] == reference["channels"]
    assert abs(params["frames"] / params["sample_rate"] - reference["duration_s"]) <= 0.010


@pytest.mark.parametrize("name", NAMES)
def test_reference_shape(name):
    reference, _, _ = load(name)
    assert reference["kind"] == ("dictation" if name == "dictation" else "conversation")
    turns = reference["turns"]
    assert turns
    assert reference["text"] == " ".join(turn["text"] for turn in turns)
    for turn in turns:
        assert turn["speaker"] in SPEAKERS
        assert isinstance(turn["voice"], str) and turn["voice"]
        assert turn["text"] and turn["text"] == turn["text"].strip()
        if reference["channels"] == 2:
            assert turn["channel"] == (0 if turn["speaker"] == "CLINICIAN" else 1)
        else:
            assert turn["channel"] is None
    # each speaker always has the same voice, and the two speakers have different voices
    voices = {turn["speaker"]: turn["voice"] for turn in turns}
    assert all(turn["voice"] == voices[turn["speaker"]] for turn in turns)
    if reference["kind"] == "conversation":
        assert set(voices) == SPEAKERS and voices["CLINICIAN"] != voices["PATIENT"]
    else:
        assert set(voices) == {"CLINICIAN"}


@pytest.mark.parametrize("name", NAMES)
def test_turns_in_order_inside_duration_and_not_overlapping(name):
    reference, _, _ = load(name)
    previous_end = 0.0
    for turn in reference["turns"]:
        assert previous_end <= turn["start_s"] < turn["end_s"] <= reference["duration_s"], turn
        previous_end = turn["end_s"]


@pytest.mark.parametrize("name", NAMES)
def test_every_turn_is_audible(name):
    reference, params, samples = load(name)
    channels, rate = params["channels"], params["sample_rate"]
    for turn in reference["turns"]:
        start, end = round(turn["start_s"] * rate), round(turn["end_s"] * rate)
        channel = turn["channel"] or 0
        assert rms(samples[start * channels + channel : end * channels : channels]) > 300, turn


def test_stereo_turns_are_each_on_their_own_channel():
    reference, params, samples = load("conversation_stereo")
    assert params["channels"] == 2
    rate = params["sample_rate"]
    for turn in reference["turns"]:
        start, end = round(turn["start_s"] * rate), round(turn["end_s"] * rate)
        own, other = turn["channel"], 1 - turn["channel"]
        own_rms = rms(samples[2 * start + own : 2 * end : 2])
        other_rms = rms(samples[2 * start + other : 2 * end : 2])
        assert own_rms > 300, turn
        assert other_rms <= 1.0, f"{turn['speaker']} turn at {turn['start_s']} s leaks onto channel {other}"


def test_audio_fits_the_size_budget():
    assert sum((AUDIO / f"{name}.wav").stat().st_size for name in NAMES) < 5_000_000


def test_fixtures_are_reproducible():
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed (apt-get install espeak-ng sox): cannot regenerate"
        )
    result = subprocess.run(
        [sys.executable, str(MAKE_FIXTURES), "--check"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr

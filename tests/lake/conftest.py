"""Shared fixtures for the lake tests: the AWS-published example outputs in tests/fixtures/aws/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

AWS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws"


def _load(name: str) -> dict:
    """Return a fresh copy of an AWS example output (tests may modify it).

    :param name: file name in tests/fixtures/aws/.
    """
    return copy.deepcopy(json.loads((AWS_FIXTURES / name).read_text()))


@pytest.fixture
def load_aws():
    """The loader itself, for tests that pick the file."""
    return _load


@pytest.fixture
def hs_transcript() -> dict:
    return _load("healthscribe_transcript.json")


@pytest.fixture
def tm_speakers() -> dict:
    return _load("transcribe_medical_speaker_labels.json")


@pytest.fixture
def tm_channels() -> dict:
    return _load("transcribe_medical_channel_id.json")


@pytest.fixture
def tm_channels_top_level() -> dict:
    """The channel-identification example with derived top-level ``results.items`` that carry no labels:
    the channels' items time-ordered, their times formatted anew, and a punctuation mark third. The
    flatteners must join each to its channel by time."""
    document = _load("transcribe_medical_channel_id.json")
    results = document["results"]
    channel_items = [item for channel in results["channel_labels"]["channels"] for item in channel["items"]]
    items = [
        dict(item, start_time=str(float(item["start_time"])), end_time=str(float(item["end_time"])))
        for item in sorted(channel_items, key=lambda i: float(i["start_time"]))
    ]
    items.insert(2, {"type": "punctuation", "alternatives": [{"content": ","}]})
    results["items"] = items
    return document

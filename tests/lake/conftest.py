"""Shared fixtures for the lake tests: the AWS-published example outputs in tests/fixtures/aws/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pyarrow as pa
import pytest

AWS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws"
#: the ids the parse tests give a document
IDS = {"recording_id": "rec-1", "job_name": "job-1"}


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    """Return the given columns of a table as a list of tuples."""
    data = table.select(list(columns)).to_pydict()
    return list(zip(*(data[c] for c in columns), strict=True))


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


#: the (content, channel_label) of ``tm_channels_top_level``'s words, in item order: each joined by time
TOP_LEVEL_CHANNEL_LABELS = [
    ("When", "ch_0"),
    ("It", "ch_1"),
    (",", "ch_1"),
    ("you", "ch_0"),
    ("seems", "ch_1"),
    ("to", "ch_1"),
    ("try", "ch_0"),
]


@pytest.fixture
def s3_endpoint():
    """moto's S3 server in this process, on a free loopback port, with one bucket."""
    server_module = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket="lake-bucket")
    yield f"{host}:{port}"
    server.stop()

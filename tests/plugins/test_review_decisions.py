"""Deciding on the reviewer app without a server: the forms a user who may edit gets, the decisions they
append to ``review_decisions``, the status they give the queue, the sign-off's reviewed note (written
beside the service's in a moto S3, same format, and flattened into ``note_sentences`` as ``reviewed``),
insights highlighted by category, the night's picture, and the refusals: read-only users, forged or
foreign CSRF tokens, unknown items, decisions after the sign-off. The browser flow: test_reviewer_page.py."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import boto3
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from medscribe.lake.parse import healthscribe_transcript_tables
from medscribe.lake.schemas import TABLES
from medscribe.lake.store import read_table, write_partition
from medscribe.night.quality_status import apply_quality
from medscribe.quality import review_data
from medscribe.quality.gate import gate_night
from medscribe.quality.review_app import create_app
from medscribe.review import csrf
from medscribe.review.media import RangeNotSatisfiable, open_audio, parse_range
from tests.lake.consistent_documents import consistent_document, consistent_transcript
from tests.plugins.test_review_app import EDITOR, READER, logged_in
from tests.quality.night_tables import NIGHT, night_tables

# the words of the two segments, with confidences: "metformin" and "sugar" under the bar of 0.5
WORDS = [
    ("s1", "I", 0.9),
    ("s1", "see", 0.95),
    ("s1", "you", 0.9),
    ("s1", "take", 0.9),
    ("s1", "metformin", 0.3),
    ("s1", "daily", 0.92),
    ("s1", ".", 0.0),
    ("s2", "Yes", 0.9),
    ("s2", ",", 0.0),
    ("s2", "and", 0.9),
    ("s2", "my", 0.9),
    ("s2", "blood", 0.6),
    ("s2", "sugar", 0.2),
    ("s2", "is", 0.9),
    ("s2", "high", 0.9),
    ("s2", ".", 0.0),
]


def word_table() -> pa.Table:
    rows = []
    for i, (segment, text, confidence) in enumerate(WORDS):
        rows.append(
            {
                "recording_id": "rec-1",
                "job_name": "job-1",
                "service": "healthscribe",
                "item_index": i,
                "content": text,
                "is_punctuation": text in ".,",
                "start_time": i * 0.25,
                "end_time": i * 0.25 + 0.2,
                "confidence": confidence,
                "alternative_rank": 0,
                "segment_id": segment,
                "participant_role": "CLINICIAN_0" if segment == "s1" else "PATIENT_0",
            }
        )
    return pa.Table.from_pylist(rows, schema=TABLES["transcript_words"])


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """One gated night of rec-1 whose words spell its segments; its blood-sugar test is negated."""
    lake = str(tmp_path / "lake")
    transcript = consistent_transcript()
    transcript["Conversation"]["ClinicalInsights"][1]["Traits"] = [{"Name": "NEGATION"}]
    tables = night_tables(transcript=transcript)
    tables.update(
        healthscribe_transcript_tables(transcript, recording_id="rec-1", job_name="job-1", with_insights=True)
    )
    tables["transcript_words"] = word_table()
    for name, table in tables.items():
        write_partition(name, table, lake, NIGHT)
    apply_quality(gate_night(lake, NIGHT), lake, NIGHT)
    monkeypatch.setenv("MEDSCRIBE_LAKE_URI", lake)
    return lake


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 with the service's note at the job's clinical_document_uri, as the app's S3 client."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="out")
        client.put_object(
            Bucket="out", Key="job-1/summary.json", Body=json.dumps(consistent_document()).encode()
        )
        monkeypatch.setattr(review_data, "s3", lambda: client)
        yield client


class Forms(HTMLParser):
    """The decision forms of a page: each form's hidden fields and its after field."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, str]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and "decide" in (attrs.get("class") or ""):
            self.forms.append({"action": attrs["action"], "class": attrs["class"]})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1][attrs["name"]] = attrs.get("value") or ""


def forms(client: TestClient) -> list[dict[str, str]]:
    return Forms(client.get(f"/item/{NIGHT}/rec-1").text).forms


def post(client: TestClient, form: dict[str, str], **fields: str):
    action = form["action"].replace("../../", "/")
    data = {k: v for k, v in form.items() if k not in ("action", "class")} | fields
    return client.post(action, data=data, follow_redirects=False)


def test_insights_are_highlighted_by_category_and_negation(lake):
    page = logged_in(TestClient(create_app()), EDITOR).get(f"/item/{NIGHT}/rec-1").text
    assert re.findall(r"<mark class='low ins medication' id='w-4'[^>]*>(\w+)</mark>", page) == ["metformin"]
    assert re.findall(r"<span class='ins test negated' title='TEST_NAME, negated'>(\w+)</span>", page) == [
        "blood"
    ]
    assert re.findall(
        r"<mark class='low ins test negated' id='w-12'[^>]*title='confidence 0.200; TEST_NAME, negated'>(\w+)</mark>",
        page,
    ) == ["sugar"]
    assert "<span class='ins" not in page.split("id='seg-s1'")[1].split("metformin")[1].split("</div>")[0]


def test_a_reviewer_corrects_marks_wrong_accepts_and_signs_off(lake, s3):
    client = logged_in(TestClient(create_app()), EDITOR)
    page = client.get(f"/item/{NIGHT}/rec-1").text
    assert "<audio id='player' controls preload='metadata' src='../../audio/2026-03-02/rec-1'>" in page
    assert [f["class"] for f in forms(client)] == ["decide word", "decide word"] + ["decide sentence"] * 3 + [
        "decide recording"
    ]
    word, sugar = forms(client)[:2]
    assert (word["item_key"], word["after"], sugar["item_key"], sugar["after"]) == (
        "4",
        "metformin",
        "12",
        "sugar",
    )
    answer = post(client, word, after="metformin XR", decision="correct")
    assert answer.status_code == 303 and answer.headers["location"] == f"../../item/{NIGHT}/rec-1#w-4"
    sentences = [f for f in forms(client) if f["class"] == "decide sentence"]
    assert [f["item_key"] for f in sentences] == ["0.0", "0.1", "1.0"]
    assert (
        post(client, sentences[0], after="Takes metformin XR 500 mg daily.", decision="correct").status_code
        == 303
    )
    assert post(client, sentences[1], decision="wrong").status_code == 303
    recording = forms(client)[-1]
    assert "item_key" not in recording
    assert post(client, recording, decision="accept").status_code == 303
    queue = client.get("/").text
    assert "data-status='in_review'>in review</td>" in queue
    assert post(client, recording, decision="sign_off").status_code == 303

    rows = read_table("review_decisions", lake, night=NIGHT).to_pylist()
    assert [(r["item_kind"], r["item_key"], r["before"], r["after"], r["decision"]) for r in rows] == [
        ("word", "4", "metformin", "metformin XR", "correct"),
        ("sentence", "0.0", "Takes metformin daily.", "Takes metformin XR 500 mg daily.", "correct"),
        ("sentence", "0.1", "Reports high blood sugar.", None, "wrong"),
        ("recording", None, None, None, "accept"),
        ("recording", None, None, None, "sign_off"),
    ]
    assert {(r["recording_id"], r["job_name"], r["reviewer"], r["night"]) for r in rows} == {
        ("rec-1", "job-1", "ana", NIGHT)
    }
    assert all(r["decided_at"].tzinfo is not None for r in rows)

    # the reviewed note: the service's format beside the service's file, and in note_sentences
    reviewed = json.loads(s3.get_object(Bucket="out", Key="job-1/summary.reviewed.json")["Body"].read())
    sections = reviewed["ClinicalDocumentation"]["Sections"]
    assert [
        (s["SectionName"], [(x["SummarizedSegment"], x["EvidenceLinks"]) for x in s["Summary"]])
        for s in sections
    ] == [
        ("HISTORY_OF_PRESENT_ILLNESS", [("Takes metformin XR 500 mg daily.", [{"SegmentId": "s1"}])]),
        ("PLAN", [("Continue metformin.", [{"SegmentId": "s1"}, {"SegmentId": "s2"}])]),
    ]
    notes = read_table("note_sentences", lake, night=NIGHT).to_pylist()
    assert [(n["source"], n["section_index"], n["sentence_index"], n["text"]) for n in notes] == [
        ("service", 0, 0, "Takes metformin daily."),
        ("service", 0, 1, "Reports high blood sugar."),
        ("service", 1, 0, "Continue metformin."),
        ("reviewed", 0, 0, "Takes metformin XR 500 mg daily."),
        ("reviewed", 1, 0, "Continue metformin."),
    ]
    assert {n["note_template"] for n in notes} == {"HISTORY_AND_PHYSICAL"}

    # signed off: the page shows the decisions and no form; a late decision is refused
    page = client.get(f"/item/{NIGHT}/rec-1").text
    assert forms(client) == [] and "data-status='signed_off'>signed off</span>" in page
    assert "<span class='fix' title='corrected by the reviewer'>→ metformin XR</span>" in page
    assert "corrected: Takes metformin XR 500 mg daily." in page and "marked wrong" in page
    assert post(client, {**recording}, decision="reject").status_code == 409
    assert len(read_table("review_decisions", lake, night=NIGHT)) == 5
    assert "data-status='signed_off'>signed off</td>" in client.get("/?status=signed_off").text
    assert "No transcript is waiting for review with these filters" in client.get("/?status=open").text


def test_read_only_users_see_no_forms_and_are_refused(lake):
    client = TestClient(create_app())
    recording = forms(logged_in(client, EDITOR))[-1]
    logged_in(client, READER)
    page = client.get(f"/item/{NIGHT}/rec-1").text
    assert "<form" not in page.split("<h1>")[1] and "read-only: you may not record decisions" in page
    assert post(client, recording, decision="accept").status_code == 403
    assert read_table("review_decisions", lake, night=NIGHT).num_rows == 0


def test_forged_and_foreign_tokens_and_unknown_items_are_refused(lake):
    client = logged_in(TestClient(create_app()), EDITOR)
    word = forms(client)[0]
    assert post(client, word, csrf="", decision="correct", after="x").status_code == 403
    assert post(client, word, csrf=word["csrf"][:-1] + "0", decision="correct", after="x").status_code == 403
    assert (
        post(client, word, csrf=csrf.issue(READER.user_id), decision="correct", after="x").status_code == 403
    )
    assert (
        post(client, word, csrf=csrf.issue(EDITOR.user_id, now=0), decision="correct", after="x").status_code
        == 403
    )
    assert (
        post(client, word, item_key="5", decision="correct", after="x").status_code == 303
    )  # a word: recorded
    assert post(client, word, item_key="6", decision="correct", after="x").status_code == 404  # punctuation
    assert post(client, word, item_key="99", decision="correct", after="x").status_code == 404
    assert post(client, word, decision="wrong").status_code == 409  # a word is corrected, not marked wrong
    assert post(client, word, decision="correct", after="  ").status_code == 409
    assert post(client, word, decision="correct", after="x" * 2001).status_code == 409
    assert [
        (r["item_key"], r["after"]) for r in read_table("review_decisions", lake, night=NIGHT).to_pylist()
    ] == [("5", "x")]


def test_csrf_tokens_are_bound_to_user_and_time():
    secret = b"k"
    token = csrf.issue("7", now=1000, secret=secret)
    assert csrf.valid(token, "7", now=1000 + csrf.TOKEN_TTL, secret=secret)
    assert not csrf.valid(token, "8", now=1000, secret=secret)
    assert not csrf.valid(token, "7", now=1001 + csrf.TOKEN_TTL, secret=secret)
    assert not csrf.valid(token, "7", now=999, secret=secret)
    assert not csrf.valid(token, "7", now=1000, secret=b"other")
    assert not csrf.valid(None, "7", secret=secret) and not csrf.valid("1000", "7", secret=secret)


def test_the_night_picture_draws_the_histogram_the_bar_and_30_nights(lake):
    write_partition(
        "review_queue",
        pa.Table.from_pylist(
            [
                {
                    "recording_id": r,
                    "metric": "mean_confidence",
                    "value": 0.5,
                    "threshold": 0.85,
                    "bound": "min",
                }
                for r in ("a", "b", "b")
            ],
            schema=TABLES["review_queue"],
        ),
        lake,
        "2026-02-20",
    )
    page = logged_in(TestClient(create_app()), EDITOR).get(f"/night/{NIGHT}").text
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    bins = {
        low: int(count)
        for count, low in re.findall(r"class='bin' data-count='(\d+)' data-low='([0-9.]+)'", page)
    }
    assert len(bins) == 20 and sum(bins.values()) == 1
    mean = read_table("review_queue", lake, night=NIGHT).to_pylist()[0]
    assert mean["metric"] == "mean_confidence" and bins[f"{int(mean['value'] / 0.05) * 0.05:.2f}"] == 1
    assert "class='bar' data-bar='0.85'" in page
    nights = dict(re.findall(r"class='night' data-night='([0-9-]+)' data-count='(\d+)'", page))
    assert len(nights) == 30 and min(nights) == "2026-02-01" and max(nights) == NIGHT
    assert (nights["2026-02-20"], nights[NIGHT], nights["2026-02-21"]) == ("2", "1", "0")


def test_ranges_of_the_staged_media():
    assert parse_range(None, 100) is None and parse_range("bytes=0-", 100) == (0, 99)
    assert parse_range("bytes=10-19", 100) == (10, 19) and parse_range("bytes=90-500", 100) == (90, 99)
    assert parse_range("bytes=-10", 100) == (90, 99) and parse_range("bytes=0-1,5-6", 100) is None
    for header in ("bytes=100-", "bytes=20-10", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 100)
    data = bytes(range(256)) * 40
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="rec")
        client.put_object(Bucket="rec", Key="staging/media/abc.wav", Body=data)
        part = open_audio(client, "s3://rec/staging/media/abc.wav", "bytes=1000-1999")
        assert (part.media_type, part.length, part.content_range) == (
            "audio/wav",
            1000,
            "bytes 1000-1999/10240",
        )
        assert b"".join(part.chunks) == data[1000:2000]
        whole = open_audio(client, "s3://rec/staging/media/abc.wav", None)
        assert whole.content_range is None and b"".join(whole.chunks) == data

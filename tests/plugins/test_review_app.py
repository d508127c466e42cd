"""The reviewer app without a server: anonymous requests are refused by Airflow's own dependency, and
the pages a logged-in reviewer gets on a constructed night (queue, transcript with highlighted words,
insights and roles, note with evidence segments, data docs, the night's picture), with every value from
the lake escaped; decisions recorded in ``review_decisions``, a sign-off's reviewed note (in a moto S3
and in ``note_sentences``), read-only users and forged forms refused. The running api-server, the audio
and the browser: test_reviewer_page.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from medscribe.lake.schemas import TABLES
from medscribe.lake.store import write_partition
from medscribe.night.quality_status import apply_quality
from medscribe.quality.gate import gate_night
from medscribe.quality.review_app import create_app
from medscribe.review.access import Reviewer
from tests.lake.consistent_documents import SEGMENTS
from tests.quality.night_tables import NIGHT, night_tables
from tests.quality.test_gate import NOISY


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    lake = str(tmp_path_factory.mktemp("review-app") / "lake")
    for name, table in night_tables(NOISY).items():
        write_partition(name, table, lake, NIGHT)
    apply_quality(gate_night(lake, NIGHT), lake, NIGHT)
    return lake


@pytest.fixture
def client(lake, monkeypatch):
    monkeypatch.setenv("MEDSCRIBE_LAKE_URI", lake)
    return TestClient(create_app())


EDITOR = Reviewer(user_id="7", name="ana", may_edit=True)
READER = Reviewer(user_id="8", name="bo", may_edit=False)


def logged_in(client: TestClient, user: Reviewer) -> TestClient:
    """The client as this user: Airflow's login and the auth manager's answer stood in for."""
    client.app.dependency_overrides[client.app.state.require_login] = lambda: None
    client.app.dependency_overrides[client.app.state.reviewer] = lambda: user
    return client


@pytest.fixture
def reviewer(client):
    return logged_in(client, EDITOR)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_anonymous_requests_are_refused(client):
    for path in ("/", f"/night/{NIGHT}", f"/item/{NIGHT}/rec-1", f"/docs/{NIGHT}/index.html"):
        response = client.get(path)
        assert response.status_code == 401 and "rec-1" not in response.text


def test_queue_lists_the_recording_with_its_metrics(reviewer):
    page = reviewer.get("/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert f"{NIGHT} (1 recordings)" in text(page.text)
    assert "rec-1 mean_confidence 0.537 ≥ 0.85" in text(
        page.text
    ) or "rec-1 mean_confidence 0.538 ≥ 0.85" in text(page.text)
    assert "rec-1 low_word_share 0.5 ≤ 0.1" in text(page.text)
    assert f"href='item/{NIGHT}/rec-1'" in page.text
    night = reviewer.get(f"/night/{NIGHT}")
    assert (
        f"href='../docs/{NIGHT}/index.html'" in night.text and f"href='../item/{NIGHT}/rec-1'" in night.text
    )


def test_item_highlights_low_words_shows_roles_and_note_evidence(reviewer):
    page = reviewer.get(f"/item/{NIGHT}/rec-1").text
    marked = re.findall(r"<mark class='low' id='w-\d+' data-confidence='([0-9.]+)'[^>]*>(\w+)</mark>", page)
    assert marked == [
        ("0.3", "w0"),
        ("0.45", "w1"),
        ("0.2", "w3"),
        ("0.4", "w5"),
    ]  # the words under 0.5, in order
    segments = re.findall(
        r"<div class='segment' id='seg-(\w+)' data-begin='([0-9.]+)' data-end='([0-9.]+)'>"
        r"<button type='button' class='play' title='play this turn'>▶</button><span class='role'>(\w+)</span> <span class='text'>(.*?)</span></div>",
        page,
    )
    assert [(sid, float(b), float(e)) for sid, b, e, _, _ in segments] == [("s1", 0.0, 2.0), ("s2", 2.1, 4.0)]
    segments = [(sid, role, words) for sid, _, _, role, words in segments]
    assert [(sid, role) for sid, role, _ in segments] == [("s1", "CLINICIAN_0"), ("s2", "PATIENT_0")]
    assert text(segments[1][2]) == "w4 w5 w6 w7"
    sentences = re.findall(r"<p class='sentence' data-segments='[\w ]*' title='[^']*'>(.*?)</p>", page)
    assert sentences == ["Takes metformin daily.", "Reports high blood sugar.", "Continue metformin."]
    evidence = re.findall(
        r"<div class='evidence'><a class='evidence-link' href='#seg-(\w+)' data-segment='\w+'>(\w+)</a>: (.*?)</div>",
        page,
    )
    content = {sid: text for sid, _, text, _, _ in SEGMENTS}
    assert evidence == [
        (sid, role, content[sid])
        for sid, role in [
            ("s1", "CLINICIAN_0"),
            ("s2", "PATIENT_0"),
            ("s1", "CLINICIAN_0"),
            ("s2", "PATIENT_0"),
        ]
    ]


def test_data_docs_are_served_and_paths_are_confined(reviewer):
    index = reviewer.get(f"/docs/{NIGHT}/index.html")
    assert index.status_code == 200 and "validations/check_transcript_confidence/" in index.text
    for path in (
        f"/docs/{NIGHT}/../../recordings/x.html",
        f"/docs/{NIGHT}/word_confidence.json",
        "/docs/2026-13/index.html",
        f"/item/{NIGHT}/rec-9",
        f"/item/{NIGHT}/..",
        "/night/yesterday",
    ):
        assert reviewer.get(path).status_code == 404, path


HOSTILE = "<script>alert(1)</script> \"double\" 'single' & more"
SEGMENT = "s1' onmouseover='alert(2)"  # would add an attribute if the id were not quoted and escaped


class Parsed(HTMLParser):
    """A page as an HTML parser reads it: each element's tag and attributes, and the text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text = ""
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text += data


@pytest.fixture(scope="module")
def hostile_lake(tmp_path_factory):
    """One night whose every value the pages show holds markup and quotes."""
    lake = str(tmp_path_factory.mktemp("review-hostile") / "lake")
    ids = {"recording_id": "rec-x", "job_name": "job-x"}
    note = {**ids, "section_name": HOSTILE, "section_index": 0, "sentence_index": 0}
    rows = {
        "review_queue": [{**ids, "metric": HOSTILE, "value": 0.2, "threshold": 0.85, "bound": "min"}],
        "transcript_words": [
            {
                **ids,
                "service": "healthscribe",
                "item_index": 0,
                "content": HOSTILE,
                "is_punctuation": False,
                "confidence": 0.1,
                "alternative_rank": 0,
                "segment_id": SEGMENT,
                "participant_role": HOSTILE,
            }
        ],
        "transcript_segments": [
            {
                **ids,
                "segment_id": SEGMENT,
                "segment_index": 0,
                "participant_role": HOSTILE,
                "content": HOSTILE,
            }
        ],
        "note_sentences": [{**note, "note_template": "HISTORY_AND_PHYSICAL", "text": HOSTILE}],
        "note_evidence": [{**note, "evidence_index": 0, "segment_id": SEGMENT}],
    }
    for name, table in rows.items():
        write_partition(name, pa.Table.from_pylist(table, schema=TABLES[name]), lake, NIGHT)
    return lake


def test_values_from_the_lake_are_escaped(hostile_lake, monkeypatch):
    monkeypatch.setenv("MEDSCRIBE_LAKE_URI", hostile_lake)
    client = logged_in(TestClient(create_app()), EDITOR)
    for path in ("/", f"/night/{NIGHT}"):
        page = Parsed(client.get(path).text)
        assert "script" not in [tag for tag, _ in page.elements]
        assert f"rec-x{HOSTILE}0.2≥ 0.85" in page.text  # the metric's cell, as text
    page = Parsed(client.get(f"/item/{NIGHT}/rec-x").text)
    assert [attrs for tag, attrs in page.elements if tag == "script"] == [
        {"src": "../../static/review.js", "defer": None}
    ]
    assert ("div", {"class": "segment", "id": f"seg-{SEGMENT}"}) in page.elements
    assert (
        "a",
        {"class": "evidence-link", "href": f"#seg-{SEGMENT}", "data-segment": SEGMENT},
    ) in page.elements
    assert (
        "p",
        {"class": "sentence", "data-segments": SEGMENT, "title": "click: the turns it comes from"},
    ) in page.elements
    assert (
        "mark",
        {
            "class": "low",
            "id": "w-0",
            "data-confidence": "0.1",
            "data-begin": "None",
            "data-end": "None",
            "title": "confidence 0.100",
        },
    ) in page.elements
    # values in forms are attributes, not markup
    assert ("input", {"name": "after", "value": HOSTILE, "aria-label": "corrected sentence"}) in page.elements
    assert ("input", {"name": "after", "value": HOSTILE, "aria-label": "corrected word"}) in page.elements
    # the queue's metric, the role, the word (in the transcript and the low-words table), the section, the
    # sentence, and the evidence's role and text
    assert page.text.count(HOSTILE) == 8
    assert f"Note{HOSTILE}{HOSTILE}{HOSTILE}: {HOSTILE}" in page.text

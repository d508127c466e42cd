"""The reviewer page: a FastAPI app the Airflow plugin mounts in the api-server (``plugins/medscribe_plugin.py``).

Pages (relative links, so the app works under any mount prefix and inside the UI's iframe):

* ``/`` — the review queue, per night (newest first): recording id, metric, value and bar;
* ``/night/<night>`` — one night's queue, with a link to the night's GX data docs;
* ``/item/<night>/<recording_id>`` — one recording: its transcript by segment with speaker roles, words
  under the night's ``low_word_confidence`` highlighted (``<mark class="low">``), and the note (if the
  service produced one) with each sentence's evidence segments;
* ``/docs/<night>/<path>`` — the night's data docs HTML, served from ``<lake>/_quality/night=<night>/``.

Access: every route depends on Airflow's own authentication (``requires_authenticated`` of the core API:
the JWT of the ``Authorization: Bearer`` header or of the UI's ``_token`` cookie, checked by the
configured auth manager). Airflow does not authenticate plugin apps by itself; an anonymous request gets
401, or a redirect to Airflow's login page when a browser asks for HTML. The lake is read with pyarrow
(``MEDSCRIBE_LAKE_URI``, the DAG's default lake). Transcript text is rendered (escaped) for the reviewer,
never logged; responses are ``Cache-Control: no-store``. The HTML comes from the Jinja2 templates in
``templates/`` (autoescaped: every value from the lake is escaped); this module picks the rows to show.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from medscribe.quality.config import DEFAULT_CONFIG

NIGHT = re.compile(r"\d{4}-\d{2}-\d{2}")
RECORDING_ID = re.compile(r"[0-9A-Za-z_.-]{1,128}")
DOC_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".otf": "font/otf",
}


def lake_uri() -> str:
    return os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake")


def _require_login():
    """Airflow's dependency that accepts only authenticated users (imported from the api-server)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def _figure(value: float | None) -> str:
    """A figure as the queue shows it (template filter ``figure``): three decimals at most, — for none."""
    return "—" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


# Every template is HTML, so every value is escaped; an undefined name is an error, not an empty string.
PAGES = Environment(
    loader=PackageLoader("medscribe.quality"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGES.filters["figure"] = _figure


def _page(template: str, title: str, **context: Any) -> HTMLResponse:
    """Render one page, uncached by browsers and proxies.

    :param template: the template's file name under ``templates/``.
    :param title: the page's title.
    :param context: the template's other variables.
    """
    document = PAGES.get_template(template).render(title=title, **context)
    return HTMLResponse(document, headers={"Cache-Control": "no-store"})


def _night(night: str) -> str:
    if not NIGHT.fullmatch(night):
        raise HTTPException(status_code=404, detail="no such night")
    return night


def _read(name: str, night: str | None = None):
    from medscribe.lake.store import read_table

    return read_table(name, lake_uri(), night=night)


def _night_config(night: str) -> dict[str, Any]:
    """The thresholds the night was gated with (from its report), else the defaults."""
    from medscribe.quality.gate import quality_dir

    filesystem, directory = quality_dir(lake_uri(), night)
    try:
        with filesystem.open_input_stream(f"{directory}/word_confidence.json") as stream:
            return {**DEFAULT_CONFIG.to_dict(), **json.loads(stream.read()).get("config", {})}
    except (FileNotFoundError, OSError, ValueError):
        return DEFAULT_CONFIG.to_dict()


def create_app() -> FastAPI:
    """The reviewer app; every route requires an Airflow login."""
    require_login = _require_login()
    app = FastAPI(
        title="medscribe review queue",
        dependencies=[Depends(require_login)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.require_login = require_login  # the dependency, for tests that stand in for a logged-in user

    @app.exception_handler(HTTPException)
    async def refuse(request: Request, error: HTTPException) -> Response:
        """Anonymous browsers are sent to Airflow's login page; API clients get the status code."""
        if error.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(
                get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303
            )
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.get("/", response_class=HTMLResponse)
    def queue() -> HTMLResponse:
        rows = sorted(
            _read("review_queue").to_pylist(), key=lambda r: (r["night"], r["recording_id"]), reverse=True
        )
        nights = []
        for night in sorted({r["night"] for r in rows}, reverse=True):
            items = [r for r in rows if r["night"] == night]
            nights.append((night, len({r["recording_id"] for r in items}), items))
        return _page("queue.html.j2", "Review queue", nights=nights)

    @app.get("/night/{night}", response_class=HTMLResponse)
    def night_queue(night: str) -> HTMLResponse:
        night = _night(night)
        rows = sorted(_read("review_queue", night).to_pylist(), key=lambda r: r["recording_id"])
        return _page("night.html.j2", f"Review queue {night}", night=night, rows=rows)

    @app.get("/item/{night}/{recording_id}", response_class=HTMLResponse)
    def item(night: str, recording_id: str) -> HTMLResponse:
        import pyarrow.compute as pc

        night = _night(night)
        if not RECORDING_ID.fullmatch(recording_id):
            raise HTTPException(status_code=404, detail="no such recording")

        def rows(name: str) -> list[dict[str, Any]]:
            table = _read(name, night)
            return table.filter(pc.equal(table["recording_id"], recording_id)).to_pylist()

        queue, words = rows("review_queue"), rows("transcript_words")
        if not queue and not words:
            raise HTTPException(status_code=404, detail="no such recording in this night")
        low = float(_night_config(night)["low_word_confidence"])
        words = sorted((w for w in words if w["alternative_rank"] == 0), key=lambda w: w["item_index"])
        segments = sorted(rows("transcript_segments"), key=lambda s: s["segment_index"])
        return _page(
            "item.html.j2",
            f"Recording {recording_id}",
            night=night,
            recording_id=recording_id,
            queue=[{**r, "night": night} for r in queue],
            low=low,
            blocks=_transcript(words, segments, low),
            sections=_note(rows("note_sentences"), rows("note_evidence"), segments),
        )

    @app.get("/docs/{night}/{path:path}")
    def data_docs(night: str, path: str) -> Response:
        from medscribe.quality.gate import quality_dir

        night = _night(night)
        clean = posixpath.normpath(path)
        extension = posixpath.splitext(clean)[1]
        if clean.startswith(("..", "/")) or extension not in DOC_TYPES:
            raise HTTPException(status_code=404, detail="no such page")
        filesystem, directory = quality_dir(lake_uri(), night)
        try:
            with filesystem.open_input_stream(f"{directory}/data_docs/{clean}") as stream:
                content = stream.read()
        except (FileNotFoundError, OSError):
            raise HTTPException(status_code=404, detail="no such page") from None
        return Response(content, media_type=DOC_TYPES[extension], headers={"Cache-Control": "no-store"})

    return app


def _run(words: list[dict[str, Any]], low: float) -> list[dict[str, Any]]:
    """The words as the page shows them: text, whether a space goes before it (not before punctuation nor
    at the start), and the confidence of a word under ``low`` (None for the others).

    :param words: transcript_words rows, in order.
    :param low: the night's ``low_word_confidence``.
    """
    out, started = [], False
    for word in words:
        confidence = word["confidence"]
        marked = not word["is_punctuation"] and confidence is not None and confidence < low
        text = word["content"] or ""
        space = started and not word["is_punctuation"]
        out.append({"text": text, "space": space, "confidence": confidence if marked else None})
        started = started or space or bool(text) or marked
    return out


def _transcript(
    words: list[dict[str, Any]], segments: list[dict[str, Any]], low: float
) -> list[dict[str, Any]]:
    """Segments with their roles (HealthScribe), else runs of one speaker or channel (Transcribe Medical);
    none when there are no words.

    :param words: the recording's first-choice transcript_words rows, in order.
    :param segments: its transcript_segments rows, in order.
    :param low: the night's ``low_word_confidence``.
    """
    if not words:
        return []
    by_segment: dict[str | None, list[dict[str, Any]]] = {}
    for word in words:
        by_segment.setdefault(word["segment_id"], []).append(word)
    blocks = []
    if segments:
        for segment in segments:
            own = by_segment.get(segment["segment_id"], [])
            blocks.append(
                {
                    "segment_id": segment["segment_id"],
                    "role": segment["participant_role"],
                    "words": _run(own, low),
                    "content": segment["content"],
                }
            )
        if by_segment.get(None):
            blocks.append({"segment_id": None, "role": None, "words": _run(by_segment[None], low)})
    else:
        run: list[dict[str, Any]] = []
        for word in words:
            if run and _speaker(word) != _speaker(run[0]):
                blocks.append({"segment_id": None, "role": _speaker(run[0]), "words": _run(run, low)})
                run = []
            run.append(word)
        blocks.append({"segment_id": None, "role": _speaker(run[0]), "words": _run(run, low)})
    return blocks


def _speaker(word: dict[str, Any]) -> str | None:
    """A Transcribe Medical word's speaker label, else its channel label."""
    return word["speaker_label"] or word["channel_label"]


def _note(
    sentences: list[dict[str, Any]], evidence: list[dict[str, Any]], segments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The note by section (consecutive sentences of one section name), each sentence with its evidence
    segments (role and content, or ``missing`` when the segment is not in the transcript).

    :param sentences: the recording's note_sentences rows.
    :param evidence: its note_evidence rows.
    :param segments: its transcript_segments rows.
    """
    content = {s["segment_id"]: s for s in segments}
    links: dict[tuple[int, int], list[str]] = {}
    for link in sorted(evidence, key=lambda e: e["evidence_index"]):
        links.setdefault((link["section_index"], link["sentence_index"]), []).append(link["segment_id"])
    sections: list[dict[str, Any]] = []
    for sentence in sorted(sentences, key=lambda s: (s["section_index"], s["sentence_index"])):
        if not sections or sentence["section_name"] != sections[-1]["name"]:
            sections.append({"name": sentence["section_name"], "sentences": []})
        shown = []
        for segment_id in links.get((sentence["section_index"], sentence["sentence_index"]), []):
            segment = content.get(segment_id)
            if segment is None:
                shown.append({"segment_id": segment_id, "missing": True})
            else:
                role, text = segment["participant_role"], segment["content"]
                shown.append({"segment_id": segment_id, "missing": False, "role": role, "content": text})
        sections[-1]["sentences"].append({"text": sentence["text"], "evidence": shown})
    return sections

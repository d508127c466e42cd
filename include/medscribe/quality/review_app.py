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
never logged; responses are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import html
import json
import os
import posixpath
import re
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

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

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem;color:#1b1b1b}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3rem .7rem;text-align:left}
mark.low{background:#ffd24d;border-bottom:2px solid #c00;padding:0 .1rem}
.segment{margin:.4rem 0}.role{display:inline-block;min-width:8rem;font-weight:600;color:#245}
.evidence{font-size:.9em;color:#444;margin-left:1.5rem}.muted{color:#777}
"""


def lake_uri() -> str:
    return os.environ.get("MEDSCRIBE_LAKE_URI", "s3://medscribe-lake/lake")


def _require_login():
    """Airflow's dependency that accepts only authenticated users (imported from the api-server)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def _page(title: str, body: str) -> HTMLResponse:
    document = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
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


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")


def _queue_rows(rows: list[dict[str, Any]], link_prefix: str) -> str:
    if not rows:
        return "<p class='muted'>Nothing under the bar.</p>"
    cells = "".join(
        f"<tr><td><a class='item' href='{link_prefix}item/{html.escape(r['night'])}/{html.escape(r['recording_id'])}'>"
        f"{html.escape(r['recording_id'])}</a></td><td class='metric'>{html.escape(r['metric'])}</td>"
        f"<td>{_figure(r['value'])}</td><td>{'≥' if r['bound'] == 'min' else '≤'} {_figure(r['threshold'])}</td></tr>"
        for r in rows
    )
    return f"<table><tr><th>recording</th><th>metric</th><th>value</th><th>bar</th></tr>{cells}</table>"


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
        nights = sorted({r["night"] for r in rows}, reverse=True)
        body = "<h1>Review queue</h1>"
        if not nights:
            body += "<p class='muted'>No transcript is waiting for review.</p>"
        for night in nights:
            items = [r for r in rows if r["night"] == night]
            recordings = len({r["recording_id"] for r in items})
            body += (
                f"<h2 class='night'><a href='night/{night}'>{night}</a> "
                f"<span class='muted'>({recordings} recordings)</span></h2>{_queue_rows(items, '')}"
            )
        return _page("Review queue", body)

    @app.get("/night/{night}", response_class=HTMLResponse)
    def night_queue(night: str) -> HTMLResponse:
        night = _night(night)
        rows = sorted(_read("review_queue", night).to_pylist(), key=lambda r: r["recording_id"])
        body = (
            f"<p><a href='../'>All nights</a></p><h1>Review queue, night {night}</h1>"
            f"<p><a href='../docs/{night}/index.html'>Validation results (GX data docs)</a></p>"
            f"{_queue_rows(rows, '../')}"
        )
        return _page(f"Review queue {night}", body)

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
        body = (
            f"<p><a href='../../night/{night}'>Night {night}</a></p><h1>Recording {html.escape(recording_id)}</h1>"
            f"<h2>Under the bar</h2>{_queue_rows([{**r, 'night': night} for r in queue], '../../')}"
            f"<h2>Transcript</h2><p class='muted'>Words under {_figure(low)} confidence are "
            f"<mark class='low'>highlighted</mark>.</p>"
        )
        body += _transcript(words, segments, low)
        body += _note(rows("note_sentences"), rows("note_evidence"), segments)
        return _page(f"Recording {recording_id}", body)

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


def _word(word: dict[str, Any], low: float) -> str:
    text = html.escape(word["content"] or "")
    confidence = word["confidence"]
    if not word["is_punctuation"] and confidence is not None and confidence < low:
        return f"<mark class='low' data-confidence='{confidence!r}' title='confidence {confidence:.3f}'>{text}</mark>"
    return text


def _join(words: list[dict[str, Any]], low: float) -> str:
    out = ""
    for word in words:
        out += ("" if word["is_punctuation"] or not out else " ") + _word(word, low)
    return out


def _transcript(words: list[dict[str, Any]], segments: list[dict[str, Any]], low: float) -> str:
    """Segments with their roles (HealthScribe), else runs of one speaker or channel (Transcribe Medical)."""
    if not words:
        return "<p class='muted'>No words.</p>"
    by_segment: dict[str | None, list[dict[str, Any]]] = {}
    for word in words:
        by_segment.setdefault(word["segment_id"], []).append(word)
    blocks = []
    if segments:
        for segment in segments:
            own = by_segment.get(segment["segment_id"], [])
            text = _join(own, low) if own else html.escape(segment["content"] or "")
            blocks.append((segment["segment_id"], segment["participant_role"], text))
        if by_segment.get(None):
            blocks.append((None, None, _join(by_segment[None], low)))
    else:
        run: list[dict[str, Any]] = []
        for word in words:
            who = word["speaker_label"] or word["channel_label"]
            if run and who != (run[0]["speaker_label"] or run[0]["channel_label"]):
                blocks.append((None, run[0]["speaker_label"] or run[0]["channel_label"], _join(run, low)))
                run = []
            run.append(word)
        blocks.append((None, run[0]["speaker_label"] or run[0]["channel_label"], _join(run, low)))
    return "".join(
        f"<div class='segment'{f' id=seg-{html.escape(sid)}' if sid else ''}>"
        f"<span class='role'>{html.escape(role or 'speaker unknown')}</span> <span class='text'>{text}</span></div>"
        for sid, role, text in blocks
    )


def _note(
    sentences: list[dict[str, Any]], evidence: list[dict[str, Any]], segments: list[dict[str, Any]]
) -> str:
    if not sentences:
        return "<h2>Note</h2><p class='muted'>No clinical note was produced for this recording.</p>"
    content = {s["segment_id"]: s for s in segments}
    links: dict[tuple[int, int], list[str]] = {}
    for link in sorted(evidence, key=lambda e: e["evidence_index"]):
        links.setdefault((link["section_index"], link["sentence_index"]), []).append(link["segment_id"])
    out, section = "<h2>Note</h2>", None
    for sentence in sorted(sentences, key=lambda s: (s["section_index"], s["sentence_index"])):
        if sentence["section_name"] != section:
            section = sentence["section_name"]
            out += f"<h3>{html.escape(section or '')}</h3>"
        out += f"<p class='sentence'>{html.escape(sentence['text'] or '')}</p>"
        for segment_id in links.get((sentence["section_index"], sentence["sentence_index"]), []):
            segment = content.get(segment_id)
            if segment is None:
                out += f"<div class='evidence missing'>evidence segment {html.escape(segment_id or '?')} is missing</div>"
            else:
                out += (
                    f"<div class='evidence'><a href='#seg-{html.escape(segment_id)}'>{html.escape(segment['participant_role'] or '')}"
                    f"</a>: {html.escape(segment['content'] or '')}</div>"
                )
    return out

"""The reviewer page: a FastAPI app the Airflow plugin mounts in the api-server (``plugins/medscribe_plugin.py``).

Pages (relative links, so the app works under any mount prefix and inside the UI's iframe):

* ``/`` — the review queue, per night (newest first): recording, metric, value, bar and review status
  (open / in review / signed off), filtered by ``?night=``, ``?metric=`` and ``?status=``;
* ``/night/<night>`` — one night's queue, its picture (server-rendered SVG: transcripts by mean word
  confidence with the bar, and the queue size over the last 30 nights) and its GX data docs;
* ``/item/<night>/<recording_id>`` — one recording: an audio player; the transcript by segment with
  roles, each segment and each word under the night's ``low_word_confidence`` playable, clinical
  insights highlighted by category (negated ones struck through); the note, each sentence with its
  evidence turns (a click scrolls to them, highlights and plays them); and, for users who may edit, the
  forms that correct a word or a sentence, mark a sentence wrong, accept or reject, and sign off;
* ``/audio/<night>/<recording_id>`` — the staged media the job read, streamed with byte ranges (206);
* ``POST /decide/<night>/<recording_id>`` — one decision, appended to ``review_decisions``; a sign-off
  also writes the reviewed note beside the service's and into ``note_sentences`` (``medscribe.review``);
* ``/docs/<night>/<path>`` — the night's data docs HTML, served from ``<lake>/_quality/night=<night>/``.

Access: every route depends on Airflow's own authentication (``requires_authenticated`` of the core API:
the JWT of the ``Authorization: Bearer`` header or of the UI's ``_token`` cookie, checked by the
configured auth manager). Airflow does not authenticate plugin apps by itself; an anonymous request gets
401, or a redirect to Airflow's login page when a browser asks for HTML. Deciding needs the auth
manager's permission to edit the nightly DAG (``PUT`` on ``medscribe_nightly``: Airflow's "User" role and
above; FAB's ``can_edit`` on the DAG): others see no forms and get 403 on POST. Forms carry a CSRF token
(``medscribe.review.csrf`` says why it is our own). The lake is read with pyarrow (``MEDSCRIBE_LAKE_URI``,
the DAG's default lake); S3 and the service through the Airflow connection ``aws_default``. Transcript
text is rendered (escaped) for the reviewer, never logged (logs carry ids, kinds and counts); responses are
``Cache-Control: no-store``. The HTML comes from the Jinja2 templates in ``templates/`` (autoescaped,
:mod:`medscribe.quality.review_pages`); the lake and S3 are read by :mod:`medscribe.quality.review_data`.
"""

from __future__ import annotations

import logging
import posixpath
import re
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from medscribe.quality import review_data as data
from medscribe.quality.review_pages import PAGES, STATUS_NAMES, page
from medscribe.review import charts, csrf, views
from medscribe.review import decisions as review
from medscribe.review.access import Reviewer, make_dependency

log = logging.getLogger(__name__)

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


def _require_login():
    """Airflow's dependency that accepts only authenticated users (imported from the api-server)."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def _night(night: str) -> str:
    if not NIGHT.fullmatch(night):
        raise HTTPException(status_code=404, detail="no such night")
    return night


def _recording_id(recording_id: str) -> str:
    if not RECORDING_ID.fullmatch(recording_id):
        raise HTTPException(status_code=404, detail="no such recording")
    return recording_id


def _record(
    night: str, recording_id: str, user: Reviewer, kind: str, key: str | None, decision: str, after: Any
) -> Response:
    """Check and append one decision (a sign-off first writes the reviewed note); back to the item page.

    :raises HTTPException: 404 for an unknown job or item, 409 for a decision the table does not take.
    """
    job = data.job(night, recording_id)
    decision_row = review.Decision(
        recording_id=recording_id,
        job_name=job["job_name"],
        item_kind=kind,
        item_key=key,
        before=data.before(night, recording_id, kind, key) if kind in ("word", "sentence") else None,
        after=str(after).strip() if decision == "correct" and after is not None else None,
        decision=decision,
        reviewer=user.name,
    )
    try:
        decision_row.check()
        if decision == "sign_off":
            decided = review.read_decisions(data.lake_uri(), night, recording_id)
            if review.status(decided) == "signed_off":
                raise review.DecisionRefused("the recording is signed off")
            sentences = data.sign_off(night, recording_id, job, decided)
            log.info(
                "Recording %s of night %s signed off: %d reviewed note sentences",
                recording_id,
                night,
                sentences,
            )
        review.append(data.lake_uri(), night, decision_row)
    except review.DecisionRefused as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    log.info("Review decision on recording %s of night %s: %s %s", recording_id, night, kind, decision)
    anchor = {"word": f"#w-{key}", "sentence": f"#s-{key}"}.get(kind, "")
    return RedirectResponse(f"../../item/{night}/{recording_id}{anchor}", status_code=303)


def create_app() -> FastAPI:
    """The reviewer app; every route requires an Airflow login, deciding the permission to edit."""
    require_login = _require_login()
    app = FastAPI(
        title="medscribe review queue",
        dependencies=[Depends(require_login)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.require_login = require_login  # the dependency, for tests that stand in for a logged-in user
    reviewer_dependency = make_dependency()
    app.state.reviewer = reviewer_dependency  # likewise, for tests that stand in for a user with a role
    as_reviewer = Depends(reviewer_dependency)

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
    def queue(night: str = "", metric: str = "", status: str = "") -> HTMLResponse:
        everything = data.with_status(data.read("review_queue").to_pylist(), data.statuses())
        rows = [
            r
            for r in everything
            if (not night or r["night"] == night)
            and (not metric or r["metric"] == metric)
            and (not status or r["status"] == status)
        ]
        rows.sort(key=lambda r: (r["night"], r["recording_id"]), reverse=True)
        nights = []
        for each in sorted({r["night"] for r in rows}, reverse=True):
            items = [r for r in rows if r["night"] == each]
            nights.append((each, len({r["recording_id"] for r in items}), items))
        choices = {
            "night": sorted({r["night"] for r in everything}, reverse=True),
            "metric": sorted({r["metric"] for r in everything}),
            "status": list(STATUS_NAMES),
        }
        chosen = {"night": night, "metric": metric, "status": status}
        return page(
            "queue.html.j2", "Review queue", nights=nights, choices=choices, chosen=chosen, names=STATUS_NAMES
        )

    @app.get("/night/{night}", response_class=HTMLResponse)
    def night_queue(night: str) -> HTMLResponse:
        night = _night(night)
        everything = data.read("review_queue").to_pylist()
        rows = sorted(
            data.with_status([r for r in everything if r["night"] == night], data.statuses()),
            key=lambda r: r["recording_id"],
        )
        config = data.night_config(night)
        transcripts = data.night_transcripts(night)
        means = [t["mean_confidence"] for t in transcripts if t.get("mean_confidence") is not None]
        sizes: dict[str, set[str]] = {}
        for r in everything:
            sizes.setdefault(r["night"], set()).add(r["recording_id"])
        return page(
            "night.html.j2",
            f"Review queue {night}",
            night=night,
            rows=rows,
            names=STATUS_NAMES,
            histogram=charts.confidence_histogram(means, float(config["min_mean_confidence"])),
            queue_sizes=charts.queue_sizes({n: len(ids) for n, ids in sizes.items()}, night),
        )

    @app.get("/item/{night}/{recording_id}", response_class=HTMLResponse)
    def item(night: str, recording_id: str, user: Reviewer = as_reviewer) -> HTMLResponse:
        night, recording_id = _night(night), _recording_id(recording_id)

        def rows(name: str) -> list[dict[str, Any]]:
            return data.recording_rows(night, recording_id, name)

        queue, words = rows("review_queue"), rows("transcript_words")
        if not queue and not words:
            raise HTTPException(status_code=404, detail="no such recording in this night")
        low = float(data.night_config(night)["low_word_confidence"])
        words = sorted((w for w in words if w["alternative_rank"] == 0), key=lambda w: w["item_index"])
        segments = sorted(rows("transcript_segments"), key=lambda s: s["segment_index"])
        decided = review.read_decisions(data.lake_uri(), night, recording_id)
        blocks = views.transcript(
            words, segments, low, rows("clinical_insights"), review.latest(decided, "word")
        )
        low_words = [w for block in blocks for w in block["words"] if w["confidence"] is not None]
        jobs = rows("jobs")
        return page(
            "item.html.j2",
            f"Recording {recording_id}",
            night=night,
            recording_id=recording_id,
            queue=[{**r, "night": night, "status": review.status(decided)} for r in queue],
            low=low,
            blocks=blocks,
            low_words=low_words,
            sections=views.note(
                rows("note_sentences"), rows("note_evidence"), segments, review.latest(decided, "sentence")
            ),
            has_audio=bool(jobs and jobs[0]["job_name"]),
            status=review.status(decided),
            names=STATUS_NAMES,
            verdict=review.verdict(decided),
            decisions=decided,
            user=user,
            token=csrf.issue(user.user_id) if user.may_edit else "",
        )

    @app.get("/audio/{night}/{recording_id}")
    def audio(night: str, recording_id: str, request: Request) -> Response:
        from medscribe.review import media

        night, recording_id = _night(night), _recording_id(recording_id)
        job = data.job(night, recording_id)
        try:
            uri = media.staged_media_uri(job["service"], job["job_name"], data.AWS_CONN_ID)
            found = media.open_audio(data.s3(), uri, request.headers.get("range"))
        except media.RangeNotSatisfiable as error:
            return Response(status_code=416, headers={"Content-Range": str(error)})
        except Exception as error:  # the job or its media is gone (forgotten, expired): no audio
            log.warning("No audio for recording %s: %s", recording_id, type(error).__name__)
            raise HTTPException(status_code=404, detail="no audio for this recording") from None
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(found.length), "Cache-Control": "no-store"}
        if found.content_range:
            headers["Content-Range"] = found.content_range
        return StreamingResponse(
            found.chunks,
            status_code=206 if found.content_range else 200,
            media_type=found.media_type,
            headers=headers,
        )

    @app.post("/decide/{night}/{recording_id}")
    async def decide(
        night: str, recording_id: str, request: Request, user: Reviewer = as_reviewer
    ) -> Response:
        from starlette.concurrency import run_in_threadpool

        night, recording_id = _night(night), _recording_id(recording_id)
        if not user.may_edit:
            raise HTTPException(status_code=403, detail="you may not record review decisions")
        form = await request.form()
        token = form.get("csrf")  # a file posted in its place is no token
        if not csrf.valid(token if isinstance(token, str) else None, user.user_id):
            raise HTTPException(status_code=403, detail="the form's token is missing, expired or not yours")
        kind, key = str(form.get("item_kind", "")), form.get("item_key")
        key = None if kind == "recording" else str(key or "")
        after = form.get("after")
        return await run_in_threadpool(
            _record, night, recording_id, user, kind, key, str(form.get("decision", "")), after
        )

    @app.get("/static/review.js")
    def script() -> Response:
        return Response(
            PAGES.get_template("review.js.j2").render(),
            media_type="text/javascript",
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/docs/{night}/{path:path}")
    def data_docs(night: str, path: str) -> Response:
        from medscribe.quality.gate import quality_dir

        night = _night(night)
        clean = posixpath.normpath(path)
        extension = posixpath.splitext(clean)[1]
        if clean.startswith(("..", "/")) or extension not in DOC_TYPES:
            raise HTTPException(status_code=404, detail="no such page")
        filesystem, directory = quality_dir(data.lake_uri(), night)
        try:
            with filesystem.open_input_stream(f"{directory}/data_docs/{clean}") as stream:
                content = stream.read()
        except (FileNotFoundError, OSError):
            raise HTTPException(status_code=404, detail="no such page") from None
        return Response(content, media_type=DOC_TYPES[extension], headers={"Cache-Control": "no-store"})

    return app

"""The reviewer page's HTML: the Jinja2 templates in ``templates/`` (autoescaped) and how a page is sent.

The routes are in :mod:`medscribe.quality.review_app`, the lake reads in :mod:`medscribe.quality.review_data`.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

STATUS_NAMES = {"open": "open", "in_review": "in review", "signed_off": "signed off"}


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


def page(template: str, title: str, **context: Any) -> HTMLResponse:
    """Render one page, uncached by browsers and proxies.

    :param template: the template's file name under ``templates/``.
    :param title: the page's title.
    :param context: the template's other variables.
    """
    document = PAGES.get_template(template).render(title=title, **context)
    return HTMLResponse(document, headers={"Cache-Control": "no-store"})

"""The engine's HTML pages: Jinja2 templates in ``templates/``, every value escaped (autoescape)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

# An undefined name in a template is an error, not an empty string.
PAGES = Environment(
    loader=PackageLoader("medscribe_engine"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

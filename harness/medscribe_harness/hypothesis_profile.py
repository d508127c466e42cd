"""The suites' Hypothesis profile: the same examples on every run, so a green commit stays green.

Set ``MEDSCRIBE_HYPOTHESIS_EXPLORE=1`` to draw new ones (what they find becomes a regression test)."""

from __future__ import annotations

import os


def load() -> None:
    from hypothesis import settings

    settings.register_profile("repeatable", derandomize=True, database=None)
    settings.load_profile("default" if os.environ.get("MEDSCRIBE_HYPOTHESIS_EXPLORE") else "repeatable")

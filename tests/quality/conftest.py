"""The AWS-published example outputs (tests/fixtures/aws/), loaded as the lake tests load them."""

from __future__ import annotations

import pytest

from tests.lake.conftest import _load


@pytest.fixture
def load_aws():
    return _load

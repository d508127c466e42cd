"""The engine's error classes carry the HTTP status that botocore's model (the engine's botocore)
declares for the service's errors."""

from __future__ import annotations

import pytest

from medscribe_engine import exceptions
from medscribe_engine.validation import service_model


def _modeled_errors() -> dict[str, int]:
    model = service_model()
    statuses = {}
    for name in model.shape_names:
        shape = model.shape_for(name)
        if shape.metadata.get("exception"):
            statuses[name] = shape.metadata.get("error", {}).get("httpStatusCode")
    return statuses


def test_every_modeled_error_has_a_class_with_the_model_status():
    modeled = _modeled_errors()
    assert set(modeled) == {
        "BadRequestException",
        "ConflictException",
        "InternalFailureException",
        "LimitExceededException",
        "NotFoundException",
    }
    if None in modeled.values():
        pytest.skip("this botocore's model declares no HTTP status for the service's errors (before 1.44)")
    classes = [getattr(exceptions, name) for name in modeled]
    assert {cls.code: cls.status for cls in classes} == modeled
    assert [exceptions.ConflictException.status, exceptions.NotFoundException.status] == [409, 404]
    assert exceptions.LimitExceededException.status == 429

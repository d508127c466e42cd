"""LazyModel: the HealthScribe-only models load once, on first use, and a failed load fails the job."""

from __future__ import annotations

import threading

import pytest
from medscribe.engine.pipeline.document import JobFailed
from medscribe.engine.resources import LazyModel, ModelIntegrityError


class Model:
    def __init__(self):
        self.calls = 0

    def analyze(self, text: str) -> list[str]:
        self.calls += 1
        return text.split()


def test_loaded_once_on_first_use_even_from_two_threads():
    loads = []

    def loader():
        loads.append(1)
        return Model()

    lazy = LazyModel("test model", loader)
    assert not lazy.loaded and loads == []
    results = []
    threads = [threading.Thread(target=lambda: results.append(lazy.analyze("a b"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [["a", "b"], ["a", "b"]]
    assert loads == [1] and lazy.loaded and lazy.get().calls == 2


def test_a_failed_load_fails_jobs_without_naming_files():
    def loader():
        raise ModelIntegrityError("sentence embedding model: /secret/path/model.safetensors has sha256 ...")

    lazy = LazyModel("sentence embedding model", loader)
    for _ in range(2):
        with pytest.raises(JobFailed) as excinfo:
            lazy.encode(["text"])
        assert excinfo.value.reason == (
            "The engine couldn't load its sentence embedding model. Contact the engine's operator."
        )
        assert "/secret" not in excinfo.value.reason

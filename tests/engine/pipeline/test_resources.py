"""Pinned models: the checksum gate."""

from __future__ import annotations

import pytest
from medscribe.engine.resources import WHISPER_MODEL_SHA256, ModelIntegrityError, sha256_of, verify


def test_verify_refuses_a_different_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"something else")
    with pytest.raises(ModelIntegrityError, match="expected " + WHISPER_MODEL_SHA256):
        verify(path, WHISPER_MODEL_SHA256, "speech recognition model")
    with pytest.raises(ModelIntegrityError, match="missing"):
        verify(tmp_path / "absent.bin", WHISPER_MODEL_SHA256, "speech recognition model")


def test_installed_model_matches_the_pin():
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from medscribe.engine.resources import whisper_model_dir

    assert sha256_of(whisper_model_dir() / "model.bin") == WHISPER_MODEL_SHA256

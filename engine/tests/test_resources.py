"""Pinned models: the checksum gate."""

from __future__ import annotations

import pytest

from medscribe_engine.resources import WHISPER_MODEL_SHA256, ModelIntegrityError, sha256_of, verify


def test_verify_refuses_a_different_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"something else")
    with pytest.raises(ModelIntegrityError, match="expected " + WHISPER_MODEL_SHA256):
        verify(path, WHISPER_MODEL_SHA256, "speech recognition model")
    with pytest.raises(ModelIntegrityError, match="missing"):
        verify(tmp_path / "absent.bin", WHISPER_MODEL_SHA256, "speech recognition model")


def test_installed_model_matches_the_pin():
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from medscribe_engine.resources import whisper_model_dir

    assert sha256_of(whisper_model_dir() / "model.bin") == WHISPER_MODEL_SHA256


def test_whisper_options_pin_and_folder(monkeypatch, tmp_path):
    from medscribe_engine.resources import MODEL_DIR_ENV, MODEL_SHA256_ENV, WhisperOptions

    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    monkeypatch.delenv(MODEL_SHA256_ENV, raising=False)
    assert WhisperOptions().pin() == WHISPER_MODEL_SHA256
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(MODEL_SHA256_ENV, "AB" * 32)
    assert WhisperOptions().folder() == tmp_path and WhisperOptions().pin() == "ab" * 32
    given = WhisperOptions(model_dir=tmp_path / "own", sha256="cd" * 32)  # flags win over the environment
    assert given.folder() == tmp_path / "own" and given.pin() == "cd" * 32


def test_resolve_device_on_a_machine_without_cuda():
    ctranslate2 = pytest.importorskip("ctranslate2", reason="needs the engine environment (.venv-engine)")
    from medscribe_engine.resources import ModelOptionError, resolve_device

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has a CUDA device")
    assert resolve_device("cpu", "int8") == "cpu"
    assert resolve_device("auto", "default") == "cpu"
    with pytest.raises(ModelOptionError, match="no CUDA device"):
        resolve_device("cuda", "float16")
    with pytest.raises(ModelOptionError, match="compute type float16 is not supported on cpu"):
        resolve_device("auto", "float16")
    with pytest.raises(ModelOptionError, match="device 'tpu' is not one of auto, cpu, cuda"):
        resolve_device("tpu", "int8")

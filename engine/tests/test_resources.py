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


def test_streams_get_their_own_model_one_worker_each(monkeypatch):
    import medscribe_engine.pipeline.clinical_nlp as clinical_nlp
    from medscribe_engine import resources

    loads = []

    def load_whisper(num_workers, options):
        loads.append((num_workers, options.cpu_threads))
        return f"model {len(loads)}"

    monkeypatch.setattr(resources, "load_whisper", load_whisper)
    for name in ("load_voice_encoder", "load_sentence_encoder", "load_lexicons"):
        monkeypatch.setattr(resources, name, lambda *args: None)
    monkeypatch.setattr(resources, "warm_up", lambda: None)
    monkeypatch.setattr(clinical_nlp, "load_clinical_nlp", lambda: None)

    options = resources.WhisperOptions(cpu_threads=2)
    with_streams = resources.load_resources(1, options, streams=2)
    assert loads == [(1, 2), (2, 1)]  # the jobs' model, then the streams': a worker and a thread each
    assert (with_streams.whisper, with_streams.streaming_whisper) == ("model 1", "model 2")
    assert "streaming recognition model" in with_streams.load_seconds

    loads.clear()
    without = resources.load_resources(1, options)
    assert loads == [(1, 2)]
    assert without.streaming_whisper == "model 1"  # no streaming API: no second copy

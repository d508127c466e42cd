"""Stage tests: fixed inputs, and the real models where a stage needs one (engine environment only)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "audio"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES_DIR / "dictation.wav").exists():
        pytest.skip(f"sample recordings missing in {FIXTURES_DIR}; run scripts/make_fixtures.py")
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def whisper_model():
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from medscribe_engine.resources import load_whisper

    return load_whisper()


@pytest.fixture(scope="session")
def recognizer(whisper_model):
    from medscribe_engine.pipeline.asr import Recognizer

    return Recognizer(whisper_model)


@pytest.fixture(scope="session")
def voice_encoder():
    pytest.importorskip("resemblyzer", reason="needs resemblyzer (engine environment)")
    from medscribe_engine.resources import load_voice_encoder

    return load_voice_encoder()


@pytest.fixture(scope="session")
def sentence_encoder():
    pytest.importorskip("sentence_transformers", reason="needs sentence-transformers (engine environment)")
    from medscribe_engine.resources import load_sentence_encoder

    return load_sentence_encoder()


@pytest.fixture(scope="session")
def clinical_nlp():
    pytest.importorskip("medspacy", reason="needs medspaCy (engine environment)")
    from medscribe_engine.pipeline.clinical_nlp import load_clinical_nlp

    return load_clinical_nlp()

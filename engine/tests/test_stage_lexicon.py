"""The built-in medical lexicon (``pipeline/lexicon.py``): what it holds, the repairs on recognized words
with confidences, common words left alone, and the real model on the sample recordings with no custom
vocabulary."""

from __future__ import annotations

import pytest

from medscribe_engine.pipeline.lexicon import (
    SPECIALTY_CODES,
    Lexicon,
    apply_lexicon,
    join_split_words,
    respell,
    sound_key,
)


def heard(*pairs):
    """faster-whisper words from (text, probability) pairs, 0.3 s each, a leading space as Whisper writes."""
    from faster_whisper.transcribe import Word

    return [Word(0.3 * i, 0.3 * i + 0.25, f" {text}", p) for i, (text, p) in enumerate(pairs)]


def text(words) -> str:
    return "".join(w.word for w in words).strip()


class Counts:
    """What ``apply_lexicon`` counts on (a :class:`~medscribe_engine.pipeline.asr.Recognizer`'s counter)."""

    lexicon_repaired = 0


SMALL = Lexicon("PRIMARYCARE", ["metformin", "lisinopril", "atorvastatin", "lasix"], medical=["hypertension"])


def test_split_drug_name_is_joined_without_a_user_vocabulary():
    words = heard(("Yes,", 0.9), ("I", 0.9), ("take", 0.9), ("Metform", 0.4), ("in", 0.8), ("500mg", 0.7))
    repaired, joined = join_split_words(words, SMALL)
    assert text(repaired) == "Yes, I take Metformin 500mg" and joined == 1
    assert (repaired[3].start, repaired[3].end) == (words[3].start, words[4].end)
    assert repaired[3].probability == 0.4
    words = heard(("atorva", 0.3), ("statin.", 0.5))
    assert text(join_split_words(words, SMALL)[0]) == "atorvastatin."


def test_a_near_spelling_that_sounds_the_same_is_respelled():
    words = heard(("some", 0.9), ("lassicks", 0.3), ("daily", 0.9))
    assert sound_key("lassicks") == sound_key("lasix")
    assert text(respell(words, SMALL)[0]) == "some lasix daily"
    # a likely word is not looked at, however it is spelled
    assert text(respell(heard(("lassicks", 0.9)), SMALL)[0]) == "lassicks"


def test_common_words_are_not_turned_into_drug_names():
    words = heard(("license", 0.3), ("walking", 0.2), ("a", 0.3), ("cute", 0.3), ("hypertension", 0.3))
    counts = Counts()
    repaired = apply_lexicon(counts, words, SMALL)
    assert text(repaired) == "license walking a cute hypertension" and counts.lexicon_repaired == 0


def test_the_built_lexicons_leave_out_words_the_model_writes_whole(whisper_model):
    from medscribe_engine.pipeline.lexicon import build_lexicons

    lexicons = build_lexicons(whisper_model.hf_tokenizer)
    assert set(lexicons) == set(SPECIALTY_CODES)
    primary = lexicons["PRIMARYCARE"]
    assert {"metformin", "lisinopril", "atorvastatin", "albuterol", "lasix"} <= primary.spellings
    assert not {"insulin", "fever", "walking", "hypertension"} & primary.spellings  # one token each
    assert "hypertension" in primary.kept  # medical, so never replaced either
    assert len(primary) > 5000
    assert "metformina" not in primary.spellings  # other languages' spellings of a drug left out
    assert "myocardial" in lexicons["CARDIOLOGY"].spellings
    assert "hydronephrosis" in lexicons["UROLOGY"].spellings
    assert "hydronephrosis" not in lexicons["CARDIOLOGY"].spellings


@pytest.fixture(scope="module")
def primary_care(whisper_model):
    from medscribe_engine.pipeline.lexicon import build_lexicons

    return build_lexicons(whisper_model.hf_tokenizer, ["PRIMARYCARE"])["PRIMARYCARE"]


def test_real_model_metformin_repaired_on_a_channel(whisper_model, fixtures_dir, primary_care):
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognizer, tokens_from_words
    from medscribe_engine.pipeline.document import join_tokens

    patient = decode_audio(
        str(fixtures_dir / "conversation_stereo.wav"), sampling_rate=16000, split_stereo=True
    )[1]
    plain = join_tokens(tokens_from_words(Recognizer(whisper_model).words(patient)))
    recognizer = Recognizer(whisper_model, lexicon=primary_care)
    repaired = join_tokens(tokens_from_words(recognizer.words(patient)))
    print(f"without: {plain!r}\nwith: {repaired!r}")
    assert "Metform in" in plain  # tiny.en splits the drug's name on the patient's channel
    assert "take metformin 500" in repaired.lower() and "Metform in" not in repaired
    assert recognizer.lexicon_repaired >= 1


def test_real_model_dictation_keeps_its_common_words(whisper_model, fixtures_dir, primary_care):
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognizer, tokens_from_words
    from medscribe_engine.pipeline.document import join_tokens

    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    plain = join_tokens(tokens_from_words(Recognizer(whisper_model).words(audio)))
    repaired = join_tokens(tokens_from_words(Recognizer(whisper_model, lexicon=primary_care).words(audio)))
    print(f"without: {plain!r}\nwith: {repaired!r}")
    for common in ("hypertension", "blood pressure", "headaches", "chest pain", "Start"):
        assert common in repaired
    assert len(repaired.split()) == len(plain.split())


def test_the_pipeline_gives_the_recognizer_its_specialty_lexicon():
    from types import SimpleNamespace

    from medscribe_engine.pipeline import build_pipeline

    cardiology = Lexicon("CARDIOLOGY", ["amiodarone"])
    resources = SimpleNamespace(
        whisper=object(), voice_encoder=None, lexicons={"PRIMARYCARE": SMALL, "CARDIOLOGY": cardiology}
    )

    def lexicon_of(stages):
        return next(stage.recognizer.lexicon for stage in stages if getattr(stage, "name", "") == "asr")

    assert lexicon_of(build_pipeline("transcription", {}, resources, None)) is SMALL
    assert (
        lexicon_of(build_pipeline("transcription", {}, resources, None, specialty="CARDIOLOGY")) is cardiology
    )
    resources.lexicons = {}  # MEDSCRIBE_ENGINE_LEXICON=off
    assert lexicon_of(build_pipeline("transcription", {}, resources, None)) is None


def test_real_model_user_vocabulary_and_lexicon_together(whisper_model, fixtures_dir, primary_care):
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognizer, tokens_from_words
    from medscribe_engine.pipeline.document import join_tokens
    from medscribe_engine.pipeline.vocabulary import hotwords
    from medscribe_engine.vocabularies import VocabularyEntry

    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    recognizer = Recognizer(
        whisper_model, hotwords=hotwords([VocabularyEntry("lisinopril")]), lexicon=primary_care
    )
    both = join_tokens(tokens_from_words(recognizer.words(audio))).lower()
    assert "start lisinopril 10 milligrams" in both  # the user's vocabulary still acts first
    assert "hypertension" in both


def test_only_drug_names_are_respelled():
    lexicon = Lexicon("PRIMARYCARE", ["lasix", "titer", "louis"], respelled=["lasix"])
    words = heard(("some", 0.9), ("lassicks,", 0.3), ("tater", 0.2), ("lowish", 0.3))
    assert text(respell(words, lexicon)[0]) == "some lasix, tater lowish"

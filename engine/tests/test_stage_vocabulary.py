"""Vocabulary files (table and list formats, the failures) and stage ``vocabulary`` (hotwords, display
forms) on fixed inputs; the real model on the dictation fixture with and without the hotwords."""

from __future__ import annotations

import pytest
from stage_helpers import sentence

from medscribe_engine.pipeline.document import join_tokens
from medscribe_engine.pipeline.vocabulary import ApplyVocabulary, hotwords
from medscribe_engine.vocabularies import VocabularyEntry, VocabularyFormatError, parse_vocabulary

HEADER = "Phrase\tIPA\tSoundsLike\tDisplayAs\n"


def test_table_in_any_column_order_and_list_format():
    table = parse_vocabulary(
        b"DisplayAs\tPhrase\tSoundsLike\tIPA\r\nBP\tblood-pressure\t\t\n\tlisinopril\tlie-sin-oh-pril\t\n"
    )
    assert table == [
        VocabularyEntry("blood-pressure", None, None, "BP"),
        VocabularyEntry("lisinopril", None, "lie-sin-oh-pril", None),
    ]
    assert table[0].spoken == "blood pressure" and table[0].display == "BP"
    assert table[1].display == "lisinopril"
    assert parse_vocabulary("\ufeffmetformin\n\nD.N.A.\n".encode()) == [
        VocabularyEntry("metformin"),
        VocabularyEntry("D.N.A."),
    ]


@pytest.mark.parametrize(
    "data, phrase",
    [
        (b"", "empty"),
        (HEADER.encode(), "no entries"),
        (b"Phrase\tDisplayAs\nx\ty\n", "header row"),
        ((HEADER + "a\tb\n").encode(), "exactly four"),
        ((HEADER + "\t\t\tX\n").encode(), "no Phrase"),
        ((HEADER + "ten mg\t\t\t\n").encode(), "character set"),
        ((HEADER + "aspirin\tæ s p\tas-pi-rin\t\n").encode(), "both IPA and SoundsLike"),
        (b"a" * 300, "256 characters"),
        (b"x\n" * 30000, "50 KB"),
        ("caf\xe9\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_unusable_files_say_why(data, phrase):
    with pytest.raises(VocabularyFormatError) as excinfo:
        parse_vocabulary(data)
    assert phrase in excinfo.value.reason


def test_hotwords_are_the_phrases_lower_case():
    entries = [
        VocabularyEntry("Lisinopril"),
        VocabularyEntry("blood-pressure", display_as="BP"),
        VocabularyEntry("D.N.A."),
        VocabularyEntry("lisinopril"),
    ]
    assert hotwords(entries) == "lisinopril, blood pressure, D.N.A."
    assert hotwords([]) is None


def test_matched_words_take_the_display_form():
    stage = ApplyVocabulary(
        [
            VocabularyEntry("lisinopril", display_as="Lisinopril"),
            VocabularyEntry("blood-pressure", display_as="BP"),
            VocabularyEntry("atorvastatin", sounds_like="a-tor-va-sta-tin"),
            VocabularyEntry("heart-rate"),
        ]
    )
    tokens = sentence(
        "Start lisinopril 10 mg. High Blood pressure. A tor vastatin daily. Heart Rate 76.", 0.0
    )
    rewritten, replaced = stage.rewrite(tokens)
    assert join_tokens(rewritten) == "Start Lisinopril 10 mg. High BP. atorvastatin daily. heart rate 76."
    assert replaced == 4
    bp = next(t for t in rewritten if t.content == "BP")
    assert (bp.start, bp.end) == (tokens[6].start, tokens[7].end)


def test_runs_stay_within_one_channel():
    stage = ApplyVocabulary([VocabularyEntry("blood-pressure", display_as="BP")])
    tokens = sentence("blood", 0.0, channel=0) + sentence("pressure", 0.3, channel=1)
    assert stage.rewrite(tokens)[1] == 0


def test_real_model_hears_lisinopril_only_with_the_hotword(whisper_model, fixtures_dir):
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognizer, tokens_from_words

    audio = decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)
    plain = join_tokens(tokens_from_words(Recognizer(whisper_model).words(audio))).lower()
    recognizer = Recognizer(whisper_model, hotwords=hotwords([VocabularyEntry("lisinopril")]))
    biased = join_tokens(tokens_from_words(recognizer.words(audio))).lower()
    print(f"without: {plain!r}\nwith: {biased!r}")
    assert "lisinopril" not in plain
    assert "start lisinopril 10 milligrams" in biased
    # the hotwords act in the second pass only, on the uncertain phrase that held the drug's name
    assert recognizer.vocabulary_kept >= 1
    assert recognizer.vocabulary_tried < len(biased.split(".")), "not every sentence is decoded again"
    assert biased.count("lisinopril") == 1 and len(biased.split()) <= len(plain.split())  # no echo


def test_real_model_gives_distinct_alternatives_best_first(whisper_model, fixtures_dir):
    from faster_whisper import decode_audio
    from stage_helpers import document

    from medscribe_engine.pipeline.alternatives import Alternatives, WhisperNBest
    from medscribe_engine.pipeline.asr import Recognizer, tokens_from_words

    doc = document("transcription", {"ShowAlternatives": True, "MaxAlternatives": 3})
    doc.audio = [decode_audio(str(fixtures_dir / "dictation.wav"), sampling_rate=16000)]
    doc.tokens = tokens_from_words(Recognizer(whisper_model).words(doc.audio[0]))
    Alternatives(WhisperNBest(whisper_model), 3)(doc)
    segments = doc.alternative_segments
    assert len(segments) >= 3
    assert [t for s in segments for t in s.alternatives[0]] == doc.tokens
    assert any(len(s.alternatives) == 3 for s in segments)
    for segment in segments:
        texts = [join_tokens(a).lower() for a in segment.alternatives]
        assert len(set(texts)) == len(texts)

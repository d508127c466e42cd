"""Stage ``channels``: merging two channels' tokens in time order."""

from __future__ import annotations

from medscribe_engine.pipeline.channels import merge_channels
from medscribe_engine.pipeline.document import join_tokens
from stage_helpers import sentence


def test_channels_interleave_by_word_start_and_keep_punctuation_with_its_word():
    clinician = sentence("How are you?", 0.0, channel=0) + sentence("Good.", 3.0, channel=0)
    patient = sentence("Fine, thanks.", 1.2, channel=1)
    merged = merge_channels([clinician, patient])
    assert join_tokens(merged) == "How are you? Fine, thanks. Good."
    assert [t.channel for t in merged] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    starts = [t.start for t in merged if t.is_word]
    assert starts == sorted(starts)


def test_overlapping_speech_is_ordered_word_by_word():
    merged = merge_channels(
        [sentence("one three", 0.0, step=1.0, channel=0), sentence("two four", 0.5, step=1.0, channel=1)]
    )
    assert [t.content for t in merged] == ["one", "two", "three", "four"]


def test_each_channel_is_recognized_alone_and_words_land_in_their_speakers_turns(recognizer, fixtures_dir):
    import json

    from faster_whisper import decode_audio
    from medscribe_engine.pipeline.asr import CHANNEL_OPTIONS, CHANNEL_VAD
    from medscribe_engine.pipeline.channels import RecognizeChannels
    from stage_helpers import document

    reference = json.loads((fixtures_dir / "conversation_stereo.json").read_text())
    doc = document("transcription", {"ChannelIdentification": True})
    doc.audio = list(decode_audio(str(fixtures_dir / "conversation_stereo.wav"), 16000, split_stereo=True))
    stage = RecognizeChannels(recognizer)
    assert stage.recognizer.vad == CHANNEL_VAD and stage.recognizer.model is recognizer.model
    assert stage.recognizer.options == {**recognizer.options, **CHANNEL_OPTIONS}
    assert stage.recognizer.options["temperature"] == 0.0
    assert stage.recognizer.options["condition_on_previous_text"]  # on its own previous turns
    assert stage.recognizer.options["patience"] == 1.0  # a patient beam filled a channel's silences
    stage(doc)
    words = [t for t in doc.tokens if t.is_word]
    assert {t.channel for t in words} == {0, 1}
    def distance(turn: dict, at: float) -> float:
        if turn["start_s"] <= at <= turn["end_s"]:
            return 0.0
        return min(abs(at - turn["start_s"]), abs(at - turn["end_s"]))

    for token in words:  # each word's middle lies in (or nearest to) a turn of its own channel
        middle = (token.start + token.end) / 2
        turn = min(reference["turns"], key=lambda t: distance(t, middle))
        assert turn["channel"] == token.channel, (token.content, middle)

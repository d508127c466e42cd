"""Stage ``diarize``: chunking and clustering on fixed inputs, and the real speaker encoder on the mono
fixture's reference turns."""

from __future__ import annotations

import itertools
import json

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("sklearn", reason="needs scikit-learn (engine environment)")

from stage_helpers import document, sentence  # noqa: E402

from medscribe_engine.pipeline.diarize import Diarize, cluster, speech_chunks  # noqa: E402


def test_chunks_break_at_sentence_ends_and_pauses():
    tokens = (
        sentence("Hello again, how was your weekend?", 0.0)
        + sentence("It was nice", 2.5)
        + sentence("thanks", 4.0)
    )
    chunks = speech_chunks(tokens)
    words = [[tokens[i].content for i in chunk] for chunk in chunks]
    assert words == [["Hello", "again", "how", "was", "your", "weekend"], ["It", "was", "nice"], ["thanks"]]


def test_chunks_break_between_speech_segments_even_without_pause_or_punctuation():
    tokens = sentence("so how are you I am fine thanks", 0.0, step=0.3)
    segments = [(0.0, 1.15), (1.25, 1.8), (1.9, 2.5)]  # the voice activity detector's speech segments
    chunks = speech_chunks(tokens, segments=segments)
    words = [[tokens[i].content for i in chunk] for chunk in chunks]
    assert words == [["so", "how", "are", "you"], ["I", "am"], ["fine", "thanks"]]
    with_sentences = sentence("Is it better? Yes it is.", 0.0, step=0.3)
    assert len(speech_chunks(with_sentences, segments=[(0.0, 3.0)])) == 1  # one segment: one chunk
    assert len(speech_chunks(with_sentences, segments=[])) == 2  # no segments: cut at the sentence end


def test_silero_segments_split_the_mono_fixture_at_every_turn_change(fixtures_dir):
    pytest.importorskip("faster_whisper", reason="needs the engine environment (.venv-engine)")
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.diarize import silero_segments

    reference = json.loads((fixtures_dir / "conversation_mono.json").read_text())
    segments = silero_segments(decode_audio(str(fixtures_dir / "conversation_mono.wav"), sampling_rate=16000))
    turns = reference["turns"]
    for before, after in itertools.pairwise(turns):
        gap = (before["end_s"] + after["start_s"]) / 2
        assert not any(start < gap < end for start, end in segments), (gap, segments)
    for turn in turns:  # and every turn holds speech
        assert any(start < turn["end_s"] and end > turn["start_s"] for start, end in segments)


def unit(vector):
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def voices(pattern: str, seed: int = 0):
    """Embeddings for a sequence like 'ABBA': each letter one voice plus a little noise."""
    rng = np.random.default_rng(seed)
    base = {letter: rng.normal(size=32) for letter in "ABC"}
    return np.stack([unit(base[letter] + 0.15 * rng.normal(size=32)) for letter in pattern])


def test_cluster_finds_the_voices_in_order_of_appearance():
    assert cluster(voices("BABAAB"), max_speakers=2) == [0, 1, 0, 1, 1, 0]
    assert cluster(voices("ABCABC"), max_speakers=3) == [0, 1, 2, 0, 1, 2]


def test_cluster_merges_one_voice_split_in_two_and_respects_the_maximum():
    assert cluster(voices("AAAAAA"), max_speakers=2) == [0] * 6
    assert len(set(cluster(voices("ABCABC"), max_speakers=2))) <= 2
    assert cluster(voices("A"), max_speakers=2) == [0]


def short_and_long(pattern: str, seed: int = 0):
    """Embeddings and durations for a sequence like 'AbBa': capitals are 3 s clips of a voice, small
    letters 0.5 s clips, whose embeddings lean towards one direction shared by all short clips (as the
    encoder's did when a short clip was padded with silence)."""
    rng = np.random.default_rng(seed)
    base = {letter: rng.normal(size=32) for letter in "ABS"}
    rows, durations = [], []
    for letter in pattern:
        voice = base[letter.upper()] + 0.15 * rng.normal(size=32)
        if letter.islower():
            rows.append(unit(0.4 * unit(voice) + 0.6 * unit(base["S"])))
            durations.append(0.5)
        else:
            rows.append(unit(voice))
            durations.append(3.0)
    return np.stack(rows), durations


def test_long_clips_find_the_voices_and_short_clips_join_the_nearest():
    embeddings, durations = short_and_long("AaBbABabAB")
    by_voice = [0, 0, 1, 1, 0, 1, 0, 1, 0, 1]
    assert cluster(embeddings, max_speakers=2) != by_voice  # all together: split by clip length
    assert cluster(embeddings, max_speakers=2, durations=durations) == by_voice


def test_all_clips_are_clustered_when_the_long_ones_show_one_voice():
    # the patient only answers briefly: the long clips are all the clinician's
    embeddings, durations = short_and_long("AbAAbAAb", seed=3)
    embeddings[[1, 4, 7]] = voices("BBB", seed=3)  # short clips clearly of another voice
    assert cluster(embeddings, max_speakers=2, durations=durations) == [0, 1, 0, 0, 1, 0, 0, 1]
    few, few_durations = short_and_long("Abab", seed=4)  # fewer long clips than MIN_ANCHORS
    assert cluster(few, max_speakers=2, durations=few_durations) == cluster(few, max_speakers=2)


def test_a_clip_shorter_than_one_window_is_repeated_to_fill_it():
    torch = pytest.importorskip("torch", reason="needs torch (engine environment)")
    pytest.importorskip("resemblyzer", reason="needs resemblyzer (engine environment)")
    from resemblyzer.audio import wav_to_mel_spectrogram

    from medscribe_engine.pipeline.diarize import PARTIAL_FRAMES, ResemblyzerEmbedder

    seen = []

    class RecordingEncoder:
        def __call__(self, windows):
            seen.append(windows.numpy())
            return torch.ones((len(windows), 4))

    rng = np.random.default_rng(0)
    clip = (0.1 * rng.normal(size=8000)).astype(np.float32)  # 0.5 s
    ResemblyzerEmbedder(RecordingEncoder()).embed([clip])
    mel = wav_to_mel_spectrogram(clip)
    (window,) = seen[0]
    assert window.shape[0] == PARTIAL_FRAMES and len(mel) < PARTIAL_FRAMES
    assert np.array_equal(window[: len(mel)], mel)
    assert np.array_equal(window[len(mel) : 2 * len(mel)], mel)  # the clip again, not silence
    assert (window.sum(axis=1) > 0).all()


class FakeEmbedder:
    """Voice A for clips louder than 0.5, voice B otherwise."""

    def embed(self, clips):
        a, b = voices("AB", seed=1)
        return np.stack([a if float(np.abs(clip).mean()) > 0.5 else b for clip in clips])


def test_stage_labels_words_and_punctuation():
    doc = document("scribe", {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2})
    audio = np.zeros(16000 * 6, dtype=np.float32)
    audio[int(2.5 * 16000) : int(4.0 * 16000)] = 0.9  # the second sentence is voice A
    doc.audio = [audio]
    doc.tokens = sentence("How are you?", 0.0) + sentence("I am fine.", 2.5) + sentence("Good.", 4.5)
    Diarize(FakeEmbedder())(doc)
    assert [(t.content, t.speaker) for t in doc.tokens] == [
        ("How", "spk_0"),
        ("are", "spk_0"),
        ("you", "spk_0"),
        ("?", "spk_0"),
        ("I", "spk_1"),
        ("am", "spk_1"),
        ("fine", "spk_1"),
        (".", "spk_1"),
        ("Good", "spk_0"),
        (".", "spk_0"),
    ]


def test_real_encoder_separates_the_mono_fixture_voices(voice_encoder, fixtures_dir):
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.diarize import ResemblyzerEmbedder

    reference = json.loads((fixtures_dir / "conversation_mono.json").read_text())
    audio = decode_audio(str(fixtures_dir / "conversation_mono.wav"), sampling_rate=16000)
    clips = [audio[int(t["start_s"] * 16000) : int(t["end_s"] * 16000)] for t in reference["turns"]]
    labels = cluster(ResemblyzerEmbedder(voice_encoder).embed(clips), max_speakers=2)
    speakers = [t["speaker"] for t in reference["turns"]]
    first = speakers[0]
    assert labels == [0 if speaker == first else 1 for speaker in speakers]


def test_real_encoder_puts_half_second_clips_with_their_speakers(voice_encoder, fixtures_dir):
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.diarize import ResemblyzerEmbedder

    reference = json.loads((fixtures_dir / "conversation_mono.json").read_text())
    audio = decode_audio(str(fixtures_dir / "conversation_mono.wav"), sampling_rate=16000)
    turns = reference["turns"]
    clips = [audio[int(t["start_s"] * 16000) : int(t["end_s"] * 16000)] for t in turns]
    for turn in turns:  # half a second from the middle of each turn
        middle = int((turn["start_s"] + turn["end_s"]) / 2 * 16000)
        clips.append(audio[middle - 4000 : middle + 4000])
    durations = [len(clip) / 16000 for clip in clips]
    labels = cluster(ResemblyzerEmbedder(voice_encoder).embed(clips), max_speakers=2, durations=durations)
    speakers = [t["speaker"] for t in turns] * 2
    assert labels == [0 if speaker == speakers[0] else 1 for speaker in speakers]

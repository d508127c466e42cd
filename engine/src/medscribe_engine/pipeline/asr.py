"""Stage ``asr``: speech recognition with faster-whisper, words with times and probabilities.

The :class:`Recognizer` decodes deterministically (:mod:`~medscribe_engine.pipeline.decoding`), then
corrects what looks like a misheard phrase of the job's custom vocabulary and of the medical lexicon;
:func:`~medscribe_engine.pipeline.tokens.tokens_from_words` makes transcript tokens of the words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from medscribe_engine.pipeline.decoding import DEFAULTS as DECODING
from medscribe_engine.pipeline.decoding import DecodeParams, Decoder, segment_failed, words_of
from medscribe_engine.pipeline.document import SAMPLE_RATE, JobDocument
from medscribe_engine.pipeline.tokens import RawWord, merge_pieces, tokens_from_words  # noqa: F401
from medscribe_engine.pipeline.tokens import split_edges as _split_edges


@dataclass(frozen=True)
class HotwordParams:
    """The custom vocabulary's second pass (chosen on the benchmark corpora, ``bench/asr/README.md``).

    A custom vocabulary (faster-whisper's ``hotwords``) is used in a second pass, never in the first (in
    every window's prompt it made tiny.en loop and echo the prompt: ``bench/asr/README.md``, History). So
    the first pass is the one without a vocabulary, and the vocabulary only corrects what looks misheard:
    a run of up to ``run`` words holding a word less likely than ``trigger`` and spelled like a vocabulary
    phrase of ``letters`` letters or more (about as many letters, ``length``, and a difflib ratio of
    ``similarity``) is decoded again with the hotwords from its audio and ``margin_s`` around it (nearby
    runs together, up to ``clip_s``; clips packed into one window of ``window_s`` with ``gap_s`` of silence
    between them, so a decode costs one window, not one per clip). Of that decode only the vocabulary
    phrases are kept, each run of them in place of the old words it covers in time when those are spelled
    like it (``splice_similarity``, :func:`splice_phrases`): nothing else is inserted or dropped, and the
    old words' punctuation stays.
    """

    trigger: float = 0.6  # a word at least this likely is not misheard (as the lexicon's pass)
    run: int = 4  # the most words one misheard phrase is heard as
    similarity: float = 0.55  # letters this alike are a phrase misheard: "like in a real" / "lisinopril"
    letters: int = 7  # shorter phrases ("pain", "fall") are common words, like too many others
    length: tuple[float, float] = (0.7, 1.4)  # a misheard run has about as many letters as the phrase
    clip_s: float = 20.0  # nearby runs are decoded as one clip up to this long
    margin_s: float = 1.0  # audio decoded around a run: the words on either side give it context
    gap_s: float = 1.0  # silence between clips packed into one window, so their words stay apart
    window_s: float = 28.0  # packed clips per decode: one Whisper window (30 s) with room to spare
    splice_similarity: float = 0.5  # old words this alike are replaced: "Elbuter Island Taylor" 0.51


DEFAULTS = HotwordParams()


class Recognizer(Decoder):
    """faster-whisper over one channel of 16 kHz float32 audio, with a custom vocabulary and the medical
    lexicon.

    :param model: a loaded ``faster_whisper.WhisperModel``.
    :param beam_size: beam width of the decoder.
    :param hotwords: phrases the decoder is biased towards (a custom vocabulary), or None.
    :param vad: Silero VAD options for faster-whisper (``params.mixed_vad`` unless given).
    :param options: other ``transcribe`` options (``params.options`` unless given).
    :param fallbacks: option sets for re-decoding a failed window (``params.fallbacks`` unless given).
    :param lexicon: the built-in medical lexicon of the job's specialty
        (:class:`~medscribe_engine.pipeline.lexicon.Lexicon`), or None.
    :param params: the decoder's settings (default
        :class:`~medscribe_engine.pipeline.decoding.DecodeParams`).
    :param hotword_params: the custom vocabulary's second pass (default :class:`HotwordParams`).
    """

    def __init__(
        self,
        model,
        beam_size: int = DECODING.beam_size,
        hotwords: str | None = None,
        vad: dict | None = None,
        options: dict | None = None,
        fallbacks: tuple[dict, ...] | None = None,
        lexicon=None,
        params: DecodeParams | None = None,
        hotword_params: HotwordParams | None = None,
    ):
        super().__init__(model, beam_size, vad, options, fallbacks, params)
        self.hotword_params = hotword_params or DEFAULTS
        self.lexicon = lexicon
        self.hotwords = hotwords
        self.vocabulary_tried = 0  # clips decoded again with the hotwords (a count for the benchmark)
        self.vocabulary_kept = 0  # of those, clips whose new words were kept
        self.lexicon_repaired = (
            0  # words joined or respelled by the medical lexicon (a count for the benchmark)
        )

    def with_vad(self, vad: dict) -> Recognizer:
        """The same recognizer with other voice activity options."""
        return Recognizer(
            self.model,
            self.beam_size,
            self.hotwords,
            vad,
            self.options,
            self.fallbacks,
            lexicon=self.lexicon,
            params=self.params,
            hotword_params=self.hotword_params,
        )

    def words(self, audio, should_stop: Callable[[], bool] = lambda: False) -> list[RawWord]:
        """The words of ``audio``: decoded once, failed windows decoded again (:meth:`redecode`), uncertain
        phrases decoded again with the vocabulary's hotwords (:meth:`apply_hotwords`), then the medical
        lexicon's repairs (:func:`~medscribe_engine.pipeline.lexicon.apply_lexicon`)."""
        words = words_of(self.decode(audio, should_stop))
        if self.hotwords:
            words = self.apply_hotwords(audio, words, should_stop)
        if self.lexicon is not None:
            from medscribe_engine.pipeline.lexicon import apply_lexicon

            words = apply_lexicon(self, words, self.lexicon)
        return [
            RawWord(word.word, float(word.start), float(word.end), float(word.probability)) for word in words
        ]

    def apply_hotwords(self, audio, words: list, should_stop: Callable[[], bool]) -> list:
        """``words`` with the runs that look like misheard vocabulary phrases (:func:`misheard_spans`)
        decoded again with the hotwords, each from its audio and ``margin_s`` around it, several
        clips packed into one window (:func:`pack_clips`), and the vocabulary phrases of the decoded
        segments that pass Whisper's checks spliced in (:func:`splice_phrases`)."""
        import numpy as np

        params = self.hotword_params
        phrases = vocabulary_phrases(self.hotwords or "")
        duration = len(audio) / SAMPLE_RATE
        clips = [
            (max(0.0, start - params.margin_s), min(duration, end + params.margin_s))
            for start, end in misheard_spans(words, phrases, params)
        ]
        options = {**self.options, "condition_on_previous_text": False}
        gap = np.zeros(int(params.gap_s * SAMPLE_RATE), dtype=audio.dtype)
        for batch in pack_clips(clips, params):
            pieces, places = [], []  # places: (position in the packed audio, start in the recording, length)
            position = 0.0
            for start, end in batch:
                piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
                places.append((position, start, len(piece) / SAMPLE_RATE))
                pieces += [piece, gap]
                position += (len(piece) + len(gap)) / SAMPLE_RATE
            self.vocabulary_tried += len(batch)
            tried = self.segments(np.concatenate(pieces), options, should_stop, hotwords=self.hotwords)
            passed = [segment for segment in tried if not segment_failed(segment, self.params)]
            moved = unpack_words(words_of(passed), places)
            words, spliced = splice_phrases(words, moved, phrases, params.splice_similarity)
            self.vocabulary_kept += spliced
        return words


def misheard_spans(
    words: list, phrases: list[tuple[str, ...]], params: HotwordParams = DEFAULTS
) -> list[tuple[float, float]]:
    """(start, end) seconds of the runs of ``words`` to decode again with a vocabulary: a run holding a word
    of probability under ``trigger`` (not part of a phrase heard as such) and spelled like one of
    ``phrases`` of ``letters`` letters or more (:func:`sounds_like_phrase`); runs closer than twice
    ``margin_s`` joined while the span stays within ``clip_s`` seconds."""
    spellings = [spelling for spelling in map("".join, phrases) if len(spelling) >= params.letters]
    if not spellings:
        return []
    heard = {i for first, last in phrase_spans(words, phrases) for i in range(first, last + 1)}
    spans: list[tuple[float, float]] = []
    for index, word in enumerate(words):
        if word.probability >= params.trigger or index in heard:
            continue
        run = sounds_like_phrase(words, index, spellings, heard, params)
        if run is None:
            continue
        start, end = words[run[0]].start, words[run[1]].end
        if spans and start - spans[-1][1] <= 2 * params.margin_s and end - spans[-1][0] <= params.clip_s:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def sounds_like_phrase(
    words: list,
    index: int,
    spellings: list[str],
    heard: set[int] | frozenset[int] = frozenset(),
    params: HotwordParams = DEFAULTS,
) -> tuple[int, int] | None:
    """The (first, last) indices of a run of up to ``run`` of ``words`` holding ``words[index]`` and none
    of ``heard`` (words of phrases heard as such) that is spelled like one of ``spellings`` (vocabulary
    phrases long enough to look for, letters only) but not as it: about as many letters (``length``) and
    a difflib ratio of at least ``similarity``: the most similar, or None."""
    low, high = params.length
    best: tuple[float, int, int] | None = None
    for size in range(1, params.run + 1):
        for begin in range(max(0, index - size + 1), min(index, len(words) - size) + 1):
            if heard.intersection(range(begin, begin + size)):
                continue
            letters = _letters(words[begin : begin + size])
            for spelling in spellings:
                if not low <= len(letters) / len(spelling) <= high:
                    continue
                ratio = SequenceMatcher(None, letters, spelling).ratio()
                if letters != spelling and ratio >= params.similarity and (best is None or ratio > best[0]):
                    best = (ratio, begin, begin + size - 1)
    return None if best is None else (best[1], best[2])


def pack_clips(clips: list[tuple[float, float]], params: HotwordParams = DEFAULTS) -> list[list]:
    """``clips`` (start, end seconds, in order) grouped so that each group with ``gap_s`` of silence after
    every clip fits one Whisper window of ``window_s`` seconds (a longer clip is a group of its own)."""
    batches: list[list] = []
    used = params.window_s
    for start, end in clips:
        length = end - start + params.gap_s
        if used + length > params.window_s:
            batches.append([])
            used = 0.0
        batches[-1].append((start, end))
        used += length
    return batches


def unpack_words(words: list, places: list[tuple[float, float, float]]) -> list:
    """Words decoded from packed clips moved back to the recording's clock: each word in the clip holding
    its middle (``places``: position in the packed audio, start in the recording, length); words in the
    silence between clips are dropped."""
    out = []
    for word in words:
        middle = (word.start + word.end) / 2
        for position, start, length in places:
            if position <= middle <= position + length:
                moved = start - position
                out.append(replace(word, start=word.start + moved, end=word.end + moved))
                break
    return out


_NOT_LETTERS = re.compile(r"[^a-z0-9']+")


def _normalized(text: str) -> list[str]:
    return [w for w in _NOT_LETTERS.split(text.lower().replace("-", " ")) if w]


def _letters(words: list) -> str:
    """The spelling of faster-whisper ``words`` as the vocabulary stage matches it."""
    from medscribe_engine.pipeline.vocabulary import spelling_key

    return spelling_key("".join(w.word for w in words))


def vocabulary_phrases(hotwords: str) -> list[tuple[str, ...]]:
    """The phrases of a hotwords prompt (:func:`~medscribe_engine.pipeline.vocabulary.hotwords`), each
    as its normalized words."""
    phrases = [tuple(_normalized(phrase)) for phrase in hotwords.split(",")]
    return [phrase for phrase in phrases if phrase]


def phrase_spans(words: list, phrases: list[tuple[str, ...]]) -> list[tuple[int, int]]:
    """(first, last) indices of the runs of ``words`` that are one of the ``phrases`` (whole words,
    normalized; a hyphenated word holds several), in order, not overlapping, longest phrase first."""
    flat = [(i, part) for i, word in enumerate(words) for part in _normalized(word.word)]
    spans: list[tuple[int, int]] = []
    k = 0
    while k < len(flat):
        for phrase in sorted(phrases, key=len, reverse=True):
            if tuple(part for _i, part in flat[k : k + len(phrase)]) == phrase:
                spans.append((flat[k][0], flat[k + len(phrase) - 1][0]))
                k += len(phrase)
                break
        else:
            k += 1
    return spans


def _heard_as(words: list, biased: list, similarity: float) -> tuple[int, int] | None:
    """The (first, last) indices of the ``words`` the ``biased`` run was heard as: of the words overlapping
    its time, the contiguous run spelled most like it (difflib ratio of the letters at least
    ``similarity``, not the same letters) that holds every word it covers for more than half of the
    word's time (word times of two decodes differ by a few hundredths); None if there is none."""
    start, end = biased[0].start, biased[-1].end
    touching = [i for i, w in enumerate(words) if w.start < end and w.end > start]
    covered = [
        i
        for i in touching
        if min(words[i].end, end) - max(words[i].start, start) > (words[i].end - words[i].start) / 2
    ]
    target = _letters(biased)
    best: tuple[float, int, int] | None = None
    for a in touching:
        for b in touching:
            if b < a or (covered and (a > covered[0] or b < covered[-1])):
                continue
            letters = _letters(words[a : b + 1])
            ratio = SequenceMatcher(None, letters, target).ratio()
            if letters != target and ratio >= similarity and (best is None or ratio > best[0]):
                best = (ratio, a, b)
    return None if best is None else (best[1], best[2])


def splice_phrases(
    old: list, new: list, phrases: list[tuple[str, ...]], similarity: float = DEFAULTS.splice_similarity
) -> tuple[list, int]:
    """``old`` words with each run of vocabulary phrases of ``new`` (the same audio decoded with the
    hotwords; phrases next to each other form one run) put in place of the old words it was heard as
    (:func:`_heard_as`: overlapping it in time, spelled like it); and how many runs were put in. The rest
    of ``new`` (an echo of a hotword, other words heard differently) is ignored; the last replaced
    word's punctuation stays."""
    runs: list[list[int]] = []
    for first, last in phrase_spans(new, phrases):
        if runs and runs[-1][1] + 1 == first:
            runs[-1][1] = last
        else:
            runs.append([first, last])
    out = list(old)
    spliced = 0
    for first, last in reversed(runs):
        biased = new[first : last + 1]
        span = _heard_as(out, biased, similarity)
        if span is None:
            continue
        before = out[span[0] : span[1] + 1]
        trail = _split_edges(before[-1].word)[2]
        text = biased[-1].word[: len(biased[-1].word) - len(_split_edges(biased[-1].word)[2])] + trail
        out[span[0] : span[1] + 1] = [*biased[:-1], replace(biased[-1], word=text)]
        spliced += 1
    return out, spliced


class Recognize:
    """Recognize the single (mono or down-mixed) channel into ``doc.tokens``.

    :param recognizer: a :class:`Recognizer`.
    """

    name = "asr"
    requires = ("doc.audio",)
    assigns = ("doc.tokens",)

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer

    def __call__(self, doc: JobDocument) -> None:
        words = self.recognizer.words(doc.audio[0], doc.should_stop)
        doc.tokens = tokens_from_words(words)

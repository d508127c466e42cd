"""Stage ``asr``: speech recognition with faster-whisper, words with times and probabilities.

Whisper returns words with a leading space and punctuation attached (``" weekend?"``), and splits some
words into pieces without a leading space (``" 58"``, ``"-year"``, ``"-old"``). :func:`tokens_from_words`
turns that into transcript tokens: one pronunciation token per spoken word, punctuation as tokens of
its own.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from medscribe_engine.pipeline.document import (
    PRONUNCIATION,
    PUNCTUATION,
    SAMPLE_RATE,
    Interrupted,
    JobDocument,
    Token,
)

BEAM_SIZE = 5
# Decoding is deterministic: beam search at temperature 0 only. faster-whisper's default fallback re-decodes
# a failed 30 s window by sampling at temperatures 0.2 ... 1.0 from CTranslate2's random generator, which
# is seeded once per thread (``ctranslate2.set_random_seed`` does not restart it): the same file gave
# other words on every run (bench/asr: WER 0.192 / 0.212 / 0.222 on one channel). Without that fallback,
# tiny.en at temperature 0 sometimes loops on one word for a whole window ("no, no, no, ..." over 30 s,
# "M-M-M-..." over two minutes of a channel): those windows are re-decoded by :data:`FALLBACKS`, also
# deterministic. Each window is conditioned on the previous window's text (a loop cannot spread: a failed
# window is re-decoded on its own); on mixed audio that lowered WER on the train split, and on the channels
# of a two-channel recording (:data:`CHANNEL_OPTIONS`, bench/asr/README.md).
# The beam search of mixed audio is patient (``patience`` 2: it stops after twice beam-size finished
# candidates, not once): train split, mono, WER 0.1115 -> 0.1063 (5 of 8 recordings better, one 0.6
# points worse) for 20 % more time.
DECODE_OPTIONS = {"temperature": 0.0, "condition_on_previous_text": True, "patience": 2.0}
# A channel is conditioned on its own previous text too, with a beam of plain patience. Two-channel WER,
# not conditioned -> conditioned (2026-12-05, bench/asr/stages.py on corpus v4, bench/asr/README.md):
# Piper valid 0.0860 -> 0.0791, Piper train 0.0606 -> 0.0585, espeak-ng valid 0.1253 -> 0.1209,
# espeak-ng train 0.1091 -> 0.1127 (formant speech, which tiny.en mishears, decoded more from the prompt).
# Rejected on 2026-12-04 for espeak-ng valid 0.130 -> 0.173: most of that was one repetition loop left in
# place (a loop no fallback replaces is dropped now); a sentence written late over the speech it hid
# (espeak-ng train) is handled by COPY_WORDS. Chosen on train, on the Piper corpus (v3: 0.0629 -> 0.0564).
# A patient beam on a channel inserted words into its silences (train: WER 0.1103 -> 0.1644, 291 insertions).
CHANNEL_OPTIONS = {"condition_on_previous_text": True, "patience": 1.0}
# Whisper's own checks of a decoded window (faster-whisper's defaults): text that compresses more than
# this is a repetition loop; a lower average log-probability is a failed decode unless the window is
# likely silence (no-speech probability above NO_SPEECH_THRESHOLD).
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
# Options tried in order on the audio of a failed window (the first that passes the checks is kept, else
# the best by the checks): no 4-gram may repeat inside a window, then also a repetition penalty. A segment
# of the best that is still a repetition loop is dropped: tiny.en, conditioned on a channel's previous
# text, followed a 0.8 s turn with 109 "right," crammed into 0.1 s of its end; that window's audio, decoded
# again on its own, held no speech, so no fallback could replace it (espeak-ng valid D2N071-0).
FALLBACKS = ({"no_repeat_ngram_size": 4}, {"no_repeat_ngram_size": 4, "repetition_penalty": 1.2})
# Whisper sometimes ends a window early and moves on to the next one: the speech between is lost without
# any check failing (conditioned on the previous text, tiny.en skipped a 21 s turn of one channel). A
# stretch of at least this many seconds inside the VAD's speech with no word in it is decoded again on
# its own (VAD chunks hold no silence longer than ``min_silence_duration_ms``, so such a stretch is speech).
SKIPPED_SPEECH_S = 3.0
# The words of such a stretch sometimes were decoded, but misplaced: tiny.en wrote a turn's first sentence
# at the end of its 30 s window, 20 s late, and skipped the rest of the turn; the stretch, decoded again,
# held the sentence in its place and the transcript held it twice (espeak-ng train D2N001-1, 17 words). A
# decoded segment is dropped when at least half of its words lie in runs of COPY_WORDS or more words
# (normalized) that the recovered words also hold (a short phrase said twice, "hey dragon, show me the
# blood pressure readings", is shorter than that), and the speech left without words where it was placed
# is recovered in turn.
COPY_WORDS = 10
# faster-whisper maps a word of the glued speech back to the VAD chunk that holds its middle, and tiny.en's
# word times sometimes put a turn's last word past the join: "...what I find, okay?" + "Okay. So on your"
# came back as "find" and "okay okay so", the first "okay" in the channel's next turn, after the other
# side's reply (15 such words on the Piper valid corpus, 17 on train). On a channel, a chunk's first word
# is moved back into the chunk before it when that chunk ends in WORDLESS_TAIL_S or more of speech without
# a word. Two-channel WER (stages.py, chosen on train): Piper train 0.0585 -> 0.0547, espeak-ng train
# 0.1127 -> 0.1082 (0.2 s: 0.0545 / 0.1101), valid 0.0791 -> 0.0773 (Piper), 0.1209 -> 0.1197 (espeak-ng).
WORDLESS_TAIL_S = 0.3
# Voice activity detection: faster-whisper's ``vad_filter`` runs Silero VAD (its bundled
# ``assets/silero_vad_v6.onnx``, ``faster_whisper.vad.get_speech_timestamps``) and decodes only the speech,
# glued together, mapping word times back. Mixed (single-channel) audio keeps faster-whisper's defaults:
# turns follow each other closely and one speech run spans the conversation. A channel of a two-channel
# recording is silent while the other side speaks; with the defaults (2 s of silence end a segment, 400 ms
# of padding) a channel's turns were glued into long runs whose word times, mapped back across the glue
# points, drifted into the other side's turns (1.9 % of the words attributed to the wrong channel, and
# merged out of order), and Whisper dropped words near the joins. Shorter silences and padding cut each
# turn on its own (bench/asr: two-channel WER and attribution, engine README).
MIXED_VAD = {"min_silence_duration_ms": 2000, "speech_pad_ms": 400}
CHANNEL_VAD = {"min_silence_duration_ms": 500, "speech_pad_ms": 200}
# A custom vocabulary (faster-whisper's ``hotwords``: the phrases put in every window's prompt) is used in a
# second pass, never in the first. With a 40-term vocabulary in the prompt of every window tiny.en looped
# on mixed audio ("okay, you know, ..." across windows: train WER 0.108 -> 0.284 conditioned, 0.136 not,
# with 74 inserted "pew"), and unconditioned it echoed the prompt into silent tails ("Lisinopril, BP
# Lisinopril, BP ..."); decoding every uncertain sentence again with the hotwords and keeping decodes
# that held more phrases inserted the first hotword ("pain" x30 on train, medical WER 0.23 -> 0.31).
# So the first pass is the one without a vocabulary, and the vocabulary only corrects what looks misheard:
# a run of up to VOCABULARY_RUN words holding a word less likely than VOCABULARY_TRIGGER and spelled like
# a vocabulary phrase of VOCABULARY_LETTERS letters or more (about as many letters, VOCABULARY_LENGTH, and
# a difflib ratio of VOCABULARY_SIMILARITY: "like in a real" / "lisinopril" 0.57) is decoded again with
# the hotwords from its audio and VOCABULARY_MARGIN_S around it (nearby runs together, up to
# VOCABULARY_CLIP_S; clips packed into one window with VOCABULARY_GAP_S of silence between them, so a
# decode costs one window, not one per clip). Of that decode only the vocabulary phrases are kept, each
# run of them in place of the old words it covers in time when those are spelled like it
# (SPLICE_SIMILARITY, :func:`splice_phrases`): nothing else is inserted or dropped, and the old words'
# punctuation stays. Short phrases ("pain", "fall") are not looked for: tiny.en
# hears common words, and a few letters are like too many other words.
VOCABULARY_TRIGGER = 0.6
VOCABULARY_RUN = 4
VOCABULARY_SIMILARITY = 0.55
VOCABULARY_LETTERS = 7
VOCABULARY_LENGTH = (0.7, 1.4)
VOCABULARY_CLIP_S = 20.0
VOCABULARY_MARGIN_S = 1.0
VOCABULARY_GAP_S = 1.0  # silence between clips packed into one window
VOCABULARY_WINDOW_S = 28.0  # packed clips per decode: one Whisper window (30 s) with room to spare
SPLICE_SIMILARITY = 0.5  # "Elbuter Island Taylor" / "albuterol inhaler" 0.51
PUNCTUATION_MARKS = ".,?!;:"
# Characters stripped from the edges of a word: punctuation marks plus quotes and brackets.
EDGE_CHARACTERS = PUNCTUATION_MARKS + "\"'()[]{}«»“”‘’…-—"


@dataclass
class RawWord:
    """A word as the recognizer gives it."""

    text: str
    start: float
    end: float
    probability: float


class Recognizer:
    """faster-whisper over one channel of 16 kHz float32 audio.

    :param model: a loaded ``faster_whisper.WhisperModel``.
    :param beam_size: beam width of the decoder.
    :param hotwords: phrases the decoder is biased towards (a custom vocabulary), or None.
    :param vad: Silero VAD options for faster-whisper (:data:`MIXED_VAD` unless given).
    :param options: other ``transcribe`` options (:data:`DECODE_OPTIONS` unless given).
    :param fallbacks: option sets for re-decoding a failed window (:data:`FALLBACKS` unless given).
    :param claim_tails: move a VAD chunk's first word back into the wordless speech at the end of the chunk
        before it (:func:`claim_tails`; the channels of a two-channel recording).
    """

    def __init__(
        self,
        model,
        beam_size: int = BEAM_SIZE,
        hotwords: str | None = None,
        vad: dict | None = None,
        options: dict | None = None,
        fallbacks: tuple[dict, ...] | None = None,
        claim_tails: bool = False,
    ):
        self.model = model
        self.claim_tails = claim_tails
        self.beam_size = beam_size
        self.hotwords = hotwords
        self.vad = dict(vad or MIXED_VAD)
        self.options = dict(DECODE_OPTIONS if options is None else options)
        self.fallbacks = tuple(FALLBACKS if fallbacks is None else fallbacks)
        self.redecoded = 0  # windows re-decoded by a fallback (a count for the benchmark)
        self.recovered = 0  # segments decoded from skipped speech (a count for the benchmark)
        self.loops_dropped = 0  # repetition loops no fallback replaced, dropped (a count for the benchmark)
        self.copies_dropped = 0  # decoded segments that copied recovered speech, dropped (a count)
        self.tails_claimed = 0  # words moved back into the speech at the end of the chunk before (a count)
        self.vocabulary_tried = 0  # clips decoded again with the hotwords (a count for the benchmark)
        self.vocabulary_kept = 0  # of those, clips whose new words were kept

    def with_vad(self, vad: dict, options: dict | None = None, claim_tails: bool = False) -> Recognizer:
        """The same recognizer with other voice activity options (and ``options`` over its own)."""
        options = {**self.options, **(options or {})}
        return Recognizer(
            self.model, self.beam_size, self.hotwords, vad, options, self.fallbacks, claim_tails=claim_tails
        )

    def segments(
        self, audio, options: dict, should_stop: Callable[[], bool], hotwords: str | None = None
    ) -> list:
        """faster-whisper's segments of ``audio``, decoded with ``options`` (and ``hotwords``)."""
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            task="transcribe",
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=dict(self.vad),
            hotwords=hotwords,
            **options,
        )
        decoded = []
        for segment in segments:  # a generator: recognition happens while iterating
            if should_stop():
                raise Interrupted()
            decoded.append(segment)
        return decoded

    def words(self, audio, should_stop: Callable[[], bool] = lambda: False) -> list[RawWord]:
        """The words of ``audio``: decoded once, failed windows decoded again (:meth:`redecode`), speech
        left without words decoded on its own (:meth:`recover_skipped`; a decoded segment that copies those
        words is dropped, :func:`without_copies`), uncertain phrases decoded again with the vocabulary's
        hotwords (:meth:`apply_hotwords`)."""
        segments = self.decode(audio, should_stop)
        chunks = self.speech_chunks(audio)
        recovered = self.recover_skipped(audio, segments, should_stop, chunks)
        kept = without_copies(segments, words_of(recovered))
        if len(kept) < len(segments):  # where a dropped copy was placed, the speech has no words now
            self.copies_dropped += len(segments) - len(kept)
            recovered += self.recover_skipped(audio, kept + recovered, should_stop, chunks)
        words = merge_words(words_of(kept), sorted(words_of(recovered), key=lambda word: word.start))
        if self.claim_tails:
            words, moved = claim_tails(words, chunks, self.vad.get("speech_pad_ms", 0) / 1000)
            self.tails_claimed += moved
        if self.hotwords:
            words = self.apply_hotwords(audio, words, should_stop)
        return [
            RawWord(word.word, float(word.start), float(word.end), float(word.probability))
            for word in words
        ]

    def apply_hotwords(self, audio, words: list, should_stop: Callable[[], bool]) -> list:
        """``words`` with the runs that look like misheard vocabulary phrases (:func:`misheard_spans`)
        decoded again with the hotwords, each from its audio and VOCABULARY_MARGIN_S around it, several
        clips packed into one window (:func:`pack_clips`), and the vocabulary phrases of the decoded
        segments that pass Whisper's checks spliced in (:func:`splice_phrases`)."""
        import numpy as np

        phrases = vocabulary_phrases(self.hotwords or "")
        duration = len(audio) / SAMPLE_RATE
        clips = [
            (max(0.0, start - VOCABULARY_MARGIN_S), min(duration, end + VOCABULARY_MARGIN_S))
            for start, end in misheard_spans(words, phrases)
        ]
        options = {**self.options, "condition_on_previous_text": False}
        gap = np.zeros(int(VOCABULARY_GAP_S * SAMPLE_RATE), dtype=audio.dtype)
        for batch in pack_clips(clips):
            pieces, places = [], []  # places: (position in the packed audio, start in the recording, length)
            position = 0.0
            for start, end in batch:
                piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
                places.append((position, start, len(piece) / SAMPLE_RATE))
                pieces += [piece, gap]
                position += (len(piece) + len(gap)) / SAMPLE_RATE
            self.vocabulary_tried += len(batch)
            tried = self.segments(np.concatenate(pieces), options, should_stop, hotwords=self.hotwords)
            passed = [segment for segment in tried if not segment_failed(segment)]
            words, spliced = splice_phrases(words, unpack_words(words_of(passed), places), phrases)
            self.vocabulary_kept += spliced
        return words

    def decode(self, audio, should_stop: Callable[[], bool]) -> list:
        """The segments of ``audio``, each failed window replaced by :meth:`redecode`."""
        segments: list = []
        for window, failed in windows(self.segments(audio, self.options, should_stop)):
            if failed and self.fallbacks:
                window = self.redecode(audio, window, should_stop)
            segments.extend(window)
        return segments

    def speech_chunks(self, audio) -> list[tuple[float, float]]:
        """(start, end) seconds of the speech chunks Silero VAD finds with :attr:`vad` (padding included),
        the chunks faster-whisper glues together and decodes."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        return [
            (chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
            for chunk in get_speech_timestamps(audio, VadOptions(**self.vad))
        ]

    def recover_skipped(
        self, audio, segments: list, should_stop: Callable[[], bool], chunks: list | None = None
    ) -> list:
        """The segments decoded from stretches of speech that have no word in ``segments``
        (:func:`skipped_speech`) inside the speech ``chunks`` (:meth:`speech_chunks` unless given), in time
        order."""
        chunks = self.speech_chunks(audio) if chunks is None else chunks
        recovered = []
        for start, end in skipped_speech(chunks, words_of(segments), SKIPPED_SPEECH_S):
            offset = int(start * SAMPLE_RATE)
            clip = audio[offset : int(end * SAMPLE_RATE)]
            recovered += [shift(s, offset / SAMPLE_RATE) for s in self.decode(clip, should_stop)]
        self.recovered += len(recovered)
        return recovered

    def redecode(self, audio, window: list, should_stop: Callable[[], bool]) -> list:
        """The window's audio decoded again with each of :attr:`fallbacks` until one passes Whisper's
        checks; the best of all tries (the window included) by :func:`window_quality`, without the
        segments that are still repetition loops (:data:`COMPRESSION_RATIO_THRESHOLD`)."""
        start, end = window[0].start, window[-1].end
        offset = int(start * SAMPLE_RATE)
        clip = audio[offset : int(end * SAMPLE_RATE) + 1]
        best = window
        self.redecoded += 1
        for fallback in self.fallbacks:
            options = {**self.options, **fallback}
            tried = [shift(s, offset / SAMPLE_RATE) for s in self.segments(clip, options, should_stop)]
            if tried and window_quality(tried) > window_quality(best):
                best = tried
            if tried and not any(segment_failed(segment) for segment in tried):
                break
        looped = [s for s in best if s.compression_ratio > COMPRESSION_RATIO_THRESHOLD]
        self.loops_dropped += len(looped)
        return [s for s in best if s.compression_ratio <= COMPRESSION_RATIO_THRESHOLD]


def segment_failed(segment) -> bool:
    """Whisper's checks on the window a segment came from: a repetition loop, or a low average
    log-probability where the window is not likely silence."""
    if segment.compression_ratio > COMPRESSION_RATIO_THRESHOLD:
        return True
    return segment.avg_logprob < LOG_PROB_THRESHOLD and segment.no_speech_prob <= NO_SPEECH_THRESHOLD


def window_quality(segments: list) -> tuple[bool, float]:
    """Sort key of decodes of the same audio: passing the compression check first, then the lowest
    average log-probability of its windows (higher is better)."""
    return (
        all(s.compression_ratio <= COMPRESSION_RATIO_THRESHOLD for s in segments),
        min(s.avg_logprob for s in segments),
    )


def windows(segments: list) -> Iterable[tuple[list, bool]]:
    """Segments grouped into runs of 30 s decoding windows (``Segment.seek``), each run with whether it
    failed Whisper's checks; consecutive failed windows form one run (a loop can span several)."""
    runs: list[tuple[list, bool]] = []
    last_seek = None
    for segment in segments:
        failed = segment_failed(segment)
        if runs and (segment.seek == last_seek or (failed and runs[-1][1])):
            runs[-1][0].append(segment)
        else:
            runs.append(([segment], failed))
        last_seek = segment.seek
    return runs


def skipped_speech(
    chunks: list[tuple[float, float]], words: list, min_seconds: float
) -> list[tuple[float, float]]:
    """Stretches of at least ``min_seconds`` inside speech ``chunks`` (start, end in seconds) where no
    word (``.start``, ``.end``) lies: before a chunk's first word, between words, after its last."""
    stretches = []
    for start, end in chunks:
        inside = sorted((w.start, w.end) for w in words if start <= (w.start + w.end) / 2 <= end)
        edges = [start] + [t for pair in inside for t in pair] + [end]
        for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
            if gap_end - gap_start >= min_seconds:
                stretches.append((gap_start, gap_end))
    return stretches


def misheard_spans(
    words: list,
    phrases: list[tuple[str, ...]],
    trigger: float = VOCABULARY_TRIGGER,
    longest: float = VOCABULARY_CLIP_S,
) -> list[tuple[float, float]]:
    """(start, end) seconds of the runs of ``words`` to decode again with a vocabulary: a run holding a word
    of probability under ``trigger`` (not part of a phrase heard as such) and spelled like one of
    ``phrases`` of VOCABULARY_LETTERS letters or more (:func:`sounds_like_phrase`); runs closer than twice
    VOCABULARY_MARGIN_S joined while the span stays within ``longest`` seconds."""
    spellings = [spelling for spelling in map("".join, phrases) if len(spelling) >= VOCABULARY_LETTERS]
    if not spellings:
        return []
    heard = {i for first, last in phrase_spans(words, phrases) for i in range(first, last + 1)}
    spans: list[tuple[float, float]] = []
    for index, word in enumerate(words):
        if word.probability >= trigger or index in heard:
            continue
        run = sounds_like_phrase(words, index, spellings, heard)
        if run is None:
            continue
        start, end = words[run[0]].start, words[run[1]].end
        if spans and start - spans[-1][1] <= 2 * VOCABULARY_MARGIN_S and end - spans[-1][0] <= longest:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def sounds_like_phrase(
    words: list,
    index: int,
    spellings: list[str],
    heard: set[int] = frozenset(),
    run: int = VOCABULARY_RUN,
    similarity: float = VOCABULARY_SIMILARITY,
) -> tuple[int, int] | None:
    """The (first, last) indices of a run of up to ``run`` of ``words`` holding ``words[index]`` and none
    of ``heard`` (words of phrases heard as such) that is spelled like one of ``spellings`` (vocabulary
    phrases long enough to look for, letters only) but not as it: about as many letters
    (VOCABULARY_LENGTH) and a difflib ratio of at least ``similarity``: the most similar, or None."""
    low, high = VOCABULARY_LENGTH
    best: tuple[float, int, int] | None = None
    for size in range(1, run + 1):
        for begin in range(max(0, index - size + 1), min(index, len(words) - size) + 1):
            if heard.intersection(range(begin, begin + size)):
                continue
            letters = _letters(words[begin : begin + size])
            for spelling in spellings:
                if not low <= len(letters) / len(spelling) <= high:
                    continue
                ratio = SequenceMatcher(None, letters, spelling).ratio()
                if letters != spelling and ratio >= similarity and (best is None or ratio > best[0]):
                    best = (ratio, begin, begin + size - 1)
    return None if best is None else (best[1], best[2])


def pack_clips(clips: list[tuple[float, float]], window: float = VOCABULARY_WINDOW_S) -> list[list]:
    """``clips`` (start, end seconds, in order) grouped so that each group with VOCABULARY_GAP_S of
    silence after every clip fits one Whisper window of ``window`` seconds (a longer clip is a group of
    its own)."""
    batches: list[list] = []
    used = window
    for start, end in clips:
        length = end - start + VOCABULARY_GAP_S
        if used + length > window:
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
    old: list, new: list, phrases: list[tuple[str, ...]], similarity: float = SPLICE_SIMILARITY
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


def words_of(segments: list) -> list:
    """The words of faster-whisper ``segments``, in order."""
    return [word for segment in segments for word in segment.words or []]


def without_copies(segments: list, recovered: list, words: int = COPY_WORDS) -> list:
    """``segments`` without those whose words are for at least half a copy of the ``recovered`` words:
    runs of ``words`` or more consecutive words (normalized) that the recovered words also hold."""
    said = ["".join(_normalized(w.word)) for w in recovered]
    seen = {tuple(said[i : i + words]) for i in range(len(said) - words + 1)}
    if not seen:
        return list(segments)
    kept = []
    for segment in segments:
        keys = ["".join(_normalized(w.word)) for w in segment.words or []]
        copied = set()
        for i in range(len(keys) - words + 1):
            if tuple(keys[i : i + words]) in seen:
                copied.update(range(i, i + words))
        if not keys or 2 * len(copied) < len(keys):
            kept.append(segment)
    return kept


def claim_tails(
    words: list, chunks: list[tuple[float, float]], pad: float, min_tail: float = WORDLESS_TAIL_S
) -> tuple[list, int]:
    """``words`` (faster-whisper words in time order) with the first word of a speech chunk moved back to
    the end of the chunk before it when that chunk ends in ``min_tail`` seconds or more of speech without a
    word (its end less the VAD's ``pad``, after its last word); and how many were moved. The moved word
    starts where that chunk's last word ended and keeps its length, cut to the tail."""
    middle = [(w.start + w.end) / 2 for w in words]
    moved = list(words)
    count = 0
    for (start, end), (next_start, next_end) in itertools.pairwise(chunks):
        inside = [i for i, m in enumerate(middle) if start <= m <= end]
        following = [i for i, m in enumerate(middle) if next_start <= m <= next_end]
        if not following:
            continue
        last = max((moved[i].end for i in inside), default=start + pad)
        tail = end - pad - last
        if tail < min_tail:
            continue
        first = following[0]
        length = max(0.0, min(moved[first].end - moved[first].start, tail))
        moved[first] = replace(moved[first], start=last, end=last + length)
        middle[first] = last + length / 2
        count += 1
    return moved, count


def merge_words(decoded: list, recovered: list) -> list:
    """``recovered`` words (from skipped speech) placed among the ``decoded`` ones by start time, each
    list keeping its own order. Merging words, not segments: a skipped stretch often lies inside one of
    Whisper's segments (its first word aligned before the stretch, the rest after), and a recovered
    segment sorted by segment start then landed after the whole segment (train D2N002-1: 15 words moved
    past the next sentence)."""
    return list(heapq.merge(decoded, recovered, key=lambda word: word.start))


def shift(segment, seconds: float):
    """A faster-whisper segment (and its words) moved ``seconds`` later."""
    words = [replace(w, start=w.start + seconds, end=w.end + seconds) for w in segment.words or []]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)


def _split_edges(text: str) -> tuple[str, str, str]:
    """``(leading, core, trailing)`` of a word: ``"(well,"`` -> ``("(", "well", ",")``."""
    start, end = 0, len(text)
    while start < end and text[start] in EDGE_CHARACTERS:
        start += 1
    while end > start and text[end - 1] in EDGE_CHARACTERS:
        end -= 1
    return text[:start], text[start:end], text[end:]


def _marks(edge: str) -> list[str]:
    """The punctuation marks kept from a word's edge: ``"?!"`` -> ``["?", "!"]``, ``"..."`` -> ``["."]``,
    ``"…"`` -> ``["."]``; quotes and brackets are dropped."""
    marks: list[str] = []
    for char in edge.replace("…", "."):
        if char in PUNCTUATION_MARKS and (not marks or marks[-1] != char):
            marks.append(char)
    return marks


def merge_pieces(words: Iterable[RawWord]) -> list[RawWord]:
    """Join pieces that whisper emitted without a leading space to the word before them
    (``" 58" "-year" "-old"`` -> ``"58-year-old"``), keeping the first start, last end and lowest
    probability."""
    merged: list[RawWord] = []
    for word in words:
        if merged and word.text and not word.text[0].isspace():
            _lead, core, _trail = _split_edges(word.text)
            if core or word.text[0] in "-'":
                last = merged[-1]
                merged[-1] = RawWord(
                    last.text + word.text,
                    last.start,
                    max(last.end, word.end),
                    min(last.probability, word.probability),
                )
                continue
        merged.append(RawWord(word.text, word.start, word.end, word.probability))
    return merged


def tokens_from_words(words: Iterable[RawWord], channel: int | None = None) -> list[Token]:
    """Pronunciation and punctuation tokens from recognizer words, times made monotonic."""
    tokens: list[Token] = []
    last_end = 0.0
    for word in merge_pieces(words):
        _lead, core, trail = _split_edges(word.text.strip())
        start = max(round(word.start, 3), 0.0)
        end = max(round(word.end, 3), start)
        # leading quotes, brackets and dashes are dropped: AWS's items carry no opening marks
        if core:
            core = core.replace("--", "-")
            probability = min(max(word.probability, 0.0), 1.0)
            tokens.append(Token(PRONUNCIATION, core, start, end, probability, channel))
            last_end = end
        for mark in _marks(trail):
            if tokens:
                tokens.append(Token(PUNCTUATION, mark, last_end, last_end, 0.0, channel))
    return tokens


class Recognize:
    """Recognize the single (mono or down-mixed) channel into ``doc.tokens``.

    :param recognizer: a :class:`Recognizer`.
    """

    name = "asr"

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer

    def __call__(self, doc: JobDocument) -> None:
        words = self.recognizer.words(doc.audio[0], doc.should_stop)
        doc.tokens = tokens_from_words(words)

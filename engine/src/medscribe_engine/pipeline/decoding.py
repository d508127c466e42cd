"""Deterministic decoding with faster-whisper: beam search at temperature 0 over the speech Silero VAD
finds, a window that fails Whisper's own checks decoded again with other options (never by sampling).

:class:`Decoder` is the base of :class:`~medscribe_engine.pipeline.asr.Recognizer` (the ``asr`` and
``channels`` stages, streaming); the measurements behind these settings are in ``bench/asr/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from medscribe_engine.pipeline.document import SAMPLE_RATE, Interrupted


@dataclass(frozen=True)
class DecodeParams:
    """The decoder's settings (measured on the benchmark corpora, ``bench/asr/README.md``, History).

    Decoding is beam search at temperature 0 only: faster-whisper's default fallback samples at
    temperatures 0.2 ... 1.0 from a generator seeded once per thread. A window that fails Whisper's checks
    is decoded again, still deterministically, with each of ``fallbacks`` in turn (no 4-gram may repeat,
    then also a repetition penalty); a segment that is still a loop after them is dropped. Silero VAD runs
    inside faster-whisper with ``mixed_vad``, or ``channel_vad`` on a channel of a two-channel recording.
    """

    beam_size: int = 5  # a wider beam (10) gained no WER on channels for 20 % more time
    options: dict = field(default_factory=lambda: {"temperature": 0.0})  # same audio, same words: no sampling
    channel_options: dict = field(default_factory=dict)  # a channel decodes as mixed audio does
    compression_ratio_threshold: float = 2.4  # Whisper's check: text compressing more is a repetition loop
    loop_phrase_words: int = 8  # a phrase this long said twice in a row is a loop too (under 2.4 on a long
    # segment: espeak-ng valid MP3 repeated 17 words three times at 2.29)
    log_prob_threshold: float = -1.0  # Whisper's check: a lower mean log-probability is a failed window ...
    no_speech_threshold: float = 0.6  # ... unless its no-speech probability is above this (likely silence)
    fallbacks: tuple[dict, ...] = (  # re-decodes of a failed window: tiny.en at temperature 0 can loop
        {"no_repeat_ngram_size": 4},
        {"no_repeat_ngram_size": 4, "repetition_penalty": 1.2},
    )
    mixed_vad: dict = field(  # faster-whisper's defaults: 2 s of silence end a segment, 400 ms padding
        default_factory=lambda: {"min_silence_duration_ms": 2000, "speech_pad_ms": 400}
    )
    channel_vad: dict = field(  # silent while the other side speaks: short cuts keep times in own turns
        default_factory=lambda: {"min_silence_duration_ms": 500, "speech_pad_ms": 200}
    )
    telephone_vad: dict = field(  # over either VAD on telephone-band audio: Silero scores speech without
        default_factory=lambda: {"threshold": 0.35}  # its low frequencies lower (a Piper voice: 0.64 heard)
    )
    telephone_share: float = 0.003  # telephone band: less power than this below 250 Hz and above 3.6 kHz


DEFAULTS = DecodeParams()


class Decoder:
    """faster-whisper over one channel of 16 kHz float32 audio.

    :param model: a loaded ``faster_whisper.WhisperModel``.
    :param beam_size: beam width of the decoder.
    :param vad: Silero VAD options for faster-whisper (``params.mixed_vad`` unless given).
    :param options: other ``transcribe`` options (``params.options`` unless given).
    :param fallbacks: option sets for re-decoding a failed window (``params.fallbacks`` unless given).
    :param params: the decoder's settings (default :class:`DecodeParams`): Whisper's checks, and what the
        arguments above leave out.
    """

    def __init__(
        self,
        model,
        beam_size: int = DEFAULTS.beam_size,
        vad: dict | None = None,
        options: dict | None = None,
        fallbacks: tuple[dict, ...] | None = None,
        params: DecodeParams | None = None,
    ):
        self.params = params or DEFAULTS
        self.model = model
        self.beam_size = beam_size
        self.vad = dict(vad or self.params.mixed_vad)
        self.options = dict(self.params.options if options is None else options)
        self.fallbacks = tuple(self.params.fallbacks if fallbacks is None else fallbacks)
        self.redecoded = 0  # windows re-decoded by a fallback (a count for the benchmark)
        self.loops_dropped = 0  # repetition loops no fallback replaced, dropped (a count for the benchmark)

    def segments(
        self, audio, options: dict, should_stop: Callable[[], bool], hotwords: str | None = None
    ) -> list:
        """faster-whisper's segments of ``audio``, decoded with ``options`` (and ``hotwords``); the VAD
        options with ``telephone_vad`` over them if ``audio`` is of the telephone band."""
        vad = dict(self.vad)
        if telephone_band(audio, self.params):
            vad.update(self.params.telephone_vad)
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            task="transcribe",
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=vad,
            hotwords=hotwords,
            **options,
        )
        decoded = []
        for segment in segments:  # a generator: recognition happens while iterating
            if should_stop():
                raise Interrupted()
            decoded.append(segment)
        return decoded

    def decode(self, audio, should_stop: Callable[[], bool]) -> list:
        """The segments of ``audio``, each failed window replaced by :meth:`redecode`."""
        segments: list = []
        for window, failed in windows(self.segments(audio, self.options, should_stop), self.params):
            if failed and self.fallbacks:
                window = self.redecode(audio, window, should_stop)
            segments.extend(window)
        return segments

    def redecode(self, audio, window: list, should_stop: Callable[[], bool]) -> list:
        """The window's audio decoded again with each of :attr:`fallbacks` until one passes Whisper's
        checks; the best of all tries (the window included) by :func:`window_quality`, without the
        segments that are still repetition loops (:func:`is_loop`)."""
        start, end = window[0].start, window[-1].end
        offset = int(start * SAMPLE_RATE)
        clip = audio[offset : int(end * SAMPLE_RATE) + 1]
        best = window
        self.redecoded += 1
        for fallback in self.fallbacks:
            options = {**self.options, **fallback}
            tried = [shift(s, offset / SAMPLE_RATE) for s in self.segments(clip, options, should_stop)]
            if tried and window_quality(tried, self.params) > window_quality(best, self.params):
                best = tried
            if tried and not any(segment_failed(segment, self.params) for segment in tried):
                break
        kept = [s for s in best if not is_loop(s, self.params)]
        self.loops_dropped += len(best) - len(kept)
        return kept


def is_loop(segment, params: DecodeParams = DEFAULTS) -> bool:
    """Whisper's repetition check on the segment's window (its text compresses too well), or a phrase of
    ``loop_phrase_words`` words or more that the segment says twice in a row."""
    if segment.compression_ratio > params.compression_ratio_threshold:
        return True
    words = ["".join(c for c in word if c.isalnum()) for word in segment.text.lower().split()]
    least = params.loop_phrase_words
    for length in range(least, len(words) // 2 + 1):
        for start in range(len(words) - 2 * length + 1):
            if words[start : start + length] == words[start + length : start + 2 * length]:
                return True
    return False


def segment_failed(segment, params: DecodeParams = DEFAULTS) -> bool:
    """Whisper's checks on the window a segment came from: a repetition loop (:func:`is_loop`), or a low
    average log-probability where the window is not likely silence."""
    if is_loop(segment, params):
        return True
    return (
        segment.avg_logprob < params.log_prob_threshold
        and segment.no_speech_prob <= params.no_speech_threshold
    )


def window_quality(segments: list, params: DecodeParams = DEFAULTS) -> tuple[bool, float]:
    """Sort key of decodes of the same audio: free of repetition loops (:func:`is_loop`) first, then the
    lowest average log-probability of its windows (higher is better)."""
    return (not any(is_loop(s, params) for s in segments), min(s.avg_logprob for s in segments))


def windows(segments: list, params: DecodeParams = DEFAULTS) -> Iterable[tuple[list, bool]]:
    """Segments grouped into runs of 30 s decoding windows (``Segment.seek``), each run with whether it
    failed Whisper's checks; consecutive failed windows form one run (a loop can span several)."""
    runs: list[tuple[list, bool]] = []
    last_seek = None
    for segment in segments:
        failed = segment_failed(segment, params)
        if runs and (segment.seek == last_seek or (failed and runs[-1][1])):
            runs[-1][0].append(segment)
        else:
            runs.append(([segment], failed))
        last_seek = segment.seek
    return runs


def telephone_band(audio, params: DecodeParams = DEFAULTS) -> bool:
    """Whether ``audio`` (16 kHz) holds only the telephone band (about 300-3400 Hz: a call, a G.711 line):
    in the louder half of its 32 ms frames, under ``telephone_share`` of the power lies below 250 Hz and
    under it above 3.6 kHz (wideband speech keeps 1-25 % below 250 Hz; AMR-NB keeps its low band)."""
    import numpy as np

    size = 512
    frames = np.asarray(audio, dtype=np.float32)[: len(audio) // size * size].reshape(-1, size)
    frames = frames[:: max(1, len(frames) // 4000)]  # a few thousand frames tell the band of hours
    if len(frames) < 2:
        return False
    power = np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2
    energy = power.sum(axis=1)
    spectrum = power[energy >= np.median(energy)].sum(axis=0)
    total = float(spectrum.sum())
    if total <= 0.0:
        return False
    hertz = np.fft.rfftfreq(size, 1 / SAMPLE_RATE)
    share = params.telephone_share * total
    return bool(spectrum[hertz < 250].sum() < share and spectrum[hertz > 3600].sum() < share)


def words_of(segments: list) -> list:
    """The words of faster-whisper ``segments``, in order."""
    return [word for segment in segments for word in segment.words or []]


def shift(segment, seconds: float):
    """A faster-whisper segment (and its words) moved ``seconds`` later."""
    words = [replace(w, start=w.start + seconds, end=w.end + seconds) for w in segment.words or []]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)

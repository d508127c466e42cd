"""Deterministic decoding with faster-whisper: beam search at temperature 0 over the speech Silero VAD
finds, a window that fails Whisper's own checks decoded again with other options (never by sampling).

:class:`Decoder` is the base of :class:`~medscribe_engine.pipeline.asr.Recognizer` (the ``asr`` and
``channels`` stages, streaming); the measurements behind these settings are in ``bench/asr/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from medscribe_engine.pipeline.document import SAMPLE_RATE, Interrupted

BEAM_SIZE = 5
# Beam search at temperature 0 only, so that the same audio always gives the same words: faster-whisper's
# default fallback samples at temperatures 0.2 ... 1.0 from a generator seeded once per thread. Everything
# else is faster-whisper's default (each window conditioned on the previous window's text).
DECODE_OPTIONS = {"temperature": 0.0}
CHANNEL_OPTIONS: dict = {}  # a channel decodes as mixed audio does (bench/asr/README.md, History)
# Whisper's own checks of a decoded window (faster-whisper's defaults): text that compresses more than
# this is a repetition loop; a lower average log-probability is a failed decode unless the window is
# likely silence (no-speech probability above NO_SPEECH_THRESHOLD).
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
# In place of the sampling fallback, a failed window is decoded again, still deterministically, with these
# options in turn (no 4-gram may repeat, then also a repetition penalty); a segment that is still a loop
# after them is dropped (tiny.en at temperature 0 can loop on one word for a whole window).
FALLBACKS: tuple[dict, ...] = (
    {"no_repeat_ngram_size": 4},
    {"no_repeat_ngram_size": 4, "repetition_penalty": 1.2},
)
# Silero VAD inside faster-whisper. Mixed audio keeps faster-whisper's defaults (2 s of silence end a
# segment, 400 ms of padding). A channel of a two-channel recording is silent while the other side speaks:
# shorter silences and padding cut each turn on its own, so word times do not drift into the other side's
# turns across the glue points (bench/asr/README.md, History).
MIXED_VAD = {"min_silence_duration_ms": 2000, "speech_pad_ms": 400}
CHANNEL_VAD = {"min_silence_duration_ms": 500, "speech_pad_ms": 200}


class Decoder:
    """faster-whisper over one channel of 16 kHz float32 audio.

    :param model: a loaded ``faster_whisper.WhisperModel``.
    :param beam_size: beam width of the decoder.
    :param vad: Silero VAD options for faster-whisper (:data:`MIXED_VAD` unless given).
    :param options: other ``transcribe`` options (:data:`DECODE_OPTIONS` unless given).
    :param fallbacks: option sets for re-decoding a failed window (:data:`FALLBACKS` unless given).
    """

    def __init__(
        self,
        model,
        beam_size: int = BEAM_SIZE,
        vad: dict | None = None,
        options: dict | None = None,
        fallbacks: tuple[dict, ...] | None = None,
    ):
        self.model = model
        self.beam_size = beam_size
        self.vad = dict(vad or MIXED_VAD)
        self.options = dict(DECODE_OPTIONS if options is None else options)
        self.fallbacks = tuple(FALLBACKS if fallbacks is None else fallbacks)
        self.redecoded = 0  # windows re-decoded by a fallback (a count for the benchmark)
        self.loops_dropped = 0  # repetition loops no fallback replaced, dropped (a count for the benchmark)

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

    def decode(self, audio, should_stop: Callable[[], bool]) -> list:
        """The segments of ``audio``, each failed window replaced by :meth:`redecode`."""
        segments: list = []
        for window, failed in windows(self.segments(audio, self.options, should_stop)):
            if failed and self.fallbacks:
                window = self.redecode(audio, window, should_stop)
            segments.extend(window)
        return segments

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


def words_of(segments: list) -> list:
    """The words of faster-whisper ``segments``, in order."""
    return [word for segment in segments for word in segment.words or []]


def shift(segment, seconds: float):
    """A faster-whisper segment (and its words) moved ``seconds`` later."""
    words = [replace(w, start=w.start + seconds, end=w.end + seconds) for w in segment.words or []]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)

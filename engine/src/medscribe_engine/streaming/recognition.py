"""Incremental recognition of one audio channel: partial results of a growing window, then finals.

Audio arrives as 16 kHz float32 samples (:meth:`ChannelStream.add`). Each :meth:`ChannelStream.step`
looks at the audio not yet finalised (the *window*), with Silero VAD (faster-whisper's copy):

* no speech in it: the window is dropped but for its last ``keep_silence_s``;
* an utterance in it ended (``final_silence_ms`` of silence), ``lookahead_s`` of audio after that end has
  arrived, and either no speech starts within that lookahead (a pause) or the window's speech up to that
  end lasts ``min_final_s`` or more: the window up to the **first** such end is decoded with the batch
  path's recognizer (:class:`~medscribe_engine.pipeline.asr.Recognizer`: beam 5, failed windows and
  skipped speech decoded again, the vocabulary's hotwords) together with the ``context_s`` of speech
  finalised before it and the lookahead after it, and given as a **final** result; the window starts
  after it, and the next end is looked for (a short final is not cut out of continuing speech: tiny.en
  decodes a clip of a second or two, without the sentence around it, much worse). At the stream's end
  the rest is final. Every cut and every dropped silence falls on the stream's 512-sample VAD grid, so
  the finals are a function of the audio alone: a stream gets the same finals whether its decoder keeps
  up or lags behind (its pace, the engine's load);
* the speech runs on past ``max_segment_s``: the same decode, and the words that the previous step's
  decode of the window began with too (local agreement) and that end ``hold_s`` or more before the
  window's end are given as a final result (cut between two words; unlike utterance ends, such pieces
  depend on when the steps ran);
* otherwise the window is decoded greedily (beam 1, no fallbacks: a cheap draft) into a **partial**
  result. Partials of one utterance share its ResultId with its final, as AWS's do, and grow with it.

The cost is bounded: one decode per step, of a window of about ``max_segment_s`` (+ two steps), and the
caller runs one step at a time per stream, so a stream that arrives faster than it is decoded is simply
decoded less often (each step sees more new audio). Nothing here knows about HTTP.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from medscribe_engine.pipeline.asr import RawWord, Recognizer, tokens_from_words, words_of
from medscribe_engine.pipeline.decoding import DEFAULTS as DECODING
from medscribe_engine.pipeline.document import SAMPLE_RATE, Token

VAD_CHUNK = 512  # samples: Silero's frame in faster-whisper's VAD
SAID_WORDS = 30  # the last words given in finals, that the next final's context (at most context_s of
# speech, ~15 words) is matched against; across finals, since a final cut inside speech may be short


@dataclass(frozen=True)
class StreamParams:
    """The tuned values of incremental recognition.

    :param step_s: new audio between two steps (a partial at most this often per channel).
    :param final_silence_ms: a silence this long after speech finalises the utterance (turns are 0.4 s
        apart in the fixtures; a shorter pause inside a sentence stays inside the utterance).
    :param speech_pad_ms: audio kept around the speech when it is cut.
    :param min_final_s: utterances that ended while speech goes on are finalised once they last this long.
    :param max_segment_s: speech longer than this without such a silence is finalised in pieces (2 s
        with hold_s 0.5 met the 3 s final latency for one stream, at a WER cost: bench/streaming/README.md).
    :param hold_s: in such a piece, the words this close to the window's end stay partial (they have
        too little audio after them).
    :param keep_silence_s: silence kept at the start of a window without speech.
    :param context_s: speech finalised before a final, decoded with it for context (its words are not
        repeated). Speech only: silence in it (the other side's turn on a channel) misplaced the first
        word's time into the context. Not the previous final's text as Whisper's prompt: on the dictation
        fixture tiny.en wrote the prompt's sentence again into the next final.
    :param lookahead_s: audio after a final's end decoded with it, then left out: without it tiny.en
        dropped or garbled the last words before the end of its audio. Finals come this much later.
    """

    step_s: float = 1.0
    final_silence_ms: int = 300
    speech_pad_ms: int = 150
    min_final_s: float = 4.0
    max_segment_s: float = 15.0
    hold_s: float = 2.0
    keep_silence_s: float = 0.5
    context_s: float = 5.0
    lookahead_s: float = 1.0


@dataclass
class Result:
    """One result: a partial or final hypothesis of one utterance of one channel.

    ``tokens`` carry stream times (seconds since the stream's first sample).
    """

    result_id: str
    start: float
    end: float
    is_partial: bool
    tokens: list[Token]
    channel: int | None = None
    audio: np.ndarray | None = None  # a final's audio (for speaker labels); never sent
    audio_start: float = 0.0  # the stream time of ``audio``'s first sample


@dataclass
class ChannelStream:
    """The audio of one channel and the recognition state of its current utterance.

    :param model: the loaded ``faster_whisper.WhisperModel`` (the batch jobs' model).
    :param channel: the channel number (channel identification), or None for mono audio.
    :param hotwords: the custom vocabulary's phrases for final decodes, or None.
    :param params: :class:`StreamParams`.
    """

    model: object
    channel: int | None = None
    hotwords: str | None = None
    params: StreamParams = field(default_factory=StreamParams)

    def __post_init__(self):
        vad, options = (
            (DECODING.channel_vad, DECODING.channel_options)
            if self.channel is not None
            else (DECODING.mixed_vad, {})
        )
        self._final_vad = vad
        self._final_options = {**DECODING.options, **options}
        self._draft = Recognizer(
            self.model,
            beam_size=1,
            vad=vad,
            options={"temperature": 0.0, "condition_on_previous_text": False},
            fallbacks=(),
        )
        self._lock = threading.Lock()
        self._incoming: list[np.ndarray] = []
        self._window = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(0, dtype=np.float32)  # the last context_s of audio before the window
        self._context_times = np.zeros(0)  # the stream time of each of its samples
        self._offset = 0.0  # stream time of the window's first sample
        self._received = 0  # samples received
        self._stepped = 0  # samples received when the last step began
        self._result_id = str(uuid.uuid4())
        self._speaking = False  # the window held speech at the last look
        self._said: list[str] = []  # the last words given in finals (plain text)
        self._previous: tuple[float, list[str]] | None = None  # the last decode of the window (offset, words)
        self._drafted: tuple[float, list[RawWord]] | None = None  # words left partial by this step's decode
        self.decodes = 0  # decodes run (a count for the benchmark)

    def add(self, samples: np.ndarray) -> None:
        """Append 16 kHz float32 samples (any thread)."""
        with self._lock:
            self._incoming.append(np.asarray(samples, dtype=np.float32))
            self._received += len(samples)

    def due(self) -> bool:
        """Whether ``step_s`` of new audio arrived since the last step."""
        with self._lock:
            return self._received - self._stepped >= self.params.step_s * SAMPLE_RATE

    def step(self, end_of_stream: bool = False) -> list[Result]:
        """Recognise what is new: zero or more final results, then at most one partial (see the module).

        :param end_of_stream: no more audio will come: the whole window is finalised.
        """
        with self._lock:
            self._stepped = self._received
            if self._incoming:
                self._window = np.concatenate([self._window, *self._incoming])
                self._incoming = []
        results: list[Result] = []
        self._drafted = None
        while len(self._window):
            before, self._drafted = self._drafted, None
            cut, final_words = self._plan(end_of_stream)
            if cut is None:
                self._drafted = self._drafted or before  # no cut since that decode: its words still hold
                break
            if final_words is None:
                final_words = self._final_words(self._window[: cut + self._ahead()], until=cut)
            final = self._finalise(cut, final_words)
            if final is not None:
                results.append(final)
        if not end_of_stream and self._speaking and len(self._window):
            partial = self._partial()
            if partial is not None:
                results.append(partial)
        return results

    def _speech(self) -> list[tuple[int, int]]:
        options = VadOptions(
            min_silence_duration_ms=self.params.final_silence_ms, speech_pad_ms=self.params.speech_pad_ms
        )
        return [(c["start"], c["end"]) for c in get_speech_timestamps(self._window, options)]

    def _plan(self, end_of_stream: bool) -> tuple[int | None, list[RawWord] | None]:
        """Where to cut the window for a final (samples), with the final's words when already decoded;
        (None, None) when nothing is final yet. Cuts at utterance ends depend on the audio alone, not on
        how much of it had arrived when the step ran: a stream's finals do not change with its pace or
        the engine's load (the first utterance end that qualifies is taken, never a later one)."""
        length = len(self._window)
        speech = self._speech()
        self._speaking = bool(speech)
        if not speech:
            keep = int(self.params.keep_silence_s * SAMPLE_RATE)
            if end_of_stream:
                self._drop(length, context=False)
            elif length > keep:
                self._drop(_chunks(length - keep), context=False)
            return None, None
        if speech[0][0] >= VAD_CHUNK:  # silence before the speech: not part of any result
            silence = _chunks(speech[0][0])
            self._drop(silence, context=False)
            speech = [(start - silence, end - silence) for start, end in speech]
            length = len(self._window)
        cut = self._utterance_end(speech, length)
        if cut is not None:
            return _chunks(cut), None
        if end_of_stream:
            return length, None
        if length <= self.params.max_segment_s * SAMPLE_RATE:
            return None, None
        if len(speech) > 1:
            return speech[-2][1], None
        words = self._final_words(self._window)
        limit = length / SAMPLE_RATE - self.params.hold_s
        kept = [word for word in self._agreed(words) if word.end <= limit]
        self._drafted = (self._offset, words[len(kept) :])  # this step's partial, without another decode
        if not kept:
            return None, None
        following = words[len(kept)] if len(kept) < len(words) else None
        cut_s = (kept[-1].end + following.start) / 2 if following else kept[-1].end
        return max(1, int(min(cut_s, limit) * SAMPLE_RATE)), kept

    def _utterance_end(self, speech: list[tuple[int, int]], length: int) -> int | None:
        """The first utterance end (samples) whose ``lookahead_s`` of audio has arrived and after which
        either no speech starts within that lookahead (a pause) or ``min_final_s`` of the window are
        spoken (a short final is not cut out of continuing speech). Speech starting late in the lookahead
        may not be seen yet: only starts a ``speech_pad_ms`` and a VAD chunk before its end count, so the
        answer is the same with more audio."""
        ahead = max(self._ahead(), int(0.05 * SAMPLE_RATE))
        pad = int(self.params.speech_pad_ms * SAMPLE_RATE / 1000) + VAD_CHUNK
        for index, (_start, end) in enumerate(speech):
            if end + ahead > length:
                return None
            following = speech[index + 1][0] if index + 1 < len(speech) else None
            paused = following is None or following + pad >= end + ahead
            if paused or end >= self.params.min_final_s * SAMPLE_RATE:
                return end
        return None

    def _agreed(self, words: list[RawWord]) -> list[RawWord]:
        """The longest prefix of ``words`` that the previous decode of this window began with too: words
        two decodes agree on are final (local agreement), so a piece is not cut at a word still changing."""
        texts = [_plain(word.text) for word in words]
        previous, self._previous = self._previous, (self._offset, texts)
        if previous is None or previous[0] != self._offset:
            return []
        count = 0
        for mine, theirs in zip(texts, previous[1], strict=False):
            if mine != theirs:
                break
            count += 1
        return words[:count]

    def _ahead(self) -> int:
        return int(self.params.lookahead_s * SAMPLE_RATE)

    def _final_words(self, audio: np.ndarray, until: int | None = None) -> list[RawWord]:
        """The words of ``audio`` decoded with the ``context_s`` of speech finalised before it, as the batch
        job decodes a sentence with the sentences around it. Words already given in a final are left out
        (:meth:`_not_said`), and with ``until`` (samples) the words whose middle lies past it: the audio
        after ``until`` is only the right context that keeps Whisper from garbling a final's last words."""
        recognizer = Recognizer(
            self.model, hotwords=self.hotwords, vad=self._final_vad, options=self._final_options
        )
        self.decodes += 1
        context = self._context
        words = recognizer.words(np.concatenate([context, audio]) if len(context) else audio)
        shift = len(context) / SAMPLE_RATE
        limit = float("inf") if until is None else until / SAMPLE_RATE
        return [
            RawWord(word.text, self._time(word.start, shift), self._time(word.end, shift), word.probability)
            for word in self._not_said(words, shift)
            if (word.start + word.end) / 2 - shift < limit
        ]

    def _time(self, seconds: float, shift: float) -> float:
        """A time of the decoded context + window audio as a time of the window: a word recovered from the
        context keeps the time it was spoken at (the context skips the silence dropped in between)."""
        if seconds >= shift or not len(self._context_times):
            return seconds - shift
        index = min(int(seconds * SAMPLE_RATE), len(self._context_times) - 1)
        return float(self._context_times[index]) - self._offset

    def _not_said(self, words: list[RawWord], shift: float) -> list[RawWord]:
        """``words`` without those already given in a final. The words heard in the context are matched
        against the last final's words: the ones after the last match were missed at that final's end
        (Whisper drops words just before the end of its audio) or drawn into the context by an early
        start time, and are kept; without a match, the words whose middle lies in the context go."""
        head = [word for word in words if (word.start + word.end) / 2 < shift]
        rest = words[len(head) :]
        if not head or not self._said:
            return rest
        heard = [_plain(word.text) for word in head]
        matcher = SequenceMatcher(a=heard, b=self._said, autojunk=False)
        blocks = [block for block in matcher.get_matching_blocks() if block.size]
        if not blocks or blocks[-1].b + blocks[-1].size < len(self._said):
            return rest  # the context was heard otherwise than it was said: trust the times
        missed = head[blocks[-1].a + blocks[-1].size :]
        return missed + rest

    def _finalise(self, cut: int, words: list[RawWord]) -> Result | None:
        audio = self._window[:cut]
        offset = self._offset
        result_id = self._result_id
        self._drop(cut)
        self._result_id = str(uuid.uuid4())
        tokens = _stream_tokens(words, offset, self.channel)
        if not any(token.is_word for token in tokens):
            return None
        self._said = (self._said + [_plain(word.text) for word in words])[-SAID_WORDS:]
        return Result(result_id, tokens[0].start, tokens[-1].end, False, tokens, self.channel, audio, offset)

    def _partial(self) -> Result | None:
        """The window's words: those a final's decode of this step left partial, else a greedy draft."""
        if self._drafted is not None:
            offset, words = self._drafted
        else:
            self.decodes += 1
            offset, words = (
                self._offset,
                [
                    RawWord(w.word, float(w.start), float(w.end), float(w.probability))
                    for w in words_of(self._draft.decode(self._window, lambda: False))
                ],
            )
        tokens = _stream_tokens(words, offset, self.channel)
        if not any(token.is_word for token in tokens):
            return None
        return Result(self._result_id, tokens[0].start, tokens[-1].end, True, tokens, self.channel)

    def _drop(self, samples: int, context: bool = True) -> None:
        keep = int(self.params.context_s * SAMPLE_RATE)
        if context and keep:
            self._context = np.concatenate([self._context, self._window[:samples]])[-keep:]
            times = self._offset + np.arange(samples) / SAMPLE_RATE
            self._context_times = np.concatenate([self._context_times, times])[-keep:]
        self._window = self._window[samples:]
        self._offset += samples / SAMPLE_RATE


def _chunks(samples: int) -> int:
    """``samples`` rounded down to whole VAD chunks: the window then always starts on the stream's VAD grid,
    so the VAD finds the same utterances in the same audio whenever a step looked at it."""
    return samples // VAD_CHUNK * VAD_CHUNK


def _plain(text: str) -> str:
    return "".join(character for character in text.lower() if character.isalnum())


def _stream_tokens(words: list[RawWord], offset: float, channel: int | None) -> list[Token]:
    """Tokens of ``words`` (times in the window from ``offset``) in stream time; shifted before the tokens
    are made, which clamp negative times: a word recovered from a final's context may precede ``offset``."""
    return tokens_from_words(
        [RawWord(word.text, word.start + offset, word.end + offset, word.probability) for word in words],
        channel=channel,
    )

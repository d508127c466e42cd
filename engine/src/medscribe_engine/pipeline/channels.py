"""Stage ``channels``: channel identification. Each channel is recognized on its own, over its own talker's
speech only (:func:`~medscribe_engine.pipeline.crosstalk.own_speech`: the other talker's bleed is silenced
first), with voice activity options for a channel that is silent while the other side speaks, and the
words of both are merged in time order, each token keeping its channel (``ch_0`` / ``ch_1``)."""

from __future__ import annotations

from medscribe_engine.pipeline.asr import Recognizer
from medscribe_engine.pipeline.crosstalk import own_speech
from medscribe_engine.pipeline.document import JobDocument, Token
from medscribe_engine.pipeline.tokens import tokens_from_words


def merge_channels(per_channel: list[list[Token]]) -> list[Token]:
    """Interleave the channels' token lists by time.

    Each channel's list is cut into runs (a word with the punctuation after it); runs are ordered by
    the start of their word, ties broken by channel, so punctuation never leaves its word.
    """
    runs: list[tuple[float, int, int, list[Token]]] = []
    for channel, tokens in enumerate(per_channel):
        run: list[Token] = []
        for token in tokens:
            if token.is_word and run:
                runs.append((run[0].start, channel, len(runs), run))
                run = []
            run.append(token)
        if run:
            runs.append((run[0].start, channel, len(runs), run))
    runs.sort(key=lambda item: (item[0], item[1], item[2]))
    return [token for _start, _channel, _order, run in runs for token in run]


class RecognizeChannels:
    """Recognize ``doc.audio[0]`` and ``doc.audio[1]`` separately into merged ``doc.tokens``.

    :param recognizer: an :class:`~medscribe_engine.pipeline.asr.Recognizer`; it runs with the
        ``channel_vad`` of its :class:`~medscribe_engine.pipeline.decoding.DecodeParams` (each channel is
        silent while the other speaks).
    """

    name = "channels"
    requires = ("doc.audio",)
    assigns = ("doc.tokens", "token.channel")

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer.with_vad(recognizer.params.channel_vad)

    def __call__(self, doc: JobDocument) -> None:
        per_channel = []
        for channel, audio in enumerate(own_speech(doc.audio)):
            doc.check_stop()
            words = self.recognizer.words(audio, doc.should_stop)
            per_channel.append(tokens_from_words(words, channel=channel))
        doc.tokens = merge_channels(per_channel)

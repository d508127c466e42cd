"""Stage ``channels``: channel identification. Each channel is recognized on its own (with voice activity
and decoding options for a channel that is silent while the other side speaks) and the words of both are
merged in time order, each token keeping its channel (``ch_0`` / ``ch_1`` in the outputs)."""

from __future__ import annotations

from medscribe_engine.pipeline.asr import CHANNEL_OPTIONS, CHANNEL_VAD, Recognizer, tokens_from_words
from medscribe_engine.pipeline.document import JobDocument, Token


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

    :param recognizer: an :class:`~medscribe_engine.pipeline.asr.Recognizer`; it runs with
        :data:`~medscribe_engine.pipeline.asr.CHANNEL_VAD` (each channel is silent while the other speaks)
        and :data:`~medscribe_engine.pipeline.asr.CHANNEL_OPTIONS`, and a VAD chunk's first word goes back
        to the chunk before it when that one ends in speech without words
        (:func:`~medscribe_engine.pipeline.asr.claim_tails`).
    """

    name = "channels"

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer.with_vad(CHANNEL_VAD, CHANNEL_OPTIONS, claim_tails=True)

    def __call__(self, doc: JobDocument) -> None:
        per_channel = []
        for channel, audio in enumerate(doc.audio):
            doc.check_stop()
            words = self.recognizer.words(audio, doc.should_stop)
            per_channel.append(tokens_from_words(words, channel=channel))
        doc.tokens = merge_channels(per_channel)

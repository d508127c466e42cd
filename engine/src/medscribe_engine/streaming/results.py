"""From recognised results to the model's ``TranscriptEvent``: vocabulary, speakers, PHI, JSON shape.

``MedicalResult`` (transcribe-streaming 2017-10-26): ``{ResultId, StartTime, EndTime, IsPartial,
Alternatives: [{Transcript, Items: [{StartTime, EndTime, Type, Content, Confidence, Speaker}],
Entities: [{StartTime, EndTime, Category, Content, Confidence}]}], ChannelId}``. Times are seconds from
the stream's start; ``ChannelId`` is ``ch_0`` / ``ch_1`` with channel identification; ``Speaker`` is
``"0"``, ``"1"``, ... with ShowSpeakerLabel; PHI entities are found on final results only (a partial
changes under them).

HealthScribe's ``MedicalScribeTranscriptSegment`` (:class:`ScribeSegments`): ``{SegmentId,
BeginAudioTime, EndAudioTime, Content, Items: [{BeginAudioTime, EndAudioTime, Type, Confidence, Content,
VocabularyFilterMatch}], IsPartial, ChannelId}``, times in seconds from the session's start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Online speaker labels: a clip of a final whose voice embedding is at least MERGE_SIMILARITY close
# (cosine) to a known speaker's centroid is that speaker (the batch diarizer's threshold); a clip at
# least ANCHOR_S long that is close to none is a new speaker; a shorter one goes to the nearest.
from medscribe_engine.pipeline.diarize import (
    ANCHOR_S,
    MERGE_SIMILARITY,
    Embedder,
    segment_index,
    silero_segments,
)
from medscribe_engine.pipeline.document import SAMPLE_RATE, Token
from medscribe_engine.pipeline.filtering import FilterWords
from medscribe_engine.pipeline.vocabulary import ApplyVocabulary
from medscribe_engine.streaming import eventstream
from medscribe_engine.streaming.recognition import Result

MAX_SPEAKERS = 10  # past this many voices, a new voice goes to the nearest known one


@dataclass
class OnlineSpeakers:
    """Speaker labels assigned result by result, with centroids of each speaker's voice embeddings.

    :param embedder: a :class:`~medscribe_engine.pipeline.diarize.ResemblyzerEmbedder`, or None for
        one speaker (Type=DICTATION: one person speaks).
    """

    embedder: Embedder | None
    centroids: list[np.ndarray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def label(self, result: Result) -> None:
        """Set ``speaker`` on the final ``result``'s tokens (punctuation takes its word's speaker)."""
        words = [index for index, token in enumerate(result.tokens) if token.is_word]
        labels = self._voices(result, words) if self.embedder is not None else {}
        speaker = "0"
        for index, token in enumerate(result.tokens):
            if token.is_word:
                speaker = labels.get(index, speaker)
            token.speaker = speaker

    def _voices(self, result: Result, words: list[int]) -> dict[int, str]:
        audio = result.audio
        if self.embedder is None or audio is None or not len(audio):
            return {}
        segments = silero_segments(audio)
        groups: dict[int, list[int]] = {}
        for index in words:
            token = result.tokens[index]
            middle = (token.start + token.end) / 2 - result.audio_start
            groups.setdefault(segment_index(segments, middle), []).append(index)
        clips, members = [], []
        for indices in groups.values():
            start = result.tokens[indices[0]].start - result.audio_start
            end = result.tokens[indices[-1]].end - result.audio_start
            clip = audio[max(0, int(start * SAMPLE_RATE)) : int(end * SAMPLE_RATE)]
            if len(clip) >= SAMPLE_RATE // 10:
                clips.append(clip)
                members.append(indices)
        if not clips:
            return {}
        labels: dict[int, str] = {}
        for clip, indices, embedding in zip(clips, members, self.embedder.embed(clips), strict=True):
            speaker = self._assign(embedding, len(clip) / SAMPLE_RATE)
            labels.update({index: str(speaker) for index in indices})
        return labels

    def _assign(self, embedding: np.ndarray, seconds: float) -> int:
        if self.centroids:
            similarities = [float(np.dot(embedding, c) / np.linalg.norm(c)) for c in self.centroids]
            best = int(np.argmax(similarities))
            new_voice = similarities[best] < MERGE_SIMILARITY and seconds >= ANCHOR_S
            if not new_voice or len(self.centroids) >= MAX_SPEAKERS:
                if seconds >= ANCHOR_S or similarities[best] >= MERGE_SIMILARITY:
                    self.centroids[best] = self.centroids[best] + embedding * seconds
                    self.weights[best] += seconds
                return best
        self.centroids.append(embedding * seconds)
        self.weights.append(seconds)
        return len(self.centroids) - 1


def transcript_text(tokens: list[Token]) -> str:
    """Words separated by spaces, punctuation attached to the word before it."""
    text = ""
    for token in tokens:
        text += (" " if text and token.is_word else "") + token.content
    return text


def medical_result(result: Result, channel_identification: bool, entities: list | None = None) -> dict:
    """``result`` as a ``MedicalResult``.

    :param result: the recognised result (tokens with stream times, speakers when labelled).
    :param channel_identification: whether ``ChannelId`` is given.
    :param entities: PHI entities (:class:`~medscribe_engine.pipeline.phi.Entity`) of a final, or None.
    """
    items = []
    for token in result.tokens:
        item = {"StartTime": token.start, "EndTime": token.end, "Type": token.type, "Content": token.content}
        if token.is_word:
            item["Confidence"] = round(token.confidence, 4)
        if token.speaker is not None:
            item["Speaker"] = token.speaker
        items.append(item)
    alternative: dict = {"Transcript": transcript_text(result.tokens), "Items": items}
    if entities is not None:
        alternative["Entities"] = [
            {
                "StartTime": entity.start,
                "EndTime": entity.end,
                "Category": entity.category,
                "Content": entity.content,
                "Confidence": round(entity.confidence, 4),
            }
            for entity in entities
        ]
    body = {
        "ResultId": result.result_id,
        "StartTime": result.start,
        "EndTime": result.end,
        "IsPartial": result.is_partial,
        "Alternatives": [alternative],
    }
    if channel_identification and result.channel is not None:
        body["ChannelId"] = f"ch_{result.channel}"
    return body


class ScribeSegments:
    """Runs a channel's step and turns its results into scribe TranscriptEvent messages (in a pool
    thread): the custom vocabulary's DisplayAs, the filter, the session's time offset, the JSON shape.

    :param offset_s: seconds of session audio before this stream.
    :param channel_ids: whether segments carry ``ChannelId`` (ChannelDefinitions).
    :param entries: the custom vocabulary's entries, or None.
    :param filter_words: the vocabulary filter's words, or None.
    :param filter_method: ``remove``, ``mask`` or ``tag`` (with ``filter_words``).
    """

    def __init__(
        self, offset_s: float, channel_ids: bool, entries=None, filter_words=None, filter_method=None
    ):
        self.offset_s = offset_s
        self.channel_ids = channel_ids
        self.rewrite = ApplyVocabulary(entries).rewrite if entries else None
        self.filter = FilterWords(filter_words, filter_method) if filter_words else None

    def step(self, channel, end: bool) -> list[tuple[str, bytes]]:
        """The TranscriptEvent messages of one step of ``channel`` (a ChannelStream), with their kind
        (``"partial"`` / ``"final"``)."""
        messages = []
        for result in channel.step(end):
            tokens = result.tokens
            if self.rewrite is not None:
                tokens, _count = self.rewrite(tokens)
            if self.filter is not None:
                tokens, _count = self.filter.apply(tokens)
            if not tokens:
                continue
            segment = {
                "SegmentId": result.result_id,
                "BeginAudioTime": round(result.start + self.offset_s, 3),
                "EndAudioTime": round(result.end + self.offset_s, 3),
                "Content": transcript_text(tokens),
                "Items": [self._item(token) for token in tokens],
                "IsPartial": result.is_partial,
            }
            if self.channel_ids and result.channel is not None:
                segment["ChannelId"] = f"ch_{result.channel}"
            kind = "partial" if result.is_partial else "final"
            messages.append((kind, eventstream.event("TranscriptEvent", {"TranscriptSegment": segment})))
        return messages

    def _item(self, token) -> dict:
        item = {
            "BeginAudioTime": round(token.start + self.offset_s, 3),
            "EndAudioTime": round(token.end + self.offset_s, 3),
            "Type": token.type,
            "Content": token.content,
        }
        if token.is_word:
            item["Confidence"] = round(token.confidence, 4)
        if token.filter_match:
            item["VocabularyFilterMatch"] = True
        return item

"""Stage ``diarize``: speaker labels (``spk_0``, ``spk_1``, ...) for single-channel audio.

1. Silero voice activity detection (faster-whisper's bundled ``silero_vad_v6.onnx``, through
   :func:`faster_whisper.vad.get_speech_timestamps`) finds the speech segments of the audio, splitting at
   silences of ``segment_silence_ms`` or more: the short gap where one speaker hands over to the other.
2. The recognized words are grouped into *chunks*, one per speech segment (by the word's midpoint): a
   speaker change is assumed to fall on a silence. Without any segment, chunks are cut at sentence ends
   and pauses of ``chunk_pause_s``.
3. Each chunk's audio, kept inside its speech segment, is embedded with resemblyzer's d-vector encoder
   (windows of 1.6 s every 0.4 s, averaged, L2-normalized). A clip shorter than one window is repeated
   to fill it: padded with silence, the share of silence set the embedding, and short clips ("okay",
   "yes") of both voices formed a cluster of their own.
4. The clips of ``anchor_s`` or more are clustered agglomeratively (Ward linkage on the unit vectors)
   into ``MaxSpeakerLabels`` clusters; clusters whose centroids are more similar than
   ``merge_similarity`` are then merged (one voice split in two), so fewer speakers can result. Each
   shorter clip joins the nearest centroid. When the long clips show fewer voices than
   ``MaxSpeakerLabels`` (a speaker who only answers briefly), or there are fewer than ``min_anchors``
   of them, all clips are clustered together instead.
5. Labels are numbered in order of first appearance: whoever speaks first is ``spk_0``.

Punctuation takes the speaker of the word before it. The tuned values are :class:`DiarizeParams`; what
was measured to choose them, and the designs they replaced, is in ``bench/asr/README.md`` (History).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from medscribe_engine.pipeline.document import SAMPLE_RATE, JobDocument, Token

SENTENCE_END = ".?!"
PARTIAL_FRAMES = 160  # resemblyzer: 160 mel frames of 10 ms = 1.6 s per window
PARTIAL_HOP_FRAMES = 40  # 0.4 s


@dataclass(frozen=True)
class DiarizeParams:
    """The diarizer's tuned values (chosen on the benchmark corpora, ``bench/asr/README.md``)."""

    segment_silence_ms: int = 250  # a silence this long ends a speech segment (hand-overs: 400 ms)
    segment_pad_ms: int = 30  # speech kept around a segment: small, so it does not reach into the next turn
    chunk_pause_s: float = 0.3  # no speech segments found: a pause this long between words starts a chunk
    merge_similarity: float = 0.78  # closer centroids are one voice (two voices 0.64-0.76, one 0.81)
    anchor_s: float = 1.2  # clips this long find the voices; shorter ones ("okay", "yes") only join them
    min_anchors: int = 4  # fewer long clips than this cannot show the voices: all clips clustered together
    edge_pad_s: float = 0.05  # audio kept beyond a chunk's first and last word times, inside its segment
    min_clip_s: float = 0.25  # the shortest clip embedded: a one-word chunk still has some voice in it


DEFAULTS = DiarizeParams()
# The live diarizer of the streaming API uses the batch thresholds (streaming/results.py reads these).
ANCHOR_S, MERGE_SIMILARITY = DEFAULTS.anchor_s, DEFAULTS.merge_similarity


class Embedder(Protocol):
    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """One L2-normalized embedding row per clip of 16 kHz float32 audio."""


class ResemblyzerEmbedder:
    """resemblyzer's ``VoiceEncoder``, all windows of all clips in one batch.

    :param encoder: a loaded ``resemblyzer.VoiceEncoder``.
    """

    def __init__(self, encoder):
        self.encoder = encoder

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        windows: list[np.ndarray] = []
        owners: list[int] = []
        for index, clip in enumerate(clips):
            mel = wav_to_mel_spectrogram(np.asarray(clip, dtype=np.float32))
            if len(mel) < PARTIAL_FRAMES:  # repeated, not padded with silence (an empty clip: zeros)
                mel = np.resize(mel, (PARTIAL_FRAMES, mel.shape[1]))
            for start in range(0, len(mel) - PARTIAL_FRAMES + 1, PARTIAL_HOP_FRAMES):
                windows.append(mel[start : start + PARTIAL_FRAMES])
                owners.append(index)
        with torch.no_grad():
            partials = self.encoder(torch.from_numpy(np.stack(windows))).cpu().numpy()
        owner_array = np.asarray(owners)
        embeddings = np.stack([partials[owner_array == index].mean(axis=0) for index in range(len(clips))])
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def silero_segments(audio: np.ndarray, params: DiarizeParams = DEFAULTS) -> list[tuple[float, float]]:
    """Speech segments ``(start_s, end_s)`` of 16 kHz audio by Silero VAD (faster-whisper's copy)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_silence_duration_ms=params.segment_silence_ms, speech_pad_ms=params.segment_pad_ms
    )
    return [
        (chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
        for chunk in get_speech_timestamps(np.asarray(audio, dtype=np.float32), options)
    ]


def segment_index(segments: list[tuple[float, float]], at: float) -> int:
    """Index of the speech segment containing ``at``, else of the nearest one (-1 without segments)."""
    if not segments:
        return -1
    position = bisect.bisect_right([start for start, _end in segments], at) - 1
    if position >= 0 and at <= segments[position][1]:
        return position
    candidates = [i for i in (position, position + 1) if 0 <= i < len(segments)]
    return min(candidates, key=lambda i: min(abs(at - segments[i][0]), abs(at - segments[i][1])))


def speech_chunks(
    tokens: list[Token],
    pause: float = DEFAULTS.chunk_pause_s,
    segments: list[tuple[float, float]] | None = None,
) -> list[list[int]]:
    """Indices (into ``tokens``) of the words of each chunk.

    With speech ``segments``, a chunk is the words whose midpoints lie in one segment (not cut further:
    clips of a word or two are too short for a steady voice embedding). Without (the detector found
    none), chunks are cut after sentence-ending punctuation and before a word that starts ``pause``
    seconds or more after the previous word ended.
    """
    if segments:
        by_segment: dict[int, list[int]] = {}
        for index, token in enumerate(tokens):
            if token.is_word:
                segment = segment_index(segments, (token.start + token.end) / 2)
                by_segment.setdefault(segment, []).append(index)
        return [by_segment[key] for key in sorted(by_segment)]
    chunks: list[list[int]] = []
    current: list[int] = []
    for index, token in enumerate(tokens):
        if token.is_word:
            if current and token.start - tokens[current[-1]].end >= pause:
                chunks.append(current)
                current = []
            current.append(index)
        elif token.content in SENTENCE_END and current:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def cluster(
    embeddings: np.ndarray,
    max_speakers: int,
    durations: list[float] | None = None,
    params: DiarizeParams = DEFAULTS,
) -> list[int]:
    """Cluster ids per row, numbered 0.. in order of first appearance.

    :param durations: seconds of each row's clip. With them, the rows of ``params.anchor_s`` or more
        are clustered and the others join the nearest of their centroids (see the module docstring).
    :param params: the tuned values.
    """
    embeddings = np.asarray(embeddings)
    count = len(embeddings)
    if count == 0:
        return []
    if count == 1 or max_speakers <= 1:
        return [0] * count
    labels = None
    if durations is not None:
        labels = _anchored(embeddings, np.asarray(durations) >= params.anchor_s, max_speakers, params)
    if labels is None:
        labels = _agglomerate(embeddings, max_speakers, params.merge_similarity)
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return [order[label] for label in labels.tolist()]


def _anchored(
    embeddings: np.ndarray, anchors: np.ndarray, max_speakers: int, params: DiarizeParams
) -> np.ndarray | None:
    """Labels from clustering the ``anchors`` rows, each other row given the nearest centroid; None when
    there are too few anchors or they show fewer than ``max_speakers`` voices."""
    if anchors.sum() < max(params.min_anchors, max_speakers):
        return None
    anchor_labels = _agglomerate(embeddings[anchors], max_speakers, params.merge_similarity)
    ids = sorted(set(anchor_labels.tolist()))
    if len(ids) < max_speakers:
        return None
    labels = np.empty(len(embeddings), dtype=int)
    labels[anchors] = anchor_labels
    if (~anchors).any():
        centroids = _centroids(embeddings[anchors], anchor_labels, ids)
        labels[~anchors] = np.asarray(ids)[np.argmax(embeddings[~anchors] @ centroids.T, axis=1)]
    return labels


def _centroids(embeddings: np.ndarray, labels: np.ndarray, ids: list[int]) -> np.ndarray:
    """The unit-length mean of the rows of each cluster id, one row per id."""
    centroids = np.stack([embeddings[labels == cluster_id].mean(axis=0) for cluster_id in ids])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def _agglomerate(embeddings: np.ndarray, max_speakers: int, merge_similarity: float) -> np.ndarray:
    """Ward clustering into at most ``max_speakers`` clusters, then clusters whose centroids are more
    similar than ``merge_similarity`` merged."""
    if len(embeddings) == 1:
        return np.zeros(1, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    n_clusters = min(max_speakers, len(embeddings))
    ward = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward")
    labels = np.asarray(ward.fit_predict(embeddings))
    while True:
        ids = sorted(set(labels.tolist()))
        if len(ids) < 2:
            break
        centroids = _centroids(embeddings, labels, ids)
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -1.0)
        i, j = np.unravel_index(np.argmax(similarity), similarity.shape)
        if similarity[i, j] <= merge_similarity:
            break
        labels[labels == ids[max(i, j)]] = ids[min(i, j)]
    return labels


def assign_speakers(tokens: list[Token], chunks: list[list[int]], chunk_labels: list[int]) -> None:
    """Write ``spk_N`` on every token: chunk words get their chunk's label, punctuation the label of
    the word before it."""
    for chunk, label in zip(chunks, chunk_labels, strict=True):
        for index in chunk:
            tokens[index].speaker = f"spk_{label}"
    current = "spk_0"
    for token in tokens:
        if token.is_word and token.speaker is not None:
            current = token.speaker
        else:
            token.speaker = current


class Diarize:
    """Speaker labels on ``doc.tokens`` from the single channel ``doc.audio[0]``.

    :param embedder: an :class:`Embedder`.
    :param segmenter: audio -> speech segments in seconds (default: :func:`silero_segments`).
    :param params: the tuned values (default :class:`DiarizeParams`).
    """

    name = "diarize"
    requires = ("doc.audio", "doc.tokens")
    assigns = ("token.speaker",)

    def __init__(
        self,
        embedder: Embedder,
        segmenter: Callable[[np.ndarray], list[tuple[float, float]]] | None = None,
        params: DiarizeParams | None = None,
    ):
        self.embedder = embedder
        self.params = params or DEFAULTS
        self.segmenter = segmenter or (lambda audio: silero_segments(audio, self.params))

    def __call__(self, doc: JobDocument) -> None:
        max_speakers = int(doc.settings.get("MaxSpeakerLabels") or 2)
        audio = doc.audio[0]
        if not any(token.is_word for token in doc.tokens):
            return
        segments = self.segmenter(audio)
        chunks = speech_chunks(doc.tokens, self.params.chunk_pause_s, segments)
        if not chunks:
            return
        clips = []
        for chunk in chunks:
            start = max(0.0, doc.tokens[chunk[0]].start - self.params.edge_pad_s)
            end = doc.tokens[chunk[-1]].end + self.params.edge_pad_s
            if segments:  # word times can run into the neighbour's speech: keep to the speech segment
                first, last = doc.tokens[chunk[0]], doc.tokens[chunk[-1]]
                segment_start = segments[segment_index(segments, (first.start + first.end) / 2)][0]
                if segment_start < end:
                    start = max(start, segment_start)
                segment_end = segments[segment_index(segments, (last.start + last.end) / 2)][1]
                if segment_end > start:
                    end = min(end, segment_end)
            end = max(end, start + self.params.min_clip_s)
            clips.append(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        embeddings = self.embedder.embed(clips)
        doc.check_stop()
        durations = [len(clip) / SAMPLE_RATE for clip in clips]
        labels = cluster(embeddings, max_speakers, durations=durations, params=self.params)
        assign_speakers(doc.tokens, chunks, labels)


class OneSpeaker:
    """``Type=DICTATION`` with ``ShowSpeakerLabels``: the request says one person speaks, so every token
    is ``spk_0`` and no voice is embedded or clustered."""

    name = "one_speaker"
    requires = ("doc.tokens",)
    assigns = ("token.speaker",)

    def __call__(self, doc: JobDocument) -> None:
        for token in doc.tokens:
            token.speaker = "spk_0"

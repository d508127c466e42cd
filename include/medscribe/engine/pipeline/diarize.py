"""Stage ``diarize``: speaker labels (``spk_0``, ``spk_1``, ...) for single-channel audio.

1. The recognized words are cut into *chunks* at sentence ends and at pauses of
   :data:`CHUNK_PAUSE_S` or more: a speaker change is assumed to fall on such a boundary.
2. Each chunk's audio is embedded with resemblyzer's d-vector encoder (windows of 1.6 s every 0.4 s,
   averaged, L2-normalized).
3. The chunk embeddings are clustered agglomeratively (cosine distance, average linkage) into
   ``MaxSpeakerLabels`` clusters; clusters whose centroids are more similar than
   :data:`MERGE_SIMILARITY` are then merged (one voice split in two), so fewer speakers can result.
4. Labels are numbered in order of first appearance: whoever speaks first is ``spk_0``.

Punctuation takes the speaker of the word before it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from medscribe.engine.pipeline.document import SAMPLE_RATE, JobDocument, Token

CHUNK_PAUSE_S = 0.3
SENTENCE_END = ".?!"
MERGE_SIMILARITY = 0.78
EDGE_PAD_S = 0.05
MIN_CLIP_S = 0.25
PARTIAL_FRAMES = 160  # resemblyzer: 160 mel frames of 10 ms = 1.6 s per window
PARTIAL_HOP_FRAMES = 40  # 0.4 s


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
            if len(mel) < PARTIAL_FRAMES:
                mel = np.pad(mel, ((0, PARTIAL_FRAMES - len(mel)), (0, 0)))
            for start in range(0, len(mel) - PARTIAL_FRAMES + 1, PARTIAL_HOP_FRAMES):
                windows.append(mel[start : start + PARTIAL_FRAMES])
                owners.append(index)
        with torch.no_grad():
            partials = self.encoder(torch.from_numpy(np.stack(windows))).cpu().numpy()
        owner_array = np.asarray(owners)
        embeddings = np.stack([partials[owner_array == index].mean(axis=0) for index in range(len(clips))])
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def speech_chunks(tokens: list[Token], pause: float = CHUNK_PAUSE_S) -> list[list[int]]:
    """Indices (into ``tokens``) of the words of each chunk: cut after sentence-ending punctuation and
    before a word that starts ``pause`` seconds or more after the previous word ended."""
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
    embeddings: np.ndarray, max_speakers: int, merge_similarity: float = MERGE_SIMILARITY
) -> list[int]:
    """Cluster ids per row, numbered 0.. in order of first appearance."""
    count = len(embeddings)
    if count == 0:
        return []
    if count == 1 or max_speakers <= 1:
        return [0] * count
    from sklearn.cluster import AgglomerativeClustering

    n_clusters = min(max_speakers, count)
    labels = AgglomerativeClustering(n_clusters=n_clusters, metric="cosine", linkage="average").fit_predict(
        embeddings
    )
    labels = np.asarray(labels)
    while True:
        ids = sorted(set(labels.tolist()))
        if len(ids) < 2:
            break
        centroids = {}
        for cluster_id in ids:
            centroid = embeddings[labels == cluster_id].mean(axis=0)
            centroids[cluster_id] = centroid / np.linalg.norm(centroid)
        best, pair = -1.0, None
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                similarity = float(centroids[a] @ centroids[b])
                if similarity > best:
                    best, pair = similarity, (a, b)
        if pair is None or best <= merge_similarity:
            break
        labels[labels == pair[1]] = pair[0]
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return [order[label] for label in labels.tolist()]


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
    """

    name = "diarize"

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def __call__(self, doc: JobDocument) -> None:
        max_speakers = int(doc.settings.get("MaxSpeakerLabels") or 2)
        audio = doc.audio[0]
        chunks = speech_chunks(doc.tokens)
        if not chunks:
            return
        clips = []
        for chunk in chunks:
            start = max(0.0, doc.tokens[chunk[0]].start - EDGE_PAD_S)
            end = max(doc.tokens[chunk[-1]].end + EDGE_PAD_S, start + MIN_CLIP_S)
            clips.append(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        embeddings = self.embedder.embed(clips)
        doc.check_stop()
        assign_speakers(doc.tokens, chunks, cluster(embeddings, max_speakers))

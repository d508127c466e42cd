"""Crosstalk between two microphones: each talker is recognized on their own channel only.

Two desk or lapel microphones in one room each hear the other talker too: fainter, reverberant, and a few
milliseconds later (the longer path). Recognized channel by channel, that bleed is transcribed a second
time, on the wrong channel. Level alone cannot tell bleed from speech in a reverberant room (the far
talker's reverberation is as loud at both microphones: on the train corpus the own channel was only
0-1 dB louder in the worst rooms), but time can: the direct sound reaches the talker's own microphone
first. So:

1. the cross-correlation of the recording (GCC-PHAT, :func:`bleed_delays`) peaks at the delay of
   talker 0's bleed on channel 1 (a positive lag) and at that of talker 1's bleed on channel 0 (negative);
2. in each 20 ms frame, the correlation at those two lags says who is talking, for 0.3 s or more
   (:func:`talkers`);
3. each channel is silenced over the frames where only the other talker is (:func:`own_speech`), before
   voice activity detection and Whisper, which then never hear the other side (and spend no time on it).

Channels without bleed (separate rooms, a telephone call, our clean corpus) show no correlation at any
lag, and nothing is silenced.

The two tuned values are :class:`CrosstalkParams` (chosen on train, ``bench/asr/README.md``); the
constants below are the analysis' resolutions and physical bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medscribe_engine.pipeline.document import SAMPLE_RATE

FRAME = 512  # 32 ms analysis frames (STFT)
HOP = 320  # 20 ms between frames: the resolution of the silenced stretches
SMOOTH_FRAMES = 10  # cross-spectra averaged over 0.2 s, about a word: a frame's correlation needs some speech
MAX_DELAY_S = 0.015  # bleed arrives up to 15 ms late: 5 m more path than the talker's own microphone
BLOCK_FRAMES = 3000  # one minute of frames at a time: long recordings in bounded memory
RAMP_S = 0.02  # fades at the edges of a silenced stretch, so the cut is not a click


@dataclass(frozen=True)
class CrosstalkParams:
    """When the correlation at a talker's bleed delay says that talker is talking."""

    talking: float = 0.10  # bleed frames mostly reach it; channels without bleed only by chance, briefly
    min_frames: int = 15  # 0.3 s, a short word: shorter runs over ``talking`` are chance alignments


DEFAULTS = CrosstalkParams()


def _spectra(audio: np.ndarray, first: int, last: int) -> np.ndarray:
    """STFT frames ``first`` .. ``last - 1`` of ``audio`` (Hann window), complex64."""
    index = np.arange(FRAME)[None, :] + HOP * np.arange(first, last)[:, None]
    frames = np.take(audio, np.minimum(index, len(audio) - 1)).astype(np.float32) * np.hanning(FRAME)
    return np.fft.rfft(frames, axis=1).astype(np.complex64)


def _blocks(channels: list[np.ndarray]):
    """(first frame, cross-spectra X1 conj(X0) smoothed over SMOOTH_FRAMES) per block of BLOCK_FRAMES
    frames (a block reads SMOOTH_FRAMES frames of its neighbours on each side for the smoothing)."""
    count = max(0, (min(len(c) for c in channels) - FRAME) // HOP + 1)
    kernel = np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES
    for first in range(0, count, BLOCK_FRAMES):
        last = min(count, first + BLOCK_FRAMES)
        lo, hi = max(0, first - SMOOTH_FRAMES), min(count, last + SMOOTH_FRAMES)
        cross = _spectra(channels[1], lo, hi) * np.conj(_spectra(channels[0], lo, hi))
        smoothed = np.apply_along_axis(np.convolve, 0, cross, kernel, mode="same")
        yield first, smoothed[first - lo : last - lo]


def _at_lags(phat: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Cross-correlation at ``lags`` (samples) from PHAT-weighted cross-spectra (rows: frames)."""
    frequencies = np.fft.rfftfreq(FRAME)
    return np.real(phat @ np.exp(2j * np.pi * np.outer(frequencies, lags))) / len(frequencies)


def _phat(cross: np.ndarray) -> np.ndarray:
    return cross / (np.abs(cross) + 1e-12)


def _peaks(channels: list[np.ndarray], skip: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The cross-correlation (GCC-PHAT) of all frames but those flagged in ``skip``, at lags 1 ..
    MAX_DELAY_S (channel 1 later: talker 0's bleed) and at the same lags negated (talker 1's)."""
    total = np.zeros(FRAME // 2 + 1, dtype=np.complex128)
    for first, cross in _blocks(channels):
        kept = cross if skip is None else cross[~skip[first : first + len(cross)]]
        total += kept.sum(axis=0)
    lags = np.arange(1, int(MAX_DELAY_S * SAMPLE_RATE) + 1)
    return _at_lags(_phat(total)[None, :], lags)[0], _at_lags(_phat(total)[None, :], -lags)[0]


def _talking(channels: list[np.ndarray], lags: list[int], params: CrosstalkParams) -> np.ndarray:
    """(frames, len(lags)) booleans: the smoothed correlation at each lag reaches ``talking`` for
    ``min_frames``."""
    found = [_at_lags(_phat(cross), np.array(lags)) >= params.talking for _first, cross in _blocks(channels)]
    flags = np.concatenate(found) if found else np.zeros((0, len(lags)), dtype=bool)
    return np.stack([_long_runs(flags[:, k], params.min_frames) for k in range(len(lags))], axis=1)


def bleed_delays(channels: list[np.ndarray], params: CrosstalkParams = DEFAULTS) -> tuple[int, int]:
    """(talker 0's delay on channel 1, talker 1's delay on channel 0) in samples. The stronger peak of the
    whole recording's cross-correlation (GCC-PHAT, lags within MAX_DELAY_S) is one talker's; the other's
    is the peak on the other side of lag 0 over the frames where the first is not talking: a loud bleed's
    reverberation otherwise puts a false peak on the faint one's side."""
    later, earlier = _peaks(channels)
    if later.max() >= earlier.max():
        first = int(np.argmax(later)) + 1
        return first, int(np.argmax(_peaks(channels, _talking(channels, [first], params)[:, 0])[1])) + 1
    second = int(np.argmax(earlier)) + 1
    return int(np.argmax(_peaks(channels, _talking(channels, [-second], params)[:, 0])[0])) + 1, second


def talkers(channels: list[np.ndarray], params: CrosstalkParams = DEFAULTS) -> np.ndarray:
    """(frames, 2) booleans: whether talker 0 / talker 1 is talking in each HOP frame, by the smoothed
    cross-correlation at their bleed's delay (:func:`bleed_delays`) reaching ``talking`` for
    ``min_frames``."""
    delays = bleed_delays(channels, params)
    return _talking(channels, [delays[0], -delays[1]], params)


def _long_runs(flags: np.ndarray, least: int) -> np.ndarray:
    """``flags`` without the runs of True shorter than ``least`` frames."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    out = np.zeros_like(flags)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= least:
            out[start:end] = True
    return out


def silence_frames(audio: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """``audio`` with the HOP frames flagged in ``frames`` (frame i centred on sample i*HOP + FRAME/2)
    faded out, RAMP_S fades inside the kept stretches."""
    if not frames.any():
        return audio
    keep = np.ones(len(audio))
    start = (FRAME - HOP) // 2
    flagged = np.repeat(frames, HOP)[: max(0, len(audio) - start)]
    keep[start : start + len(flagged)] = ~flagged
    ramp = max(1, int(RAMP_S * SAMPLE_RATE))
    padded = np.pad(keep, ramp, mode="edge")
    gain = np.convolve(padded, np.ones(ramp) / ramp, mode="same")[ramp:-ramp] * keep
    return (audio * gain).astype(audio.dtype)


def own_speech(channels: list[np.ndarray], params: CrosstalkParams = DEFAULTS) -> list[np.ndarray]:
    """Two channels, each silenced where only the other channel's talker is talking (:func:`talkers`);
    any other number of channels unchanged."""
    if len(channels) != 2:
        return list(channels)
    talking = talkers(channels, params)
    only = [talking[:, k] & ~talking[:, 1 - k] for k in (0, 1)]
    return [silence_frames(channels[0], only[1]), silence_frames(channels[1], only[0])]

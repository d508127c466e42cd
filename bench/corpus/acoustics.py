"""Rooms, noise and a second microphone for the realistic-conditions corpus (``conditions.py``).

Signals are float64 numpy arrays at 16 kHz. Every function that draws takes a ``numpy.random.Generator``,
so a seeded caller gets the same samples every time. The parameters and why they were chosen:
``bench/corpus/README.md`` (*Realistic conditions*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Room:
    """A room by its volume and reverberation time; its critical distance sets each path's DRR."""

    name: str
    volume_m3: float
    rt60_s: float

    def critical_distance(self) -> float:
        """Where direct and reverberant energy are equal (diffuse field, Sabine): 0.057 sqrt(V / RT60)."""
        return 0.057 * (self.volume_m3 / self.rt60_s) ** 0.5


ROOMS = (
    Room("exam-room", 30.0, 0.3),  # small, furnished: curtains, soft seating
    Room("office", 60.0, 0.5),  # consulting office, some hard surfaces
    Room("treatment-room", 45.0, 0.8),  # tiled, few soft surfaces
)
# Talker-to-microphone distances (m). "own": a desk or lapel microphone in front of its talker;
# "room": the single microphone of the mono layout, between both; "other": the far talker to a stereo
# microphone (its reverberation only: the bleed level is its own draw); "babble": other talkers across
# the office.
DISTANCE = {"own": 0.4, "room": 1.0, "other": 1.5, "babble": 3.0}
FIRST_REFLECTION_S = 0.0025  # the diffuse tail starts after the direct sound (about 0.8 m of path)
NOISE_KINDS = ("pink", "brown", "hvac", "babble")
BABBLE_TALKERS = 6  # over ~4 overlapping talkers babble is no longer followed as words
MAINS_HZ = 60.0  # ACI-Bench visits are US clinics


def room_impulse_response(room: Room, distance_m: float, rng: np.random.Generator) -> np.ndarray:
    """A direct sound of amplitude 1 at t=0 and a Gaussian tail decaying 60 dB in RT60 from
    ``FIRST_REFLECTION_S``, scaled so that the direct-to-reverberant ratio is 20 log10(dc / distance)
    (dc: the room's critical distance). The direct path is not delayed, so the references' times hold."""
    n = int(room.rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * 10 ** (-3 * t / room.rt60_s)
    tail[: int(FIRST_REFLECTION_S * SAMPLE_RATE)] = 0.0
    tail *= (distance_m / room.critical_distance()) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return tail


def convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    from scipy.signal import oaconvolve

    return oaconvolve(x, h)[: len(x)]


def delayed(x: np.ndarray, samples: int) -> np.ndarray:
    return np.concatenate([np.zeros(samples), x[: len(x) - samples]]) if samples else x.copy()


def schroeder_rt60(h: np.ndarray) -> float:
    """RT60 read back from an impulse response (Schroeder integral, -5 to -25 dB fit, times 3)."""
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0])
    t = np.arange(len(h)) / SAMPLE_RATE
    fit = (db <= -5) & (db >= -25)
    slope = np.polyfit(t[fit], db[fit], 1)[0]
    return -60.0 / slope


# --- noise -------------------------------------------------------------------------------------


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectral density 1/f**exponent (1 pink, 2 brown), nothing under 20 Hz."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    shape = np.zeros_like(f)
    shape[f >= 20] = f[f >= 20] ** (-exponent / 2)
    return np.fft.irfft(spectrum * shape, n)


def hvac_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (60 Hz and 3 harmonics, random phases) and fan noise (brown-ish, under 1 kHz) at equal
    power."""
    from scipy.signal import butter, sosfilt

    t = np.arange(n) / SAMPLE_RATE
    hum = sum(a * np.sin(2 * np.pi * MAINS_HZ * k * t + rng.uniform(0, 2 * np.pi)) for k, a in
              ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.2)))  # fmt: skip
    fan = sosfilt(butter(2, 1000, fs=SAMPLE_RATE, output="sos"), colored_noise(n, 1.0, rng))
    return hum / np.std(hum) + fan / np.std(fan)


def babble_noise(n: int, sources: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """``BABBLE_TALKERS`` streams, each a clean recording from ``sources`` started at a random point (and
    looped), heard across the office at ``DISTANCE['babble']``."""
    room = ROOMS[1]
    out = np.zeros(n)
    for _ in range(BABBLE_TALKERS):
        source = sources[rng.integers(len(sources))]
        stream = np.resize(np.roll(source, -int(rng.integers(len(source)))), n)
        out += convolve(stream, room_impulse_response(room, DISTANCE["babble"], rng))
    return out


def noise_of(kind: str, n: int, sources: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if kind == "pink":
        return colored_noise(n, 1.0, rng)
    if kind == "brown":
        return colored_noise(n, 2.0, rng)
    if kind == "hvac":
        return hvac_noise(n, rng)
    if kind == "babble":
        return babble_noise(n, sources, rng)
    raise ValueError(f"unknown noise kind {kind!r}")


def speech_mask(reference: dict, n: int, channel: int | None = None) -> np.ndarray:
    """Samples inside the reference's turns (of ``channel`` only, when given)."""
    mask = np.zeros(n, dtype=bool)
    for turn in reference["turns"]:
        if channel is None or turn.get("channel", channel) == channel:
            mask[round(turn["start_s"] * SAMPLE_RATE) : round(turn["end_s"] * SAMPLE_RATE)] = True
    return mask


def add_at_snr(speech: np.ndarray, noise: np.ndarray, mask: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` scaled so that the speech's power inside its turns (``mask``) over the
    noise's power over the whole recording is ``snr_db``."""
    speech_power = np.mean(speech[mask] ** 2)
    noise = noise * np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    return speech + noise


def measured_snr_db(speech: np.ndarray, noisy: np.ndarray, mask: np.ndarray) -> float:
    """The SNR of ``noisy`` against its clean ``speech`` (the definition of :func:`add_at_snr`)."""
    return 10 * np.log10(np.mean(speech[mask] ** 2) / np.mean((noisy - speech) ** 2))


# --- two microphones ---------------------------------------------------------------------------


def with_bleed(own: np.ndarray, other: np.ndarray, gain_db: float, delay_s: float) -> np.ndarray:
    """A channel: its talker (``own``, as that microphone hears it) plus the other talker (``other``, as
    this microphone's path colours it, direct sound at amplitude 1) ``gain_db`` lower, ``delay_s`` later."""
    return own + 10 ** (gain_db / 20) * delayed(other, round(delay_s * SAMPLE_RATE))

"""Lossy channels for the realistic-conditions corpus (``conditions.py``): codec round trips through PyAV
(FFmpeg) in memory and a telephone line, each returning audio aligned with its input, same length.

Audio is float64, shape (frames, channels), 16 kHz. AMR-WB is not here: the FFmpeg inside PyAV 18.1.0 has
no AMR-WB encoder (``libopencore_amrwb`` only decodes); AMR-NB stands in for it.
"""

from __future__ import annotations

import io

import numpy as np
from acoustics import SAMPLE_RATE

MP3_BIT_RATE = 64000  # per file: a two-channel file shares it (joint stereo), as a recorder writes it
OPUS_BIT_RATE = 16000  # per channel: a VoIP / telehealth rate, wideband
AMR_NB_BIT_RATE = 12200  # AMR-NB's highest mode (a mobile call)
TELEPHONE_BAND_HZ = (300.0, 3400.0)


def resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, axis=0)


def codec_round_trip(audio: np.ndarray, codec: str, container: str, rate: int, bit_rate: int | None,
                     options: dict | None = None) -> np.ndarray:  # fmt: skip
    """``audio`` (frames, channels) at ``rate`` encoded with PyAV's ``codec`` into ``container`` in
    memory and decoded again, float (frames', channels)."""
    import av

    channels = audio.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.options = options or {}
        pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    decoded = []
    with av.open(buffer, "r") as source:
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        for frame in source.decode(audio=0):
            for out_frame in resampler.resample(frame):
                decoded.append(out_frame.to_ndarray().reshape(-1, channels))
        for out_frame in resampler.resample(None):
            decoded.append(out_frame.to_ndarray().reshape(-1, channels))
    return np.concatenate(decoded).astype(np.float64) / 32768.0


def aligned(original: np.ndarray, decoded: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """``decoded`` shifted by the lag that best matches ``original`` (codecs add delay and padding) and
    cut or padded to its length, so the references' times hold."""
    a, b = original[: 30 * SAMPLE_RATE].sum(axis=1), decoded[: 30 * SAMPLE_RATE + max_lag].sum(axis=1)
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    lag = int(lags[np.argmax(corr[lags])])
    shifted = decoded[lag:] if lag >= 0 else np.concatenate([np.zeros((-lag, decoded.shape[1])), decoded])
    out = np.zeros_like(original)
    out[: min(len(original), len(shifted))] = shifted[: len(original)]
    return out


def mp3(audio: np.ndarray) -> np.ndarray:
    return aligned(audio, codec_round_trip(audio, "libmp3lame", "mp3", SAMPLE_RATE, MP3_BIT_RATE))


def opus(audio: np.ndarray) -> np.ndarray:
    rate = OPUS_BIT_RATE * audio.shape[1]
    decoded = codec_round_trip(audio, "libopus", "ogg", SAMPLE_RATE, rate, {"application": "voip"})
    return aligned(audio, decoded)


def amr_nb(audio: np.ndarray) -> np.ndarray:
    """Each channel through AMR-NB (mono, 8 kHz only), back to 16 kHz."""
    narrow = resample(audio, 1, 2)
    channels = [codec_round_trip(narrow[:, [c]], "libopencore_amrnb", "amr", 8000, AMR_NB_BIT_RATE)
                for c in range(audio.shape[1])]  # fmt: skip
    n = min(len(c) for c in channels)
    return aligned(audio, resample(np.concatenate([c[:n] for c in channels], axis=1), 2, 1))


def telephone(audio: np.ndarray) -> np.ndarray:
    """300-3400 Hz (zero-phase Butterworth, order 4 each side), 8 kHz, G.711 mu-law (8 bits), 16 kHz."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    band = sosfiltfilt(sos, audio, axis=0)
    narrow = resample(band, 1, 2)
    mu = 255.0
    code = np.round(np.sign(narrow) * np.log1p(mu * np.minimum(np.abs(narrow), 1.0)) / np.log1p(mu) * 127)
    expanded = np.sign(code) * np.expm1(np.abs(code) / 127 * np.log1p(mu)) / mu
    return resample(expanded, 2, 1)[: len(audio)]


CODEC_PARAMS = {
    "mp3": {"codec": "MP3 (libmp3lame)", "bit_rate": MP3_BIT_RATE, "per": "file"},
    "opus": {"codec": "Opus (libopus, application voip, Ogg)", "bit_rate": OPUS_BIT_RATE, "per": "channel"},
    "amr": {
        "codec": "AMR-NB (libopencore_amrnb), 8 kHz; substitute for AMR-WB",
        "bit_rate": AMR_NB_BIT_RATE,
        "per": "channel",
    },
    "telephone": {"band_hz": list(TELEPHONE_BAND_HZ), "rate": 8000, "companding": "G.711 mu-law"},
}

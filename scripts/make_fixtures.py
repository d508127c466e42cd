#!/usr/bin/env python3
"""Generate the deterministic sample recordings used by the demo and the tests.

Writes into ``tests/fixtures/audio/`` (or ``--out DIR``):

* ``conversation_stereo.wav`` - clinician on channel 0 (left), patient on channel 1 (right)
* ``conversation_mono.wav``   - a different visit, both voices mixed into one channel
* ``dictation.wav``           - a physician dictating a short note, one voice

and for each a ``<name>.json`` with the reference text and the real turn times.

Every turn is synthesized separately with ``espeak-ng``, resampled to 16 kHz with ``sox`` (no dither),
trimmed of leading/trailing silence, and the files are assembled with the stdlib ``wave`` module, so the
layout and the turn times are exact and a second run produces byte-identical files.

Usage::

    python scripts/make_fixtures.py            # (re)generate the fixtures
    python scripts/make_fixtures.py --check    # regenerate into a temp dir, compare sha256, exit 1 on drift

Needs only the standard library plus the CLI tools ``espeak-ng`` and ``sox``
(``apt-get install espeak-ng sox``). The audio depends on the espeak-ng/sox versions; the committed
files were made with espeak-ng 1.51 and SoX 14.4.2.
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "audio"

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # 16-bit PCM
SPEED_WPM = 155  # espeak-ng -s (words per minute)
PITCH = 50  # espeak-ng default
AMPLITUDE = 100  # espeak-ng default
WORD_GAP = 0  # espeak-ng -g, extra pause between words in units of 10 ms

LEAD_IN_S = 0.30  # silence before the first turn
TAIL_S = 0.30  # silence after the last turn
GAP_S = 0.40  # silence between turns
EDGE_PAD_S = 0.02  # silence kept around each trimmed piece
SILENCE_THRESHOLD = 200  # |sample| below this counts as silence when trimming (about -44 dBFS)

VOICES = {"CLINICIAN": "en-us", "PATIENT": "en-us+f5"}

# espeak-ng stresses some drug names on the wrong syllable, and spells out the hum "mm-hmm" as letters
# ("em em hmm", which Whisper writes as "M- M-" or "I'm in them"; no speaker says that); these words are
# spoken from phonemes (espeak-ng "[[...]]" input). Only the audio is affected: the reference text keeps
# the plain spelling.
PRONOUNCE: dict[str, str] = {
    "albuterol": "alb'ju:t@r0l",
    "metformin": "mEtf'o@mIn",
    "lisinopril": "laIs'In@prIl",
    "mm-hmm": "m'hm",
}

# Reference texts are original. Numbers are written in digits; tests normalize text before comparing.
FIXTURES: list[dict] = [
    {
        "name": "conversation_stereo",
        "kind": "conversation",
        "channels": 2,
        "turns": [
            ("CLINICIAN", "Good morning. What brings you in today?"),
            ("PATIENT", "I am here for my diabetes check. I feel more tired lately."),
            ("CLINICIAN", "Are you still taking your metformin?"),
            ("PATIENT", "Yes. I take metformin 500 milligrams twice a day."),
            ("CLINICIAN", "Do you have any chest pain or shortness of breath?"),
            ("PATIENT", "No chest pain. I do get winded on the stairs."),
            ("CLINICIAN", "Your blood pressure is 142 over 88 today."),
            ("PATIENT", "Is that too high?"),
            (
                "CLINICIAN",
                "Yes. You have type 2 diabetes, and you also have hypertension. We will start treatment today.",
            ),
        ],
    },
    {
        "name": "conversation_mono",
        "kind": "conversation",
        "channels": 1,
        "turns": [
            ("CLINICIAN", "Hello again. How was your weekend?"),
            ("PATIENT", "It was nice. We went to the lake with the kids."),
            ("CLINICIAN", "That sounds lovely. Tell me about your cough."),
            ("PATIENT", "It is still there. It gets worse at night and when I walk in the cold."),
            ("CLINICIAN", "Are you using your albuterol inhaler?"),
            ("PATIENT", "Yes, almost every night. It helps my breathing."),
            ("CLINICIAN", "Tell me about your family history."),
            ("PATIENT", "My mother had asthma."),
            (
                "CLINICIAN",
                "I think this is asthma. Keep using the inhaler, and I will add a daily steroid inhaler.",
            ),
        ],
    },
    {
        "name": "dictation",
        "kind": "dictation",
        "channels": 1,
        "turns": [
            (
                "CLINICIAN",
                "This is a 58 year old man with high blood pressure. "
                "He reports mild headaches in the morning. He denies chest pain.",
            ),
            ("CLINICIAN", "Blood pressure today is 150 over 94. Heart rate is 76."),
            (
                "CLINICIAN",
                "Assessment and plan. Hypertension, not controlled. "
                "Start lisinopril 10 milligrams by mouth once a day. Follow up in 4 weeks.",
            ),
        ],
    },
]

FIXTURE_FILES = [f"{fx['name']}.{ext}" for fx in FIXTURES for ext in ("wav", "json")]


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        print(
            f"make_fixtures: missing required tool(s): {', '.join(missing)}.\n"
            "Install them with:  sudo apt-get install espeak-ng sox",
            file=sys.stderr,
        )
        sys.exit(2)


def spoken(text: str) -> str:
    """The text handed to espeak-ng: ``text`` with the PRONOUNCE words replaced by phoneme input."""
    for word, phonemes in PRONOUNCE.items():
        text = re.sub(rf"\b{re.escape(word)}\b", f"[[{phonemes}]]", text, flags=re.IGNORECASE)
    return text


def synthesize(text: str, voice: str, workdir: Path) -> array.array:
    """Speak ``text`` with espeak-ng and return 16 kHz mono int16 samples with silence trimmed."""
    raw_wav = workdir / "espeak.wav"
    pcm = workdir / "piece.raw"
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            voice,
            "-s",
            str(SPEED_WPM),
            "-p",
            str(PITCH),
            "-a",
            str(AMPLITUDE),
            "-g",
            str(WORD_GAP),
            "-w",
            str(raw_wav),
            spoken(text),
        ],
        check=True,
    )
    subprocess.run(
        [
            "sox",
            "-D",
            "-V1",
            str(raw_wav),
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-c",
            "1",
            "-L",
            str(pcm),
            "rate",
            "-h",
            str(SAMPLE_RATE),
        ],
        check=True,
    )
    samples = array.array("h")
    samples.frombytes(pcm.read_bytes())
    if sys.byteorder != "little":
        samples.byteswap()
    return trim(samples)


def trim(samples: array.array) -> array.array:
    loud = [i for i, s in enumerate(samples) if abs(s) >= SILENCE_THRESHOLD]
    if not loud:
        raise RuntimeError("espeak-ng produced silence")
    pad = round(EDGE_PAD_S * SAMPLE_RATE)
    start = max(loud[0] - pad, 0)
    end = min(loud[-1] + 1 + pad, len(samples))
    return samples[start:end]


def seconds(n_frames: int) -> float:
    return round(n_frames / SAMPLE_RATE, 3)


def espeak_turn(speaker: str, text: str, workdir: Path) -> tuple[array.array, str]:
    """A turn spoken by the speaker's espeak-ng voice: ``(samples, voice name)``."""
    voice = VOICES[speaker]
    return synthesize(text, voice, workdir), voice


def build(fixture: dict, workdir: Path, speak=espeak_turn) -> tuple[bytes, dict]:
    """Return (interleaved PCM frames, reference dict) for one fixture.

    ``speak(speaker, text, workdir) -> (16 kHz int16 samples, voice name)`` says each turn (default
    espeak-ng; the benchmark corpus can use Piper, ``bench/corpus/voices.py``)."""
    channels = fixture["channels"]
    gap = round(GAP_S * SAMPLE_RATE)
    tracks = [array.array("h", bytes(2 * round(LEAD_IN_S * SAMPLE_RATE))) for _ in range(channels)]
    turns = []
    for i, (speaker, text) in enumerate(fixture["turns"]):
        piece, voice = speak(speaker, text, workdir)
        if i:
            for track in tracks:
                track.extend(array.array("h", bytes(2 * gap)))
        start = len(tracks[0])
        channel = (0 if speaker == "CLINICIAN" else 1) if channels == 2 else None
        silence = array.array("h", bytes(2 * len(piece)))
        for ch, track in enumerate(tracks):
            track.extend(piece if channels == 1 or ch == channel else silence)
        end = len(tracks[0])
        turns.append(
            {
                "speaker": speaker,
                "voice": voice,
                "channel": channel,
                "start_s": seconds(start),
                "end_s": seconds(end),
                "text": text,
            }
        )
    for track in tracks:
        track.extend(array.array("h", bytes(2 * round(TAIL_S * SAMPLE_RATE))))

    n_frames = len(tracks[0])
    if channels == 1:
        frames = tracks[0]
    else:
        frames = array.array("h", bytes(2 * n_frames * channels))
        for ch, track in enumerate(tracks):
            frames[ch::channels] = track
    if sys.byteorder != "little":
        frames = array.array("h", frames)
        frames.byteswap()

    reference = {
        "name": fixture["name"],
        "kind": fixture["kind"],
        "sample_rate": SAMPLE_RATE,
        "channels": channels,
        "duration_s": seconds(n_frames),
        "text": " ".join(t["text"] for t in turns),
        "turns": turns,
    }
    return frames.tobytes(), reference


def write_wav(path: Path, frames: bytes, channels: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(frames)


def generate(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="make_fixtures_") as tmp:
        workdir = Path(tmp)
        for fixture in FIXTURES:
            frames, reference = build(fixture, workdir)
            wav_path = out_dir / f"{fixture['name']}.wav"
            json_path = out_dir / f"{fixture['name']}.json"
            write_wav(wav_path, frames, fixture["channels"])
            json_path.write_text(json.dumps(reference, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written += [wav_path, json_path]
    return written


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(committed_dir: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="make_fixtures_check_") as tmp:
        fresh_dir = Path(tmp)
        generate(fresh_dir)
        differing = []
        for name in FIXTURE_FILES:
            committed = committed_dir / name
            if not committed.exists():
                differing.append(f"{name} (missing)")
            elif sha256(committed) != sha256(fresh_dir / name):
                differing.append(f"{name} (sha256 differs)")
    if differing:
        print(
            f"make_fixtures --check: {len(differing)} fixture file(s) in {committed_dir} do not match a fresh "
            "generation:\n  "
            + "\n  ".join(differing)
            + "\nRegenerate with:  python scripts/make_fixtures.py",
            file=sys.stderr,
        )
        return 1
    print(f"make_fixtures --check: all {len(FIXTURE_FILES)} fixture files in {committed_dir} are up to date.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temp dir and compare sha256 with the files in --out; exit 1 on drift",
    )
    args = parser.parse_args(argv)
    require_tools()
    if args.check:
        return check(args.out)
    for path in generate(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

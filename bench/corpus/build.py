#!/usr/bin/env python3
"""Build the ASR benchmark corpus: ACI-Bench dialogues spoken by two voices, as mono and two-channel WAV.

Source: ``/work/shared/data/aci-bench/valid.csv``, or ``train.csv`` with ``--split train`` (columns
dataset, encounter_id, dialogue, note; each dialogue line starts with ``[doctor]``, ``[patient]`` or
``[patient_guest]``). Doctor turns are spoken by the clinician voice, everything else by the patient
voice, through ``scripts/make_fixtures.py``'s ``build`` (imported, not copied: same gaps and trimming).
The voices (``--voices``): ``piper``, a neural voice and a pitched copy of it (``voices.py``; the
benchmark's default), or ``espeak``, the fixtures' own espeak-ng voices and rate. Dialogues are cut into
recordings of at most ``--max-recording-minutes`` (whole turns); recordings are taken in file order until
``--minutes`` of audio is planned (at 168 words per minute; the last recording stops at the total). When
the shared data set is absent, the two conversation fixtures' scripts are used instead (a clear message
says so).

Each recording is written twice under ``bench/out/corpus/`` (``corpus-train/`` for train; Piper's in
``corpus-piper/`` and ``corpus-train-piper/``; git-ignored, reused when present): ``<id>.mono.wav`` (both
voices mixed) and ``<id>.stereo.wav`` (clinician left, patient right), each with a ``.json`` reference
(text, turns with speaker, channel, start_s, end_s), plus ``manifest.json``.

Usage::

    .venv/bin/python bench/corpus/build.py --minutes 10 [--voices piper|espeak]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ACI_BENCH = Path("/work/shared/data/aci-bench/valid.csv")
SPLITS = ("valid", "train")
SYNTHESIZERS = ("espeak", "piper")  # the benchmark reports valid; tuning runs on train (bench/asr/README.md)
OUT_DIR = REPO_ROOT / "bench" / "out" / "corpus"
CORPUS_VERSION = (
    4  # bump when the text cleaning, the pronunciations or the layout change: cached files are rebuilt
)
# Plans the cut before synthesis. espeak-ng is asked for 155 wpm (make_fixtures.SPEED_WPM) but the
# ACI-Bench text comes out at about 168 words per minute of audio, gaps included (measured on 30 min).
WORDS_PER_MINUTE = 168


def load_make_fixtures():
    """``scripts/make_fixtures.py`` as a module (it is a script, not a package member)."""
    path = REPO_ROOT / "scripts" / "make_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_fixtures"] = module
    spec.loader.exec_module(module)
    return module


def load_voices():
    """``bench/corpus/voices.py`` (Piper's voices) as a module."""
    name = "bench_corpus_voices"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "voices.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before exec: its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def clean(text: str) -> str:
    """ACI-Bench's tokenized lower-case text as plain text: ``do n't`` -> ``don't``, ``gon na`` ->
    ``gonna``, ``word ,`` -> ``word,``, ``5/21/1969`` -> ``5 21 1969``, ellipses and stray spaces removed.

    The tokenizer split ``gonna``, ``wanna`` and ``gotta`` in two (380 times in train, 111 in valid);
    spoken as written, ``wan na`` came out of the synthesizer as two words that no listener would write
    (Whisper heard "went out", "when I"), and the reference kept the split form, which the normalizer
    does not fold (``wanna`` -> ``want to``, ``wan na`` stays). Both synthesizers read a detached ``.``
    as "dot" and ``/`` as "slash", words the reference does not hold (the normalizer reads ``5/21/1969``
    and ``and/or`` as ``5 21 1969`` and ``and or``): a slash between two words is said as a pause."""
    text = re.sub(r"\b(gon|wan|got) (na|ta)\b", r"\1\2", text)
    text = re.sub(r"\s+n't\b", "n't", text)
    text = re.sub(r"\s+('(s|re|ve|ll|d|m))\b", r"\1", text)
    text = text.replace("...", " ").replace("…", " ")
    text = re.sub(r"(?<=\w)/(?=\w)", " ", text)
    text = re.sub(r"\s+([,.?!;:])", r"\1", text)
    text = re.sub(r"([,.?!;:])(?=[,.?!;:])", "", text)
    return " ".join(text.split()).lstrip(" ,.?!;:").rstrip(" ,")


def parse_dialogue(dialogue: str) -> list[tuple[str, str]]:
    """``[(speaker, text)]`` with speaker CLINICIAN for ``[doctor]`` and PATIENT for the others."""
    turns: list[tuple[str, str]] = []
    for line in dialogue.splitlines():
        match = re.match(r"\s*\[([a-z_]+)\]\s*(.*)", line)
        if not match:
            if turns and line.strip():
                speaker, text = turns[-1]
                turns[-1] = (speaker, f"{text} {clean(line)}")
            continue
        text = clean(match.group(2))
        if not re.search(r"[a-z0-9]", text):
            continue
        speaker = "CLINICIAN" if match.group(1) == "doctor" else "PATIENT"
        if turns and turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]} {text}")
        else:
            turns.append((speaker, text))
    return turns


def plan_recordings(encounters, minutes: float, max_recording_minutes: float) -> list[dict]:
    """Cut the dialogues into recordings of whole turns, in order, until ``minutes`` are planned."""
    recordings: list[dict] = []
    planned = 0.0
    for encounter_id, turns in encounters:
        part, current, current_minutes = 0, [], 0.0
        for speaker, text in turns:
            turn_minutes = len(text.split()) / WORDS_PER_MINUTE
            if current and current_minutes + turn_minutes > max_recording_minutes:
                recordings.append({"id": f"{encounter_id}-{part}", "turns": current})
                planned += current_minutes
                part, current, current_minutes = part + 1, [], 0.0
                if planned >= minutes:
                    return recordings
            current.append((speaker, text))
            current_minutes += turn_minutes
            if planned + current_minutes >= minutes:  # the last recording stops at the planned total
                recordings.append({"id": f"{encounter_id}-{part}", "turns": current})
                return recordings
        if current:
            recordings.append({"id": f"{encounter_id}-{part}", "turns": current})
            planned += current_minutes
        if planned >= minutes:
            return recordings
    return recordings


def split_path(split: str) -> Path:
    """The ACI-Bench CSV of ``split`` (``valid`` or ``train``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    return ACI_BENCH.with_name(f"{split}.csv")


def default_out_dir(split: str, voices: str = "espeak") -> Path:
    """``bench/out/corpus`` for valid, ``bench/out/corpus-<split>`` otherwise; ``-piper`` appended for
    Piper's voices."""
    if voices not in SYNTHESIZERS:
        raise ValueError(f"unknown voices {voices!r}: one of {', '.join(SYNTHESIZERS)}")
    name = "corpus" if split == "valid" else f"corpus-{split}"
    return OUT_DIR.with_name(name if voices == "espeak" else f"{name}-{voices}")


def source_encounters(split: str = "valid") -> tuple[str, list[tuple[str, list[tuple[str, str]]]]]:
    path = split_path(split)
    if path.exists():
        csv.field_size_limit(1 << 26)
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return f"aci-bench {split}", [(row["encounter_id"], parse_dialogue(row["dialogue"])) for row in rows]
    print(
        f"corpus: {path} is not available (no /work/shared on this machine); using the two conversation "
        "fixtures' scripts from scripts/make_fixtures.py instead (about one minute of audio)",
        file=sys.stderr,
    )
    fixtures = load_make_fixtures().FIXTURES
    return "fixtures", [(fx["name"], list(fx["turns"])) for fx in fixtures if fx["kind"] == "conversation"]


def build_corpus(
    minutes: float,
    max_recording_minutes: float = 4.0,
    out_dir: Path | None = None,
    split: str = "valid",
    voices: str = "espeak",
) -> dict:
    """Synthesize (or reuse) the recordings of ``split`` with ``voices``; returns the manifest (with
    ``out_dir``, where its files are)."""
    out_dir = out_dir or default_out_dir(split, voices)
    make_fixtures = load_make_fixtures()
    make_fixtures.require_tools()
    source, encounters = source_encounters(split)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The plan estimates minutes from words (WORDS_PER_MINUTE); the audio decides. When the speech came out
    # shorter than asked, plan again for the shortfall (the cut last recording grows, or one is added)
    # until the audio reaches ``minutes`` or the split has no more turns.
    planned, words = minutes, None
    while True:
        recordings = plan_recordings(encounters, planned, max_recording_minutes)
        entries = synthesize_recordings(recordings, out_dir, make_fixtures, voices)
        spoken = sum(e["duration_s"] for e in entries if e["layout"] == "mono") / 60
        total_words = sum(len(text.split()) for r in recordings for _speaker, text in r["turns"])
        if spoken >= minutes or total_words == words:
            break
        planned, words = planned + (minutes - spoken) * 1.1 + 0.05, total_words
    manifest = {"source": source, "voices": voices, "minutes_requested": minutes, "recordings": entries}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return {**manifest, "out_dir": out_dir}


def speaker_for(voices: str, make_fixtures, out_dir: Path):
    """The ``speak`` callable of ``make_fixtures.build`` for ``voices`` (Piper keeps each turn's audio
    under ``out_dir/turns``)."""
    if voices == "espeak":
        return make_fixtures.espeak_turn
    if voices == "piper":
        return load_voices().PiperSpeaker(make_fixtures, out_dir / "turns")
    raise ValueError(f"unknown voices {voices!r}: one of {', '.join(SYNTHESIZERS)}")


def synthesize_recordings(
    recordings: list[dict], out_dir: Path, make_fixtures, voices: str = "espeak"
) -> list[dict]:
    """Write (or reuse, when text, voices and version match) each recording's mono and stereo WAV and
    reference; the manifest entries."""
    entries = []
    speak = None  # loaded on the first recording not cached (Piper's model takes a second)
    with tempfile.TemporaryDirectory(prefix="bench_corpus_") as tmp:
        for recording in recordings:
            for layout, channels in (("mono", 1), ("stereo", 2)):
                wav = out_dir / f"{recording['id']}.{layout}.wav"
                ref = out_dir / f"{recording['id']}.{layout}.json"
                text = " ".join(turn_text for _speaker, turn_text in recording["turns"])
                previous = json.loads(ref.read_text()) if ref.exists() and wav.exists() else {}
                cached = (
                    previous.get("version") == CORPUS_VERSION
                    and previous.get("text") == text
                    and previous.get("voices", "espeak") == voices
                )
                if not cached:
                    fixture = {
                        "name": f"{recording['id']}.{layout}",
                        "kind": "conversation",
                        "channels": channels,
                        "turns": recording["turns"],
                    }
                    speak = speak or speaker_for(voices, make_fixtures, out_dir)
                    frames, reference = make_fixtures.build(fixture, Path(tmp), speak=speak)
                    make_fixtures.write_wav(wav, frames, channels)
                    reference["version"] = CORPUS_VERSION
                    reference["voices"] = voices
                    ref.write_text(json.dumps(reference, indent=1))
                reference = json.loads(ref.read_text())
                entries.append(
                    {
                        "id": recording["id"],
                        "layout": layout,
                        "wav": wav.name,
                        "reference": ref.name,
                        "duration_s": reference["duration_s"],
                        "cached": cached,
                    }
                )
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="minutes of audio per layout (default 30)"
    )
    parser.add_argument(
        "--max-recording-minutes",
        type=float,
        default=4.0,
        help="cut dialogues into recordings of at most this long",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default="valid", help="ACI-Bench split (default valid; tune on train)"
    )
    parser.add_argument(
        "--voices", choices=SYNTHESIZERS, default="espeak", help="synthesizer (default espeak; voices.py)"
    )
    parser.add_argument("--out", type=Path, help="output directory (default: see default_out_dir)")
    args = parser.parse_args(argv)
    args.out = args.out or default_out_dir(args.split, args.voices)
    manifest = build_corpus(args.minutes, args.max_recording_minutes, args.out, args.split, args.voices)
    mono = [r for r in manifest["recordings"] if r["layout"] == "mono"]
    built = sum(not r["cached"] for r in manifest["recordings"])
    print(
        f"corpus ({manifest['source']}, {args.voices} voices): {len(mono)} recordings, "
        f"{sum(r['duration_s'] for r in mono) / 60:.1f} min per layout (mono, stereo); {built} file pairs "
        f"synthesized, the rest cached, in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

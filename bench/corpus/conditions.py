#!/usr/bin/env python3
"""Realistic recording conditions derived from the clean benchmark corpus (seeded, same references).

Each clean recording of ``build.py`` is two sources: the clinician (left channel of ``<id>.stereo.wav``)
and the patient (right channel); the clean mono file is exactly their sum. A condition re-records them:
the mono layout as one microphone that hears both talkers, the stereo layout as one microphone per
talker. Conditions (``CONDITIONS``; parameters in ``bench/corpus/README.md``):

* ``reverb``: a room (``ROOMS``: RT60 0.3 / 0.5 / 0.8 s) between each talker and each microphone;
* ``noise``: pink, brown, HVAC-like (mains hum + fan) or babble noise at 5-25 dB SNR;
* ``bleed``: stereo channels each also carry the other talker, 6-20 dB lower and 1-10 ms later, all
  paths reverberant (mono: the same room's single microphone);
* ``level``: one talker's channel (mono: that talker in the mix) 6-20 dB lower;
* ``mp3``, ``opus``, ``amr``: a lossy codec round trip (MP3 64 kbps, Opus 16 kbps per channel, AMR-NB
  12.2 kbps: PyAV 18.1's FFmpeg has no AMR-WB encoder);
* ``telephone``: 300-3400 Hz, 8 kHz, G.711 mu-law, back to 16 kHz.

Every random draw comes from ``numpy.random.default_rng([seed, crc32(condition), crc32(recording id)])``
(``reverb`` and ``bleed`` share the draws of ``"room"``, so bleed's mono is reverb's; the room or noise
kind of a recording comes from a seeded permutation cycled over the manifest's order), so the same seed
and clean audio give the same bytes. Files go to ``<clean dir>-<condition>/`` with the
clean references copied unchanged and a ``manifest.json`` that lists each recording's parameters.

Usage (builds the clean corpus first, as ``build.py`` would)::

    .venv/bin/python bench/corpus/conditions.py --minutes 5 [--split valid] [--voices piper] \\
        [--condition all | --condition noise --condition bleed] [--seed 21]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import wave
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling modules, however it is loaded

from acoustics import (
    DISTANCE,
    NOISE_KINDS,
    ROOMS,
    SAMPLE_RATE,
    add_at_snr,
    convolve,
    measured_snr_db,
    noise_of,
    room_impulse_response,
    schroeder_rt60,
    speech_mask,
    with_bleed,
)  # fmt: skip
from lossy import CODEC_PARAMS, amr_nb, mp3, opus, telephone

__all__ = ["measured_snr_db", "schroeder_rt60"]  # re-exported for the tests and for callers

SEED = 21  # the corpus's seed (issue 21); another seed is another corpus
CONDITIONS_VERSION = 2  # bump when a condition's processing changes: cached files are rebuilt
# 2: noise on a channel whose talker never speaks in the recording (it was NaN); nothing else changed
PEAK = 10 ** (-1 / 20)  # a file louder than -1 dBFS after mixing is scaled down to it (no clipping)
SNR_DB = (5.0, 25.0)
BLEED_DB = (-20.0, -6.0)
BLEED_DELAY_MS = (1.0, 10.0)  # 0.3-3.4 m of extra path at 343 m/s
LEVEL_DB = (-20.0, -6.0)


def read_wav(path: Path) -> np.ndarray:
    """Samples as float64 in [-1, 1), shape (frames, channels)."""
    with wave.open(str(path), "rb") as reader:
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
        return pcm.reshape(-1, reader.getnchannels()).astype(np.float64) / 32768.0


def write_wav(path: Path, audio: np.ndarray) -> None:
    """16 kHz 16-bit PCM from float samples (frames,) or (frames, channels)."""
    audio = audio.reshape(len(audio), -1)
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(audio.shape[1])
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(pcm.tobytes())


def rng_for(seed: int, condition: str, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(condition.encode()), zlib.crc32(key.encode())])


def assigned(options: tuple, index: int, seed: int, condition: str):
    """The ``index``-th recording's choice among ``options``: a seeded permutation, cycled, so that a short
    corpus still sees every option in turn."""
    order = np.random.default_rng([seed, zlib.crc32(condition.encode())]).permutation(len(options))
    return options[order[index % len(options)]]


def reverberant(c, p, room, rng, with_bleed_draws: bool):
    """(mono, stereo, params) of the two talkers in ``room``; with the bleed draws, each stereo channel
    also hears the other talker."""
    mono = convolve(c, room_impulse_response(room, DISTANCE["room"], rng)) + convolve(
        p, room_impulse_response(room, DISTANCE["room"], rng)
    )
    own = [convolve(s, room_impulse_response(room, DISTANCE["own"], rng)) for s in (c, p)]
    params = {"room": asdict(room), "distances_m": {k: DISTANCE[k] for k in ("own", "room")}}
    drr = {k: round(20 * np.log10(room.critical_distance() / DISTANCE[k]), 1) for k in ("own", "room")}
    params["drr_db"] = drr
    if not with_bleed_draws:
        return mono, np.stack(own, axis=1), params
    channels, bleed = [], []
    for k, other in ((0, p), (1, c)):
        gain_db, delay_ms = float(rng.uniform(*BLEED_DB)), float(rng.uniform(*BLEED_DELAY_MS))
        far = convolve(other, room_impulse_response(room, DISTANCE["other"], rng))
        channels.append(with_bleed(own[k], far, gain_db, delay_ms / 1000))
        bleed.append({"channel": k, "gain_db": round(gain_db, 2), "delay_ms": round(delay_ms, 2)})
    params["distances_m"]["other"] = DISTANCE["other"]
    params["bleed"] = bleed
    return mono, np.stack(channels, axis=1), params


def apply(condition: str, stereo: np.ndarray, refs: dict, index: int, sources: list[np.ndarray],
          seed: int, key: str) -> tuple[np.ndarray, np.ndarray, dict]:  # fmt: skip
    """(mono, stereo, params) of one clean recording (``stereo``: clinician, patient) under ``condition``;
    ``refs``: its references by layout; ``index``: its place in the manifest; ``sources``: babble talkers;
    ``key``: the recording id its draws are seeded with."""
    rng = rng_for(seed, condition, key)
    c, p = stereo[:, 0], stereo[:, 1]
    if condition in ("reverb", "bleed"):  # one room draw for both: bleed's mono is reverb's mono
        room = assigned(ROOMS, index, seed, "room")
        return reverberant(c, p, room, rng_for(seed, "room", key), condition == "bleed")
    if condition == "noise":
        kind = assigned(NOISE_KINDS, index, seed, condition)
        snr = round(float(rng.uniform(*SNR_DB)), 2)
        n, mono_clean = len(c), c + p
        mono_mask = speech_mask(refs["mono"], n)
        mono = add_at_snr(mono_clean, noise_of(kind, n, sources, rng), mono_mask, snr)
        channels = []
        for k, s in enumerate((c, p)):
            mask, noise = speech_mask(refs["stereo"], n, k), noise_of(kind, n, sources, rng)
            if mask.any():
                channels.append(add_at_snr(s, noise, mask, snr))
            else:  # this talker never speaks in the recording: the noise as loud as the mono's
                channels.append(s + add_at_snr(mono_clean, noise, mono_mask, snr) - mono_clean)
        return mono, np.stack(channels, axis=1), {"kind": kind, "snr_db": snr}
    if condition == "level":
        quiet = int(rng.integers(2))
        gain_db = round(float(rng.uniform(*LEVEL_DB)), 2)
        gains = np.ones(2)
        gains[quiet] = 10 ** (gain_db / 20)
        scaled = stereo * gains
        speaker = ("CLINICIAN", "PATIENT")[quiet]
        return scaled.sum(axis=1), scaled, {"quieter": speaker, "channel": quiet, "gain_db": gain_db}
    codecs = {"mp3": mp3, "opus": opus, "amr": amr_nb, "telephone": telephone}
    if condition in codecs:
        mono_clean = (c + p)[:, None]
        return codecs[condition](mono_clean)[:, 0], codecs[condition](stereo), CODEC_PARAMS[condition]
    raise ValueError(f"unknown condition {condition!r}: one of {', '.join(CONDITIONS)}")


CONDITIONS = ("reverb", "noise", "bleed", "level", "mp3", "opus", "amr", "telephone")
LAYOUTS = ("mono", "stereo")


def condition_dir(clean_dir: Path, condition: str) -> Path:
    return clean_dir.with_name(f"{clean_dir.name}-{condition}")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_condition(clean: dict, condition: str, seed: int = SEED, out_dir: Path | None = None) -> dict:
    """Derive ``condition`` from the clean corpus ``clean`` (``build.build_corpus``'s manifest, with
    ``out_dir``); write or reuse its files; its manifest (with ``out_dir``), shaped like the clean one."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}: one of {', '.join(CONDITIONS)}")
    clean_dir = Path(clean["out_dir"])
    out_dir = out_dir or condition_dir(clean_dir, condition)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = [r["id"] for r in clean["recordings"] if r["layout"] == "stereo"]
    shas = {rid: file_sha256(clean_dir / f"{rid}.stereo.wav") for rid in ids}
    previous_path = out_dir / "manifest.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else {}
    done = {(r["id"], r["layout"]): r for r in previous.get("recordings", [])}
    entries = []
    for index, rid in enumerate(ids):
        # babble talkers: the other recordings (other visits first), the recording itself when alone
        visit = rid.split("-")[0]
        others = [o for o in ids if o.split("-")[0] != visit] or [o for o in ids if o != rid] or [rid]
        inputs = [shas[rid]] + ([shas[o] for o in others] if condition == "noise" else [])
        key = json.dumps([CONDITIONS_VERSION, seed, condition, index, inputs])
        key = hashlib.sha256(key.encode()).hexdigest()
        cached = all(
            done.get((rid, layout), {}).get("input") == key and (out_dir / f"{rid}.{layout}.wav").exists()
            for layout in LAYOUTS
        )
        if cached:
            entries += [{**done[(rid, layout)], "cached": True} for layout in LAYOUTS]
            continue
        refs = {layout: json.loads((clean_dir / f"{rid}.{layout}.json").read_text()) for layout in LAYOUTS}
        babble = others if condition == "noise" else []
        sources = [read_wav(clean_dir / f"{o}.stereo.wav").sum(axis=1) for o in babble]
        clean_audio = read_wav(clean_dir / f"{rid}.stereo.wav")
        mono, stereo, params = apply(condition, clean_audio, refs, index, sources, seed, rid)
        for layout, audio in (("mono", mono), ("stereo", stereo)):
            peak = float(np.max(np.abs(audio)))
            gain = min(1.0, PEAK / peak) if peak else 1.0
            write_wav(out_dir / f"{rid}.{layout}.wav", audio * gain)
            shutil.copyfile(clean_dir / f"{rid}.{layout}.json", out_dir / f"{rid}.{layout}.json")
            entries.append({
                "id": rid, "layout": layout, "wav": f"{rid}.{layout}.wav",
                "reference": f"{rid}.{layout}.json", "duration_s": refs[layout]["duration_s"],
                "params": params, "output_gain": round(gain, 6), "input": key, "cached": False,
            })  # fmt: skip
    manifest = {
        "source": clean["source"], "voices": clean.get("voices"), "condition": condition, "seed": seed,
        "version": CONDITIONS_VERSION, "clean_dir": clean_dir.name, "recordings": entries,
    }  # fmt: skip
    previous_path.write_text(json.dumps(manifest, indent=1))
    return {**manifest, "out_dir": out_dir}


def main(argv: list[str] | None = None) -> int:
    import build

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of clean audio per layout")
    parser.add_argument("--max-recording-minutes", type=float, default=4.0)
    parser.add_argument("--split", choices=build.SPLITS, default="valid")
    parser.add_argument("--voices", choices=build.SYNTHESIZERS, default="piper")
    parser.add_argument(
        "--condition", action="append", help=f"one of {', '.join(CONDITIONS)}, or all (the default)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    names = args.condition or ["all"]
    names = list(CONDITIONS) if "all" in names else names
    for name in names:
        if name not in CONDITIONS:
            parser.error(f"unknown condition {name!r}: one of {', '.join(CONDITIONS)}, all")
    clean = build.build_corpus(args.minutes, args.max_recording_minutes, split=args.split, voices=args.voices)
    for name in names:
        manifest = build_condition(clean, name, args.seed)
        count = len(manifest["recordings"]) // 2
        built = sum(not r["cached"] for r in manifest["recordings"]) // 2
        print(f"{name}: {count} recordings ({built} built) in {manifest['out_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

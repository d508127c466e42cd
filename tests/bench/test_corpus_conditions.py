"""The realistic-conditions corpus (bench/corpus/conditions.py) on a tiny synthetic clean corpus: same seed,
same bytes; SNR, bleed level and delay as drawn; the clean references and files untouched."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
DRAWN = ("reverb", "noise", "bleed", "level")  # the conditions with random draws (the codecs have none)


@pytest.fixture(scope="module")
def conditions():
    path = REPO_ROOT / "bench" / "corpus" / "conditions.py"
    spec = importlib.util.spec_from_file_location("bench_corpus_conditions", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def speechlike(n: int, rng) -> np.ndarray:
    """Noise under a 4 Hz syllable envelope: enough of speech for levels, delays and codecs."""
    t = np.arange(n) / RATE
    return 0.3 * rng.standard_normal(n) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2


@pytest.fixture(scope="module")
def clean(tmp_path_factory, conditions):
    """Four clean recordings of 3 s as build.py lays them out: alternating turns, clinician left."""
    out = tmp_path_factory.mktemp("corpus-fake")
    rng = np.random.default_rng(0)
    entries = []
    for index in range(4):
        rid = f"E{index // 2}-{index % 2}"
        stereo = np.zeros((3 * RATE, 2))
        turns = []
        for k, (start, end) in enumerate(((0.2, 1.4), (1.7, 2.8))):
            a, b = round(start * RATE), round(end * RATE)
            stereo[a:b, k] = speechlike(b - a, rng)
            speaker = ("CLINICIAN", "PATIENT")[k]
            text = f"{speaker} says"
            turns.append({"speaker": speaker, "channel": k, "start_s": start, "end_s": end, "text": text})
        for layout, audio, channels in (("mono", stereo.sum(axis=1), 1), ("stereo", stereo, 2)):
            conditions.write_wav(out / f"{rid}.{layout}.wav", audio)
            turn_list = [{**t, "channel": t["channel"] if channels == 2 else None} for t in turns]
            reference = {"name": f"{rid}.{layout}", "channels": channels, "duration_s": 3.0,
                         "turns": turn_list, "text": " ".join(t["text"] for t in turns)}  # fmt: skip
            (out / f"{rid}.{layout}.json").write_text(json.dumps(reference, indent=1))
            entries.append({"id": rid, "layout": layout, "wav": f"{rid}.{layout}.wav",
                            "reference": f"{rid}.{layout}.json", "duration_s": 3.0})  # fmt: skip
    return {"source": "test", "voices": "fake", "recordings": entries, "out_dir": out}


def digests(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def built(tmp_path_factory, conditions, clean):
    """Every condition built twice with the default seed, those with draws once more with another seed:
    {(run, name): manifest}."""
    before = digests(clean["out_dir"])
    manifests = {}
    for run, seed in (("a", conditions.SEED), ("b", conditions.SEED), ("other", conditions.SEED + 1)):
        for name in conditions.CONDITIONS if run != "other" else DRAWN:
            out = tmp_path_factory.mktemp(f"{run}-{name}")
            manifests[run, name] = conditions.build_condition(clean, name, seed, out_dir=out)
    assert digests(clean["out_dir"]) == before  # the clean corpus is kept as it is
    return manifests


def test_same_seed_same_bytes_and_another_seed_other_draws(conditions, built):
    for name in conditions.CONDITIONS:
        a, b = built["a", name], built["b", name]
        assert digests(a["out_dir"]) == digests(b["out_dir"]), name
        assert [r["params"] for r in a["recordings"]] == [r["params"] for r in b["recordings"]]
    for name in DRAWN:
        wavs = [p for p in digests(built["a", name]["out_dir"]) if p.endswith(".wav")]
        other = digests(built["other", name]["out_dir"])
        assert any(digests(built["a", name]["out_dir"])[w] != other[w] for w in wavs), name


def test_references_are_the_clean_ones(conditions, built, clean):
    for name in conditions.CONDITIONS:
        manifest = built["a", name]
        assert [(r["id"], r["layout"], r["duration_s"]) for r in manifest["recordings"]] == [
            (r["id"], r["layout"], r["duration_s"]) for r in clean["recordings"]
        ]
        for entry in manifest["recordings"]:
            ours = (manifest["out_dir"] / entry["reference"]).read_bytes()
            assert ours == (clean["out_dir"] / entry["reference"]).read_bytes()
            assert (
                conditions.read_wav(manifest["out_dir"] / entry["wav"]).shape
                == conditions.read_wav(clean["out_dir"] / entry["wav"]).shape
            )


def test_noise_is_at_the_drawn_snr_for_every_kind(conditions, built, clean):
    manifest = built["a", "noise"]
    kinds = set()
    for entry in manifest["recordings"]:
        params = entry["params"]
        kinds.add(params["kind"])
        assert 5.0 <= params["snr_db"] <= 25.0
        reference = json.loads((clean["out_dir"] / entry["reference"]).read_text())
        speech = conditions.read_wav(clean["out_dir"] / f"{entry['id']}.stereo.wav")
        noisy = conditions.read_wav(manifest["out_dir"] / entry["wav"]) / entry["output_gain"]
        if entry["layout"] == "mono":
            speech, channels = speech.sum(axis=1, keepdims=True), [None]
        else:
            channels = [0, 1]
        for column, channel in enumerate(channels):
            mask = conditions.speech_mask(reference, len(speech), channel)
            snr = conditions.measured_snr_db(speech[:, column], noisy[:, column], mask)
            assert abs(snr - params["snr_db"]) <= 0.5, (entry["id"], entry["layout"], params, snr)
    assert kinds == set(conditions.NOISE_KINDS)  # four recordings: each kind once


def test_bleed_carries_the_other_talker_at_the_drawn_level_and_delay(conditions, built):
    """The other talker alone: its direct sound on each channel, found by correlation."""
    rng = np.random.default_rng(1)
    talker = rng.standard_normal(4 * RATE) * 0.1
    for index in range(3):  # each room
        for speaking in (0, 1):
            stereo = np.zeros((len(talker), 2))
            stereo[:, speaking] = talker
            seed = conditions.SEED
            _mono, out, params = conditions.apply("bleed", stereo, {}, index, [], seed, f"E9-{index}")
            bleed = params["bleed"][1 - speaking]  # the channel that hears this talker from afar
            assert bleed["channel"] == 1 - speaking
            assert -20.0 <= bleed["gain_db"] <= -6.0 and 1.0 <= bleed["delay_ms"] <= 10.0
            lags = np.arange(0, 12 * RATE // 1000)

            def direct(channel: np.ndarray, lag: int) -> float:
                return float(np.dot(channel[lag:], talker[: len(talker) - lag]) / np.dot(talker, talker))

            far = [direct(out[:, 1 - speaking], lag) for lag in lags]
            lag = int(lags[np.argmax(far)])
            assert abs(lag - bleed["delay_ms"] * RATE / 1000) <= 0.5 + 1e-9
            level_db = 20 * np.log10(far[lag] / direct(out[:, speaking], 0))
            assert abs(level_db - bleed["gain_db"]) <= 0.5, (params, level_db)


def test_bleed_of_a_dry_signal_is_exact(conditions):
    rng = np.random.default_rng(2)
    own, other = rng.standard_normal(RATE), rng.standard_normal(RATE)
    out = conditions.with_bleed(own, other, -12.0, 0.004)
    np.testing.assert_allclose(out[64:] - own[64:], 10 ** (-12 / 20) * other[:-64])
    np.testing.assert_allclose(out[:64], own[:64])


def test_rooms_decay_at_their_rt60_with_the_direct_sound_first(conditions):
    for room in conditions.ROOMS:
        h = conditions.room_impulse_response(room, conditions.DISTANCE["room"], np.random.default_rng(3))
        assert h[0] == 1.0 and np.argmax(np.abs(h)) == 0  # references' times hold
        assert abs(conditions.schroeder_rt60(h[1:]) / room.rt60_s - 1) < 0.1


def test_level_mismatch_lowers_one_talker_by_the_drawn_gain(conditions, built, clean):
    for entry in built["a", "level"]["recordings"]:
        if entry["layout"] != "stereo":
            continue
        params = entry["params"]
        assert -20.0 <= params["gain_db"] <= -6.0
        before = conditions.read_wav(clean["out_dir"] / entry["wav"])
        after = conditions.read_wav(built["a", "level"]["out_dir"] / entry["wav"]) / entry["output_gain"]
        gains = 20 * np.log10(np.std(after, axis=0) / np.std(before, axis=0))
        assert abs(gains[params["channel"]] - params["gain_db"]) < 0.1
        assert abs(gains[1 - params["channel"]]) < 0.1


def test_codecs_keep_the_timing(conditions, built, clean):
    for name in ("mp3", "opus", "amr", "telephone"):
        for entry in built["a", name]["recordings"]:
            if entry["layout"] != "mono":
                continue
            before = conditions.read_wav(clean["out_dir"] / entry["wav"])[:, 0]
            after = conditions.read_wav(built["a", name]["out_dir"] / entry["wav"])[:, 0]
            corr = [np.dot(np.roll(after, lag), before) for lag in range(-40, 41)]
            assert int(np.argmax(corr)) - 40 == 0, name


def test_noise_on_a_channel_whose_talker_never_speaks_is_as_loud_as_the_mono(conditions):
    """A recording cut to one turn: the silent channel still gets its noise (once it got NaN)."""
    rng = np.random.default_rng(4)
    stereo = np.zeros((2 * RATE, 2))
    stereo[:RATE, 1] = speechlike(RATE, rng)
    turn = {"speaker": "PATIENT", "start_s": 0.0, "end_s": 1.0, "text": "hello"}
    refs = {"mono": {"turns": [{**turn, "channel": None}]}, "stereo": {"turns": [{**turn, "channel": 1}]}}
    mono, out, params = conditions.apply("noise", stereo, refs, 0, [stereo[:, 1]], conditions.SEED, "E9-9")
    assert np.isfinite(out).all() and np.isfinite(mono).all()
    mask = conditions.speech_mask(refs["mono"], len(mono))
    for column in (0, 1):  # both channels at the mono's noise level, the talker's channel by its own turns
        noise = out[:, column] - stereo[:, column]
        snr = 10 * np.log10(np.mean(stereo[mask, 1] ** 2) / np.mean(noise**2))
        assert abs(snr - params["snr_db"]) <= 0.5

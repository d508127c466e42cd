"""The benchmark corpus builder's text handling (no synthesis): ACI-Bench lines -> speaker turns ->
recordings of whole turns."""

from __future__ import annotations

import importlib.util
import json

import pytest

from medscribe_harness.devstack import REPO_ROOT


def load_builder():
    spec = importlib.util.spec_from_file_location(
        "bench_corpus_build", REPO_ROOT / "bench" / "corpus" / "build.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_aci_bench_dialogue_becomes_clean_alternating_turns():
    builder = load_builder()
    dialogue = (
        "[doctor] hi , brian . how are you ?\n"
        "[patient] i do n't know ... it's been , uh , rough .\n"
        "[patient_guest] . he's been tired .\n"
        "[doctor] okay .\n"
        "[doctor] let's check your blood pressure .\n"
        "twenty mg a day . and/or born 5/21/1969 .\n"
        "[patient] .\n"
    )
    # a line without a speaker continues the turn and is cleaned like the others: Piper said the
    # detached "." as "dot" and "/" as "slash", words no reference held
    assert builder.parse_dialogue(dialogue) == [
        ("CLINICIAN", "hi, brian. how are you?"),
        ("PATIENT", "i don't know it's been, uh, rough. he's been tired."),
        ("CLINICIAN", "okay. let's check your blood pressure. twenty mg a day. and or born 5 21 1969."),
    ]


def test_recordings_are_whole_turns_until_the_planned_minutes():
    builder = load_builder()
    turn = ("CLINICIAN", " ".join(["word"] * builder.WORDS_PER_MINUTE))  # one minute
    encounters = [("E1", [turn] * 5), ("E2", [turn] * 5)]
    plan = builder.plan_recordings(encounters, minutes=7, max_recording_minutes=2)
    assert [(r["id"], len(r["turns"])) for r in plan] == [("E1-0", 2), ("E1-1", 2), ("E1-2", 1), ("E2-0", 2)]
    assert builder.plan_recordings(encounters, minutes=1.5, max_recording_minutes=4)[0]["turns"] == [
        turn,
        turn,
    ]


def test_without_the_shared_data_the_fixture_conversations_are_used(monkeypatch, tmp_path, capsys):
    builder = load_builder()
    monkeypatch.setattr(builder, "ACI_BENCH", tmp_path / "absent.csv")
    source, encounters = builder.source_encounters()
    assert source == "fixtures"
    assert [name for name, _turns in encounters] == ["conversation_stereo", "conversation_mono"]
    assert encounters[0][1][0] == ("CLINICIAN", "Good morning. What brings you in today?")
    assert "is not available" in capsys.readouterr().err


def test_split_contractions_are_joined_as_they_are_spoken():
    """ACI-Bench's tokenizer wrote ``gon na`` / ``wan na`` / ``got ta``: the synthesizer must say (and the
    reference must hold) the word, which the scoring normalizer folds to ``going to`` / ``want to``."""
    builder = load_builder()
    assert builder.clean("i'm gon na check , i wan na see . we got ta go . a canna") == (
        "i'm gonna check, i wanna see. we gotta go. a canna"
    )
    assert builder.clean("the wan nabe gon") == "the wan nabe gon"


def test_the_train_split_is_read_from_its_own_file(monkeypatch, tmp_path):
    builder = load_builder()
    (tmp_path / "train.csv").write_text(
        'dataset,encounter_id,dialogue,note\naci,T1,"[doctor] hi .\n[patient] hello .",note\n'
    )
    monkeypatch.setattr(builder, "ACI_BENCH", tmp_path / "valid.csv")
    source, encounters = builder.source_encounters("train")
    assert source == "aci-bench train"
    assert encounters == [("T1", [("CLINICIAN", "hi."), ("PATIENT", "hello.")])]
    assert builder.default_out_dir("train").name == "corpus-train"
    assert builder.default_out_dir("valid") == builder.OUT_DIR
    with pytest.raises(ValueError, match="unknown split 'test'"):
        builder.source_encounters("test")


def test_the_audio_reaches_the_requested_minutes(monkeypatch, tmp_path):
    """The plan estimates minutes from words; when the speech comes out shorter, the shortfall is planned
    again until the audio holds the minutes asked for, or the split runs out of turns."""
    from types import SimpleNamespace

    builder = load_builder()
    turn = ("CLINICIAN", " ".join(["word"] * (builder.WORDS_PER_MINUTE // 2)))  # half a minute by the plan
    monkeypatch.setattr(builder, "source_encounters", lambda split: ("test", [("E1", [turn] * 20)]))
    monkeypatch.setattr(builder, "load_make_fixtures", lambda: SimpleNamespace(require_tools=lambda: None))

    def synthesize(recordings, out_dir, make_fixtures, voices):  # speech 10 % faster than the plan's estimate
        return [
            {"id": r["id"], "layout": layout, "duration_s": 0.9 * 30 * len(r["turns"])}
            for r in recordings
            for layout in ("mono", "stereo")
        ]

    monkeypatch.setattr(builder, "synthesize_recordings", synthesize)

    def mono_minutes(manifest):
        return sum(r["duration_s"] for r in manifest["recordings"] if r["layout"] == "mono") / 60

    assert mono_minutes(builder.build_corpus(3.0, 4.0, tmp_path)) == pytest.approx(3.15)  # 7 turns, not 6
    assert mono_minutes(builder.build_corpus(30.0, 4.0, tmp_path)) == pytest.approx(9.0)  # all 20 turns


def load_voices():
    return load_builder().load_voices()


def median_pitch_hz(samples, rate: int = 16000) -> float:
    """Median autocorrelation pitch of the loud 40 ms frames (voiced speech, 70-400 Hz)."""
    import numpy as np

    audio = np.asarray(samples, dtype=np.float64)
    frame, pitches = int(0.04 * rate), []
    loud = 0.3 * np.abs(audio).max()
    for start in range(0, len(audio) - frame, frame):
        chunk = audio[start : start + frame]
        if np.abs(chunk).max() < loud:
            continue
        chunk = chunk - chunk.mean()
        corr = np.correlate(chunk, chunk, "full")[frame - 1 :]
        low, high = rate // 400, rate // 70
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.5 * corr[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches))


def test_piper_voices_say_a_recording_the_same_in_both_layouts(tmp_path):
    """The neural voices: a clinician and a higher patient voice, the same audio in mono and in two
    channels, turn times in the reference; a second build reuses the files, other voices do not."""
    import wave

    import numpy as np

    builder = load_builder()
    make_fixtures = builder.load_make_fixtures()
    turns = [
        ("CLINICIAN", "Good morning. Are you still taking the lisinopril every day?"),
        ("PATIENT", "Mm-hmm. Every morning with breakfast, and my blood pressure has been better."),
    ]
    recordings = [{"id": "R1", "turns": turns}]
    entries = builder.synthesize_recordings(recordings, tmp_path, make_fixtures, "piper")
    assert [(e["layout"], e["cached"]) for e in entries] == [("mono", False), ("stereo", False)]

    def read(name):
        with wave.open(str(tmp_path / name)) as w:
            assert (w.getframerate(), w.getsampwidth()) == (16000, 2)
            data = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return data, json.loads((tmp_path / name.replace(".wav", ".json")).read_text())

    mono, mono_ref = read("R1.mono.wav")
    stereo, stereo_ref = read("R1.stereo.wav")
    assert mono.shape[1] == 1 and stereo.shape[1] == 2
    assert np.array_equal(mono[:, 0], stereo[:, 0] + stereo[:, 1])  # one synthesis, laid out twice
    assert mono_ref["voices"] == "piper" and mono_ref["text"] == " ".join(text for _s, text in turns)
    assert [(t["speaker"], t["voice"], t["channel"]) for t in stereo_ref["turns"]] == [
        ("CLINICIAN", "piper:en_US-joe-medium", 0),
        ("PATIENT", "piper:en_US-joe-medium+350c", 1),
    ]
    first, second = stereo_ref["turns"]
    assert 0.3 <= first["start_s"] < first["end_s"]
    assert second["start_s"] == pytest.approx(first["end_s"] + 0.4)
    assert second["end_s"] < stereo_ref["duration_s"] == mono_ref["duration_s"]
    assert second["end_s"] - second["start_s"] > 2.0  # twelve words are seconds of speech, not a blip
    clinician = stereo[int(first["start_s"] * 16000) : int(first["end_s"] * 16000)]
    patient = stereo[int(second["start_s"] * 16000) : int(second["end_s"] * 16000)]
    assert not clinician[:, 1].any() and not patient[:, 0].any()
    assert np.abs(clinician[:, 0]).max() > 8000 and np.abs(patient[:, 1]).max() > 8000
    ratio = median_pitch_hz(patient[:, 1]) / median_pitch_hz(clinician[:, 0])
    # 350 cents up is x1.22; prosody and the voice's noise move the medians: 1.32 and 1.41 in two runs
    assert 1.1 < ratio < 1.5

    again = builder.synthesize_recordings(recordings, tmp_path, make_fixtures, "piper")
    assert [e["cached"] for e in again] == [True, True]
    # planned again with one more turn: the turns it had keep their audio (Piper's noise is not seeded)
    longer = [{"id": "R1", "turns": [*turns, ("CLINICIAN", "Good. Keep taking it.")]}]
    assert [e["cached"] for e in builder.synthesize_recordings(longer, tmp_path, make_fixtures, "piper")] == [
        False,
        False,
    ]
    grown, grown_ref = read("R1.stereo.wav")
    assert grown_ref["turns"][:2] == stereo_ref["turns"]
    assert np.array_equal(grown[: int(second["end_s"] * 16000)], stereo[: int(second["end_s"] * 16000)])
    assert len(list((tmp_path / "turns").glob("*.pcm"))) == 3
    other = builder.synthesize_recordings(recordings, tmp_path, make_fixtures, "espeak")
    assert [e["cached"] for e in other] == [False, False]
    assert json.loads((tmp_path / "R1.mono.json").read_text())["turns"][0]["voice"] == "en-us"


def test_a_changed_piper_voice_is_refused_before_loading(tmp_path):
    voices = load_voices()
    builder = load_builder()
    impostor = tmp_path / "en_US-joe-medium.onnx"
    impostor.write_bytes(b"not the pinned voice")
    with pytest.raises(voices.ModelMismatch, match="expected 58afce03"):
        voices.PiperSpeaker(builder.load_make_fixtures(), tmp_path / "turns", model_path=impostor)


def test_piper_says_the_drug_names_from_the_fixtures_phonemes():
    voices = load_voices()
    assert voices.spoken("Albuterol and lisinopril, mm-hmm.") == (
        "[[ælbjˈuːɾɚɹɑːl]] and [[laɪsˈɪnəpɹɪl]], [[mhˈm]]."
    )
    assert set(voices.PRONOUNCE_IPA) == set(load_builder().load_make_fixtures().PRONOUNCE)


def test_each_synthesizer_has_its_own_corpus_directory():
    builder = load_builder()
    names = [builder.default_out_dir(s, v).name for v in ("espeak", "piper") for s in builder.SPLITS]
    assert names == ["corpus", "corpus-train", "corpus-piper", "corpus-train-piper"]
    with pytest.raises(ValueError, match="unknown voices 'festival'"):
        builder.default_out_dir("valid", "festival")

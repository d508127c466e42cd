"""The benchmark corpus builder's text handling (no synthesis): ACI-Bench lines -> speaker turns ->
recordings of whole turns."""

from __future__ import annotations

import importlib.util

import pytest

from medscribe.devstack import REPO_ROOT


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
        "[patient_guest] he's been tired .\n"
        "[doctor] okay .\n"
        "[doctor] let's check your blood pressure .\n"
        "[patient] .\n"
    )
    assert builder.parse_dialogue(dialogue) == [
        ("CLINICIAN", "hi, brian. how are you?"),
        ("PATIENT", "i don't know it's been, uh, rough. he's been tired."),
        ("CLINICIAN", "okay. let's check your blood pressure."),
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

    def synthesize(recordings, out_dir, make_fixtures):  # speech 10 % faster than the plan's estimate
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

#!/usr/bin/env python3
"""Notes benchmark: the engine's HISTORY_AND_PHYSICAL note against ACI-Bench's reference notes.

Source: ``/work/shared/data/aci-bench/<split>.csv`` (Yim et al., ACI-BENCH, Nature Scientific Data 2023,
CC BY 4.0); skipped with a message when absent. Two paths:

* ``text``: the reference dialogue, one segment per turn (``[doctor]`` -> CLINICIAN_0, ``[patient]`` ->
  PATIENT_0, ``[patient_guest]`` -> PATIENT_1; text cleaned as ``bench/corpus/build.py`` does), through
  the note builder in-process;
* ``audio``: each whole dialogue synthesized by espeak-ng (``bench/corpus/build.py``'s voices, two
  channels), sent through boto3 to the engine (``medscribe_harness.devstack.LocalStack``) as a HealthScribe job
  with ChannelIdentification; the note is read from the job's ClinicalDocumentUri.

The patient's pronouns come from the split's metadata (``patient_gender``), as a caller would pass
MedicalScribeContext. Figures per path:

* ROUGE-1/2/L/Lsum F1 (``rouge-score``, with and without the Porter stemmer) of the note text (section
  titles + sentences, :func:`render_text`) against the reference note, averaged over the encounters;
* supported sentences: the share whose EvidenceLinks all resolve to transcript segments and whose content
  words all occur in those segments (:func:`unsupported_words`) - must be 100 %;
* negated findings asserted: note words its evidence only negates, stated without a negation cue
  (:func:`asserted_negations`; the builder drops such sentences, this re-checks the written note) - must be 0;
* real-time factor: text - note building time / speech duration at 168 words per minute; audio - job
  processing time (StartTime -> CompletionTime, recognition included) / audio duration.

Tune on train, report on valid::

    .venv-engine/bin/python bench/notes/run.py --split train
    .venv-engine/bin/python bench/notes/run.py --split valid --paths text audio --audio-limit 3
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench" / "corpus"))
sys.path.insert(0, str(REPO_ROOT / "include"))

ACI_DIR = Path("/work/shared/data/aci-bench")
OUT_DIR = REPO_ROOT / "bench" / "out" / "notes"
WORDS_PER_MINUTE = 168
PRONOUNS = {"male": "HE_HIM", "female": "SHE_HER"}
MEDIA_BUCKET, OUTPUT_BUCKET = "bench-notes-media", "bench-notes-output"


def load_split(split: str) -> list[dict]:
    csv.field_size_limit(1 << 26)
    with open(ACI_DIR / f"{split}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    metadata = {}
    meta_path = ACI_DIR / f"{split}_metadata.csv"
    if meta_path.exists():
        with open(meta_path, newline="", encoding="utf-8") as handle:
            metadata = {row["encounter_id"]: row for row in csv.DictReader(handle)}
    for row in rows:
        gender = (metadata.get(row["encounter_id"]) or {}).get("patient_gender", "").strip().lower()
        row["pronouns"] = PRONOUNS.get(gender, "THEY_THEM")
    return rows


def turns_of(dialogue: str) -> list[tuple[str, str]]:
    """``[(role, text)]``: CLINICIAN_0 / PATIENT_0 / PATIENT_1, text cleaned like the speech corpus."""
    import build as corpus

    turns: list[tuple[str, str]] = []
    for line in dialogue.splitlines():
        match = re.match(r"\s*\[([a-z_]+)\]\s*(.*)", line)
        if not match:
            continue
        text = corpus.clean(match.group(2))
        if not re.search(r"[a-z0-9]", text):
            continue
        role = {"doctor": "CLINICIAN_0", "patient": "PATIENT_0"}.get(match.group(1), "PATIENT_1")
        turns.append((role, text))
    return turns


def text_segments(dialogue: str) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(segment_id=f"seg-{number}", role=role, content=text, section=None)
        for number, (role, text) in enumerate(turns_of(dialogue))
    ]


def check_note(document: dict, segments) -> dict:
    """Sentences, supported sentences and asserted negated findings of one ClinicalDocumentation."""
    from medscribe_engine.pipeline.notes.guards import asserted_negations, unsupported_words
    from medscribe_engine.pipeline.notes.utterances import speaker_of

    by_id = {s.segment_id: s for s in segments}
    sentences = supported = asserted = 0
    for section in document["Sections"]:
        for item in section["Summary"]:
            sentences += 1
            ids = [link["SegmentId"] for link in item["EvidenceLinks"]]
            if ids and all(i in by_id for i in ids):
                texts = [by_id[i].content for i in ids]
                if not unsupported_words(item["SummarizedSegment"], texts):
                    supported += 1
                evidence = [(speaker_of(by_id[i].role), by_id[i].content) for i in ids]
                asserted += len(asserted_negations(item["SummarizedSegment"], evidence))
    return {"sentences": sentences, "supported": supported, "negated_asserted": asserted}


def scorers():
    from rouge_score import rouge_scorer

    kinds = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    return {
        "stemmed": rouge_scorer.RougeScorer(kinds, use_stemmer=True),
        "plain": rouge_scorer.RougeScorer(kinds, use_stemmer=False),
    }


def score(notes: list[tuple[str, str]]) -> dict:
    """Mean F1 x 100 over (prediction, reference) pairs, per scorer and ROUGE kind."""
    out = {}
    for name, scorer in scorers().items():
        values: dict[str, list[float]] = {}
        for prediction, reference in notes:
            for kind, result in scorer.score(reference, prediction).items():
                values.setdefault(kind, []).append(result.fmeasure * 100)
        out[name] = {kind: round(statistics.mean(v), 2) for kind, v in values.items()}
    return out


def run_text(rows: list[dict], params=None) -> dict:
    from medscribe_engine.pipeline.notes.builder import NoteBuilder, render_text

    notes, checks, seconds, speech = [], [], 0.0, 0.0
    for row in rows:
        segments = text_segments(row["dialogue"])
        builder = NoteBuilder(pronouns=row["pronouns"], params=params)
        started = time.perf_counter()
        document = builder.build(segments)
        seconds += time.perf_counter() - started
        speech += sum(len(s.content.split()) for s in segments) / WORDS_PER_MINUTE * 60
        notes.append((render_text(document), row["note"]))
        checks.append(check_note(document, segments))
    return summarize(notes, checks, seconds / speech if speech else 0.0)


def summarize(notes, checks, rtf: float) -> dict:
    sentences = sum(c["sentences"] for c in checks)
    supported = sum(c["supported"] for c in checks)
    return {
        "encounters": len(notes),
        "rouge": score(notes),
        "note_words_mean": round(statistics.mean(len(p.split()) for p, _ in notes), 1),
        "reference_words_mean": round(statistics.mean(len(r.split()) for _, r in notes), 1),
        "sentences": sentences,
        "supported_share": round(supported / sentences, 4) if sentences else None,
        "negated_findings_asserted": sum(c["negated_asserted"] for c in checks),
        "rtf": round(rtf, 4),
    }


def synthesize(rows: list[dict], out_dir: Path) -> list[dict]:
    """Two-channel WAV of each whole dialogue (clinician left, patient right), reused when present."""
    import tempfile

    import build as corpus

    make_fixtures = corpus.load_make_fixtures()
    make_fixtures.require_tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    with tempfile.TemporaryDirectory(prefix="bench_notes_") as tmp:
        for row in rows:
            turns = corpus.parse_dialogue(row["dialogue"])
            wav, ref = out_dir / f"{row['encounter_id']}.stereo.wav", out_dir / f"{row['encounter_id']}.json"
            text = " ".join(t for _, t in turns)
            if not (wav.exists() and ref.exists() and json.loads(ref.read_text()).get("text") == text):
                fixture = {"name": row["encounter_id"], "kind": "conversation", "channels": 2, "turns": turns}
                frames, reference = make_fixtures.build(fixture, Path(tmp))
                make_fixtures.write_wav(wav, frames, 2)
                ref.write_text(json.dumps(reference, indent=1))
            entries.append({**row, "wav": wav, "duration_s": json.loads(ref.read_text())["duration_s"]})
    return entries


def run_audio(rows: list[dict], workers: int, timeout: float) -> dict:
    import os

    import boto3

    from medscribe_harness.devstack import LocalStack, local_credentials_env

    os.environ.update(local_credentials_env())
    entries = synthesize(rows, OUT_DIR / "audio")
    run_dir = OUT_DIR / "run"
    notes, checks, processing, duration = [], [], 0.0, 0.0
    with LocalStack.start(run_dir=run_dir, with_engine=True, engine_workers=workers) as stack:
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint)
        client = boto3.client("transcribe", endpoint_url=stack.engine_endpoint)
        for bucket in (MEDIA_BUCKET, OUTPUT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        stamp = datetime.now(UTC).strftime("%H%M%S")
        for entry in entries:
            key = f"{entry['encounter_id']}.wav"
            s3.upload_file(str(entry["wav"]), MEDIA_BUCKET, key)
            entry["job"] = f"notes-{entry['encounter_id']}-{stamp}"
            client.start_medical_scribe_job(
                MedicalScribeJobName=entry["job"],
                Media={"MediaFileUri": f"s3://{MEDIA_BUCKET}/{key}"},
                OutputBucketName=OUTPUT_BUCKET,
                DataAccessRoleArn="arn:aws:iam::000000000000:role/bench",
                Settings={"ChannelIdentification": True},
                ChannelDefinitions=[
                    {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
                    {"ChannelId": 1, "ParticipantRole": "PATIENT"},
                ],
                MedicalScribeContext={"PatientContext": {"Pronouns": entry["pronouns"]}},
            )
        print(f"submitted {len(entries)} jobs; waiting", file=sys.stderr)
        deadline = time.monotonic() + timeout
        for entry in entries:
            while True:
                job = client.get_medical_scribe_job(MedicalScribeJobName=entry["job"])["MedicalScribeJob"]
                if job["MedicalScribeJobStatus"] in {"COMPLETED", "FAILED"} or time.monotonic() > deadline:
                    break
                time.sleep(5)
            if job["MedicalScribeJobStatus"] != "COMPLETED":
                print(f"{entry['encounter_id']}: {job['MedicalScribeJobStatus']}", file=sys.stderr)
                continue
            output = job["MedicalScribeOutput"]
            transcript = _read(s3, output["TranscriptFileUri"])
            document = _read(s3, output["ClinicalDocumentUri"])["ClinicalDocumentation"]
            segments = [
                SimpleNamespace(
                    segment_id=s["SegmentId"],
                    role=s["ParticipantDetails"]["ParticipantRole"],
                    content=s["Content"],
                )
                for s in transcript["Conversation"]["TranscriptSegments"]
            ]
            from medscribe_engine.pipeline.notes.builder import render_text

            notes.append((render_text(document), entry["note"]))
            checks.append(check_note(document, segments))
            processing += (job["CompletionTime"] - job["StartTime"]).total_seconds()
            duration += entry["duration_s"]
            print(f"{entry['encounter_id']}: done", file=sys.stderr)
    if not notes:
        return {"encounters": 0}
    result = summarize(notes, checks, processing / duration if duration else 0.0)
    result["audio_minutes"] = round(duration / 60, 1)
    return result


def _read(s3, uri: str) -> dict:
    bucket, key = uri.split("/", 3)[3].split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="valid", choices=["train", "valid"])
    parser.add_argument("--paths", nargs="+", default=["text"], choices=["text", "audio"])
    parser.add_argument("--audio-limit", type=int, default=20, help="encounters for the audio path (first N)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not (ACI_DIR / f"{args.split}.csv").exists():
        print(
            f"notes benchmark skipped: {ACI_DIR / (args.split + '.csv')} is not available (no /work/shared)"
        )
        return 0
    rows = load_split(args.split)
    figures = {
        "split": args.split,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    if "text" in args.paths:
        figures["text"] = run_text(rows)
    if "audio" in args.paths:
        figures["audio"] = run_audio(rows[: args.audio_limit], args.workers, args.timeout)
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Speaker roles on diarized audio: HealthScribe jobs (ShowSpeakerLabels, MaxSpeakerLabels=2) on the
synthetic ACI-Bench recordings of ``bench/corpus`` (mono), through boto3 against the engine.

For every recognized word: the ParticipantRole of the segment holding it vs. the reference speaker of the
turn containing its midpoint (``bench/asr/attribution.py``'s rule). Printed next to it:

* ``ceiling``: the same count with the best one-to-one mapping of the job's two role groups to
  {clinician, patient} - what a perfect role decision could reach on this diarization;
* ``lexical``: the count had the lexical rule alone named the clinician (same diarization);
* RTF of the HealthScribe jobs (every stage, the clinical document included), one engine worker.

    .venv/bin/python bench/insights/audio.py [--minutes 30] [--json bench/out/insights-audio.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench" / "corpus"))
sys.path.insert(0, str(REPO_ROOT / "bench" / "asr"))
sys.path.insert(0, str(REPO_ROOT / "include"))

import build as corpus  # noqa: E402
from attribution import reference_speaker  # noqa: E402
from jobs import MEDIA_BUCKET, OUTPUT_BUCKET  # noqa: E402


def score(conversation: dict, reference: dict) -> dict:
    from medscribe_engine.pipeline.document import PRONUNCIATION, PUNCTUATION, Segment, Token
    from medscribe_engine.pipeline.roles import lexical_score

    segments = conversation["TranscriptSegments"]
    words = [i for i in conversation["TranscriptItems"] if i["Type"] == "PRONUNCIATION"]
    pairs = []  # (role of the holding segment, reference speaker)
    for word in words:
        middle = (word["BeginAudioTime"] + word["EndAudioTime"]) / 2
        holder = next(
            (s for s in segments if s["BeginAudioTime"] <= middle <= s["EndAudioTime"]),
            min(segments, key=lambda s: abs((s["BeginAudioTime"] + s["EndAudioTime"]) / 2 - middle)),
        )
        pairs.append(
            (holder["ParticipantDetails"]["ParticipantRole"], reference_speaker(reference["turns"], middle))
        )
    right = sum(role.split("_")[0] == truth for role, truth in pairs)
    groups = sorted({role for role, _ in pairs})
    flipped = sum(role.split("_")[0] != truth for role, truth in pairs) if len(groups) == 2 else 0
    # the lexical rule alone on the same groups
    lexical = {}
    for role in groups:
        mine = []
        for index, segment in enumerate(segments):
            if segment["ParticipantDetails"]["ParticipantRole"] != role:
                continue
            text = segment["Content"]
            tokens = [Token(PRONUNCIATION, w.strip(".,?!"), 0, 0, 1) for w in text.split()]
            if text.endswith("?"):
                tokens.append(Token(PUNCTUATION, "?", 0, 0, 0))
            mine.append(Segment(index, segment["SegmentId"], 0, 0, tokens))
        lexical[role] = lexical_score(mine)
    lexical_clinician = max(groups, key=lambda role: lexical[role])
    lexical_right = sum(
        ("CLINICIAN" if role == lexical_clinician else "PATIENT") == truth for role, truth in pairs
    )
    return {"words": len(pairs), "right": right, "ceiling": max(right, flipped), "lexical": lexical_right}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import os

    import boto3

    from medscribe_harness.devstack import LocalStack, local_credentials_env

    os.environ.update(local_credentials_env())
    manifest = corpus.build_corpus(args.minutes, 4.0)
    recordings = [r for r in manifest["recordings"] if r["layout"] == "mono"]
    run_dir = REPO_ROOT / "bench" / "out" / "run-insights"
    totals = {"words": 0, "right": 0, "ceiling": 0, "lexical": 0}
    audio = processing = 0.0
    per_recording = []
    with LocalStack.start(run_dir=run_dir, with_engine=True) as stack:
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint)
        client = boto3.client("transcribe", endpoint_url=stack.engine_endpoint)
        for bucket in (MEDIA_BUCKET, OUTPUT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        stamp = datetime.now(UTC).strftime("%H%M%S")
        jobs = []
        for recording in recordings:
            key = f"corpus/{recording['wav']}"
            s3.upload_file(str(manifest["out_dir"] / recording["wav"]), MEDIA_BUCKET, key)
            name = f"roles-{stamp}-{recording['id']}"
            client.start_medical_scribe_job(
                MedicalScribeJobName=name,
                Media={"MediaFileUri": f"s3://{MEDIA_BUCKET}/{key}"},
                OutputBucketName=OUTPUT_BUCKET,
                DataAccessRoleArn="arn:aws:iam::000000000000:role/bench",
                Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
            )
            jobs.append((name, recording))
        deadline = time.monotonic() + args.timeout
        for name, recording in jobs:
            while True:
                job = client.get_medical_scribe_job(MedicalScribeJobName=name)["MedicalScribeJob"]
                if job["MedicalScribeJobStatus"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            if job["MedicalScribeJobStatus"] != "COMPLETED":
                raise SystemExit(
                    f"job {name} ended {job['MedicalScribeJobStatus']}: {job.get('FailureReason')}"
                )
            uri = job["MedicalScribeOutput"]["TranscriptFileUri"]
            bucket, _, key = uri[len(stack.s3_endpoint) + 1 :].partition("/")
            conversation = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["Conversation"]
            reference = json.loads((manifest["out_dir"] / recording["reference"]).read_text())
            figures = score(conversation, reference)
            seconds = (job["CompletionTime"] - job["StartTime"]).total_seconds()
            audio += recording["duration_s"]
            processing += seconds
            for k in totals:
                totals[k] += figures[k]
            per_recording.append({"recording": recording["id"], **figures, "seconds": round(seconds, 1)})
            print(f"  {recording['id']}: {figures} in {seconds:.1f}s", file=sys.stderr)
    result = {
        "recordings": len(per_recording),
        "audio_minutes": round(audio / 60, 2),
        "role_accuracy_of_words": round(totals["right"] / totals["words"], 3),
        "ceiling_of_this_diarization": round(totals["ceiling"] / totals["words"], 3),
        "lexical_rule_alone": round(totals["lexical"] / totals["words"], 3),
        "rtf_healthscribe_jobs": round(processing / audio, 3),
        "per_recording": per_recording,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

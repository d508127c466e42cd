#!/usr/bin/env python
"""Run the offline engine on the sample recordings and keep its output files, byte for byte.

    .venv/bin/python bench/flatten/capture_engine_outputs.py [--out tests/fixtures/engine]

Starts moto S3 and the offline engine on free loopback ports (``medscribe_harness.devstack.LocalStack``), uploads
``tests/fixtures/audio/*.wav``, runs five jobs through boto3 (two HealthScribe, three Transcribe Medical,
covering channel identification, speaker labels and alternatives) and writes each job's transcript file
(and HealthScribe clinical document, if the engine writes one) as ``<case>.json``. The benchmark scales
these files up and the lake tests compare the two flatteners on them. Takes a few minutes on 2 CPUs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
MEDIA, OUTPUT = "bench-media", "bench-output"
ROLE_ARN = "arn:aws:iam::123456789012:role/medscribe-healthscribe"
CHANNELS = [{"ChannelId": 0, "ParticipantRole": "CLINICIAN"}, {"ChannelId": 1, "ParticipantRole": "PATIENT"}]

SCRIBE_JOBS = {
    "healthscribe_stereo": dict(
        Media={"MediaFileUri": f"s3://{MEDIA}/conversation_stereo.wav"},
        Settings={"ChannelIdentification": True},
        ChannelDefinitions=CHANNELS,
    ),
    "healthscribe_mono": dict(
        Media={"MediaFileUri": f"s3://{MEDIA}/conversation_mono.wav"},
        Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
    ),
}
TRANSCRIPTION_JOBS = {
    "transcribe_medical_speakers": dict(
        Media={"MediaFileUri": f"s3://{MEDIA}/conversation_mono.wav"},
        Type="CONVERSATION",
        Settings={"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2},
    ),
    "transcribe_medical_channels": dict(
        Media={"MediaFileUri": f"s3://{MEDIA}/conversation_stereo.wav"},
        Type="CONVERSATION",
        Settings={"ChannelIdentification": True},
    ),
    "transcribe_medical_alternatives": dict(
        Media={"MediaFileUri": f"s3://{MEDIA}/dictation.wav"},
        Type="DICTATION",
        Settings={"ShowAlternatives": True, "MaxAlternatives": 3},
    ),
}


def _key_of(uri: str, endpoint: str) -> tuple[str, str]:
    bucket, _, key = uri[len(endpoint) + 1 :].partition("/")
    return bucket, key


def capture(out: Path) -> list[Path]:
    """Run the jobs on a fresh local stack and write their outputs into ``out``; return the files."""
    import boto3

    from medscribe_harness.devstack import LocalStack, local_credentials_env

    os.environ.update(local_credentials_env())
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (
        tempfile.TemporaryDirectory(prefix="capture-") as run_dir,
        LocalStack.start(run_dir=Path(run_dir)) as stack,
    ):
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint)
        transcribe = boto3.client("transcribe", endpoint_url=stack.engine_endpoint)
        s3.create_bucket(Bucket=MEDIA)
        s3.create_bucket(Bucket=OUTPUT)
        for wav in sorted(AUDIO.glob("*.wav")):
            s3.upload_file(str(wav), MEDIA, wav.name)
        for case, request in SCRIBE_JOBS.items():
            transcribe.start_medical_scribe_job(
                MedicalScribeJobName=case, OutputBucketName=OUTPUT, DataAccessRoleArn=ROLE_ARN, **request
            )
        for case, request in TRANSCRIPTION_JOBS.items():
            transcribe.start_medical_transcription_job(
                MedicalTranscriptionJobName=case,
                LanguageCode="en-US",
                OutputBucketName=OUTPUT,
                Specialty="PRIMARYCARE",
                **request,
            )
        deadline = time.monotonic() + 1800
        outputs: dict[str, str] = {}
        for case in [*SCRIBE_JOBS, *TRANSCRIPTION_JOBS]:
            while True:
                if case in SCRIBE_JOBS:
                    job = transcribe.get_medical_scribe_job(MedicalScribeJobName=case)["MedicalScribeJob"]
                    status, uris = job["MedicalScribeJobStatus"], job.get("MedicalScribeOutput", {})
                    found = {case: uris.get("TranscriptFileUri")}
                    if uris.get("ClinicalDocumentUri"):
                        found[f"{case}_clinical_document"] = uris["ClinicalDocumentUri"]
                else:
                    job = transcribe.get_medical_transcription_job(MedicalTranscriptionJobName=case)
                    job = job["MedicalTranscriptionJob"]
                    status, found = (
                        job["TranscriptionJobStatus"],
                        {case: job.get("Transcript", {}).get("TranscriptFileUri")},
                    )
                if status in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
                    break
                time.sleep(1)
            if status != "COMPLETED":
                raise RuntimeError(f"job {case} ended {status}: {job.get('FailureReason')}")
            outputs.update(found)
        for case, uri in outputs.items():
            bucket, key = _key_of(uri, stack.s3_endpoint)
            path = out / f"{case}.json"
            path.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "engine")
    args = parser.parse_args()
    started = time.perf_counter()
    for path in capture(args.out):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size} bytes")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

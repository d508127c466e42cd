"""No job lost to the engine itself: fresh engine processes with 4 workers take 8 mixed jobs at once
(first use of every stage in several threads) without an internal failure, and once the outputs are
written the engine's data directory holds no transcript text and no audio."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from engine_helpers import (
    FIXTURES,
    read_output,
    scribe_request,
    stereo_scribe_request,
    transcription_request,
    unique,
    wait_scribe,
    wait_transcription,
)

from medscribe_harness.devstack import free_port, offline_engine

pytestmark = pytest.mark.engine

# words of each recording's reference that tiny.en gets right: the job really transcribed its audio
EXPECTED_WORDS = {
    "dictation": {"hypertension", "headaches", "pressure"},
    "conversation_mono": {"asthma", "inhaler", "cough"},
    "conversation_stereo": {"diabetes", "metformin", "chest"},
}


def mixed_jobs() -> list[tuple[str, str, dict]]:
    """(service, recording, request) for 8 jobs that between them use every stage."""
    labels = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
    two_channels = {"ChannelIdentification": True}
    return [
        (
            "transcription",
            "conversation_mono",
            transcription_request(
                unique("load-tm-labels"), "conversation_mono", Type="CONVERSATION", Settings=labels
            ),
        ),
        (
            "transcription",
            "dictation",
            transcription_request(
                unique("load-tm-alt"),
                Type="CONVERSATION",
                Settings={"ShowAlternatives": True, "MaxAlternatives": 2},
            ),
        ),
        (
            "transcription",
            "conversation_mono",
            transcription_request(
                unique("load-tm-phi"),
                "conversation_mono",
                Type="CONVERSATION",
                ContentIdentificationType="PHI",
            ),
        ),
        (
            "transcription",
            "conversation_stereo",
            transcription_request(
                unique("load-tm-ch"), "conversation_stereo", Type="CONVERSATION", Settings=two_channels
            ),
        ),
        (
            "scribe",
            "conversation_stereo",
            stereo_scribe_request(unique("load-hs-ch")),
        ),
        ("scribe", "conversation_mono", scribe_request(unique("load-hs-mono"), labels, "conversation_mono")),
        (
            "scribe",
            "conversation_stereo",
            stereo_scribe_request(unique("load-hs-ch2")),
        ),
        ("scribe", "conversation_mono", scribe_request(unique("load-hs-mono2"), labels, "conversation_mono")),
    ]


def transcript_text(output: dict) -> str:
    if "Conversation" in output:
        return " ".join(s["Content"] for s in output["Conversation"]["TranscriptSegments"])
    return output["results"]["transcripts"][0]["transcript"]


def run_mixed_jobs(client, s3, s3_endpoint: str) -> list[tuple[str, str, str]]:
    """Start the 8 jobs at once (8 threads), wait for each; (name, status, transcript text) per job."""
    jobs = mixed_jobs()

    def start(job):
        service, _, request = job
        if service == "scribe":
            client.start_medical_scribe_job(**request)
        else:
            client.start_medical_transcription_job(**request)

    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(start, jobs))
    results = []
    for service, recording, request in jobs:
        if service == "scribe":
            job = wait_scribe(client, request["MedicalScribeJobName"], timeout=600)
            status, uri = (
                job["MedicalScribeJobStatus"],
                job.get("MedicalScribeOutput", {}).get("TranscriptFileUri"),
            )
        else:
            job = wait_transcription(client, request["MedicalTranscriptionJobName"], timeout=600)
            status, uri = job["TranscriptionJobStatus"], job.get("Transcript", {}).get("TranscriptFileUri")
        assert status == "COMPLETED", (request, job.get("FailureReason"))
        text = transcript_text(read_output(s3, uri, s3_endpoint)).lower()
        missing = {word for word in EXPECTED_WORDS[recording] if word not in text}
        assert not missing, (service, recording, missing)
        results.append((recording, status, text))
    return results


def test_two_fresh_engines_with_four_workers_lose_no_job(tmp_path, stack, s3):
    # Each round is a fresh process, where the first imports happened; that every model and library is
    # loaded before "engine ready" is checked in each log, so two rounds guard what three did.
    for round_number in range(2):
        data_dir, log_dir = tmp_path / f"data-{round_number}", tmp_path / f"logs-{round_number}"
        engine = offline_engine(free_port(), stack.s3_endpoint, data_dir, log_dir, workers=4)
        engine.start(timeout=300)
        try:
            client = boto3.client("transcribe", endpoint_url=engine.endpoint)
            results = run_mixed_jobs(client, s3, stack.s3_endpoint)
        finally:
            engine.stop()
        assert len(results) == 8
        log = engine.log_path.read_text()
        assert "internal" not in log, [line for line in log.splitlines() if "internal" in line]
        loaded = re.findall(r"INFO medscribe_engine: (.+) loaded in [\d.]+s", log)
        assert {
            "speech recognition model",
            "speaker embedding model",
            "sentence embedding model",
            "clinical vocabularies",
            "stage libraries",
        } <= set(loaded)
        assert log.index("all models and libraries loaded") < log.index("engine ready")


CANARY = "steroid"  # said in conversation_mono and written in the transcript of the job below


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_nothing_is_retained_after_the_outputs_are_written(tmp_path, stack, s3):
    data_dir, log_dir = tmp_path / "data", tmp_path / "logs"
    engine = offline_engine(free_port(), stack.s3_endpoint, data_dir, log_dir, workers=1)
    engine.start(timeout=300)
    name = unique("retain")
    try:
        client = boto3.client("transcribe", endpoint_url=engine.endpoint)
        client.start_medical_scribe_job(
            **scribe_request(name, {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}, "conversation_mono")
        )
        job = wait_scribe(client, name, timeout=600)
        assert job["MedicalScribeJobStatus"] == "COMPLETED", job.get("FailureReason")
        output = read_output(s3, job["MedicalScribeOutput"]["TranscriptFileUri"], stack.s3_endpoint)
        assert CANARY in transcript_text(output).lower()
        listing = client.list_medical_scribe_jobs(Status="COMPLETED")["MedicalScribeJobSummaries"]
        assert name in {summary["MedicalScribeJobName"] for summary in listing}
    finally:
        engine.stop()
    audio = (FIXTURES / "conversation_mono.wav").read_bytes()
    pcm = audio[44:]
    samples = [pcm[offset : offset + 4096] for offset in range(0, len(pcm) - 4096, len(pcm) // 16)]
    samples = [sample for sample in samples if len(set(sample)) > 200]  # speech, not silence
    assert len(samples) >= 4
    files = files_under(data_dir)
    assert any(path.name.startswith("jobs.sqlite3") for path in files)
    assert not [path for path in files if path.is_relative_to(data_dir / "work")]  # scratch removed
    for path in files:
        content = path.read_bytes()
        assert CANARY.encode() not in content.lower(), path
        assert not any(sample in content for sample in samples), path

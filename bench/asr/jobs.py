"""The benchmark's engine jobs, for ``run.py`` and ``bench/insights/audio.py``: its buckets, its custom
medical vocabulary uploaded and made READY, and one Transcribe Medical job per recording and layout
(mono: ``ShowSpeakerLabels``, ``MaxSpeakerLabels=2``; stereo: ``ChannelIdentification``)."""

from __future__ import annotations

import time

MEDIA_BUCKET, OUTPUT_BUCKET = "bench-media", "bench-output"


def create_vocabulary(s3, client, name: str, terms: list[str], timeout: float = 120.0) -> str:
    """Upload ``terms`` as a list vocabulary ``name`` and wait for it to be READY; its name."""
    key = f"vocabularies/{name}.txt"
    phrases = [term.replace(" ", "-") for term in terms]  # AWS's phrase rule: hyphens between words
    s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body="\n".join(phrases).encode())
    client.create_medical_vocabulary(
        VocabularyName=name, LanguageCode="en-US", VocabularyFileUri=f"s3://{MEDIA_BUCKET}/{key}"
    )
    deadline = time.monotonic() + timeout
    while True:
        state = client.get_medical_vocabulary(VocabularyName=name)
        if state["VocabularyState"] == "READY":
            return name
        if state["VocabularyState"] == "FAILED" or time.monotonic() > deadline:
            raise SystemExit(
                f"vocabulary {name} ended {state['VocabularyState']}: {state.get('FailureReason')}"
            )
        time.sleep(0.5)


def start_job(
    client, name: str, uri: str, layout: str, phi: bool = True, vocabulary: str | None = None
) -> None:
    settings = (
        {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2}
        if layout == "mono"
        else {"ChannelIdentification": True}
    )
    if vocabulary:
        settings["VocabularyName"] = vocabulary
    client.start_medical_transcription_job(
        MedicalTranscriptionJobName=name,
        LanguageCode="en-US",
        Media={"MediaFileUri": uri},
        OutputBucketName=OUTPUT_BUCKET,
        Specialty="PRIMARYCARE",
        Type="CONVERSATION",
        Settings=settings,
        **({"ContentIdentificationType": "PHI"} if phi else {}),
    )

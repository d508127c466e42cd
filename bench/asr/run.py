#!/usr/bin/env python3
"""ASR benchmark of the offline engine, through boto3 like any client.

Builds (or reuses) the corpus of ``bench/corpus/build.py`` (``--voices piper`` by default: a neural
voice, closer to human speech; ``--voices espeak`` for espeak-ng's formant voices), starts moto S3 + the
engine (:class:`medscribe_harness.devstack.LocalStack`, in ``bench/out/run/``), uploads the recordings and runs
one Transcribe Medical job per recording and layout:

* mono: ``ShowSpeakerLabels`` with ``MaxSpeakerLabels=2`` (diarization),
* stereo: ``ChannelIdentification`` (clinician on channel 0, patient on channel 1),

each once without and once with a custom medical vocabulary (``VocabularyName``): the
:data:`VOCABULARY_TERMS` medical terms (medwer's bundled list) said most often in ACI-Bench's *train*
dialogues, as a site would build one from its past visits; never from the valid visits scored here.

Prints, per corpus and layout (and ``+vocabulary``): WER and medical-term WER (``medwer.Scorer().corpus``,
micro-averaged over the recordings), the attribution accuracy of words (mono: speaker labels mapped to the
reference speakers by the best one-to-one mapping per recording; stereo: channel = the speaker's
channel), the real-time factor (job processing time / audio duration, from the jobs' StartTime and
CompletionTime), and beside them the raw model's WER, medical WER and RTF on the same files, run after
the engine has stopped (``raw.py``: plain faster-whisper tiny.en, default options, VAD on; a two-channel
file channel by channel, words merged by time). ``--condition NAME`` (repeatable, or ``all``) adds the
realistic conditions of ``bench/corpus/conditions.py`` (``clean`` is the corpus itself, the default);
``--voices piper,espeak`` runs both corpora in one engine. With ``--json`` the figures are also written
to a file. With ``--model DIR --model-sha256 HEX`` the same jobs run again on an engine started with that
model (``MEDSCRIBE_ENGINE_MODEL_DIR`` / ``MEDSCRIBE_ENGINE_MODEL_SHA256``) and WER, medical WER and RTF
of both models are printed side by side. Run from the Airflow environment (boto3, medwer)::

    .venv/bin/python bench/asr/run.py --minutes 10 [--voices piper|espeak|piper,espeak] [--split train] \
        [--condition all | --condition bleed ...] [--no-vocabulary] [--no-raw] \
        [--engine-source DIR] [--run-dir DIR] \
        [--model bench/out/models/whisper-base --model-sha256 d01c3014...]

``--engine-source DIR`` runs the engine from ``DIR/engine/src`` (``git archive HEAD engine/src | tar -x -C
DIR``): a measurement of a commit while others edit the tree. ``--run-dir`` gives the run its own engine
data directory (a job cut short in one resumes at the engine's next start there).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench" / "corpus"))
sys.path.insert(0, str(REPO_ROOT / "include"))

import build as corpus  # noqa: E402 -- bench/corpus is on sys.path only from the line above
from attribution import attribution  # noqa: E402 -- this script's folder, first on sys.path
from jobs import MEDIA_BUCKET, OUTPUT_BUCKET, create_vocabulary, start_job  # noqa: E402
from phi import encounter_metadata, phi_counts  # noqa: E402
from report import print_figures  # noqa: E402

METADATA = corpus.ACI_BENCH.with_name(corpus.ACI_BENCH.stem + "_metadata.csv")
VOCABULARY_TERMS = 40  # phrases of the benchmark's vocabulary (its hotwords prompt stays under ~220 tokens)
VOCABULARY_NAME = "bench-train-terms"


def train_vocabulary(limit: int = VOCABULARY_TERMS) -> list[str]:
    """The ``limit`` medical terms (medwer's list, longest match) said most often in the train split's
    dialogues, most frequent first (ties alphabetical)."""
    from collections import Counter

    from medwer import Scorer

    scorer = Scorer()
    _source, encounters = corpus.source_encounters("train")
    counts: Counter = Counter()
    for _encounter, turns in encounters:
        for _speaker, text in turns:
            medical = corpus_terms(scorer, text)
            counts.update(medical)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [term for term, _n in ranked[:limit]]


def corpus_terms(scorer, text: str) -> list[str]:
    """The medical terms of ``text`` (medwer's normalizer and longest-match filter), words space-joined."""
    from medwer import keep_medical

    kept = keep_medical(scorer.norm(text), scorer.entries, scorer.max_tokens)
    return [term.replace("_", " ") for term in kept.split() if len(term) > 2]


def corpora(
    voices: list[str], conditions: list[str], minutes: float, max_recording_minutes: float, split: str
) -> list[dict]:
    """The manifests to run (each with ``out_dir``, ``voices``, ``condition``): per voices, the clean
    corpus and the conditions derived from it (``bench/corpus/conditions.py``)."""
    import conditions as derived

    sets = []
    for name in voices:
        clean = corpus.build_corpus(minutes, max_recording_minutes, split=split, voices=name)
        for condition in conditions:
            manifest = clean if condition == "clean" else derived.build_condition(clean, condition)
            sets.append({**manifest, "voices": name, "condition": condition, "split": split})
    return sets


def run(
    sets: list[dict],
    workers: int,
    timeout: float,
    engine_env: dict[str, str] | None = None,
    vocabulary: bool = True,
    run_dir: Path = REPO_ROOT / "bench" / "out" / "run",
) -> dict:
    """The figures of one engine over the corpora ``sets`` (see :func:`corpora`); ``engine_env``: extra
    environment of the engine, e.g. its model; ``vocabulary``: each layout again with the vocabulary;
    ``run_dir``: the engine's data and the services' logs (a job cut short there resumes at the next start:
    concurrent runs need their own)."""
    import os

    import boto3

    from medscribe_harness.devstack import LocalStack, local_credentials_env

    os.environ.update(local_credentials_env())
    figures: dict = {"runs": {}}
    with LocalStack.start(run_dir=run_dir, with_engine=True, engine_workers=workers, env=engine_env) as stack:
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint)
        client = boto3.client("transcribe", endpoint_url=stack.engine_endpoint)
        for bucket in (MEDIA_BUCKET, OUTPUT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        stamp = datetime.now(UTC).strftime("%H%M%S")
        variants: list[tuple[str, str | None]] = [("", None)]
        if vocabulary:
            terms = train_vocabulary()
            figures["vocabulary"] = {"name": VOCABULARY_NAME, "source": "aci-bench train", "terms": terms}
            name = create_vocabulary(s3, client, f"{VOCABULARY_NAME}-{stamp}", terms)
            variants.append(("+vocabulary", name))
        for manifest in sets:
            for recording in manifest["recordings"]:
                key = f"corpus/{manifest['voices']}/{manifest['condition']}/{recording['wav']}"
                s3.upload_file(str(manifest["out_dir"] / recording["wav"]), MEDIA_BUCKET, key)
        jobs = []
        for variant, vocab in variants:
            for manifest in sets:
                for recording in manifest["recordings"]:
                    label = recording["layout"] + variant
                    corpus_slug = f"{manifest['voices']}-{manifest['condition']}"
                    slug = f"{corpus_slug}-{recording['id']}-{label.replace('+', '-')}"
                    key = f"corpus/{manifest['voices']}/{manifest['condition']}/{recording['wav']}"
                    uri = f"s3://{MEDIA_BUCKET}/{key}"
                    start_job(client, f"bench-{stamp}-{slug}", uri, recording["layout"], vocabulary=vocab)
                    jobs.append((manifest, f"bench-{stamp}-{slug}", label, recording))
        print(f"submitted {len(jobs)} jobs ({workers} worker(s)); waiting", file=sys.stderr)
        deadline = time.monotonic() + timeout
        outcomes = []
        for manifest, name, label, recording in jobs:
            while True:
                job = client.get_medical_transcription_job(MedicalTranscriptionJobName=name)[
                    "MedicalTranscriptionJob"
                ]
                if job["TranscriptionJobStatus"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            if job["TranscriptionJobStatus"] != "COMPLETED":
                raise SystemExit(
                    f"job {name} ended {job['TranscriptionJobStatus']}: {job.get('FailureReason')}"
                )
            uri = job["Transcript"]["TranscriptFileUri"]
            bucket, _, key = uri[len(stack.s3_endpoint) + 1 :].partition("/")
            results = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["results"]
            seconds = (job["CompletionTime"] - job["StartTime"]).total_seconds()
            outcomes.append((manifest, label, recording, results, seconds))
            print(f"  {name}: {seconds:.1f}s for {recording['duration_s']:.0f}s of audio", file=sys.stderr)

    for manifest in sets:
        run_key = f"{manifest['voices']}/{manifest['condition']}"
        layouts = {}
        for variant, _vocab in variants:
            for layout in ("mono", "stereo"):
                label = layout + variant
                chosen = [(r, res, s) for m, lab, r, res, s in outcomes if m is manifest and lab == label]
                layouts[layout + variant] = score_engine(chosen, manifest["out_dir"])
        figures["runs"][run_key] = {
            "source": manifest["source"], "voices": manifest["voices"], "condition": manifest["condition"],
            "split": manifest["split"], "seed": manifest.get("seed"), "layouts": layouts,
        }  # fmt: skip
    if len(sets) == 1:  # the shape of a single clean run, as before conditions
        only = next(iter(figures["runs"].values()))
        figures.update(source=only["source"], voices=only["voices"], layouts=only["layouts"])
    return figures


def score_engine(chosen: list[tuple[dict, dict, float]], out_dir: Path) -> dict:
    """WER, medical WER, attribution, RTF and PHI of the engine's transcripts ``chosen`` (recording,
    results, processing seconds) of one corpus and layout."""
    from medwer import Scorer
    from medwer.normalizer import Normalizer

    layout = chosen[0][0]["layout"]
    references = [json.loads((out_dir / r["reference"]).read_text()) for r, _res, _s in chosen]
    refs = [reference["text"] for reference in references]
    metadata = encounter_metadata(METADATA)
    normalize = Normalizer(fold_numbers=True)
    phi = {}
    for (r, res, _s), reference in zip(chosen, references, strict=True):
        counts = phi_counts(
            res.get("entities", []), reference["text"], metadata.get(r["id"].split("-")[0]), normalize
        )
        for key, value in counts.items():
            phi[key] = phi.get(key, 0) + value
    hyps = [res["transcripts"][0]["transcript"] for _r, res, _s in chosen]
    scores = Scorer().corpus(refs, hyps)
    right = total = 0
    for (_r, res, _s), reference in zip(chosen, references, strict=True):
        a, b = attribution(res, reference, layout)
        right, total = right + a, total + b
    audio = sum(r["duration_s"] for r, _res, _s in chosen)
    processing = sum(s for _r, _res, s in chosen)
    return {
        "recordings": len(chosen),
        "audio_minutes": round(audio / 60, 2),
        "wer": scores["wer"],
        "medical_wer": scores["medical_wer"],
        "ref_words": scores["ref_words"],
        "med_ref_words": scores["med_ref_words"],
        "attribution_accuracy": right / total if total else None,
        "rtf": processing / audio if audio else None,
        "phi": {
            **phi,
            "name_precision": phi["name_right"] / phi["name_found"] if phi["name_found"] else None,
            "name_recall": phi["name_right"] / phi["name_expected"] if phi["name_expected"] else None,
            "age_precision": phi["age_right"] / phi["age_found"] if phi["age_found"] else None,
            "age_recall": phi["age_right"] / phi["age_expected"] if phi["age_expected"] else None,
        },
    }


def run_raw(sets: list[dict], figures: dict) -> None:
    """The raw model (``raw.py``: plain faster-whisper tiny.en, default options, VAD on) over the same
    files, after the engine has stopped; its WER, medical WER and RTF go beside the engine's as
    ``layouts[layout]["raw"]``."""
    import subprocess
    import tempfile

    from medwer import Scorer

    from medscribe_harness.devstack import engine_python

    files = [(m, r) for m in sets for r in m["recordings"]]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump([[str(m["out_dir"] / r["wav"]), r["layout"]] for m, r in files], handle)
    print(f"raw faster-whisper over {len(files)} files; waiting", file=sys.stderr)
    try:
        out = subprocess.run(
            [str(engine_python()), str(Path(__file__).with_name("raw.py")), handle.name],
            stdout=subprocess.PIPE, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(handle.name).unlink()
    results = json.loads(out.strip().splitlines()[-1])
    for manifest in sets:
        layouts = figures["runs"][f"{manifest['voices']}/{manifest['condition']}"]["layouts"]
        for layout in ("mono", "stereo"):
            chosen = [
                (r, res)
                for (m, r), res in zip(files, results, strict=True)
                if m is manifest and r["layout"] == layout
            ]
            out_dir = manifest["out_dir"]
            refs = [json.loads((out_dir / r["reference"]).read_text())["text"] for r, _res in chosen]
            scores = Scorer().corpus(refs, [res["text"] for _r, res in chosen])
            audio = sum(r["duration_s"] for r, _res in chosen)
            layouts[layout]["raw"] = {
                "wer": scores["wer"], "medical_wer": scores["medical_wer"],
                "rtf": sum(res["seconds"] for _r, res in chosen) / audio if audio else None,
            }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    import conditions as derived

    parser = argparse.ArgumentParser(
        description="ASR benchmark of the offline engine (WER, medical WER, attribution, RTF)"
    )
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="minutes of audio per layout (default 30)"
    )
    parser.add_argument("--max-recording-minutes", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=1, help="engine workers (default 1)")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait for all jobs")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--voices", default="piper", help="synthesizers, comma-separated: piper, espeak (default piper)"
    )
    parser.add_argument(
        "--split", choices=corpus.SPLITS, default="valid", help="ACI-Bench split (default valid)"
    )
    parser.add_argument(
        "--condition", action="append",
        help=f"clean (default), {', '.join(derived.CONDITIONS)}, or all; repeatable (conditions.py)",
    )  # fmt: skip
    parser.add_argument("--no-vocabulary", action="store_true", help="skip the +vocabulary jobs")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw faster-whisper baseline")
    parser.add_argument(
        "--run-dir", type=Path, default=REPO_ROOT / "bench" / "out" / "run", help="engine data and logs"
    )
    parser.add_argument(
        "--engine-source",
        type=Path,
        help="run the engine from DIR/engine/src (a commit: git archive HEAD engine/src | tar -x -C DIR)",
    )
    parser.add_argument(
        "--model", type=Path, help="also run the engine with this CTranslate2 Whisper model folder"
    )
    parser.add_argument("--model-sha256", help="the sha256 of that model's model.bin (required with --model)")
    args = parser.parse_args(argv)
    if args.model and not args.model_sha256:
        parser.error("--model needs --model-sha256 (the pin of its model.bin)")
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    for name in voices:
        if name not in corpus.SYNTHESIZERS:
            parser.error(f"unknown voices {name!r}: one of {', '.join(corpus.SYNTHESIZERS)}")
    names = args.condition or ["clean"]
    names = ["clean", *derived.CONDITIONS] if "all" in names else list(dict.fromkeys(names))
    for name in names:
        if name != "clean" and name not in derived.CONDITIONS:
            parser.error(f"unknown condition {name!r}: clean, {', '.join(derived.CONDITIONS)}, all")
    started = time.monotonic()
    sets = corpora(voices, names, args.minutes, args.max_recording_minutes, args.split)
    source_env = {}
    if args.engine_source:  # the engine of a commit, not of a tree that others are editing
        source_env["PYTHONPATH"] = str(args.engine_source.resolve() / "engine" / "src")
    vocabulary = not args.no_vocabulary
    figures = run(sets, args.workers, args.timeout, source_env or None, vocabulary, args.run_dir)
    figures["engine_source"] = str(args.engine_source or "this checkout")
    if not args.no_raw:
        run_raw(sets, figures)
    if args.model:
        engine_env = {
            **source_env,
            "MEDSCRIBE_ENGINE_MODEL_DIR": str(args.model.resolve()),
            "MEDSCRIBE_ENGINE_MODEL_SHA256": args.model_sha256,
        }
        other = run(sets, args.workers, args.timeout, engine_env, vocabulary, args.run_dir)
        figures["compared"] = {"model": args.model.name, "sha256": args.model_sha256, **other}
    figures["wall_seconds"] = round(time.monotonic() - started, 1)
    figures["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures["machine"] = (
        f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, Python {platform.python_version()}"
    )
    figures["command"] = " ".join(["bench/asr/run.py", *(argv if argv is not None else sys.argv[1:])])
    print_figures(figures, args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Recognition stages run directly on the corpus files, for tuning and error analysis (no engine, no S3).

Runs the engine's own ``asr`` stage (mono) or ``channels`` stage (stereo) on the recordings of a corpus
built by ``bench/corpus/build.py`` and writes each recording's transcript, words and recognition time to
a JSON file that ``bench/asr/errors.py`` scores (in the Airflow environment, where medwer is). Decoder
and VAD options can be overridden, so settings are compared on exactly the same audio in one sitting.
Tune on the train split (``build.py --split train``), not on valid. With ``--raw`` each recording is also
transcribed by the raw model (``raw.py``: plain faster-whisper, default options, VAD on) with the same
loaded model, and ``errors.py`` prints its WER and RTF beside the engine's. Several corpora (a clean one
and its conditions, ``bench/corpus/conditions.py``) can be given at once, one output file each in
``--out-dir``. Run in the engine environment::

    .venv-engine/bin/python bench/asr/stages.py --corpus bench/out/corpus-train --out bench/out/tune/a.json \\
        --options '{"temperature": 0.0}' --repeat 2
    .venv-engine/bin/python bench/asr/stages.py --corpus bench/out/corpus-train-piper \\
        bench/out/corpus-train-piper-bleed --out-dir bench/out/tune/b --raw
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # raw.py


def recognize(
    recording: dict, corpus_dir: Path, recognizer, diarize=None
) -> tuple[list, float, tuple[int, ...]]:
    """(transcript tokens, seconds, (windows re-decoded, repetition loops dropped, clips decoded again with
    the hotwords, of those kept)) for one recording through the stage of its layout;
    ``diarize`` (a ``Diarize`` stage) labels the speakers of a mono recording after it."""
    from faster_whisper import decode_audio

    from medscribe_engine.pipeline.asr import Recognize
    from medscribe_engine.pipeline.channels import RecognizeChannels
    from medscribe_engine.pipeline.document import JobDocument

    stereo = recording["layout"] == "stereo"
    audio = decode_audio(str(corpus_dir / recording["wav"]), sampling_rate=16000, split_stereo=stereo)
    settings = {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 2} if diarize is not None else {}
    doc = JobDocument(job_name=recording["id"], kind="transcription", request={"Settings": settings})
    doc.audio = list(audio) if stereo else [audio]
    stage = RecognizeChannels(recognizer) if stereo else Recognize(recognizer)

    def counts() -> tuple[int, ...]:
        r = stage.recognizer
        return (r.redecoded, r.loops_dropped, r.vocabulary_tried, r.vocabulary_kept)

    before = counts()
    started = time.monotonic()
    stage(doc)
    seconds = time.monotonic() - started  # recognition only
    if diarize is not None and not stereo:
        diarize(doc)
    return doc.tokens, seconds, tuple(a - b for a, b in zip(counts(), before, strict=True))


def run_corpus(args, corpus: Path, out_path: Path, recognizer, diarize, join_tokens) -> None:
    """Recognize the chosen recordings of ``corpus`` (and with ``--raw``, the raw model too) into
    ``out_path``."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    layouts = args.layouts.split(",")
    ids = set(args.ids.split(",")) if args.ids else None
    chosen = [r for r in manifest["recordings"] if r["layout"] in layouts and (ids is None or r["id"] in ids)]
    print(
        f"{corpus.name}: options {recognizer.options}, fallbacks {recognizer.fallbacks}, beam {args.beam}; "
        f"{len(chosen)} recordings",
        file=sys.stderr,
    )
    out = {
        "options": recognizer.options,
        "fallbacks": recognizer.fallbacks,
        "channel_vad": args.channel_vad,
        "crosstalk": not args.no_crosstalk,
        "beam": args.beam,
        "compute_type": args.compute_type,
        "model": str(args.model) if args.model else "tiny.en",
        "corpus": str(corpus),
        "runs": [],
    }
    for _ in range(args.repeat):
        results = []
        for recording in chosen:
            tokens, seconds, redecoded = recognize(recording, corpus, recognizer, diarize)
            words = [
                {"w": t.content, "s": t.start, "e": t.end, "c": t.channel}
                | ({"k": t.speaker} if t.speaker is not None else {})
                for t in tokens
                if t.is_word
            ]
            results.append(
                {
                    "id": recording["id"],
                    "layout": recording["layout"],
                    "reference": recording["reference"],
                    "duration_s": recording["duration_s"],
                    "seconds": round(seconds, 2),
                    "redecoded": redecoded,
                    "text": join_tokens(tokens),
                    "words": words,
                }
            )
            if args.raw:
                from raw import transcribe

                raw = transcribe(recognizer.model, str(corpus / recording["wav"]), recording["layout"])
                results[-1]["raw"] = {"text": raw["text"], "seconds": round(raw["seconds"], 2)}
            print(
                f"  {recording['id']} {recording['layout']}: {seconds:.1f}s for "
                f"{recording['duration_s']:.0f}s, {len(words)} words, "
                f"{redecoded[0]} windows re-decoded, {redecoded[1]} loops dropped, "
                f"{redecoded[3]} of {redecoded[2]} hotword clips kept",
                file=sys.stderr,
            )
        out["runs"].append(results)
    out["load"] = os.getloadavg()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1))


def main(argv: list[str] | None = None) -> int:
    from dataclasses import replace

    from medscribe_engine.pipeline.asr import Recognizer
    from medscribe_engine.pipeline.decoding import DEFAULTS as DECODING
    from medscribe_engine.pipeline.document import join_tokens
    from medscribe_engine.resources import WhisperOptions, load_whisper

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=Path, nargs="+", default=[REPO_ROOT / "bench" / "out" / "corpus-train"]
    )
    parser.add_argument("--out", type=Path, help="JSON file written for errors.py (one corpus)")
    parser.add_argument("--out-dir", type=Path, help="one JSON file per corpus, named after its folder")
    parser.add_argument("--raw", action="store_true", help="also the raw model (raw.py) on each recording")
    parser.add_argument(
        "--no-crosstalk", action="store_true", help="stereo: recognize each channel whole (no crosstalk step)"
    )
    parser.add_argument("--layouts", default="mono,stereo", help="comma-separated (default mono,stereo)")
    parser.add_argument("--ids", help="comma-separated recording ids (default all of the manifest)")
    parser.add_argument("--beam", type=int, default=DECODING.beam_size)
    parser.add_argument(
        "--options", help="JSON: transcribe options replacing the engine's DecodeParams.options"
    )
    parser.add_argument(
        "--fallbacks", help="JSON list: option sets for failed windows (default DecodeParams.fallbacks)"
    )
    parser.add_argument(
        "--channel-vad", help="JSON: VAD options of the two-channel path (DecodeParams.channel_vad)"
    )
    parser.add_argument("--hotwords", help="a vocabulary's hotwords prompt (comma-separated phrases)")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2 compute type of the model")
    parser.add_argument(
        "--model", type=Path, help="another CTranslate2 Whisper model folder (default tiny.en)"
    )
    parser.add_argument("--model-sha256", help="the sha256 of that model's model.bin (required with --model)")
    parser.add_argument("--repeat", type=int, default=1, help="recognize each recording this many times")
    parser.add_argument(
        "--diarize", action="store_true", help="mono: label speakers (the engine's diarize stage) as well"
    )
    args = parser.parse_args(argv)
    if (args.out is None) == (args.out_dir is None) or (args.out and len(args.corpus) > 1):
        parser.error("give --out (one corpus) or --out-dir")
    if args.model and not args.model_sha256:
        parser.error("--model needs --model-sha256 (the pin of its model.bin)")

    if args.no_crosstalk:
        from medscribe_engine.pipeline import channels

        channels.own_speech = list
    recognizer = Recognizer(
        load_whisper(
            options=WhisperOptions(
                model_dir=args.model, sha256=args.model_sha256, compute_type=args.compute_type
            )
        ),
        beam_size=args.beam,
        options=None if args.options is None else json.loads(args.options),
        fallbacks=None if args.fallbacks is None else tuple(json.loads(args.fallbacks)),
        hotwords=args.hotwords,
        params=replace(DECODING, channel_vad=json.loads(args.channel_vad)) if args.channel_vad else None,
    )
    diarize = None
    if args.diarize:
        from medscribe_engine.pipeline.diarize import Diarize, ResemblyzerEmbedder
        from medscribe_engine.resources import load_voice_encoder

        diarize = Diarize(ResemblyzerEmbedder(load_voice_encoder()))
    for corpus in args.corpus:
        out_path = args.out or args.out_dir / f"{corpus.name}.json"
        run_corpus(args, corpus, out_path, recognizer, diarize, join_tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())

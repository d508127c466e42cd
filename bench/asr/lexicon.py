#!/usr/bin/env python3
"""The built-in medical lexicon measured on corpora: raw faster-whisper, the engine without the lexicon and
with it, on the same audio in one sitting (no engine server, no S3).

``recognize`` (engine environment) runs, per mono recording of each corpus: the raw model
(``bench/asr/raw.py``: default options, VAD on), the engine's recognizer without the lexicon (its ``asr``
stage), and the lexicon's repairs (``pipeline.lexicon.apply_lexicon``) on those same first-pass words, once
per parameter set given with ``--variants`` (the lexicon pass runs after recognition, so variants differ
only in what it does). ``score`` (Airflow environment, medwer) prints WER and medical WER per corpus and
configuration::

    .venv-engine/bin/python bench/asr/lexicon.py recognize --corpus bench/out/lex/corpus-train-piper \\
        --out bench/out/lex/train-piper.json [--variants '[{}, {"respell": 0.7}]']
    .venv/bin/python bench/asr/lexicon.py score bench/out/lex/train-piper.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def recognize(args) -> int:
    from dataclasses import replace

    from faster_whisper import decode_audio
    from faster_whisper.transcribe import Word

    from medscribe_engine.pipeline import lexicon as lexicon_module
    from medscribe_engine.pipeline.asr import RawWord, Recognizer, tokens_from_words
    from medscribe_engine.pipeline.document import join_tokens
    from medscribe_engine.resources import load_whisper

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import raw

    model = load_whisper()
    started = time.monotonic()
    lexicons = lexicon_module.build_lexicons(model.hf_tokenizer, [args.specialty])
    build_s = time.monotonic() - started
    lexicon = lexicons[args.specialty]
    variants = json.loads(args.variants)
    reused = {}
    if args.reuse:
        for name, rows in json.loads(args.reuse.read_text())["corpora"].items():
            reused.update({(name, r["id"]): r for r in rows})
    out = {"specialty": args.specialty, "lexicon_words": len(lexicon), "build_s": round(build_s, 1),
           "variants": variants, "corpora": {}}  # fmt: skip
    for corpus in args.corpus:
        manifest = json.loads((corpus / "manifest.json").read_text())
        results = []
        for recording in manifest["recordings"]:
            if recording["layout"] != "mono":
                continue
            path = corpus / recording["wav"]
            row = {"id": recording["id"], "reference": str(corpus / recording["reference"]),
                   "duration_s": recording["duration_s"]}  # fmt: skip
            audio = decode_audio(str(path), sampling_rate=16000)
            recognizer = Recognizer(model)
            again = reused.get((corpus.name, recording["id"]))
            if again is not None:  # raw and first-pass words of an earlier run on the same audio
                row.update(
                    {k: again[k] for k in ("raw", "raw_s", "engine", "engine_s", "first") if k in again}
                )
            else:
                if not args.no_raw:
                    done = raw.transcribe(model, str(path), "mono")
                    row["raw"], row["raw_s"] = done["text"], round(done["seconds"], 1)
                t0 = time.monotonic()
                first = recognizer.words(audio)
                row["engine"] = join_tokens(tokens_from_words(first))
                row["engine_s"] = round(time.monotonic() - t0, 1)
                row["first"] = [[w.text, w.start, w.end, w.probability] for w in first]
            words = [Word(s, e, text, p) for text, s, e, p in row["first"]]
            row["lexicon"] = []
            for variant in variants:
                params = replace(lexicon_module.DEFAULTS, **variant)
                t0 = time.monotonic()
                repaired = lexicon_module.apply_lexicon(recognizer, list(words), lexicon, params)
                seconds = time.monotonic() - t0
                tokens = tokens_from_words(RawWord(w.word, w.start, w.end, w.probability) for w in repaired)
                row["lexicon"].append({"text": join_tokens(tokens), "seconds": round(seconds, 1)})
            row["counts"] = [recognizer.lexicon_repaired]
            results.append(row)
            print(f"  {corpus.name} {recording['id']}: {recording['duration_s']:.0f}s audio, engine "
                  f"{row['engine_s']}s, lexicon {[v['seconds'] for v in row['lexicon']]}s, counts {row['counts']}",
                  file=sys.stderr, flush=True)  # fmt: skip
        out["corpora"][corpus.name] = results
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
    return 0


def score(args) -> int:
    from medwer import Scorer

    scorer = Scorer()
    for path in args.files:
        data = json.loads(path.read_text())
        print(
            f"{path.name}: {data['specialty']} lexicon of {data['lexicon_words']} words (built in {data['build_s']}s)"
        )
        for corpus, results in data["corpora"].items():
            refs = [json.loads(Path(r["reference"]).read_text())["text"] for r in results]
            audio = sum(r["duration_s"] for r in results) / 60
            configs = [
                ("raw", [r.get("raw", "") for r in results]),
                ("engine", [r["engine"] for r in results]),
            ]
            configs += [(f"lexicon {json.dumps(v)}", [r["lexicon"][i]["text"] for r in results])
                        for i, v in enumerate(data["variants"])]  # fmt: skip
            for name, hyps in configs:
                if name == "raw" and not any(hyps):
                    continue
                s = scorer.corpus(refs, hyps)
                print(
                    f"  {corpus:28} {audio:5.1f} min  {name:44} WER {s['wer']:.4f}  medical WER {s['medical_wer']:.4f}"
                )
            repaired = sum(r["counts"][0] for r in results)
            print(f"  {corpus:28} words joined or respelled by the lexicon: {repaired} (all variants)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("recognize")
    run.add_argument("--corpus", type=Path, action="append", required=True)
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--specialty", default="PRIMARYCARE")
    run.add_argument("--variants", default="[{}]", help="JSON list: LexiconParams fields per variant")
    run.add_argument("--no-raw", action="store_true", help="skip the raw model")
    run.add_argument("--reuse", type=Path, help="an earlier output: its raw and first-pass words are reused")
    scored = commands.add_parser("score")
    scored.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    return recognize(args) if args.command == "recognize" else score(args)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Score and break down the transcripts written by ``bench/asr/stages.py``: where the errors come from.

For each run in the file: corpus WER and medical WER (``medwer.Scorer().corpus``, as ``run.py``), the
edits split into substitutions, deletions and insertions (a Levenshtein alignment of the normalized
words, medwer's normalizer), per-recording WER, attribution (two channels: a word's channel against the
speaker of the reference turn holding its midpoint; mono, with ``stages.py --diarize``: speaker labels
mapped as in ``attribution.py``), words written into noise-only stretches (a word whose middle is more than
:data:`OUTSIDE_S` from every reference turn), with ``stages.py --raw`` the raw model's WER, medical WER and
RTF on the same audio, and with ``--top N`` the most frequent confusions.
With several runs (``--repeat``) it says whether they gave the same words. ``--table`` prints one line per
file and layout instead. Run in the Airflow environment (medwer)::

    .venv/bin/python bench/asr/errors.py bench/out/tune/a.json [bench/out/tune/b.json ...] --top 15
    .venv/bin/python bench/asr/errors.py bench/out/tune/b/*.json --table
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attribution import label_attribution, reference_speaker

OUTSIDE_S = 1.0  # word times drift by a few hundred ms; a word a second away from every turn was not said


def outside_speech(result: dict, reference: dict) -> int:
    """Words whose middle lies more than OUTSIDE_S from every reference turn (noise-only stretches)."""
    turns = [(t["start_s"] - OUTSIDE_S, t["end_s"] + OUTSIDE_S) for t in reference["turns"]]
    middles = [(w["s"] + w["e"]) / 2 for w in result["words"]]
    return sum(not any(start <= m <= end for start, end in turns) for m in middles)


def align(ref: list[str], hyp: list[str]) -> list[tuple[str, str | None, str | None]]:
    """Levenshtein alignment as ``(op, ref word, hyp word)`` with op ``=``, ``S``, ``D`` or ``I``."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(
                cost[i - 1][j] + 1, cost[i][j - 1] + 1, cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            )
    ops = []
    i, j = n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("=" if ref[i - 1] == hyp[j - 1] else "S", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("D", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("I", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


def channel_attribution(result: dict, reference: dict) -> tuple[int, int]:
    speakers = {0: "CLINICIAN", 1: "PATIENT"}
    right = sum(
        speakers[w["c"]] == reference_speaker(reference["turns"], (w["s"] + w["e"]) / 2)
        for w in result["words"]
    )
    return right, len(result["words"])


def score_run(results: list[dict], corpus_dir: Path, top: int) -> dict:
    from medwer import Scorer

    scorer = Scorer()
    figures = {}
    for layout in ("mono", "stereo"):
        chosen = [r for r in results if r["layout"] == layout]
        if not chosen:
            continue
        references = [json.loads((corpus_dir / r["reference"]).read_text()) for r in chosen]
        scores = scorer.corpus([ref["text"] for ref in references], [r["text"] for r in chosen])
        raw = None
        if all("raw" in r for r in chosen):
            raw_scores = scorer.corpus(
                [ref["text"] for ref in references], [r["raw"]["text"] for r in chosen]
            )
            raw = {
                "wer": round(raw_scores["wer"], 4),
                "medical_wer": None
                if raw_scores["medical_wer"] is None
                else round(raw_scores["medical_wer"], 4),
                "rtf": round(
                    sum(r["raw"]["seconds"] for r in chosen) / sum(r["duration_s"] for r in chosen), 3
                ),
            }
        ops: Counter = Counter()
        confusions: Counter = Counter()
        per_recording = {}
        per_attribution = {}
        right = total = 0
        for result, reference in zip(chosen, references, strict=True):
            aligned = align(scorer.norm(reference["text"]).split(), scorer.norm(result["text"]).split())
            counts = Counter(op for op, _r, _h in aligned)
            ops.update(counts)
            ref_words = sum(op != "I" for op, _r, _h in aligned)
            per_recording[result["id"]] = round(
                (counts["S"] + counts["D"] + counts["I"]) / max(ref_words, 1), 3
            )
            confusions.update((op, r, h) for op, r, h in aligned if op != "=")
            a = b = 0
            if layout == "stereo":
                a, b = channel_attribution(result, reference)
            elif result["words"] and "k" in result["words"][0]:  # stages.py --diarize
                labelled = [(w["k"], (w["s"] + w["e"]) / 2) for w in result["words"]]
                a, b = label_attribution(labelled, reference["turns"])
            right, total = right + a, total + b
            if b:
                per_attribution[result["id"]] = round(a / b, 3)
        figures[layout] = {
            "wer": round(scores["wer"], 4),
            "medical_wer": None if scores["medical_wer"] is None else round(scores["medical_wer"], 4),
            "ref_words": scores["ref_words"],
            "S": ops["S"],
            "D": ops["D"],
            "I": ops["I"],
            "attribution": round(right / total, 4) if total else None,
            "seconds": round(sum(r["seconds"] for r in chosen), 1),
            "rtf": round(sum(r["seconds"] for r in chosen) / sum(r["duration_s"] for r in chosen), 3),
            "outside_speech": sum(outside_speech(r, ref) for r, ref in zip(chosen, references, strict=True)),
            "raw": raw,
            "minutes": round(sum(r["duration_s"] for r in chosen) / 60, 1),
            "per_recording": per_recording,
            "per_recording_attribution": per_attribution,
            "top": [f"{op} {r or ''}->{h or ''} x{n}" for (op, r, h), n in confusions.most_common(top)],
        }
    return figures


def _figure(value, width: int = 6) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=0, help="print the N most frequent confusions")
    parser.add_argument("--per-recording", action="store_true")
    parser.add_argument("--table", action="store_true", help="one line per file and layout")
    args = parser.parse_args(argv)
    if args.table:
        print(
            f"{'corpus':32} {'layout':6} {'min':>4} {'WER':>6} {'medWER':>6} {'attrib':>6} {'RTF':>6} "
            f"{'outside':>7} | {'raw WER':>7} {'raw med':>7} {'raw RTF':>7}"
        )
    for path in args.files:
        data = json.loads(path.read_text())
        corpus_dir = Path(data["corpus"])
        if args.table:
            for layout, f in score_run(data["runs"][0], corpus_dir, 0).items():
                raw = f["raw"] or {}
                print(
                    f"{corpus_dir.name:32} {layout:6} {f['minutes']:>4} {f['wer']:>6.3f} "
                    f"{_figure(f['medical_wer'])} {_figure(f['attribution'])} {f['rtf']:>6.3f} "
                    f"{f['outside_speech']:>7} | {_figure(raw.get('wer'), 7)} {_figure(raw.get('medical_wer'), 7)} "
                    f"{_figure(raw.get('rtf'), 7)}"
                )
            continue
        texts = []
        for number, results in enumerate(data["runs"]):
            figures = score_run(results, corpus_dir, args.top)
            texts.append([r["text"] for r in results])
            for layout, f in figures.items():
                print(
                    f"{path.stem:24} run {number} {layout:6} WER {f['wer']:.4f} med {f['medical_wer']} "
                    f"S/D/I {f['S']}/{f['D']}/{f['I']} of {f['ref_words']} attrib {f['attribution']} "
                    f"{f['seconds']}s RTF {f['rtf']} outside speech {f['outside_speech']}"
                    + (f" | raw WER {f['raw']['wer']} RTF {f['raw']['rtf']}" if f["raw"] else "")
                )
                if args.per_recording:
                    print("    WER " + " ".join(f"{k}:{v}" for k, v in f["per_recording"].items()))
                    if f["per_recording_attribution"]:
                        attributions = f["per_recording_attribution"].items()
                        print("    attribution " + " ".join(f"{k}:{v}" for k, v in attributions))
                for line in f["top"]:
                    print("    " + line)
        if len(texts) > 1:
            same = all(t == texts[0] for t in texts[1:])
            print(f"{path.stem:24} {len(texts)} runs: {'identical' if same else 'DIFFERENT'} transcripts")
        print(
            f"{path.stem:24} options {data['options']} fallbacks {data.get('fallbacks')} beam {data['beam']} "
            f"channel VAD {data.get('channel_vad')} crosstalk {data.get('crosstalk', True)} "
            f"load {data.get('load')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Score and break down the transcripts written by ``bench/asr/stages.py``: where the errors come from.

For each run in the file: corpus WER and medical WER (``medwer.Scorer().corpus``, as ``run.py``), the
edits split into substitutions, deletions and insertions (a Levenshtein alignment of the normalized
words, medwer's normalizer), per-recording WER, attribution (two channels: a word's channel against the
speaker of the reference turn holding its midpoint; mono, with ``stages.py --diarize``: speaker labels
mapped as in ``run.py``), and with ``--top N`` the most frequent confusions.
With several runs (``--repeat``) it says whether they gave the same words. Run in the Airflow
environment (medwer)::

    .venv/bin/python bench/asr/errors.py bench/out/tune/a.json [bench/out/tune/b.json ...] --top 15
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import label_attribution, reference_speaker


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
            "per_recording": per_recording,
            "per_recording_attribution": per_attribution,
            "top": [f"{op} {r or ''}->{h or ''} x{n}" for (op, r, h), n in confusions.most_common(top)],
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=0, help="print the N most frequent confusions")
    parser.add_argument("--per-recording", action="store_true")
    args = parser.parse_args(argv)
    for path in args.files:
        data = json.loads(path.read_text())
        corpus_dir = Path(data["corpus"])
        texts = []
        for number, results in enumerate(data["runs"]):
            figures = score_run(results, corpus_dir, args.top)
            texts.append([r["text"] for r in results])
            for layout, f in figures.items():
                print(
                    f"{path.stem:24} run {number} {layout:6} WER {f['wer']:.4f} med {f['medical_wer']} "
                    f"S/D/I {f['S']}/{f['D']}/{f['I']} of {f['ref_words']} attrib {f['attribution']} "
                    f"{f['seconds']}s RTF {f['rtf']}"
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
            f"channel VAD {data.get('channel_vad')} channel options {data.get('channel_options')} "
            f"load {data.get('load')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

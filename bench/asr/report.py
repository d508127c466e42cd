"""The tables ``run.py`` prints: per corpus and layout WER, medical WER, attribution and RTF beside the raw
model's, the PHI figures, and with ``--model`` the two models side by side."""

from __future__ import annotations


def print_figures(figures: dict, args) -> None:
    print(
        f"split {args.split}; engine from {figures['engine_source']}, workers: {args.workers}; "
        f"wall {figures['wall_seconds']}s"
    )
    if "vocabulary" in figures:
        terms = len(figures["vocabulary"]["terms"])
        print(f"vocabulary: {terms} most frequent medical terms of the train split")

    def figure(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    print(
        f"{'voices':7} {'condition':10} {'layout':18} {'minutes':>7} {'WER':>6} {'medWER':>7} {'attrib.':>7} "
        f"{'RTF':>6} | {'raw WER':>7} {'raw med':>7} {'raw RTF':>7}"
    )
    for run_figures in figures["runs"].values():
        for layout, f in run_figures["layouts"].items():
            raw = f.get("raw", {})
            print(
                f"{run_figures['voices']:7} {run_figures['condition']:10} {layout:18} "
                f"{f['audio_minutes']:7.1f} "
                f"{figure(f['wer']):>6} {figure(f['medical_wer']):>7} {figure(f['attribution_accuracy']):>7} "
                f"{figure(f['rtf']):>6} | {figure(raw.get('wer')):>7} {figure(raw.get('medical_wer')):>7} "
                f"{figure(raw.get('rtf')):>7}"
            )
    print("PHI (ContentIdentificationType=PHI) against the ACI-Bench metadata (precision is a lower bound):")
    for run_figures in figures["runs"].values():
        for layout, f in run_figures["layouts"].items():
            p = f["phi"]
            print(
                f"{run_figures['voices']}/{run_figures['condition']} {layout}: names: precision "
                f"{figure(p['name_precision'])} ({p['name_right']}/{p['name_found']} words), recall "
                f"{figure(p['name_recall'])} ({p['name_right']}/{p['name_expected']}); ages: precision "
                f"{figure(p['age_precision'])}, recall {figure(p['age_recall'])}; "
                f"dates found {p['dates_found']}"
            )
    if args.model:
        print_side_by_side(figures, figures["compared"])


def print_side_by_side(default: dict, other: dict) -> None:
    """WER, medical WER and RTF per corpus and layout of tiny.en (``default``) and ``other`` side by side."""
    name = other["model"][:14]
    print(f"tiny.en vs {other['model']} (sha256 {other['sha256'][:12]}...), same recordings and jobs:")
    print(
        f"{'corpus':18} {'layout':18} {'minutes':>8} {'WER tiny':>9} {name + ' WER':>18} {'medWER tiny':>12} "
        f"{name + ' medWER':>21} {'RTF tiny':>9} {name + ' RTF':>18}"
    )

    def figure(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    for run_key, run_figures in default["runs"].items():
        for layout, f in run_figures["layouts"].items():
            g = other["runs"][run_key]["layouts"][layout]
            print(
                f"{run_key:18} {layout:18} {f['audio_minutes']:8.1f} {figure(f['wer']):>9} "
                f"{figure(g['wer']):>18} "
                f"{figure(f['medical_wer']):>12} {figure(g['medical_wer']):>21} {figure(f['rtf']):>9} "
                f"{figure(g['rtf']):>18}"
            )

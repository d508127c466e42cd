#!/usr/bin/env python
"""Benchmark of the transcript-side HealthScribe stages: insights, speaker roles, sections.

* Insights: precision / recall of the engine's ClinicalInsights on ``labelled_sentences.json`` (48
  ACI-Bench valid sentences with 88 entities marked by hand). A predicted entity matches a labelled one
  of the same category whose characters it overlaps. Negation: of the matched conditions, how many carry
  the right NEGATION trait, and how many negated ones would be asserted (must be 0).
* Roles (ACI-Bench valid, reference text): per sentence, the share whose speaker the role model
  (embeddings), the lexical rule, and both together put on the right side; per encounter, whether the
  clinician is found from the first N sentences of each speaker (N = 2, 4, 8) and from all of them.
* Sections (ACI-Bench valid): agreement of the ``sections`` stage with the note-derived labels of
  ``corpus.py`` (on the sentences that have one), per class, and the share of each section overall.

    .venv-engine/bin/python bench/insights/run.py [--json bench/out/insights.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "engine" / "pipeline"))


def locate(text: str, needle: str, occurrence: int) -> tuple[int, int]:
    at = -1
    for _ in range(occurrence):
        at = text.index(needle, at + 1)
    return at, at + len(needle)


def insight_figures(nlp) -> dict:
    data = json.loads((HERE / "labelled_sentences.json").read_text())["sentences"]
    tp_pred = n_pred = tp_gold = n_gold = 0
    per_category: dict[str, Counter] = {}
    negation_right = negation_total = negated_asserted = 0
    started = time.monotonic()
    for item in data:
        predicted = clinical = nlp.analyze(item["text"])
        gold = []
        for entity in item["entities"]:
            begin, end = locate(item["text"], entity["text"], entity.get("occurrence", 1))
            gold.append((entity["category"], begin, end, entity.get("negated", False)))
        used = set()
        for entity in predicted:
            counts = per_category.setdefault(entity.category, Counter())
            counts["predicted"] += 1
            n_pred += 1
            match = next(
                (
                    index
                    for index, (category, begin, end, _) in enumerate(gold)
                    if category == entity.category and begin < entity.end and entity.begin < end
                ),
                None,
            )
            if match is not None:
                tp_pred += 1
                counts["predicted_right"] += 1
                used.add(match)
                if entity.category == "MEDICAL_CONDITION":
                    negation_total += 1
                    negation_right += gold[match][3] == entity.negated
                    negated_asserted += gold[match][3] and not entity.negated
        for index, (category, *_rest) in enumerate(gold):
            counts = per_category.setdefault(category, Counter())
            counts["labelled"] += 1
            n_gold += 1
            if index in used:
                tp_gold += 1
                counts["found"] += 1
        del clinical
    elapsed = time.monotonic() - started
    return {
        "sentences": len(data),
        "labelled_entities": n_gold,
        "predicted_entities": n_pred,
        "precision": round(tp_pred / max(n_pred, 1), 3),
        "recall": round(tp_gold / max(n_gold, 1), 3),
        "per_category": {
            category: {
                "precision": round(c["predicted_right"] / max(c["predicted"], 1), 3),
                "recall": round(c["found"] / max(c["labelled"], 1), 3),
                "labelled": c["labelled"],
                "predicted": c["predicted"],
            }
            for category, c in sorted(per_category.items())
        },
        "negation_right_of_matched_conditions": f"{negation_right}/{negation_total}",
        "negated_conditions_asserted": int(negated_asserted),
        "ms_per_sentence": round(1000 * elapsed / len(data), 2),
    }


def segments_of(encounter: dict, with_roles: bool):
    from stage_helpers import sentence

    from medscribe_engine.pipeline.segments import build_segments

    tokens, at = [], 0.0
    for item in encounter["sentences"]:
        speaker = "spk_0" if item["role"] == "CLINICIAN" else "spk_1"
        tokens += sentence(item["text"], at, speaker=speaker)
        at = tokens[-1].end + 1.5
    segments = build_segments(encounter["id"], tokens)
    if with_roles:
        for segment in segments:
            segment.role = "CLINICIAN_0" if segment.speaker == "spk_0" else "PATIENT_0"
    return segments


def role_figures(encounters, encoder) -> dict:
    from medscribe_engine.pipeline.roles import DEFAULTS, RoleModel, lexical_score, roles_from_speech

    model = RoleModel()
    right = Counter()
    total = 0
    found = {key: Counter() for key in ("lexical", "embeddings", "both")}
    for encounter in encounters:
        segments = segments_of(encounter, with_roles=False)
        embeddings = encoder.encode([s.content for s in segments], batch_size=64, normalize_embeddings=True)
        log_odds = model.log_odds(embeddings)
        for segment, odds in zip(segments, log_odds, strict=True):
            clinician = segment.speaker == "spk_0"
            lexical = lexical_score([segment])
            total += 1
            right["embeddings"] += (odds > 0) == clinician
            right["lexical"] += (lexical > 0) == clinician if lexical != 0 else 0
            right["both"] += (odds + DEFAULTS.lexical_weight * lexical > 0) == clinician
        for n in (2, 4, 8, None):
            picked, counts = [], Counter()
            for index, segment in enumerate(segments):
                if n is None or counts[segment.speaker] < n:
                    picked.append(index)
                    counts[segment.speaker] += 1
            sub = [segments[i] for i in picked]
            key = f"first_{n}" if n else "all"
            for name in ("lexical", "embeddings", "both"):
                if name == "lexical":
                    roles = roles_from_speech(sub)
                else:
                    sub_odds = log_odds[picked]
                    if name == "embeddings":  # embeddings alone: lexical weight 0
                        by = {}
                        for segment, value in zip(sub, sub_odds, strict=True):
                            by.setdefault(segment.speaker, []).append(value)
                        best = max(by, key=lambda speaker: float(np.mean(by[speaker])))
                        roles = {speaker: "CLINICIAN_0" if speaker == best else "PATIENT_0" for speaker in by}
                    else:
                        roles = roles_from_speech(sub, sub_odds)
                found[name][key] += roles.get("spk_0") == "CLINICIAN_0"
    return {
        "sentences": total,
        "sentence_accuracy": {
            name: round(right[name] / total, 3) for name in ("lexical", "embeddings", "both")
        },
        "sentence_accuracy_note": "lexical counts a sentence with score 0 (no cue) as wrong",
        "encounters": len(encounters),
        "clinician_found": {name: dict(counts) for name, counts in found.items()},
    }


def section_figures(encounters, encoder, nlp) -> dict:
    from medscribe_engine.pipeline.sections import SECTION_NAMES, SectionModel, assign_sections

    model = SectionModel()
    agree = total = 0
    per_class = {name: Counter() for name in SECTION_NAMES}
    shares = Counter()
    confusion = Counter()
    started = time.monotonic()
    for encounter in encounters:
        segments = segments_of(encounter, with_roles=True)
        if len(segments) != len(encounter["sentences"]):
            continue  # a sentence the segmenter cut differently: skip the encounter rather than misalign
        embeddings = encoder.encode([s.content for s in segments], batch_size=64, normalize_embeddings=True)
        clinical = {s.segment_id for s in segments if nlp.analyze(s.content)}
        predicted = assign_sections(segments, embeddings, model, clinical)
        for item, section in zip(encounter["sentences"], predicted, strict=True):
            shares[section] += 1
            if item["section"] is None:
                continue
            total += 1
            per_class[item["section"]]["labelled"] += 1
            if section == item["section"]:
                agree += 1
                per_class[item["section"]]["agree"] += 1
            else:
                confusion[f"{item['section']}->{section}"] += 1
    all_sentences = sum(shares.values())
    return {
        "labelled_sentences": total,
        "agreement": round(agree / max(total, 1), 3),
        "per_class_recall": {
            name: f"{c['agree']}/{c['labelled']}" for name, c in per_class.items() if c["labelled"]
        },
        "most_common_confusions": dict(confusion.most_common(5)),
        "predicted_share": {name: round(shares[name] / all_sentences, 3) for name in SECTION_NAMES},
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    from medscribe_engine.pipeline.clinical_nlp import load_clinical_nlp
    from medscribe_engine.resources import load_sentence_encoder

    nlp = load_clinical_nlp()
    encoder = load_sentence_encoder()
    encounters = corpus.encounters("valid", nlp)
    figures = {
        "insights": insight_figures(nlp),
        "roles": role_figures(encounters, encoder),
        "sections": section_figures(encounters, encoder, nlp),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

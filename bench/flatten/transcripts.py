"""The benchmark's input, for ``run.py``: transcript files generated from the five real engine outputs in
tests/fixtures/engine, each output repeated ``--scale`` times end to end as one longer recording (times
shifted, ids kept unique) and written as the engine writes them (UTF-8 JSON, indent 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "tests" / "fixtures" / "engine"
ENGINE_OUTPUTS = (
    "healthscribe_stereo",
    "healthscribe_mono",
    "transcribe_medical_speakers",
    "transcribe_medical_channels",
    "transcribe_medical_alternatives",
)
_LISTS = (
    ("Conversation", "TranscriptItems"),
    ("Conversation", "TranscriptSegments"),
    ("Conversation", "ClinicalInsights"),
    ("results", "items"),
    ("results", "speaker_labels", "segments"),
    ("results", "segments"),
)


def _format_time(seconds: float) -> str:
    """As the engine's writers.format_time: "0.74", "1.0"."""
    text = f"{seconds:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _shifted(node, shift: float, copy_index: int, id_offset: int):
    """A copy of a JSON node with times shifted, segment/insight ids suffixed and item ids offset."""
    if isinstance(node, list):
        return [_shifted(value, shift, copy_index, id_offset) for value in node]
    if not isinstance(node, dict):
        return node
    untimed = not node.get("BeginAudioTime") and not node.get("EndAudioTime")  # HealthScribe's 0/0
    out = {}
    for key, value in node.items():
        if key in ("start_time", "end_time") and isinstance(value, str):
            out[key] = _format_time(float(value) + shift)
        elif key in ("BeginAudioTime", "EndAudioTime") and isinstance(value, (int, float)):
            out[key] = value if untimed else round(value + shift, 3)
        elif key in ("SegmentId", "InsightId", "AttributeId") and isinstance(value, str):
            out[key] = f"{value}-{copy_index}"
        elif key == "id" and isinstance(value, int):
            out[key] = value + id_offset
        else:
            out[key] = _shifted(value, shift, copy_index, id_offset)
    return out


def _get(doc: dict, path: tuple):
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def scaled(doc: dict, copies: int) -> dict:
    """An engine output repeated ``copies`` times end to end, as one longer recording: items, segments,
    speaker segments, channel items and alternatives segments concatenated with times shifted by the
    recording's length (+0.5 s), ids kept unique, the transcript text repeated."""
    times = []
    text = json.dumps(doc)
    for key in ("start_time", "end_time"):
        times += [float(t) for t in re.findall(rf'"{key}": "([0-9.]+)"', text)]
    for key in ("BeginAudioTime", "EndAudioTime"):
        times += [float(t) for t in re.findall(rf'"{key}": ([0-9.]+)', text)]
    span = max(times) + 0.5
    items = _get(doc, ("results", "items")) or _get(doc, ("Conversation", "TranscriptItems")) or []
    copy_list = [_shifted(doc, k * span, k, k * len(items)) for k in range(copies)]
    out = copy_list[0]
    for path in _LISTS:
        if isinstance(_get(out, path), list):
            _get(out, path[:-1])[path[-1]] = [x for c in copy_list for x in _get(c, path)]
    for index, channel in enumerate(_get(out, ("results", "channel_labels", "channels")) or []):
        channel["items"] = [
            x for c in copy_list for x in c["results"]["channel_labels"]["channels"][index]["items"]
        ]
    for index, transcript in enumerate(_get(out, ("results", "transcripts")) or []):
        transcript["transcript"] = " ".join(
            c["results"]["transcripts"][index]["transcript"] for c in copy_list
        )
    return out


def generate(directory: Path, files: int, scale: int) -> list[Path]:
    """``files`` files cycling over the engine outputs, each scaled ``scale`` times and written as the
    engine writes (UTF-8, indent 2), with its own job name."""
    templates = [scaled(json.loads((ENGINE / f"{name}.json").read_text()), scale) for name in ENGINE_OUTPUTS]
    paths = []
    for n in range(files):
        name = ENGINE_OUTPUTS[n % len(templates)]
        doc = templates[n % len(templates)]
        if "Conversation" in doc:
            doc["Conversation"]["JobName"] = f"bench-{n:05d}"
        else:
            doc["jobName"] = f"bench-{n:05d}"
        path = directory / f"{n:05d}-{name}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
        paths.append(path)
    return paths

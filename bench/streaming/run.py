"""Benchmark: real-time streams (StartMedicalStreamTranscription) through the AWS SDK for JavaScript v3.

    .venv/bin/python bench/streaming/run.py [--streams 1 2 3] [--recordings dictation conversation_mono]

Starts moto S3 and the engine (its stream port, ``--max-streams`` = the largest count asked for), then
for each count N runs N streams at once, each sending a sample recording at real-time pace with
``engine/tests/streaming/stream.mjs`` (needs ``scripts/node_deps.sh``), and prints per N:

* latency from a word's end in the audio to the first partial result holding it, and to its final
  result (median, p95): the word's end is ``audio-start + EndTime`` on the client's clock;
* the finals' WER against the recording's reference text;
* whether the streams kept up: the last final arrived within ``--behind-s`` of the last audio sent.

Targets (issue 26, tiny.en on 2 cores): first partial <= 1.5 s and final <= 3 s (medians), at least 2
concurrent real-time streams. The machine's load average is printed with each run: on a shared machine
the figures are the machine's as much as the engine's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "engine" / "tests" / "streaming" / "stream.mjs"
FIXTURES = ROOT / "tests" / "fixtures" / "audio"

from medscribe_harness.devstack import LocalStack, local_credentials_env  # noqa: E402


def normalize(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).replace("'", "").split()


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
        previous = current
    return previous[-1] / max(len(ref), 1)


def run_stream(endpoint: str, name: str, out: list) -> None:
    options = {"endpoint": endpoint, "file": str(FIXTURES / f"{name}.wav"), "pace": 1}
    done = subprocess.run(
        ["node", str(CLIENT), json.dumps(options)], capture_output=True, text=True, check=False
    )
    out.append((name, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]))


def latencies(lines: list[dict]) -> tuple[list[float], list[float], float, str]:
    """(first-partial latencies, final latencies, seconds from the last audio sent to the last final,
    the finals' text in time order)."""
    start = next(line["t"] for line in lines if line["type"] == "audio-start")
    sent = next((line["t"] for line in lines if line["type"] == "sent"), None)
    results = [(line["t"], line["result"]) for line in lines if line["type"] == "result"]
    partial_words = [
        (t, item)
        for t, result in results
        if result["IsPartial"]
        for item in result["Alternatives"][0]["Items"]
        if item["Type"] == "pronunciation"
    ]
    to_partial, to_final, items, last_final = [], [], [], start
    for t, result in results:
        if result["IsPartial"]:
            continue
        last_final = max(last_final, t)
        for item in result["Alternatives"][0]["Items"]:
            if item["Type"] != "pronunciation":
                continue
            items.append(item)
            spoken = start + item["EndTime"]
            to_final.append(t - spoken)
            key = normalize(item["Content"])
            seen = [
                pt
                for pt, other in partial_words
                if normalize(other["Content"]) == key and abs(other["EndTime"] - item["EndTime"]) < 1.0
            ]
            to_partial.append((min(seen) if seen else t) - spoken)
    text = " ".join(i["Content"] for i in sorted(items, key=lambda i: i["StartTime"]))
    return to_partial, to_final, (last_final - sent) if sent is not None else float("nan"), text


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--recordings", nargs="+", default=["dictation", "conversation_mono"])
    parser.add_argument("--behind-s", type=float, default=5.0)
    args = parser.parse_args()
    os.environ.update(local_credentials_env())
    with (
        tempfile.TemporaryDirectory() as run_dir,
        LocalStack.start(run_dir=Path(run_dir), with_engine=False) as stack,
    ):
        from medscribe_harness.devstack import free_port, offline_engine

        stream_port = free_port()
        engine = offline_engine(
            free_port(),
            stack.s3_endpoint,
            Path(run_dir) / "engine",
            Path(run_dir) / "logs",
            stream_port=stream_port,
        )
        engine.argv += ["--max-streams", str(max(args.streams))]
        engine.env.update(local_credentials_env())
        engine.start(timeout=600)
        endpoint = f"http://127.0.0.1:{stream_port}"
        try:
            for count in args.streams:
                load = os.getloadavg()[0]
                out: list = []
                threads = [
                    threading.Thread(
                        target=run_stream, args=(endpoint, args.recordings[i % len(args.recordings)], out)
                    )
                    for i in range(count)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                partials, finals, behind, rates = [], [], [], []
                for name, lines in out:
                    to_partial, to_final, late, text = latencies(lines)
                    partials += to_partial
                    finals += to_final
                    behind.append(late)
                    reference = json.loads((FIXTURES / f"{name}.json").read_text())["text"]
                    rates.append(f"{name} {wer(reference, text):.3f}")
                kept_up = all(late <= args.behind_s for late in behind)
                print(
                    f"streams={count} load={load:.1f} first-partial median {statistics.median(partials):.2f}s "
                    f"p95 {p95(partials):.2f}s | final median {statistics.median(finals):.2f}s p95 {p95(finals):.2f}s "
                    f"| last final {max(behind):.1f}s after the last audio ({'kept up' if kept_up else 'fell behind'}) "
                    f"| WER {', '.join(rates)}",
                    flush=True,
                )
        finally:
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

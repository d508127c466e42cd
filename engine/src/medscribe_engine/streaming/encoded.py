"""Streamed FLAC and Ogg-Opus (``MediaEncoding`` flac / ogg-opus) decoded as the audio events arrive.

PyAV (FFmpeg: the batch jobs' decoder too) demuxes and decodes in a thread of its own that reads the
events' bytes from a pipe, and resamples to 16 kHz float32. FFmpeg reads the container's header and its
first packets before it gives audio, about a second of it: results of an encoded stream start that much
later than those of PCM.
"""

from __future__ import annotations

import io
import queue
import threading

import numpy as np

from medscribe_engine.exceptions import BadRequestException
from medscribe_engine.pipeline.document import SAMPLE_RATE

CONTAINERS = {"flac": "flac", "ogg-opus": "ogg"}
READ_BUFFER = 4096  # bytes FFmpeg asks for at a time: small, so that audio comes out as it arrives
CLOSE_S = 5.0  # how long a closed decoder's thread may take to see the end of its input


class _Pipe(io.RawIOBase):
    """A readable file whose reads wait for bytes that :meth:`feed` adds; :meth:`end` is its end."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._pending = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._ended:
            chunk = self._chunks.get()
            if chunk is None:
                self._ended = True
            else:
                self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def feed(self, data: bytes) -> None:
        self._chunks.put(bytes(data))

    def end(self) -> None:
        self._chunks.put(None)


class EncodedDecoder:
    """FLAC or Ogg-Opus bytes, in pieces of any size -> one float32 16 kHz array per channel.

    :meth:`decode` returns what the decoder thread has finished so far (it lags by a frame or two);
    :meth:`flush` the rest, at the end of the audio; :meth:`close` stops the thread on any other end.
    A container that is not what the stream said, or whose channel count differs, raises
    BadRequestException from the next call.

    :param encoding: ``"flac"`` or ``"ogg-opus"``.
    :param channels: the stream's channels: 1, or 2 with channel identification.
    """

    def __init__(self, encoding: str, channels: int):
        self.encoding = encoding
        self.channels = channels
        self.samples = 0  # 16 kHz samples per channel so far
        self._input = _Pipe()
        self._output: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._error: BadRequestException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, name="stream-decoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import av

        try:
            with av.open(
                self._input, mode="r", format=CONTAINERS[self.encoding], buffer_size=READ_BUFFER
            ) as container:
                stream = container.streams.audio[0] if container.streams.audio else None
                if (
                    stream is None
                    or not stream.codec_context.channels
                    or not stream.codec_context.sample_rate
                ):
                    raise BadRequestException(f"The audio isn't valid {self.encoding}.")
                if stream.codec_context.channels != self.channels:
                    raise BadRequestException(
                        f"The audio has {stream.codec_context.channels} channel(s); the stream was started "
                        f"for {self.channels}."
                    )
                layout = "mono" if self.channels == 1 else "stereo"
                resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        self._output.put(out.to_ndarray())
                for out in resampler.resample(None):
                    self._output.put(out.to_ndarray())
        except BadRequestException as error:
            self._error = error
        except Exception:  # FFmpeg's errors name nothing of the audio's content
            self._error = BadRequestException(f"The audio isn't valid {self.encoding}.")
        finally:
            self._output.put(None)

    def _take(self, wait: bool) -> list[np.ndarray]:
        """The decoded blocks so far; with ``wait``, until the thread has ended."""
        blocks = []
        while not self._done:
            try:
                block = self._output.get(block=wait)
            except queue.Empty:
                break
            if block is None:
                self._done = True
            else:
                blocks.append(block)
        if self._error is not None:
            raise self._error
        joined = np.concatenate(blocks, axis=1) if blocks else np.zeros((self.channels, 0), dtype=np.float32)
        self.samples += joined.shape[1]
        return [np.ascontiguousarray(joined[channel], dtype=np.float32) for channel in range(self.channels)]

    def decode(self, data: bytes) -> list[np.ndarray]:
        if self._error is None and not self._done:
            self._input.feed(data)
        return self._take(wait=False)

    def flush(self) -> list[np.ndarray]:
        """The rest of the audio, once the decoder has read to the end of what was sent."""
        self._input.end()
        return self._take(wait=True)

    def close(self) -> None:
        self._input.end()
        self._thread.join(CLOSE_S)

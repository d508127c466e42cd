// The audio the two clients (stream.mjs, scribe.mjs) send: a WAV file's 16-bit PCM samples, or the bytes of
// an encoded file (FLAC, Ogg-Opus) with a rate that paces them like PCM of the same duration.
import { readFileSync } from "node:fs";

// {channels, rate, pcm}: the WAV's format and its data chunk
export function readWav(path) {
  const data = readFileSync(path);
  let offset = 12;
  let format = null;
  while (offset + 8 <= data.length) {
    const id = data.toString("ascii", offset, offset + 4);
    const size = data.readUInt32LE(offset + 4);
    if (id === "fmt ") {
      format = { channels: data.readUInt16LE(offset + 10), rate: data.readUInt32LE(offset + 12) };
    } else if (id === "data") {
      return { ...format, pcm: data.subarray(offset + 8, offset + 8 + size) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error("no data chunk");
}

// encoded: {"file", "encoding": "flac" | "ogg-opus", "rate", "channels", "durationS"}; the bytes in `pcm`,
// `rate` the samples per second 16-bit PCM of durationS would have in that many bytes (for pacing)
export function readEncoded(encoded) {
  const data = readFileSync(encoded.file);
  return { channels: encoded.channels, rate: data.length / encoded.durationS / (2 * encoded.channels), pcm: data };
}

// the audio of the options: `encoded` if given, else the WAV `file`
export const readAudio = (options) => (options.encoded ? readEncoded(options.encoded) : readWav(options.file));

// the command input naming that audio's rate and encoding
export const mediaInput = (options, audio) => ({
  MediaSampleRateHertz: options.encoded?.rate ?? audio.rate,
  MediaEncoding: options.encoded?.encoding ?? "pcm",
});

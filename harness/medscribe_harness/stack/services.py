"""PostgreSQL and Redis on loopback, from the Debian packages (installed only when missing).

PostgreSQL gets its own cluster in a project data directory (``initdb``; the distribution's cluster
and its systemd unit are not used), a password-authenticated role and database for Airflow, and is
stopped with a fast shutdown. When this runs as root the server runs as the ``postgres`` user, which
PostgreSQL requires. Redis runs without persistence: it is only the celery broker.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from medscribe_harness.devstack import Service, ServiceError, port_in_use, tcp_ready

ENGINE_DATABASE = "medscribe_engine"  # the engine's job store: its own database on the stack's server
# Debian package -> a command it provides (how we tell it is installed)
DEBIAN_PACKAGES = {"postgresql": "initdb", "redis-server": "redis-server"}


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb (Debian keeps it off the PATH)."""
    candidates = (
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name),
            reverse=True,
        )
        if Path("/usr/lib/postgresql").is_dir()
        else []
    )
    if candidates:
        return candidates[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_debian_packages() -> list[str]:
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def ensure_debian_packages(log=print) -> list[str]:
    """Install postgresql and redis-server with apt-get when they are missing; returns what was installed."""
    missing = missing_debian_packages()
    if not missing:
        return []
    log(f"installing Debian packages: {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run([*sudo, *command], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"`{' '.join(command)}` failed:\n{result.stderr[-2000:]}")
    still = missing_debian_packages()
    if still:
        raise ServiceError(f"Debian packages still missing after apt-get: {' '.join(still)}")
    return missing


def _reachable_by_others(path: Path) -> bool:
    """True when every ancestor of ``path`` can be traversed by other users (o+x)."""
    return all(os.stat(parent).st_mode & 0o001 for parent in path.resolve().parents)


@dataclass
class Postgres:
    """A PostgreSQL cluster of its own: ``initdb`` once, then a server on ``host:port``.

    :param data_dir: the cluster directory (created by initdb). When this runs as root and the folder
        cannot be reached by the ``postgres`` user (pytest's private temporary folders), a private
        folder under the system temporary directory is used instead, and removed by :meth:`cleanup`.
    """

    data_dir: Path
    port: int
    log_dir: Path
    host: str = "127.0.0.1"
    user: str = "airflow"
    password: str = "airflow-local"
    database: str = "airflow"
    env: dict[str, str] = field(default_factory=dict)
    service: Service | None = None
    _temporary: Path | None = None

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def uri(self) -> str:
        """The SQLAlchemy URI Airflow uses (psycopg2 driver)."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def libpq_url(self, database: str = ENGINE_DATABASE) -> str:
        """The libpq URL of ``database`` on this server (the engine's ``--store``), with this role."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            user="postgres" if self.as_root else None,
            cwd="/",
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        if result.returncode != 0:
            raise ServiceError(
                f"{Path(argv[0]).name} failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}"
            )

    def init(self) -> None:
        """Create the cluster (password authentication on loopback) unless it exists."""
        bin_dir = self._bin_dir()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.as_root and self._temporary is None and not _reachable_by_others(self.data_dir):
            self._temporary = Path(tempfile.mkdtemp(prefix="medscribe-pg-"))
            self.data_dir = self._temporary / "data"
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            postgres = pwd.getpwnam("postgres")
            for path in (self.data_dir, pwfile, *([self._temporary] if self._temporary else [])):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        try:
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)

    @staticmethod
    def _bin_dir() -> Path:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise ServiceError("PostgreSQL is not installed (Debian package postgresql)")
        return bin_dir

    def start(self) -> Service:
        """Initialise if needed, start the server, create the Airflow database if missing."""
        if port_in_use(self.host, self.port):
            raise ServiceError(f"postgres: port {self.port} on {self.host} is already in use")
        self.init()
        bin_dir = self._bin_dir()
        socket_dir = self.data_dir  # the unix socket stays inside the private cluster folder
        self.service = Service(
            name="postgres",
            argv=[
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(socket_dir),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            host=self.host,
            port=self.port,
            health_path="",
            log_path=self.log_dir / "postgres.log",
            env=dict(self.env),
            ready=self._accepts_login,
            stop_signal=signal.SIGINT,
            user="postgres",
        )
        self.service.start(timeout=60)
        self._create_database()
        return self.service

    def _connect(self, database: str):
        try:
            import psycopg2 as driver
        except ImportError:  # the engine's environment has psycopg 3 only
            import psycopg as driver

        return driver.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=3,
        )

    def _accepts_login(self) -> bool:
        if not tcp_ready(self.host, self.port)():
            return False
        try:
            self._connect("postgres").close()
            return True
        except Exception:
            return False

    def _create_database(self) -> None:
        self.create_database(self.database)

    def create_database(self, database: str) -> None:
        """Create ``database`` (owned by this role) unless it exists."""
        connection = self._connect("postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{database}"')
        finally:
            connection.close()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop(timeout=30)

    def cleanup(self) -> None:
        """Remove the private temporary cluster folder, if one was used."""
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)


def redis_ping(host: str, port: int) -> bool:
    """True when Redis answers PING with PONG (RESP over a plain socket)."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server(port: int, run_dir: Path, log_dir: Path, host: str = "127.0.0.1") -> Service:
    """redis-server on loopback without persistence (the celery broker only)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("redis-server is not installed (Debian package redis-server)")
    run_dir.mkdir(parents=True, exist_ok=True)
    return Service(
        name="redis",
        argv=[
            binary,
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(run_dir),
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        host=host,
        port=port,
        health_path="",
        log_path=log_dir / "redis.log",
        ready=lambda: redis_ping(host, port),
    )

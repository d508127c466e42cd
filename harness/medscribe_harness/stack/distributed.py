"""The distributed run without Docker: the production shape of the stack, as processes on loopback.

PostgreSQL (Airflow metadata) and Redis (celery broker) from Debian packages; Airflow 3 with the
CeleryExecutor as separate processes (api-server, scheduler, dag-processor, triggerer, two celery
workers); the offline engine with two workers; moto as S3, reached by everyone through a TCP relay
that fault tests can cut. Triggering goes through Airflow's REST API, like an operator or a
scheduler outside Airflow would do it::

    with DistributedStack.start(run_dir) as stack:
        seed_night(s3_client(stack.s3_endpoint), "2026-11-23")
        run = stack.run_night("2026-11-23", timeout=600)
    stack.assert_no_orphans()

Every process started here (and every process those start: PostgreSQL backends, celery pool
processes, task processes) carries ``MEDSCRIBE_STACK_ID`` in its environment, which is how
:meth:`DistributedStack.leftover_processes` finds anything left after the shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from medscribe_harness.airflow_services import AirflowServices, airflow_env
from medscribe_harness.demo import OUTPUT_BUCKET, RECORDINGS_BUCKET
from medscribe_harness.devstack import REPO_ROOT, LocalStack, Service, ServiceError, free_port, stop_all
from medscribe_harness.procfs import process_tree
from medscribe_harness.stack.api import AirflowApi
from medscribe_harness.stack.relay import TcpRelay
from medscribe_harness.stack.services import Postgres, ensure_debian_packages, redis_server

DAG_ID = "medscribe_nightly"
ADMIN_USER = "admin"
STACK_ID_VARIABLE = "MEDSCRIBE_STACK_ID"

# What makes a lost worker visible quickly: a task whose process stops heartbeating is failed after
# this many seconds (Airflow's default is 300) and then retried by the DAG's own retries.
TASK_HEARTBEAT_TIMEOUT_S = 30


def stack_processes(stack_id: str) -> list[int]:
    """Pids of live processes whose environment carries ``MEDSCRIBE_STACK_ID=<stack_id>``."""
    marker = f"{STACK_ID_VARIABLE}={stack_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


T = TypeVar("T")


def _started(part: T | None, what: str) -> T:
    """A part of the stack that ``start`` sets up, or a clear error when it is used before that."""
    if part is None:
        raise ServiceError(f"{what} is not started: use DistributedStack.start()")
    return part


@dataclass
class DistributedStack:
    """Everything of the distributed run; see the module docstring."""

    run_dir: Path
    stack_id: str
    postgres: Postgres
    redis: Service
    relay: TcpRelay | None = None
    local: LocalStack | None = None
    airflow: AirflowServices | None = None
    api: AirflowApi | None = None
    env: dict[str, str] = field(default_factory=dict)
    lake: Path | None = None
    down_on_purpose: set[str] = field(default_factory=set)  # services a fault test stopped
    airflow_extra_env: dict[str, str] = field(default_factory=dict)
    _migration_error: Exception | None = None
    log: Callable[[str], object] = print

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        run_dir: Path | None = None,
        *,
        celery_workers: int = 2,
        engine_workers: int = 2,
        install_missing: bool = True,
        airflow_extra_env: dict[str, str] | None = None,
        log=print,
    ):
        """Start the whole stack; stop all of it when the block ends (also on errors).

        :param airflow_extra_env: variables added to every Airflow process's environment (e.g. a shorter
            ``MEDSCRIBE_TASK_RETRY_DELAY_S`` for fault tests).
        """
        run_dir = Path(run_dir or REPO_ROOT / ".run" / "stack").resolve()
        logs = run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if install_missing:
            ensure_debian_packages(log)
        stack_id = uuid.uuid4().hex
        marker = {STACK_ID_VARIABLE: stack_id}
        postgres = Postgres(run_dir / "postgres", free_port(), logs, env=marker)
        redis_port = free_port()
        redis = redis_server(redis_port, run_dir / "redis", logs)
        redis.env.update(marker)
        stack = cls(run_dir=run_dir, stack_id=stack_id, postgres=postgres, redis=redis, lake=run_dir / "lake")
        stack.airflow_extra_env = dict(airflow_extra_env or {})
        stack.log = log
        started = time.monotonic()
        try:
            postgres.start()
            redis.start(timeout=30)
            log(f"postgres on 127.0.0.1:{postgres.port}, redis on 127.0.0.1:{redis_port}")

            def front(moto_endpoint: str) -> str:
                port = int(moto_endpoint.rsplit(":", 1)[1])
                stack.relay = TcpRelay("127.0.0.1", port, free_port()).start()
                return stack.relay.endpoint

            # the metadata schema is created while the engine loads its models
            migration = threading.Thread(target=stack._prepare_airflow, args=(marker,), daemon=True)
            migration.start()
            with LocalStack.start(
                run_dir=run_dir, engine_workers=engine_workers, s3_front=front, env=marker
            ) as local:
                stack.local = local
                log(
                    f"S3 (moto) at {local.s3.endpoint} behind {local.s3_endpoint}, engine at {local.engine_endpoint}"
                )
                migration.join()
                if stack._migration_error:
                    raise stack._migration_error
                stack.env = stack._airflow_env(marker)
                with AirflowServices.start(stack.env, logs, celery_workers=celery_workers) as services:
                    stack.airflow = services
                    stack.api = AirflowApi(services.api.endpoint, ADMIN_USER, stack.admin_password)
                    stack.api.wait_for_dag(DAG_ID)
                    stack.api.set_paused(DAG_ID, False)
                    log(
                        f"Airflow api-server at {services.api.endpoint} (user {ADMIN_USER}), "
                        f"{celery_workers} celery workers; up in {time.monotonic() - started:.0f}s"
                    )
                    yield stack
        finally:
            stack.stop()

    # -- start-up pieces ---------------------------------------------------------------------------

    @property
    def admin_password(self) -> str:
        return json.loads((Path(self.env["AIRFLOW_HOME"]) / "passwords.json").read_text())[ADMIN_USER]

    def _airflow_env(self, marker: dict[str, str], connection_json: str | None = None) -> dict[str, str]:
        home = self.run_dir / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        if not passwords.exists():
            passwords.write_text(json.dumps({ADMIN_USER: secrets.token_urlsafe(16)}))
            passwords.chmod(0o600)
        env = {
            **os.environ,
            **airflow_env(
                home,
                connection_json or self._local.airflow_connection_uri_json(),
                database_uri=self.postgres.uri,
                executor="CeleryExecutor",
                broker_url=f"redis://{self.redis.host}:{self.redis.port}/0",
            ),
            **marker,
            "MEDSCRIBE_LAKE_URI": str(self.lake),
            "MEDSCRIBE_RECORDINGS_BUCKET": RECORDINGS_BUCKET,
            "MEDSCRIBE_OUTPUT_BUCKET": OUTPUT_BUCKET,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            **self.airflow_extra_env,
        }
        return env

    def _airflow_cli(self, *args: str) -> str:
        airflow = str(Path(sys.executable).with_name("airflow"))
        result = subprocess.run([airflow, *args], env=self.env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
        return result.stdout

    def _prepare_airflow(self, marker: dict[str, str]) -> None:
        """``airflow db migrate`` and the jobs pool (the connection is not needed for these)."""
        try:
            self.env = self._airflow_env(marker, connection_json="{}")
            self._airflow_cli("db", "migrate")
            self._airflow_cli(
                "pools", "set", "transcribe_jobs", "20", "concurrent transcription jobs", "--include-deferred"
            )
        except Exception as error:
            self._migration_error = error

    # -- operating it ------------------------------------------------------------------------------

    @property
    def _local(self) -> LocalStack:
        return _started(self.local, "moto S3 and the engine")

    @property
    def _airflow(self) -> AirflowServices:
        return _started(self.airflow, "Airflow")

    @property
    def _api(self) -> AirflowApi:
        return _started(self.api, "Airflow's REST API")

    @property
    def s3_endpoint(self) -> str:
        return self._local.s3_endpoint

    @property
    def engine_endpoint(self) -> str | None:
        return self._local.engine_endpoint

    def trigger_night(self, night: str, conf: dict | None = None, run_id: str | None = None) -> str:
        """Trigger the nightly DAG for ``night`` (YYYY-MM-DD) through the REST API; returns the run id."""
        run_id = run_id or f"night-{night}-{uuid.uuid4().hex[:6]}"
        self._api.trigger(DAG_ID, run_id, f"{night}T02:00:00Z", conf)
        return run_id

    def wait_for_run(self, run_id: str, timeout: float = 900, on_poll=None) -> dict:
        """Wait for the run to end; a service of the stack that dies meanwhile ends the wait with an error."""

        def poll(run):
            self.check_alive()
            if on_poll is not None:
                on_poll(run)

        return self._api.wait_for_run(DAG_ID, run_id, timeout, on_poll=poll)

    def services(self) -> list[Service]:
        """Every process of the stack that should be running now."""
        services = [self.postgres.service, self.redis, self._local.s3, self._local.engine]
        return [s for s in services + self._airflow.services + self._airflow.workers if s is not None]

    def check_alive(self) -> None:
        """Raise ServiceError naming a service that exited (with the tail of its log)."""
        for service in self.services():
            if not service.running and service.name not in self.down_on_purpose:
                raise ServiceError(
                    f"{service.name} exited (code {service.process.returncode if service.process else None}); "
                    f"see {service.log_path}:\n{service._log_tail()}"
                )

    def run_night(self, night: str, timeout: float = 900, conf: dict | None = None) -> dict:
        """Trigger ``night`` and wait until its run ends; returns the run (``state`` success|failed)."""
        return self.wait_for_run(self.trigger_night(night, conf), timeout)

    def task_instances(self, run_id: str) -> list[dict]:
        return self._api.task_instances(DAG_ID, run_id)

    def worker_of(self, pid: int) -> Service | None:
        """The celery worker that runs the task process ``pid`` (it descends from the worker), if any."""
        for worker in self._airflow.workers:
            if worker.running and worker.process is not None and pid in process_tree(worker.process.pid):
                return worker
        return None

    def stop(self) -> None:
        """Stop whatever runs, in reverse order; the context manager calls it."""

        def stop_airflow() -> None:
            if self.airflow:
                self._airflow.stop()

        def stop_local() -> None:
            if self.local:
                stop_all([s for s in (self._local.engine, self._local.s3) if s], timeout=15)

        def cut_relay() -> None:
            if self.relay:
                self.relay.cut()

        for step in (
            stop_airflow,
            stop_local,
            cut_relay,
            lambda: stop_all(
                [self.redis] + ([self.postgres.service] if self.postgres.service else []), timeout=30
            ),
            self.postgres.cleanup,
        ):
            try:
                step()
            except Exception as error:
                self.log(f"while stopping: {type(error).__name__}: {error}")

    def leftover_processes(self) -> list[int]:
        return stack_processes(self.stack_id)

    def assert_no_orphans(self, timeout: float = 15.0) -> None:
        """Raise ServiceError when a process of this stack outlives its shutdown (after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (left := self.leftover_processes()) and time.monotonic() < deadline:
            time.sleep(0.5)
        if left:
            commands = []
            for pid in left:
                with contextlib.suppress(OSError):
                    commands.append(f"{pid}: {(Path('/proc') / str(pid) / 'cmdline').read_bytes()[:120]!r}")
            raise ServiceError("processes left after the shutdown:\n" + "\n".join(commands))

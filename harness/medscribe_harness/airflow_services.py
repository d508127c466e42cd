"""Airflow 3 from this checkout on loopback: its environment (:func:`airflow_env`) and its processes
(:class:`AirflowServices`), stopped together like the rest of :mod:`medscribe_harness.devstack`.

Airflow itself runs either on SQLite with the LocalExecutor (the default of :func:`airflow_env`) or, for
the distributed run of ``medscribe_harness.stack``, on PostgreSQL with the CeleryExecutor and celery workers
(``airflow_env(database_uri=..., executor="CeleryExecutor", broker_url=...)`` and
``AirflowServices.start(..., celery_workers=2)``).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from medscribe_harness.devstack import REPO_ROOT, Service, free_port, stop_all


def airflow_env(
    airflow_home: Path | None = None,
    connection_json: str | None = None,
    *,
    database_uri: str | None = None,
    executor: str = "LocalExecutor",
    broker_url: str | None = None,
) -> dict[str, str]:
    """
    Environment for running Airflow from this checkout: SQLite metadata in a git-ignored folder, the
    project's dags/ and plugins/, no examples, and (optionally) the ``aws_default`` connection.

    For the distributed run: ``database_uri`` (SQLAlchemy URI of the PostgreSQL metadata database),
    ``executor="CeleryExecutor"`` and ``broker_url`` (the Redis broker); celery results then go to
    the metadata database, and scheduled runs are off (runs are triggered through the REST API).
    """
    home = Path(airflow_home or REPO_ROOT / ".airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_uri or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "false",
        "NO_PROXY": "*",
    }
    if executor == "CeleryExecutor":
        if not (broker_url and database_uri):
            raise ValueError("the CeleryExecutor needs a broker_url and a database_uri (not SQLite)")
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_uri,
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            }
        )
    if connection_json:
        env["AIRFLOW_CONN_AWS_DEFAULT"] = connection_json
    return env


@dataclass
class AirflowServices:
    """Airflow 3's own processes on loopback: api-server, scheduler, dag-processor, triggerer, and with the
    CeleryExecutor ``celery_workers`` celery workers. Used by the backfill test (LocalExecutor, SQLite) and
    by ``medscribe_harness.stack`` (CeleryExecutor, PostgreSQL, Redis); ``make demo`` uses ``airflow dags test``."""

    services: list[Service]
    env: dict[str, str]
    log_dir: Path | None = None
    workers: list[Service] = field(default_factory=list)

    @property
    def api(self) -> Service:
        return self.services[0]

    @classmethod
    @contextlib.contextmanager
    def start(
        cls,
        env: dict[str, str],
        log_dir: Path,
        api_port: int | None = None,
        celery_workers: int = 0,
        worker_concurrency: int = 2,
    ):
        """Start the processes with ``env`` (see :func:`airflow_env`) and stop them all at the end."""
        api_port = api_port or free_port()
        airflow = str(Path(sys.executable).with_name("airflow"))
        env = {
            **env,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": env.get(
                "AIRFLOW__API_AUTH__JWT_SECRET", "medscribe-local-jwt-secret"
            ),
            "AIRFLOW__API__SECRET_KEY": env.get("AIRFLOW__API__SECRET_KEY", "medscribe-local-secret-key"),
            # SQLite runs one task at a time well; celery workers bring their own slots
            "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "4")
            if celery_workers
            else "2",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
        if celery_workers and env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
            raise ValueError("celery workers need AIRFLOW__CORE__EXECUTOR=CeleryExecutor (see airflow_env)")
        api = Service(
            "airflow-api-server",
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)],
            "127.0.0.1",
            api_port,
            "/api/v2/monitor/health",
            log_dir / "api-server.log",
            env,
        )
        others = [
            Service(f"airflow-{name}", [airflow, name], "127.0.0.1", 0, "", log_dir / f"{name}.log", env)
            for name in ("scheduler", "dag-processor", "triggerer")
        ]
        stack = cls(services=[], env=env, log_dir=log_dir)
        try:
            api.start(timeout=180)
            stack.services.append(api)
            for service in others:
                service.start_background()
                stack.services.append(service)
            for number in range(1, celery_workers + 1):
                stack.start_worker(number, worker_concurrency)
            yield stack
        finally:
            stack.stop()

    def worker_service(self, number: int, concurrency: int = 2) -> Service:
        """Celery worker ``number``: its own celery hostname, pid file and log-server port."""
        airflow = str(Path(sys.executable).with_name("airflow"))
        run = Path(self.env["AIRFLOW_HOME"])
        env = {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        argv = [
            airflow,
            "celery",
            "worker",
            "--concurrency",
            str(concurrency),
            "--celery-hostname",
            f"worker{number}@%h",
            "--pid",
            str(run / f"celery-worker{number}.pid"),
        ]
        return Service(
            f"airflow-celery-worker{number}",
            argv,
            "127.0.0.1",
            0,
            "",
            (self.log_dir or run) / f"celery-worker{number}.log",
            env,
        )

    def start_worker(self, number: int, concurrency: int = 2) -> Service:
        """Start (or start again) celery worker ``number``; it replaces a stopped one of that number."""
        worker = self.worker_service(number, concurrency)
        worker.start_background(settle=5.0)
        self.workers = [w for w in self.workers if w.name != worker.name] + [worker]
        return worker

    def stop(self) -> None:
        """Workers first (a warm shutdown lets running tasks finish for up to 30 s), then the rest; the
        processes of each group are stopped at the same time."""
        stop_all(self.workers, timeout=30)
        stop_all(self.services, timeout=30)

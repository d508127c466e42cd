"""A PostgreSQL server for the job store's tests: the harness's cluster from the Debian binaries, one
fresh database per test. Imported as a plain module (engine/tests is on sys.path under pytest)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "harness"
if str(HARNESS) not in sys.path:  # the harness is not installed in the engine's environment
    sys.path.insert(0, str(HARNESS))

from medscribe_harness.devstack import free_port  # noqa: E402
from medscribe_harness.stack.services import Postgres, postgres_bin_dir  # noqa: E402


def start_postgres(run_dir: Path) -> Postgres:
    """A started cluster under ``run_dir``; skips the test when the PostgreSQL binaries are absent."""
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL binaries are absent (Debian package postgresql): the store's tests need them")
    server = Postgres(data_dir=run_dir / "pg", port=free_port(), log_dir=run_dir / "logs")
    server.start()
    return server


def stop_postgres(server: Postgres) -> None:
    server.stop()
    server.cleanup()


def fresh_database(server: Postgres) -> str:
    """The URL of a new, empty database on ``server``."""
    name = f"store_{uuid.uuid4().hex[:10]}"
    server.create_database(name)
    return server.libpq_url(name)

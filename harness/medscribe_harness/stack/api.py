"""A small client of Airflow 3's REST API (``/api/v2``), authenticated the Airflow 3 way.

The api-server hands out JWTs at ``POST /auth/token`` (here the simple auth manager's, with a user
and password); every call carries ``Authorization: Bearer <token>``, renewed once on a 401.
Standard library only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote


class AirflowApiError(RuntimeError):
    """The REST API answered an error status."""

    def __init__(self, status: int, method: str, path: str, body: str):
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:500]}")
        self.status = status


class AirflowApi:
    """``AirflowApi("http://127.0.0.1:8080", "admin", "secret").get("/api/v2/dags")``."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._token: str | None = None

    def token(self) -> str:
        body = self._send("POST", "/auth/token", {"username": self.username, "password": self.password}, None)
        return body["access_token"]

    def _send(self, method: str, path: str, payload, token: str | None):
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise AirflowApiError(error.code, method, path, error.read().decode(errors="replace")) from None
        return json.loads(text) if text else None

    def request(self, method: str, path: str, payload=None):
        if self._token is None:
            self._token = self.token()
        try:
            return self._send(method, path, payload, self._token)
        except AirflowApiError as error:
            if error.status != 401:
                raise
            self._token = self.token()
            return self._send(method, path, payload, self._token)

    def get(self, path: str):
        return self.request("GET", path)

    # -- the few operations the stack needs -------------------------------------------------------

    def wait_for_dag(self, dag_id: str, timeout: float = 240.0) -> dict:
        """Wait until the dag-processor has parsed ``dag_id`` (and stored its serialized form)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                dag = self.get(f"/api/v2/dags/{quote(dag_id)}")
                self.get(f"/api/v2/dags/{quote(dag_id)}/details")
                return dag
            except AirflowApiError as error:
                if error.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", {"is_paused": paused})

    def trigger(self, dag_id: str, run_id: str, logical_date: str, conf: dict | None = None) -> dict:
        """Create a manual run (``logical_date`` in ISO 8601, e.g. ``2026-11-23T02:00:00Z``)."""
        return self.request(
            "POST",
            f"/api/v2/dags/{quote(dag_id)}/dagRuns",
            {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}},
        )

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        body = self.get(f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances?limit=100")
        return body["task_instances"]

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float, on_poll=None, interval: float = 2.0
    ) -> dict:
        """Poll until the run is ``success`` or ``failed``; ``on_poll(run)`` is called on each poll."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.dag_run(dag_id, run_id)
            if on_poll is not None:
                on_poll(run)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(interval)

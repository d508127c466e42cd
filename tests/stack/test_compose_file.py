"""docker-compose.yaml, checked without Docker: valid against the Compose Specification's JSON schema,
and wired together (services, ports, environment, volumes, depends_on, health checks, secrets).

The schema is ``schema/compose-spec.json`` of the compose-spec/compose-spec repository (Apache-2.0),
commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23), kept in tests/fixtures/compose/.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # resolves the x-airflow-common anchors and merges


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against ``env`` ($$ is a literal $)."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in env and (env[name] or op is None):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, value).replace("$$", "$")


def test_valid_against_the_compose_specification_schema(compose):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert errors == [], "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_rejects_what_compose_rejects(compose):
    """The check has teeth: a misspelt key, a bad depends_on condition and a non-list port are refused."""
    schema = json.loads(SCHEMA.read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    broken["services"]["airflow-worker"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["airflow-apiserver"]["ports"] = "8080:8080"
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(broken)]
    assert any("helthcheck" in m for m in messages)
    assert any("service_ready" in m for m in messages)
    assert any("'8080:8080' is not of type 'array'" in m for m in messages)


def test_the_services_of_the_stack(compose):
    assert (
        set(compose["services"])
        == {"postgres", "redis", "s3", "engine-db", "engine", "airflow-init"} | AIRFLOW_SERVICES
    )
    commands = {name: compose["services"][name]["command"] for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"][0] == "api-server"
    assert commands["airflow-scheduler"] == ["scheduler"]
    assert commands["airflow-dag-processor"] == ["dag-processor"]
    assert commands["airflow-triggerer"] == ["triggerer"]
    assert commands["airflow-worker"][:2] == ["celery", "worker"]
    assert compose["services"]["airflow-worker"]["deploy"]["replicas"] >= 2
    assert compose["services"]["engine"]["deploy"]["replicas"] >= 2


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        if name in ("airflow-init", "engine-db"):
            assert service["restart"] == "no"  # a one-shot job
            continue
        check = service.get("healthcheck")
        assert check and check["test"] and check.get("retries"), name


def test_airflow_services_reach_postgres_redis_and_the_api_server_by_name(compose, env_example):
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        env = {
            k: interpolate(str(v), env_example) for k, v in compose["services"][name]["environment"].items()
        }
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        database = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert (database.scheme, database.hostname, database.port, database.path) == (
            "postgresql+psycopg2",
            "postgres",
            5432,
            "/airflow",
        ), name
        assert database.password == env_example["POSTGRES_PASSWORD"]  # the secret comes from .env
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port, broker.password) == (
            "redis",
            "redis",
            6379,
            env_example["REDIS_PASSWORD"],
        ), name
        api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert (api.hostname, api.port, api.path) == ("airflow-apiserver", 8080, "/execution/")
    api_command = compose["services"]["airflow-apiserver"]["command"]
    assert api_command[api_command.index("--port") + 1] == "8080"
    assert "8080:8080" in compose["services"]["airflow-apiserver"]["ports"]
    # the metadata database and the broker are not published on the host
    assert "ports" not in compose["services"]["postgres"] and "ports" not in compose["services"]["redis"]


def test_the_default_connection_points_at_the_s3_and_engine_services(compose, env_example):
    connection = json.loads(env_example["AIRFLOW_CONN_AWS_DEFAULT"])
    endpoints = {k: urlsplit(v["endpoint_url"]) for k, v in connection["extra"]["service_config"].items()}
    s3, engine = compose["services"]["s3"], compose["services"]["engine"]
    assert endpoints["s3"].hostname == "s3" and str(endpoints["s3"].port) in s3["expose"]
    assert s3["entrypoint"][s3["entrypoint"].index("-p") + 1] == str(endpoints["s3"].port)
    assert (
        endpoints["transcribe"].hostname == "engine" and str(endpoints["transcribe"].port) in engine["expose"]
    )
    assert engine["command"][engine["command"].index("--port") + 1] == str(endpoints["transcribe"].port)
    # the engine reads media from and writes outputs to the same S3, signed with the connection's key
    assert urlsplit(engine["environment"]["AWS_ENDPOINT_URL_S3"]).netloc == endpoints["s3"].netloc
    assert engine["environment"]["MEDSCRIBE_ENGINE_ACCESS_KEY_ID"] == connection["login"]
    assert engine["environment"]["MEDSCRIBE_ENGINE_SECRET_ACCESS_KEY"] == connection["password"]


def test_local_services_are_a_profile_that_aws_deployments_leave_out(compose, env_example):
    services = compose["services"]
    assert all(services[name]["profiles"] == ["local"] for name in ("s3", "engine-db", "engine"))
    assert env_example["COMPOSE_PROFILES"] == "local"
    for name, service in services.items():
        if "profiles" in service:
            continue
        for dependency, spec in service.get("depends_on", {}).items():
            # without the profile the dependency is absent: it must not be required
            assert spec.get("required", True) is (dependency not in ("s3", "engine")), (name, dependency)
    assert all(
        "profiles" not in services[name] for name in AIRFLOW_SERVICES | {"postgres", "redis", "airflow-init"}
    )


def test_engine_replicas_share_their_own_postgres_database_and_no_volume(compose, env_example):
    services = compose["services"]
    engine, engine_db = services["engine"], services["engine-db"]
    assert "volumes" not in engine and "engine-data" not in compose["volumes"]  # each replica's own disk
    assert "ports" not in engine  # replicas cannot share a host port; clients use the service name
    store = urlsplit(interpolate(engine["environment"]["MEDSCRIBE_ENGINE_STORE"], env_example))
    assert (store.scheme, store.hostname, store.port, store.path) == (
        "postgresql",
        "postgres",
        5432,
        "/medscribe_engine",
    )
    assert (store.username, store.password) == ("airflow", env_example["POSTGRES_PASSWORD"])
    # engine-db makes exactly that database on the same server, as the same role, before any replica starts
    db_env = {k: interpolate(str(v), env_example) for k, v in engine_db["environment"].items()}
    assert (db_env["PGHOST"], db_env["PGUSER"], db_env["PGPASSWORD"]) == (
        store.hostname,
        store.username,
        store.password,
    )
    assert "CREATE DATABASE medscribe_engine" in "\n".join(engine_db["command"])
    assert engine_db["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert engine["depends_on"]["engine-db"]["condition"] == "service_completed_successfully"


def test_dependencies_wait_for_health_and_for_the_init_job(compose):
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["engine"]["condition"] == "service_healthy"
    assert services["engine"]["depends_on"]["s3"]["condition"] == "service_healthy"
    init = services["airflow-init"]["depends_on"]
    assert {k: v["condition"] for k, v in init.items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "s3": "service_healthy",
    }
    for name, service in services.items():  # every dependency is a service of the file
        assert set(service.get("depends_on", {})) <= set(services), name
    script = "\n".join(services["airflow-init"]["command"])
    assert (
        "airflow db migrate" in script and "pools set transcribe_jobs" in script and "create_bucket" in script
    )


def test_the_same_dags_include_and_plugins_folders_are_mounted(compose):
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        volumes = compose["services"][name]["volumes"]
        for folder in ("dags", "include", "plugins"):
            assert f"./{folder}:/opt/airflow/{folder}:ro" in volumes, (name, folder)
            assert (ROOT / folder).is_dir()
        named = [v.split(":")[0] for v in volumes if not v.startswith(".")]
        assert set(named) <= set(compose["volumes"]), name
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags"
    lake = compose["x-airflow-common"]["environment"]["MEDSCRIBE_LAKE_URI"]
    assert (
        lake.endswith(":-/opt/airflow/lake}")
        and "lake:/opt/airflow/lake" in compose["x-airflow-common"]["volumes"]
    )
    for service in compose["services"].values():
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_secrets_come_from_an_env_file_that_is_not_committed(compose, env_example):
    text = COMPOSE.read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    required = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*):\?", text))
    assert {"POSTGRES_PASSWORD", "REDIS_PASSWORD"} <= required
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", example, flags=re.M))
    assert used <= documented, used - documented  # .env.example names every variable (set or commented)
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert env_example[name] and env_example[name] not in text  # no secret value in the compose file
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        assert compose["services"][name]["env_file"] == [{"path": ".env", "required": True}]
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT, capture_output=True)
    assert tracked.returncode != 0, ".env is committed"

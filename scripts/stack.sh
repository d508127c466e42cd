#!/usr/bin/env bash
# The distributed stack without Docker (issue 10): PostgreSQL + Redis from Debian packages (installed by
# apt-get only when missing), Airflow 3 on the CeleryExecutor as separate processes (api-server, scheduler,
# dag-processor, triggerer, two celery workers), the offline engine with two workers and moto S3, all on
# loopback; data and logs in .run/stack/.
#   scripts/stack.sh run [--night 2026-11-23]   run one night through Airflow's REST API, print the tables, stop
#   scripts/stack.sh up                         keep it running until Ctrl-C
# Set MEDSCRIBE_SKIP_BOOTSTRAP=1 to use the environments as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${MEDSCRIBE_SKIP_BOOTSTRAP:-}" == 1 ]] || scripts/bootstrap.sh
exec .venv/bin/python -m medscribe_harness.stack "$@"

#!/usr/bin/env bash
# Command 2 of the README: set up what is missing, check style and types (scripts/lint.sh: it stops here
# when ruff or mypy finds something, before any test runs), then run the whole suite.
# Two distributions, two environments, two pytest runs: the engine's own tests (engine/tests: stages,
# store, resources) inside .venv-engine; then the pipelines' suite (tests/) and the engine's API tests
# (engine/tests/api: boto3 against a running engine, with the harness's moto S3) from .venv. pytest's exit code 5 (no tests collected) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test || exit $?
scripts/lint.sh || exit $?

status=0
run() {
  "$@"; local rc=$?
  if [[ $rc -eq 5 ]]; then echo "error: no tests were collected by: $*" >&2; rc=1; fi
  [[ $rc -ne 0 ]] && status=$rc
  return 0
}
run .venv-engine/bin/python -m pytest engine/tests -q -p no:cacheprovider --ignore=engine/tests/api "$@"
run .venv/bin/python -m pytest tests engine/tests/api -q -p no:cacheprovider "$@"
exit $status

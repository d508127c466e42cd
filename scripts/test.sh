#!/usr/bin/env bash
# Command 2 of the README: set up what is missing, then run the whole suite.
# Two environments, two pytest runs: the suite proper from .venv (it drives the engine over HTTP), and
# the engine's stage tests inside .venv-engine. pytest's exit code 5 (no tests collected) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --test || exit $?

status=0
run() {
  "$@"; local rc=$?
  if [[ $rc -eq 5 ]]; then echo "error: no tests were collected by: $*" >&2; rc=1; fi
  [[ $rc -ne 0 ]] && status=$rc
  return 0
}
run .venv-engine/bin/python -m pytest tests/engine/pipeline -q -p no:cacheprovider "$@"
run .venv/bin/python -m pytest tests -q -p no:cacheprovider --ignore=tests/engine/pipeline "$@"
exit $status

#!/usr/bin/env bash
# Set up everything this checkout needs, installing only what is missing:
#   .venv         the pipelines (Airflow, the Amazon provider, Great Expectations, pandas/pyarrow/DuckDB),
#                 their tests and benchmarks (moto, pytest, playwright, Piper) and the harness
#   .venv-engine  the offline engine (engine/: faster-whisper and its model package), its own pins
#   Debian packages: espeak-ng and sox (only with --test: the fixture-regeneration check uses them),
#   chromium and chromium-driver (only with --test: the reviewer page's browser test),
#   postgresql and redis-server (only with --test: the distributed run of tests/stack)
# Re-running is cheap: an environment is rebuilt only when its requirement files change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { echo "error: Python 3.11 is required (found $("$PYTHON" --version 2>&1))" >&2; exit 2; }

apt_packages=()
if [[ "${1:-}" == "--test" ]]; then
  for tool in espeak-ng sox chromium; do command -v "$tool" >/dev/null 2>&1 || apt_packages+=("$tool"); done
  # the reviewer page test drives Debian's chromium (playwright; chromedriver for selenium users)
  command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
  # the distributed run (tests/stack): PostgreSQL (Debian keeps initdb off the PATH) and Redis
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
fi
if ((${#apt_packages[@]})); then
  echo "installing Debian packages: ${apt_packages[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# make_venv DIR STAMP-INPUTS... -- PIP-ARGS... (EDITABLE: the project distributions installed last, --no-deps)
make_venv() {
  local dir=$1; shift
  local inputs=() ; while [[ $1 != "--" ]]; do inputs+=("$1"); shift; done; shift
  local stamp="$dir/.medscribe-stamp" digest
  digest=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$digest" ]]; then return 0; fi
  echo "setting up $dir (this takes a minute or two) ..."
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install -q --upgrade pip
  # FIRST (optional): packages installed before the requirements (the engine's CPU torch wheel)
  if [[ -n ${FIRST:-} ]]; then "$dir/bin/pip" install -q $FIRST 2> >(grep -v "^WARNING: Location '" >&2); fi
  # (the machine's pip config names local index folders that may not exist: drop that noise only)
  "$dir/bin/pip" install -q "$@" 2> >(grep -v "^WARNING: Location '" >&2)
  local project; for project in $EDITABLE; do "$dir/bin/pip" install -q --no-deps -e "$project"; done
  echo "$digest" > "$stamp"
}

# the pipelines (this package) with their tests, benchmarks and the local harness
EDITABLE=". harness" make_venv .venv requirements.txt requirements-test.txt requirements-bench.txt \
  constraints.txt pyproject.toml harness/pyproject.toml \
  -- -r requirements.txt -r requirements-test.txt -r requirements-bench.txt -c constraints.txt
# the engine: a full freeze installed --no-deps (see its header: medspaCy's spaCy pin), torch first
EDITABLE="engine" FIRST="torch==2.13.0" make_venv .venv-engine engine/requirements.txt engine/pyproject.toml \
  -- --no-deps -r engine/requirements.txt
# the JavaScript streaming client that the engine's streaming tests drive (tests only)
if [[ "${1:-}" == "--test" ]]; then scripts/node_deps.sh; fi

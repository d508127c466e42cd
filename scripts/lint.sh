#!/usr/bin/env bash
# Style and types of both distributions: `make lint`, and the first step of `make test` (it stops there).
#   ruff check, ruff format --check   the whole repository; one configuration ([tool.ruff], pyproject.toml)
#   mypy (pipelines)                  medscribe, dags/, plugins/, the harness, in .venv ([tool.mypy], pyproject.toml)
#   mypy (engine)                     engine/src against .venv-engine's packages (--python-executable), with
#                                     .venv's mypy and engine/pyproject.toml's [tool.mypy]
# Every check runs, the two mypy runs side by side (caches: .mypy_cache, engine/.mypy_cache); the exit code
# is non-zero when any of them found something. Expects the environments of scripts/bootstrap.sh.
# Fix style with `.venv/bin/ruff check --fix .` and `.venv/bin/ruff format .`.
set -uo pipefail
cd "$(dirname "$0")/.."

for tool in .venv/bin/ruff .venv/bin/mypy .venv-engine/bin/python; do
  [[ -x $tool ]] || { echo "error: $tool is missing: run scripts/bootstrap.sh" >&2; exit 2; }
done

failed=()
check() {
  local name=$1; shift
  "$@" || failed+=("$name")
}

check "ruff check" .venv/bin/ruff check --quiet --output-format concise .
check "ruff format" .venv/bin/ruff format --check --quiet .

out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
.venv/bin/python -m mypy >"$out/pipelines" 2>&1 &
pipelines=$!
(cd engine && ../.venv/bin/python -m mypy --python-executable ../.venv-engine/bin/python) >"$out/engine" 2>&1 &
engine=$!
wait $pipelines; pipelines_rc=$?
wait $engine; engine_rc=$?
echo "mypy (pipelines): $(tail -n 1 "$out/pipelines")"
((pipelines_rc == 0)) || { sed '$d' "$out/pipelines"; failed+=("mypy (pipelines)"); }
echo "mypy (engine): $(tail -n 1 "$out/engine")"
((engine_rc == 0)) || { sed '$d' "$out/engine" | sed 's|^src/|engine/src/|'; failed+=("mypy (engine)"); }

if ((${#failed[@]})); then
  echo "lint failed: $(IFS=,; echo "${failed[*]}" | sed 's/,/, /g')" >&2
  exit 1
fi
echo "lint: ruff and mypy found nothing"

#!/usr/bin/env bash
# Install the JavaScript packages the tests and benchmarks use, exactly as package-lock.json pins them:
#   engine/tests/streaming   the AWS SDK for JavaScript v3 streaming client (@aws-sdk/client-transcribe-streaming),
#                            which engine/tests/api/test_streaming.py and bench/streaming drive against the engine
# Needs Node.js >= 20 and npm (Debian's nodejs/npm are installed when node is missing). Re-running is cheap:
# `npm ci` runs again only when the lock file changes (a stamp in node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing Debian packages: nodejs npm"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "error: Node.js 20 or later is required (found $(node --version))" >&2; exit 2; }

for dir in engine/tests/streaming; do
  stamp="$dir/node_modules/.medscribe-stamp"
  digest=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$digest" ]]; then continue; fi
  echo "installing the JavaScript packages of $dir (npm ci) ..."
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$digest" > "$stamp"
done

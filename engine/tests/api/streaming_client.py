"""The JavaScript SDK clients of ``engine/tests/streaming`` (``stream.mjs``, ``scribe.mjs``), run from the
stream tests: one JSON line per thing the client saw."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from engine_helpers import REPO_ROOT

CLIENT_DIR = REPO_ROOT / "engine" / "tests" / "streaming"


def node_or_skip() -> str:
    """The ``node`` executable, with the pinned SDK installed next to the clients."""
    node = shutil.which("node")
    if (
        node is None
        or not (CLIENT_DIR / "node_modules" / "@aws-sdk" / "client-transcribe-streaming").is_dir()
    ):
        pytest.skip("Node.js or the streaming SDK is missing: run scripts/node_deps.sh")
    return node


def run_client(node: str, script: str, options: dict, timeout: float) -> list[dict]:
    """The JSON lines ``script`` printed for ``options`` (Node's WebSocket flag when they ask for it)."""
    flags = ["--experimental-websocket"] if options.get("websocket") else []  # Node 20's WebSocket
    done = subprocess.run(
        [node, *flags, str(CLIENT_DIR / script), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-2000:]
    return lines

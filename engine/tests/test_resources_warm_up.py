"""warm_up: every library a stage imports inside a function is imported before the engine is ready, so
no worker thread runs a first import (two at once can fail with ImportError and fail a good job)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import medscribe_engine as engine_package

ENGINE_DIR = Path(engine_package.__file__).parent
# imported inside functions, but only by the one thread that runs them: start-up (server.py, resources.py)
STARTUP_ONLY = {"resources.py", "server.py", "__main__.py"}


def function_level_imports() -> set[str]:
    """Modules imported inside a function or method of the engine's modules that run in request or
    worker threads (absolute imports)."""
    found: set[str] = set()
    for path in ENGINE_DIR.rglob("*.py"):
        if path.name in STARTUP_ONLY and path.parent == ENGINE_DIR:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found.update(alias.name for alias in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                    found.add(inner.module)
    return found


def test_the_pipeline_has_function_level_imports_to_check():
    imports = function_level_imports()
    assert {"sklearn.cluster", "pysbd", "faster_whisper.vad", "botocore.auth"} <= imports


def test_warm_up_imports_every_module_a_stage_imports_late():
    expected = sorted(function_level_imports())
    script = (
        "import sys, json\n"
        "from medscribe_engine.resources import warm_up\n"
        "warm_up()\n"
        f"print(json.dumps([m for m in {expected!r} if m not in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"

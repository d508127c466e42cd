"""The recognition pipeline knows nothing of the service layer: no module under ``pipeline/`` imports an
engine module outside it (the job store, workers, HTTP, vocabularies' service), at any level, so the
service layer can import the pipeline without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import medscribe_engine as engine_package

PIPELINE_DIR = Path(engine_package.__file__).parent / "pipeline"


def engine_imports(path: Path) -> set[str]:
    """The ``medscribe_engine...`` modules ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("medscribe_engine"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.startswith("medscribe_engine")
        ):
            found.add(node.module)
    return found


def test_pipeline_modules_import_only_the_pipeline():
    outside = {
        f"{path.relative_to(PIPELINE_DIR)} -> {module}"
        for path in sorted(PIPELINE_DIR.rglob("*.py"))
        for module in engine_imports(path)
        if module != "medscribe_engine.pipeline" and not module.startswith("medscribe_engine.pipeline.")
    }
    assert not outside, sorted(outside)

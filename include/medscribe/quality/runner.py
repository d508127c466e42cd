"""Running the gate's suites with Great Expectations 1.x: an ephemeral context, and per suite a pandas
data source, a whole-frame batch definition, the suite, a validation definition and a checkpoint, all
built in code. The results are GX's validation results as JSON; the data docs are rendered on request.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from medscribe.lake.tables import FLATTENED_TABLES
from medscribe.quality.config import QualityConfig
from medscribe.quality.suites import CHECK_INDEX_COLUMNS, check_expectations, table_expectations

DOCS_SITE = "night"


def _context(docs_dir: Path | None):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
            },
        )
    return gx, context


def _run(
    gx, context, name: str, frame: pd.DataFrame, expectations: list, result_format: dict
) -> dict[str, Any]:
    source = context.data_sources.add_pandas(f"{name}_source")
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_batch")
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{name}_checkpoint", validation_definitions=[definition], result_format=result_format
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    (validation,) = result.run_results.values()
    return validation.to_json_dict()


def run_suites(
    tables: dict[str, pd.DataFrame],
    checks: dict[str, pd.DataFrame],
    config: QualityConfig,
    docs_dir: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """
    Validate the tables' frames with their ``table_<name>`` suites and the check frames with their
    ``check_<name>`` suites (failed rows of a check listed by its :data:`CHECK_INDEX_COLUMNS`).

    :param tables: the frame of every table of :data:`~medscribe.lake.tables.FLATTENED_TABLES`.
    :param checks: the frame of every cross-table check (:func:`medscribe.quality.frames.check_frames`).
    :param config: thresholds and policy (the review bars of the check suites).
    :param docs_dir: a local folder where GX renders the data docs HTML site; None renders none.
    :return: ``{suite name: GX validation result JSON}``.
    """
    gx, context = _context(docs_dir)
    summary_format = {"result_format": "SUMMARY"}
    results = {}
    for name in FLATTENED_TABLES:
        results[f"table_{name}"] = _run(
            gx, context, f"table_{name}", tables[name], table_expectations(gx, name), summary_format
        )
    for name, expectations in check_expectations(gx, config).items():
        result_format = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": CHECK_INDEX_COLUMNS[name],
            "return_unexpected_index_query": False,
        }
        results[f"check_{name}"] = _run(
            gx, context, f"check_{name}", checks[name], expectations, result_format
        )
    if docs_dir is not None:
        context.build_data_docs(site_names=[DOCS_SITE])
    return results

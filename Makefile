# The two commands of README.md; each does its own set-up.
.PHONY: demo test lint install clean

demo: ## run the nightly DAG end to end on local S3 + the offline engine + SQLite metadata
	scripts/bootstrap.sh
	.venv/bin/python -m medscribe_harness.demo $(if $(NIGHT),--night $(NIGHT))

test: ## set up, check style and types (lint), then run the whole test suite
	scripts/test.sh

lint: ## ruff (lint and format) and mypy over both distributions; the first step of test
	scripts/bootstrap.sh
	scripts/lint.sh

install:
	scripts/bootstrap.sh

clean: ## remove environments, Airflow metadata, the local lake and run files
	rm -rf .venv .venv-engine .airflow .run data .mypy_cache engine/.mypy_cache .ruff_cache

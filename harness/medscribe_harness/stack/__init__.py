"""The production-shaped stack as local processes: PostgreSQL, Redis, Airflow on the CeleryExecutor
(api-server, scheduler, dag-processor, triggerer, celery workers), the offline engine and moto S3.

``python -m medscribe_harness.stack run --night 2026-11-23`` (or ``scripts/stack.sh run``) starts it, runs one
night through Airflow's REST API and stops it; ``docker-compose.yaml`` is the same stack for Docker.
"""

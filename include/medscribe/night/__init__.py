"""One night's run (dags/medscribe_nightly.py), its steps as plain functions, one module per step.

- ``keys``: the night's keys in S3, split into audio and sidecars, and into shards.
- ``routing``: a recording's sidecar, its kind and service, its job's settings and name.
- ``discover``: find, check and stage the night's recordings (or one shard of them).
- ``discover_manifest``: the night's ``discover`` manifest, written by the shards, merged, read back.
- ``plan``: the job requests, in bounded batches, each batch in its own manifest.
- ``settle``: every submitted recording ends ``succeeded`` or ``failed`` in the ledger.
- ``flatten``: the night's job outputs flattened into the lake.
- ``quality_status``: the quality gate's verdict written into the lake.

The DAG only wires these together; they take boto3 clients and callables, so they are tested without
Airflow. Nothing here logs or returns transcript text or S3 keys of recordings: only recording ids
(content hashes), job names, counts and durations. The output files' URIs are read with
``medscribe.outputs``.
"""

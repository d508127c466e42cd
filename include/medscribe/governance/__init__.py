"""Data governance: forget a recording in every place a copy of it lives, retention by age, an audit trail.

A recording (id: the first 32 hex digits of the SHA-256 of its bytes) can live in:

- the original upload ``<recordings_prefix>/<night>/.../<name>.<ext>`` and its sidecar ``<name>.<ext>.json``;
- the staged copy ``<staging_prefix>/<sha256>.<ext>``; the quarantine copy ``<quarantine_prefix>/<night>/<id>``;
- the service's (or engine's) job records, named ``medscribe-hs|tm-<sha256[:40]>-...``, and their
  output files (transcript, clinical document) in the output bucket;
- the ledger entry ``<ledger_prefix>/<night>/<id>.json``;
- rows of every lake table in the night's partitions, and the night's quality report and data docs.

``forget_recording`` finds all of them, deletes them (the lake partitions are rewritten without the
recording's rows through ``store.write_partition``) and returns counts per place; ``audit_rows`` and
``append_audit`` record what was done in the ``governance_audit`` table. Deletion is idempotent: a
second run finds nothing and reports zeros. Nothing here logs or returns keys or text: ids, nights and
counts only.

``apply_retention`` deletes the copies older than a ``RetentionPolicy`` (staged and quarantine audio,
job outputs and records, optionally the lake's text rows), attributed to recordings by the ids their
names carry; ``retention_audit_rows`` makes its ``governance_audit`` rows (dags/medscribe_retention.py).

Modules: ``places`` (where the copies live, shared S3 and job helpers), ``forget`` (dags/medscribe_forget.py),
``retention`` (dags/medscribe_retention.py), ``audit`` (the ``governance_audit`` rows). This package
re-exports what the two DAGs call.
"""

from medscribe.governance.audit import append_audit, audit_rows
from medscribe.governance.forget import forget_recording, resolve_inputs
from medscribe.governance.places import Places
from medscribe.governance.retention import RetentionPolicy, apply_retention, retention_audit_rows

__all__ = [
    "Places",
    "RetentionPolicy",
    "append_audit",
    "apply_retention",
    "audit_rows",
    "forget_recording",
    "resolve_inputs",
    "retention_audit_rows",
]

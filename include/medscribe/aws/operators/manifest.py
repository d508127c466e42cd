"""The batch operator fed by a batch manifest in S3, so that XCom carries a key instead of job requests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from medscribe.aws.operators.transcribe_batch import StartMedicalJobsBatchOperator
from medscribe.manifests import read_manifest, save_batch_outcomes

if TYPE_CHECKING:
    from airflow.sdk import Context


class StartMedicalJobsFromManifestOperator(StartMedicalJobsBatchOperator):
    """
    :class:`StartMedicalJobsBatchOperator` over the jobs of one batch manifest (``medscribe.manifests``).

    Map it over the night's batch manifest keys. The outcomes are written to the batch's outcomes
    manifest and the task returns ``{"outcomes": <key>, "counts": {status: n}}``: the same size for
    every batch. Behaviour otherwise as the batch operator's (refused jobs recorded, transient errors
    retried, deferrable).

    :param manifest_bucket: the bucket of the manifest (the recordings bucket). (templated)
    :param manifest_key: the batch manifest's key, ``{"jobs": [...]}``. (templated)
    :param kwargs: the batch operator's arguments, except ``jobs``.
    """

    template_fields: Sequence[str] = aws_template_fields("manifest_bucket", "manifest_key")

    def __init__(self, *, manifest_bucket: str, manifest_key: str, **kwargs):
        super().__init__(jobs=[], **kwargs)
        self.manifest_bucket = manifest_bucket
        self.manifest_key = manifest_key

    def _s3(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        ).conn

    def execute(self, context: Context) -> dict[str, Any]:
        s3 = self._s3()
        self.jobs = read_manifest(s3, self.manifest_bucket, self.manifest_key)["jobs"]
        return save_batch_outcomes(s3, self.manifest_bucket, self.manifest_key, super().execute(context))

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, outcomes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = super().execute_complete(context, event=event, outcomes=outcomes)
        return save_batch_outcomes(self._s3(), self.manifest_bucket, self.manifest_key, result)

"""The batch operator: start (or adopt) many HealthScribe and Transcribe Medical jobs and wait for all of
them in one task, refused jobs recorded rather than failing the batch. What the nightly DAG runs (through
:class:`medscribe.aws.operators.manifest.StartMedicalJobsFromManifestOperator`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException

from medscribe.aws.operators.transcribe import MedicalJobsBaseOperator
from medscribe.aws.triggers.transcribe import MedicalJobsCompletedTrigger
from medscribe.services import Service

if TYPE_CHECKING:
    from airflow.sdk import Context


class StartMedicalJobsBatchOperator(MedicalJobsBaseOperator):
    """
    Start (or adopt) a batch of HealthScribe and Transcribe Medical jobs, and wait for all of them.

    For nights with hundreds of recordings: map this operator over bounded batches rather than one
    task per recording; deferred, the whole batch waits in one trigger. A job that cannot be started
    (the service's BadRequestException, botocore's ParamValidationError, a name taken by a job with
    other input: any error of its own request) or that FAILED does not fail the task: its outcome is
    returned with the reason, for the ledger, and the other jobs go on. Quota and transient errors
    (LimitExceededException, InternalFailureException, throttling, connection errors) fail the task so
    that its retry starts the rest; started jobs are then adopted. Deferred, the refused jobs' outcomes
    travel in the trigger's event. Returns ``{"jobs": {name: {"status", "failure_reason"}}, "counts":
    {status: n}}``.

    :param jobs: ``[{"service": "healthscribe" | "transcribe_medical", "request": <Start* request>}]``. (templated)
    :param wait_for_completion: Whether to wait for the jobs to finish. (default: True)
    :param waiter_delay: Seconds between two rounds of status checks. (default: 30)
    :param waiter_max_attempts: Maximum number of rounds. (default: 720)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        (default: ``[operators] default_deferrable``, else False)
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region_name. If not specified then the default boto3 behaviour is used.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for botocore client.
    """

    template_fields: Sequence[str] = aws_template_fields("jobs")
    template_fields_renderers: ClassVar[dict] = {"jobs": "json"}
    # Raised (the task retries) instead of being recorded as the recording's failure. ServiceUnavailable*:
    # the endpoint answered 503 (an engine loading its models after a restart, an AWS brownout).
    RETRYABLE_ERRORS = (
        "LimitExceededException",
        "InternalFailureException",
        "ThrottlingException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
    )

    def __init__(self, *, jobs: list[dict[str, Any]], waiter_max_attempts: int = 720, **kwargs):
        super().__init__(waiter_max_attempts=waiter_max_attempts, **kwargs)
        self.jobs = jobs

    def execute(self, context: Context) -> dict[str, Any]:
        outcomes: dict[str, dict[str, Any]] = {}
        pending: dict[str, str] = {}
        for job in self.jobs:
            service, request = job["service"], job["request"]
            name = request[Service(service).job_name_field]
            try:
                described = self.hook.start_job(service, request)[0]
            except Exception as error:
                if self._is_transient(error):
                    raise
                outcomes[name] = {"status": "NOT_STARTED", "failure_reason": self._refusal(error)}
                self.log.warning("Job %s was not started: %s", name, type(error).__name__)
                continue
            outcome = self.hook.job_outcome(described)
            if outcome:
                outcomes[name] = outcome
            else:
                pending[name] = service
        self.log.info(
            "Batch of %d jobs: %d running, %d already finished or refused",
            len(self.jobs),
            len(pending),
            len(outcomes),
        )
        if pending and self.deferrable:
            self.defer_to(MedicalJobsCompletedTrigger, jobs=pending, outcomes=outcomes)
        if pending and self.wait_for_completion:
            for _ in range(self.waiter_max_attempts):
                for name, service in list(pending.items()):
                    outcome = self.hook.job_outcome(self.hook.get_job(service, name))
                    if outcome:
                        outcomes[name] = outcome
                        del pending[name]
                if not pending:
                    break
                time.sleep(self.waiter_delay)
            else:
                raise AirflowException(
                    f"{len(pending)} jobs still running after {self.waiter_max_attempts} checks"
                )
        for name in pending:
            outcomes[name] = {"status": "IN_PROGRESS", "failure_reason": None}
        return self._result(outcomes)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, outcomes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """
        Resume after the trigger: its event carries every job's outcome, refused ones included.

        :param event: the trigger's event.
        :param outcomes: outcomes handed over in the deferral's kwargs (by tasks deferred before the
            trigger carried them); the event's win.
        """
        validated_event = validate_execute_complete_event(event)
        if validated_event["status"] != "success":
            raise AirflowException(f"Error while waiting for the batch: {validated_event['message']}")
        return self._result({**(outcomes or {}), **validated_event["jobs"]})

    def _is_transient(self, error: Exception) -> bool:
        """True for errors of the endpoint rather than of one job's request: the task fails and retries."""
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        if isinstance(error, ClientError):
            return error.response.get("Error", {}).get("Code") in self.RETRYABLE_ERRORS
        # connection, timeout and credential errors; ParamValidationError is the request's own
        return isinstance(error, BotoCoreError) and not isinstance(error, ParamValidationError)

    @staticmethod
    def _refusal(error: Exception) -> str:
        """A refused job's failure reason: the service's code and message, or the client-side error."""
        from botocore.exceptions import ClientError

        if isinstance(error, ClientError):
            detail = error.response.get("Error", {})
            return f"{detail.get('Code', 'ClientError')}: {detail.get('Message', '')}"
        return f"{type(error).__name__}: {' '.join(str(error).split())}"

    @staticmethod
    def _result(outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for outcome in outcomes.values():
            counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
        return {"jobs": outcomes, "counts": counts}

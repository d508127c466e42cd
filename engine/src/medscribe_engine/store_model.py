"""What every job store holds and answers: the job row, its states, and the store interface that the
SQLite store (one host) and the PostgreSQL store (many hosts) both implement, with what they do alike
(the listing, ``finish``'s arguments)."""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from medscribe_engine.store_sql import Dialect, page, page_query

QUEUED, IN_PROGRESS, COMPLETED, FAILED = "QUEUED", "IN_PROGRESS", "COMPLETED", "FAILED"
MAX_QUEUED_JOBS = 1000  # default quota of QUEUED + IN_PROGRESS jobs (engine option --max-queued)
REQUEUE_ORDER_SHIFT = 1e12  # subtracted from queue_order when a job is queued again: it goes first
Tags = list[dict]  # a resource's Tags, as AWS's [{"Key": ..., "Value": ...}]
JobPage = tuple[list["Job"], bool]  # a page of a listing and whether more follow
LIMIT_MESSAGE = (
    "You have reached the limit of queued and running jobs. Wait for some jobs to finish and try your "
    "request again."
)


@dataclass
class Job:
    """One row of the job table (the request, state, times, reason, output URIs; never transcript text)."""

    id: int
    kind: str
    name: str
    request: dict[str, Any]
    status: str
    creation_time: float
    start_time: float | None = None
    completion_time: float | None = None
    failure_reason: str | None = None
    transcript_uri: str | None = None
    clinical_document_uri: str | None = None  # HealthScribe: MedicalScribeOutput.ClinicalDocumentUri
    media_format: str | None = None
    media_sample_rate: int | None = None
    internal_failures: int = 0  # attempts that ended in an internal failure (retried: workers.RETRY_DELAYS_S)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """A job from a row of either store (sqlite3.Row or a psycopg dict row)."""
        return cls(
            id=row["id"],
            kind=row["kind"],
            name=row["name"],
            request=json.loads(row["request"]),
            status=row["status"],
            creation_time=row["creation_time"],
            start_time=row["start_time"],
            completion_time=row["completion_time"],
            failure_reason=row["failure_reason"],
            transcript_uri=row["transcript_uri"],
            clinical_document_uri=row["clinical_document_uri"],
            media_format=row["media_format"],
            media_sample_rate=row["media_sample_rate"],
            internal_failures=row["internal_failures"],
        )


def tagged(request: dict, tags: Tags) -> dict:
    """``request`` with its Tags replaced (an empty list removes them)."""
    request = dict(request)
    if tags:
        request["Tags"] = tags
    else:
        request.pop("Tags", None)
    return request


class JobStoreBase(ABC):
    """The job store the service and the workers use; safe to share between threads.

    A job is claimed by one engine process (its ``owner``) at a time; the jobs of an owner that is gone
    are queued again by :meth:`recover`. ``data_dir`` is this process's local directory (scratch, the
    pagination key).
    """

    owner: str
    data_dir: Path
    max_queued: int
    DIALECT: ClassVar[Dialect]

    @abstractmethod
    def close(self) -> None:
        """Release the connection and this process's claim on being alive."""

    @abstractmethod
    def owner_alive(self, owner: str) -> bool:
        """True while the engine process that claimed jobs as ``owner`` lives."""

    @abstractmethod
    def prune_owners(self) -> None:
        """Forget the marks of owners that are gone (lock files, expired leases with no jobs)."""

    @abstractmethod
    def recover(self) -> int:
        """Queue again, ahead of the queued ones, the IN_PROGRESS jobs whose owner is gone; their count."""

    @abstractmethod
    def insert(self, kind: str, name: str, request: dict) -> Job:
        """A new QUEUED job; ConflictException for a name in use, LimitExceededException past the quota."""

    @abstractmethod
    def get(self, kind: str, name: str) -> Job | None: ...

    @abstractmethod
    def get_by_id(self, job_id: int) -> Job | None: ...

    @abstractmethod
    def delete(self, kind: str, name: str) -> Job | None:
        """Remove a job; the removed job, or None if there was none."""

    def list(
        self, kind: str, status: str | None, name_contains: str | None, after_id: int | None, limit: int
    ) -> JobPage:
        """Newest first; returns the page and whether more jobs follow."""
        equal = {"kind": kind, "status": status or None}
        query = page_query(self.DIALECT, "jobs", equal, name_contains, after_id, limit)
        return page(self._all(*query), limit, Job.from_row)

    @abstractmethod
    def _all(self, sql: str, params: tuple) -> builtins.list[Any]:
        """The rows a query answers (sqlite3.Rows or psycopg dict rows)."""

    @abstractmethod
    def claim_next(self) -> Job | None:
        """Mark the oldest claimable QUEUED job IN_PROGRESS, owned by this process, and return it."""

    def finish(
        self,
        job_id: int,
        status: str,
        *,
        failure_reason: str | None = None,
        transcript_uri: str | None = None,
        clinical_document_uri: str | None = None,
        media_format: str | None = None,
        media_sample_rate: int | None = None,
        internal_failure: bool = False,
    ) -> bool:
        """Record the end of a job that is still IN_PROGRESS here (``internal_failure``: it ended in one,
        counted with the others); False if it was deleted or taken over meanwhile."""
        outcome = (failure_reason, transcript_uri, clinical_document_uri, media_format, media_sample_rate)
        return self._record_end(job_id, status, (*outcome, int(internal_failure)))

    @abstractmethod
    def _record_end(self, job_id: int, status: str, outcome: tuple) -> bool:
        """:meth:`finish`, with ``outcome`` the UPDATE's values in :meth:`finish`'s order (the media ones
        kept when None, ``internal_failure`` as the 0 or 1 added to the count)."""

    @abstractmethod
    def retry_later(self, job_id: int, delay_s: float) -> bool:
        """Queue an IN_PROGRESS job again (its place in the order kept) to be claimed after ``delay_s``,
        counting one more internal failure; False if it was deleted or taken over meanwhile."""

    @abstractmethod
    def set_tags(self, kind: str, name: str, tags: Tags) -> None:
        """Replace the Tags of a job's stored request (an empty list removes them)."""

    @abstractmethod
    def count_by_status(self) -> dict[str, int]: ...

"""The service operations on jobs (Start, Get, Delete, List), over the job store and the worker pool;
requests arrive already validated."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from medscribe_engine.exceptions import JOB_NOT_FOUND, BadRequestException, NotFoundException
from medscribe_engine.pagination import decode_token, encode_token
from medscribe_engine.store import IN_PROGRESS, Job, JobStoreBase

if TYPE_CHECKING:
    from medscribe_engine.workers import WorkerPool

log = logging.getLogger("medscribe_engine")

DEFAULT_MAX_RESULTS = 5  # AWS's default page size for the List*Jobs operations


class TranscribeBackend:
    """The service operations, over the job store and the worker pool (requests already validated).

    :param store: the job store (SQLite or PostgreSQL).
    :param pool: the :class:`WorkerPool`, notified of new jobs (None: jobs only queue).
    """

    def __init__(self, store: JobStoreBase, pool: WorkerPool | None = None):
        self.store = store
        self.pool = pool

    def start(self, kind: str, name: str, request: dict) -> Job:
        job = self.store.insert(kind, name, request)
        log.info("job %s (%s) queued", name, kind)
        if self.pool is not None:
            self.pool.notify()
        return job

    def get(self, kind: str, name: str) -> Job:
        job = self.store.get(kind, name)
        if job is None:
            raise NotFoundException(JOB_NOT_FOUND)
        return job

    def delete(self, kind: str, name: str) -> None:
        job = self.store.delete(kind, name)
        if job is None:
            raise BadRequestException(JOB_NOT_FOUND)
        if self.pool is not None and job.status == IN_PROGRESS:
            self.pool.cancel(job.id)
        log.info("job %s (%s) deleted", name, kind)

    def list(
        self,
        kind: str,
        status: str | None,
        name_contains: str | None,
        next_token: str | None,
        max_results: int | None,
    ) -> tuple[list[Job], str | None]:
        listing, data_dir = ("jobs", kind, status, name_contains), self.store.data_dir
        after = decode_token(next_token, listing, data_dir) if next_token else None
        jobs, more = self.store.list(kind, status, name_contains, after, max_results or DEFAULT_MAX_RESULTS)
        return jobs, (encode_token(jobs[-1].id, listing, data_dir) if more and jobs else None)

"""Background work as rows: a request enqueues a job; the scheduler process claims and runs it.

Request side: `enqueue` (flushes; the request commits) and `job_status` (what the page polls).
Worker side: `claim_next`, `run_job`, `run_pending` and `reap_stale` are units of work and
commit. A claim is a conditional UPDATE (`... WHERE id = ? AND status = 'queued'`), so two
workers never run the same job. A running job writes a heartbeat with its progress; one whose
heartbeat is older than STALE_AFTER is marked failed by `reap_stale` ("the worker stopped").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from ..extensions import db
from ..modelbase import utcnow
from .handlers import HANDLERS, JobFailed
from .models import Job, JobStatus

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)
PROGRESS_EVERY = timedelta(seconds=1)  # at most one progress write a second
CLAIM_CANDIDATES = 5
MESSAGE_MAX = 500
FAILED_MESSAGE = (
    "Something went wrong while doing this work; it has been logged for the administrator. "
    "Try again, and if it fails again, contact them."
)
STALE_MESSAGE = (
    "The worker stopped before this work finished (the scheduler was stopped or crashed). "
    "Start it again."
)
#: Set when the scheduler process stops: running work stops at its next progress report and
#: goes back to the queue, so the next scheduler starts it again.
STOPPING = threading.Event()


class JobInterrupted(Exception):  # noqa: N818 - the job was interrupted, not an error
    """The worker is stopping; the job goes back to the queue."""


class JobLost(Exception):  # noqa: N818
    """The job is no longer this worker's (reaped as stale); its work is dropped."""


# ---- request side ------------------------------------------------------------------------------


def enqueue(org_id: int, kind: str, payload: dict[str, Any], user_id: int | None = None) -> Job:
    """Create a queued job (flushed, not committed: the request commits)."""
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind!r}; known: {sorted(HANDLERS)}")
    job = Job(
        organization_id=org_id,
        kind=kind,
        status=JobStatus.QUEUED,
        payload=dict(payload),
        result={},
        created_by_id=user_id,
    )
    db.session.add(job)
    db.session.flush()
    return job


def job_status(job: Job) -> dict[str, Any]:
    """What a page polling the job needs: status, percent, message and result."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "finished": job.status in (JobStatus.DONE, JobStatus.FAILED),
        "percent": job.percent,
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "message": job.message,
        "result": dict(job.result or {}),
    }


# ---- worker side -------------------------------------------------------------------------------


def claim_next(worker_id: str, now: datetime) -> Job | None:
    """Claim the oldest queued job for `worker_id` and commit the claim; None when none is left.

    Another worker may claim a candidate first: its UPDATE then matches no row, and the next
    candidate is tried.
    """
    while True:
        candidates = db.session.scalars(
            sa.select(Job.id)
            .where(Job.status == JobStatus.QUEUED)
            .order_by(Job.created_at, Job.id)
            .limit(CLAIM_CANDIDATES)
        ).all()
        if not candidates:
            return None
        for job_id in candidates:
            claimed = db.session.execute(
                sa.update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                .values(
                    status=JobStatus.RUNNING,
                    claimed_by=worker_id,
                    started_at=now,
                    heartbeat_at=now,
                    message="",
                )
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            if claimed.rowcount == 1:
                return db.session.get(Job, job_id, populate_existing=True)


@dataclass
class JobContext:
    """What a handler gets beside its job: the clock, and progress reporting (a heartbeat)."""

    job_id: int
    organization_id: int
    worker_id: str
    now: Callable[[], datetime]
    app: Flask
    _last_write: datetime | None = field(default=None, repr=False)
    _disabled: bool = field(default=False, repr=False)

    def progress(self, done: int, total: int) -> None:
        """Record progress (at most once a second) and the heartbeat. Writes on a connection of
        its own, so the handler's transaction stays whole. Stops the work when the worker is
        stopping (JobInterrupted) or the job was taken from it (JobLost)."""
        if STOPPING.is_set():
            raise JobInterrupted
        now = self.now()
        due = self._last_write is None or now - self._last_write >= PROGRESS_EVERY
        if self._disabled or not (due or (total and done >= total)):
            return
        self._last_write = now
        try:
            with db.engine.begin() as connection:
                updated = connection.execute(
                    sa.update(Job)
                    .where(
                        Job.id == self.job_id,
                        Job.status == JobStatus.RUNNING,
                        Job.claimed_by == self.worker_id,
                    )
                    .values(
                        progress_done=max(0, done), progress_total=max(0, total), heartbeat_at=now
                    )  # fmt: skip
                )
        except sa.exc.OperationalError:
            # SQLite: the handler holds the write lock. Progress is a courtesy; the work goes on.
            log.warning("job %s: progress not recorded (database busy)", self.job_id, exc_info=True)
            self._disabled = True
            return
        if updated.rowcount == 0:
            raise JobLost


def run_job(
    job_id: int, worker_id: str, now_fn: Callable[[], datetime] = utcnow
) -> JobStatus | None:
    """Run a job claimed by `worker_id` in an app context (and session) of its own.

    The handler's writes and the job's "done" are committed together; on failure they are
    rolled back and the job is marked failed with a readable message (the traceback goes to
    the log). Returns the job's final status, or None when the job was not this worker's.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with app.app_context():
        job = db.session.get(Job, job_id)
        if job is None or job.status != JobStatus.RUNNING or job.claimed_by != worker_id:
            log.warning("job %s is not running for %s; not run", job_id, worker_id)
            return None
        kind = job.kind
        context = JobContext(job_id, job.organization_id, worker_id, now_fn, app)
        log.info("job %s (%s) started by %s", job_id, kind, worker_id)
        try:
            fn = HANDLERS.get(kind)
            if fn is None:
                raise JobFailed(f"This kind of work ('{kind}') is not known to this version.")
            result = fn(job, context) or {}
            if _finish(job_id, worker_id, JobStatus.DONE, now_fn(), result=result):
                db.session.commit()
                log.info("job %s (%s) done", job_id, kind)
                return JobStatus.DONE
            db.session.rollback()
            log.warning("job %s (%s) was taken from %s; its work is dropped", job_id, kind,
                        worker_id)  # fmt: skip
            return None
        except JobInterrupted:
            db.session.rollback()
            _requeue(job_id, worker_id)
            db.session.commit()
            log.info("job %s (%s) interrupted: back in the queue", job_id, kind)
            return JobStatus.QUEUED
        except JobLost:
            db.session.rollback()
            log.warning("job %s (%s) was taken from %s; its work is dropped", job_id, kind,
                        worker_id)  # fmt: skip
            return None
        except JobFailed as failure:
            db.session.rollback()
            message = failure.message
            log.info("job %s (%s) failed: %s", job_id, kind, message)
        except Exception:
            db.session.rollback()
            message = FAILED_MESSAGE
            log.exception("job %s (%s) failed with an unexpected error", job_id, kind)
        _finish(job_id, worker_id, JobStatus.FAILED, now_fn(), message=message)
        db.session.commit()
        return JobStatus.FAILED


def _finish(
    job_id: int,
    worker_id: str,
    status: JobStatus,
    now: datetime,
    *,
    result: dict[str, Any] | None = None,
    message: str = "",
) -> bool:
    """Set the final status if the job is still this worker's; False when it is not."""
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "heartbeat_at": now,
        "message": message[:MESSAGE_MAX],
    }
    if result is not None:
        values["result"] = result
    if status == JobStatus.DONE:
        values["progress_done"] = Job.progress_total
    updated = db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.claimed_by == worker_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return updated.rowcount == 1


def _requeue(job_id: int, worker_id: str) -> None:
    db.session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.claimed_by == worker_id)
        .values(
            status=JobStatus.QUEUED,
            claimed_by=None,
            started_at=None,
            heartbeat_at=None,
            progress_done=0,
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )


def run_pending(worker_id: str, now_fn: Callable[[], datetime] = utcnow, limit: int = 10) -> int:
    """Claim and run queued jobs one after another, at most `limit`; the number run."""
    ran = 0
    while ran < limit and not STOPPING.is_set():
        job = claim_next(worker_id, now_fn())
        if job is None:
            break
        job_id = job.id
        db.session.remove()  # the job runs in a session of its own; start this one afresh
        run_job(job_id, worker_id, now_fn)
        ran += 1
    return ran


def reap_stale(now: datetime, stale_after: timedelta = STALE_AFTER) -> int:
    """Mark failed the running jobs whose heartbeat is older than `stale_after`; commits."""
    reaped = db.session.execute(
        sa.update(Job)
        .where(Job.status == JobStatus.RUNNING, Job.heartbeat_at < now - stale_after)
        .values(status=JobStatus.FAILED, message=STALE_MESSAGE, finished_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if reaped:
        log.warning("%s stale job(s) marked failed", reaped)
    return reaped

"""What each kind of background work does: a registry `kind -> function`, and the handlers.

A handler is `fn(job, ctx) -> dict | None`: it runs in the worker's own app context and
session, reads its input from `job.payload` (ids and options, never patient data), reports
progress through `ctx.progress(done, total)`, and returns the job's result (JSON-able). Its
database writes are committed together with the job's "done", or not at all. It raises
`JobFailed` with a message for the user when the work cannot be done; any other exception is
logged and the user sees a generic message (never a stack trace).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..extensions import db

if TYPE_CHECKING:
    from .models import Job
    from .runner import JobContext

Handler = Callable[["Job", "JobContext"], dict[str, Any] | None]

HANDLERS: dict[str, Handler] = {}


class JobFailed(Exception):  # noqa: N818 - reads as what happened to the job
    """The work cannot be done, for a reason the user can read (stored as the job's message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register `fn` as the handler of jobs of `kind` (one handler per kind)."""

    def register(fn: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not fn:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        HANDLERS[kind] = fn
        return fn

    return register


# ---- code volumes ----------------------------------------------------------------------------


@handler("aggregate_volumes")
def aggregate_volumes_job(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Stream an uploaded volumes file (ImportBatch) into counts per carrier, code and month.

    Payload: {"batch_id": id, "keep_file": false}. Stores the aggregate's JSON summary in
    `batch.summary["aggregate"]`. A procedure-level file (one row per procedure, where patient
    columns live) is deleted from the batch once aggregated unless `keep_file` is true
    (DOMAIN.md: no patient data is kept); a code-mix report is kept so its columns can be
    mapped again. Nothing is written to the volumes: that is the user's confirm.
    """
    from ..fees.importers import UnreadableFile
    from ..fees.imports import aggregate_batch
    from ..fees.models import ImportBatch, ImportKind, ImportStatus

    batch_id = job.payload.get("batch_id")
    batch = db.session.scalar(
        sa.select(ImportBatch).where(
            ImportBatch.id == batch_id, ImportBatch.organization_id == job.organization_id
        )
    )
    if batch is None or batch.kind != ImportKind.VOLUMES:
        raise JobFailed("The upload to read is no longer there.")
    if batch.status != ImportStatus.UPLOADED or batch.data is None:
        raise JobFailed("The uploaded file is no longer there; upload it again.")
    try:
        aggregate_batch(batch, progress=ctx.progress, keep_file=bool(job.payload.get("keep_file")))
    except UnreadableFile as problem:
        raise JobFailed(problem.message) from None
    return {"batch_id": batch.id}


# ---- letters ---------------------------------------------------------------------------------


@handler("batch_letters")
def batch_letters_job(job: Job, ctx: JobContext) -> dict[str, Any]:
    """Generate one letter of a kind for each of several campaigns.

    Payload: {"campaign_ids": [...], "kind": "fee_increase"}. Result: the letters' ids (the
    zip is built from them on download) and the campaigns skipped, each with the reason."""
    from ..letters.services import run_batch

    return run_batch(job, ctx)

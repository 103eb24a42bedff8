"""The scheduler process (`flask scheduler`): one APScheduler BlockingScheduler beside any number
of web workers, running the periodic tasks (background jobs now; reminders extend `TASKS`).

Only one scheduler works at a time. On PostgreSQL it holds an advisory lock on a connection of
its own (a separate engine without a pool, open for the life of the process): when the process
stops or dies, PostgreSQL drops the connection and the lock with it. On SQLite it holds a lease
row (`scheduler_leases`) that it renews every few seconds; another process takes over once
the lease has expired (at once when the holder stops cleanly and gives it back). A second
process therefore waits idle and takes over. Every task run checks the lock first, runs in an
app context, is logged, and takes `now` as its argument; the work itself stays safe with two
schedulers anyway, because each job (and each reminder) is claimed with a conditional UPDATE.

APScheduler never starts inside the web app: `create_app` knows nothing of this module.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from .extensions import db
from .jobs.models import SchedulerLease
from .jobs.runner import STOPPING, reap_stale, run_pending
from .modelbase import utcnow

log = logging.getLogger(__name__)

#: The advisory lock's key on PostgreSQL (b"FeeCamp" as a number); SCHEDULER_LOCK_KEY overrides
#: it, e.g. for two installations sharing one database server's database.
DEFAULT_LOCK_KEY = 0x46656543616D70
LEASE_NAME = "scheduler"
LEASE_TTL = timedelta(seconds=30)
LOCK_CHECK_SECONDS = 5  # lock health check / lease renewal, also while a long task runs
WORK_SECONDS = 5


# ---- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A periodic task: `func(now)` on an APScheduler trigger ("interval", "cron", ...)."""

    id: str
    func: Callable[[datetime], Any]
    trigger: str = "interval"
    trigger_args: dict[str, Any] = field(default_factory=dict)


#: The hook list: what the scheduler runs. Other packages (reminders: scan, deliver, digest)
#: add theirs with `@task(...)` in a module the scheduler imports (see `_import_tasks`).
TASKS: list[Task] = []
TASK_MODULES: list[str] = ["campaigns.reminders.jobs"]


def task(task_id: str, trigger: str = "interval", **trigger_args: Any):
    """Register `func(now)` as a periodic task of the scheduler process."""

    def register(func: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
        if any(existing.id == task_id for existing in TASKS):
            raise ValueError(f"a scheduler task {task_id!r} is already registered")
        TASKS.append(Task(task_id, func, trigger, dict(trigger_args)))
        return func

    return register


def worker_id() -> str:
    """This process's name in claims and leases: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@task("work", seconds=WORK_SECONDS)
def work(now: datetime) -> int:
    """Background jobs (DESIGN.md): fail the stale ones, then run what is queued. The jobs'
    clock starts at `now` and advances with real time, so heartbeats move during long work."""
    started = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started)

    return reap_stale(now) + run_pending(worker_id(), clock)


@task("expire-uploads", minutes=30)
def expire_uploads_task(now: datetime) -> int:
    """Delete uploads that waited more than a day for confirm (DESIGN.md, Files)."""
    from .extensions import db
    from .fees.imports import expire_uploads

    expired = expire_uploads(now)
    db.session.commit()
    return expired


# ---- the one-scheduler lock ---------------------------------------------------------------------


class SchedulerLock(Protocol):
    held: bool

    def hold(self, now: datetime) -> bool:
        """Keep (or take) the lock; True while this process holds it."""

    def release(self) -> None:
        """Give the lock back (stopping)."""


class _StateLog:
    """Logs only the changes between holding the lock and standing by."""

    held = False
    _said: bool | None = None

    def _note(self, held: bool, what: str) -> bool:
        self.held = held
        if held != self._said:
            self._said = held
            if held:
                log.info("scheduler lock taken (%s): this process does the work", what)
            else:
                log.info("scheduler lock held by another process (%s): standing by", what)
        return held


class AdvisoryLock(_StateLog):
    """PostgreSQL: `pg_try_advisory_lock(key)` on a dedicated connection (not from the app's
    pool), kept open while the process lives and checked on every `hold`."""

    def __init__(self, url: URL | str, key: int = DEFAULT_LOCK_KEY, holder: str = "") -> None:
        self.key = key
        self.holder = holder or worker_id()
        self.engine = sa.create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 5,
                "application_name": f"fee-campaigns scheduler {self.holder}"[:63],
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            },
        )
        self.connection: sa.Connection | None = None
        self._mutex = threading.Lock()

    def hold(self, now: datetime | None = None) -> bool:
        with self._mutex:
            try:
                if self.held and self.connection is not None:
                    self.connection.exec_driver_sql("SELECT 1")  # still connected: still ours
                    self.connection.commit()
                    return True
                if self.connection is None:
                    self.connection = self.engine.connect()
                got = self.connection.execute(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar()
                self.connection.commit()
            except sa.exc.DBAPIError:
                if self.held:
                    log.error("lost the connection that held the scheduler lock", exc_info=True)
                self._drop()
                return self._note(False, "no connection")
            return self._note(bool(got), f"advisory lock {self.key}")

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except sa.exc.DBAPIError:
                pass  # the connection is gone already
        self.connection = None
        self.held = False

    def release(self) -> None:
        with self._mutex:
            if self.connection is not None and self.held:
                try:
                    self.connection.execute(
                        sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                    )
                    self.connection.commit()
                except sa.exc.DBAPIError:
                    pass  # closing the connection releases it anyway
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            self.held = False
            self.engine.dispose()


class LeaseLock(_StateLog):
    """SQLite: a lease row renewed by its holder; taken over by another once it has expired."""

    def __init__(
        self,
        engine: Engine,
        holder: str = "",
        ttl: timedelta = LEASE_TTL,
        name: str = LEASE_NAME,
    ) -> None:
        self.engine = engine
        self.holder = holder or worker_id()
        self.ttl = ttl
        self.name = name
        self._mutex = threading.Lock()

    def hold(self, now: datetime) -> bool:
        lease = SchedulerLease.__table__
        mine = sa.and_(lease.c.name == self.name, lease.c.holder == self.holder)
        expires = now + self.ttl
        with self._mutex:
            try:
                with self.engine.begin() as connection:  # one write transaction: atomic
                    taken = connection.execute(
                        sa.update(lease).where(mine).values(expires_at=expires)
                    ).rowcount
                    if not taken:  # someone else's, or nobody's: take it if it has expired
                        taken = connection.execute(
                            sa.update(lease)
                            .where(lease.c.name == self.name, lease.c.expires_at < now)
                            .values(holder=self.holder, acquired_at=now, expires_at=expires)
                        ).rowcount
                    if not taken:
                        taken = connection.execute(
                            sqlite_insert(lease)
                            .values(
                                name=self.name,
                                holder=self.holder,
                                acquired_at=now,
                                expires_at=expires,
                            )  # fmt: skip
                            .on_conflict_do_nothing()
                        ).rowcount
            except sa.exc.OperationalError:
                log.warning("scheduler lease not renewed (database busy)", exc_info=True)
                return self._note(False, "database busy")
            return self._note(bool(taken), f"lease '{self.name}'")

    def release(self) -> None:
        lease = SchedulerLease.__table__
        with self._mutex:
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        sa.delete(lease).where(
                            lease.c.name == self.name, lease.c.holder == self.holder
                        )
                    )
            except sa.exc.OperationalError:
                log.warning("scheduler lease not given back; it expires by itself", exc_info=True)
            self.held = False


def make_lock(app: Flask, holder: str = "") -> AdvisoryLock | LeaseLock:
    """The lock for the app's database: an advisory lock on PostgreSQL, a lease on SQLite."""
    with app.app_context():
        engine = db.engine
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        # From the config, else the environment (config.py does not read it yet).
        configured = app.config.get("SCHEDULER_LOCK_KEY") or os.environ.get("SCHEDULER_LOCK_KEY")
        key = int(configured or DEFAULT_LOCK_KEY)
        return AdvisoryLock(engine.url, key, holder)
    if backend == "sqlite":
        seconds = app.config.get("SCHEDULER_LEASE_SECONDS")
        ttl = timedelta(seconds=int(seconds)) if seconds else LEASE_TTL
        return LeaseLock(engine, holder, ttl)
    raise RuntimeError(f"no scheduler lock for the {backend} database")


# ---- running ----------------------------------------------------------------------------------


def run_task(
    app: Flask,
    scheduled: Task,
    lock: SchedulerLock,
    now_fn: Callable[[], datetime] = utcnow,
) -> Any:
    """One run of a task, in an app context, if this process holds the lock; logged. Errors
    are logged, never raised (the scheduler keeps going). Returns what the task returned."""
    with app.app_context():
        now = now_fn()
        if not lock.hold(now):
            log.debug("task %s skipped: another scheduler holds the lock", scheduled.id)
            return None
        started = time.monotonic()
        try:
            result = scheduled.func(now)
        except Exception:
            db.session.rollback()
            log.exception("task %s failed", scheduled.id)
            return None
        elapsed = time.monotonic() - started
        # Each run is logged; a run that found nothing to do only at DEBUG, to keep logs useful.
        log.log(
            logging.INFO if result else logging.DEBUG,
            "task %s ran at %s in %.2f s: %s",
            scheduled.id,
            now.isoformat(timespec="seconds"),
            elapsed,
            result,
        )
        return result


def keep_lock(app: Flask, lock: SchedulerLock) -> bool:
    """Renew the lease / check the lock's connection, also while a long task runs."""
    return lock.hold(utcnow())


def build_scheduler(app: Flask, lock: SchedulerLock, tasks: list[Task] | None = None):
    """A BlockingScheduler with the lock check and every task (coalesced, one at a time)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    # A run that is late (the previous one still busy, the machine asleep) is merged into one
    # (coalesce), and a task never runs twice at once (max_instances).
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    scheduler = BlockingScheduler(timezone=UTC, job_defaults=defaults)
    scheduler.add_job(
        keep_lock,
        "interval",
        seconds=LOCK_CHECK_SECONDS,
        args=(app, lock),
        id="scheduler-lock",
        name="scheduler-lock",
        next_run_time=datetime.now(UTC),
        **defaults,
    )
    for scheduled in TASKS if tasks is None else tasks:
        scheduler.add_job(
            run_task,
            scheduled.trigger,
            args=(app, scheduled, lock),
            id=scheduled.id,
            name=scheduled.id,
            **defaults,
            **scheduled.trigger_args,
        )
    return scheduler


def _import_tasks() -> None:
    import importlib

    for module in TASK_MODULES:
        importlib.import_module(module)


def configure_logging() -> None:
    """INFO to stderr unless logging is configured; APScheduler's per-run lines at WARNING."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s [scheduler] %(name)s: %(message)s"
        )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run_scheduler(app: Flask, *, once: bool = False, holder: str = "") -> None:
    """The scheduler process. `once`: run every task once (if the lock is ours) and return.

    SIGTERM and SIGINT stop it: running jobs stop at their next progress report and go back
    to the queue, and the lock is given back so a waiting scheduler takes over at once.
    """
    _import_tasks()
    lock = make_lock(app, holder)
    try:
        if once:
            for scheduled in TASKS:
                run_task(app, scheduled, lock)
            return
        scheduler = build_scheduler(app, lock)

        def stop(signum: int, _frame: Any) -> None:
            log.info("stopping (%s)", signal.Signals(signum).name)
            STOPPING.set()
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("scheduler %s starting: tasks %s", lock.holder, ", ".join(t.id for t in TASKS))
        scheduler.start()
    finally:
        lock.release()
        log.info("scheduler %s stopped", lock.holder)

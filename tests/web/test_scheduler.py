"""The scheduler process: one at a time (a lease row on SQLite, an advisory lock on a dedicated
PostgreSQL connection), tasks run in an app context with `now`, failures logged, and real
`flask scheduler` processes: the second waits idle and takes over when the first stops."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.pool import NullPool

from campaigns.extensions import db
from campaigns.fees.models import ImportBatch, ImportKind
from campaigns.jobs.handlers import HANDLERS
from campaigns.jobs.models import Job, JobStatus, SchedulerLease
from campaigns.jobs.runner import claim_next, enqueue
from campaigns.scheduler import (
    TASKS,
    AdvisoryLock,
    LeaseLock,
    Task,
    build_scheduler,
    make_lock,
    run_task,
    work,
)
from tests.conftest import IS_POSTGRES, database, make_app
from tests.factories import OrganizationFactory, PracticeFactory

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeLock:
    def __init__(self, held: bool) -> None:
        self.held = held
        self.asked: list[datetime] = []

    def hold(self, now: datetime) -> bool:
        self.asked.append(now)
        return self.held

    def release(self) -> None:
        self.held = False


def random_key() -> int:
    return secrets.randbelow(2**62)


# ---- the lock ---------------------------------------------------------------------------------


@pytest.mark.sqlite  # the lease is SQLite's lock (deselected on PostgreSQL)
def test_sqlite_lease_lets_one_scheduler_work_and_another_take_over(app, database_url):
    first_engine, second_engine = sa.create_engine(database_url), sa.create_engine(database_url)
    first = LeaseLock(first_engine, "first", ttl=timedelta(seconds=30))
    second = LeaseLock(second_engine, "second", ttl=timedelta(seconds=30))
    try:
        assert first.hold(NOW)
        assert not second.hold(NOW)  # a second connection cannot take it while it is held
        assert first.hold(NOW + timedelta(seconds=10))  # renewed until NOW + 40 s
        assert not second.hold(NOW + timedelta(seconds=35))
        assert second.hold(NOW + timedelta(seconds=41))  # expired: taken over
        assert not first.hold(NOW + timedelta(seconds=42))
        second.release()
        assert first.hold(NOW + timedelta(seconds=43))  # given back: taken at once
        with app.app_context():
            lease = db.session.get(SchedulerLease, "scheduler")
            assert (lease.holder, lease.acquired_at) == ("first", NOW + timedelta(seconds=43))
            assert lease.expires_at == NOW + timedelta(seconds=73)
    finally:
        first_engine.dispose()
        second_engine.dispose()


@pytest.mark.sqlite  # the lease is SQLite's lock (deselected on PostgreSQL)
def test_sqlite_lease_race_has_one_winner(app, database_url):
    engines = [sa.create_engine(database_url) for _ in range(4)]
    locks = [LeaseLock(engine, f"s{i}") for i, engine in enumerate(engines)]
    start = threading.Barrier(len(locks))
    results: dict[str, bool] = {}

    def take(lock: LeaseLock) -> None:
        start.wait()
        results[lock.holder] = lock.hold(NOW)

    threads = [threading.Thread(target=take, args=(lock,)) for lock in locks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for engine in engines:
        engine.dispose()
    assert sorted(results.values()) == [False, False, False, True]


@pytest.mark.postgres
def test_postgres_advisory_lock_is_held_on_a_dedicated_connection(app, database_url):
    key = random_key()
    first, second = AdvisoryLock(database_url, key, "first"), AdvisoryLock(database_url, key, "2nd")
    admin = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with app.app_context():
            assert first.engine is not db.engine
            assert isinstance(first.engine.pool, NullPool)
        assert first.hold(NOW)
        assert not second.hold(NOW)  # two connections: the second cannot get it
        assert first.hold(NOW)  # still held (its connection is checked)
        first.release()
        assert second.hold(NOW)  # released: the waiting one takes over
        assert not first.hold(NOW)
        # The holder's connection dies (a crashed process, a network cut): PostgreSQL frees it.
        with admin.begin() as connection:
            ended = (
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": "fee-campaigns scheduler 2nd"},
                )
                .scalars()
                .all()
            )
        assert ended == [True]
        deadline = time.monotonic() + 10  # the backend exits (and frees the lock) soon after
        while not first.hold(NOW) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.held
        assert not second.hold(NOW)  # it notices the lost connection and stands by
        assert not second.held
    finally:
        first.release()
        second.release()
        admin.dispose()


def test_make_lock_uses_the_lock_of_the_database(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_LOCK_KEY", 12345)
    lock = make_lock(app, "me")
    try:
        if IS_POSTGRES:
            assert isinstance(lock, AdvisoryLock)
            assert lock.key == 12345
        else:
            assert isinstance(lock, LeaseLock)
            assert lock.holder == "me"
    finally:
        lock.release()


# ---- tasks ------------------------------------------------------------------------------------


def test_a_task_runs_in_an_app_context_with_now_when_the_lock_is_held(app, caplog):
    seen = []

    def probe(now):
        seen.append((now, has_app_context(), current_app.name))
        return 3

    with caplog.at_level(logging.INFO, logger="campaigns.scheduler"):
        assert run_task(app, Task("probe", probe), FakeLock(True), lambda: NOW) == 3
    assert seen == [(NOW, True, app.name)]
    assert "task probe ran at 2026-03-02T09:00:00+00:00" in caplog.text


def test_a_task_does_nothing_while_another_scheduler_holds_the_lock(app):
    lock = FakeLock(False)
    assert run_task(app, Task("probe", lambda now: pytest.fail("ran")), lock, lambda: NOW) is None
    assert lock.asked == [NOW]


def test_a_failing_task_is_logged_and_the_scheduler_goes_on(app, caplog):
    def broken(now):
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="campaigns.scheduler"):
        assert run_task(app, Task("broken", broken), FakeLock(True), lambda: NOW) is None
    assert "task broken failed" in caplog.text
    assert caplog.records[-1].exc_info is not None


def test_the_scheduler_has_the_lock_check_and_every_task_coalesced_one_at_a_time(app):
    scheduler = build_scheduler(app, FakeLock(True))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"scheduler-lock"} | {scheduled.id for scheduled in TASKS}
    assert "work" in jobs
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
    assert jobs["work"].trigger.interval == timedelta(seconds=5)


def test_the_work_task_reaps_stale_jobs_and_runs_queued_ones(app, monkeypatch):
    ran = []
    monkeypatch.setitem(HANDLERS, "echo", lambda job, ctx: ran.append(job.id) or {"ok": True})
    with database(app):
        org_id = OrganizationFactory().id
        stale = enqueue(org_id, "echo", {}).id
    with app.app_context():
        claim_next("dead-worker", NOW - timedelta(hours=1))
    with database(app):
        queued = enqueue(org_id, "echo", {}).id
    with app.app_context():
        assert work(NOW) == 2
        statuses = dict(db.session.execute(sa.select(Job.id, Job.status)).all())
    assert statuses == {stale: JobStatus.FAILED, queued: JobStatus.DONE}
    assert ran == [queued]


def test_flask_scheduler_once_runs_the_queued_work_and_gives_the_lock_back(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_LOCK_KEY", random_key())
    monkeypatch.setitem(HANDLERS, "echo", lambda job, ctx: {"ok": True})
    with database(app):
        job_id = enqueue(OrganizationFactory().id, "echo", {}).id
    result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Job, job_id).status == JobStatus.DONE
        assert db.session.scalars(sa.select(SchedulerLease)).all() == []


def test_creating_the_app_starts_no_scheduler(database_url):
    before = {thread.ident for thread in threading.enumerate()}
    make_app(database_url)
    assert {thread.ident for thread in threading.enumerate()} == before


# ---- real processes ---------------------------------------------------------------------------


class SchedulerProcess:
    """`flask scheduler` in a process of its own, its log in a file."""

    def __init__(self, database_url: str, log_path: Path, lock_key: int) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "SCHEDULER_LOCK_KEY": str(lock_key),
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.worker = f"{os.uname().nodename}:{self.process.pid}"

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, words: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no '{words}' from {self.worker}:\n{self.text()}")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        finally:
            self.log.close()


def wait_until_done(app, job_id: int, timeout: float = 30) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            job = db.session.get(Job, job_id)
            db.session.expunge(job)
        if job.status in (JobStatus.DONE, JobStatus.FAILED) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def queue_volumes_job(app) -> int:
    with database(app):
        practice = PracticeFactory()
        data = b"Code,Carrier,Count\nT0120,Acme,12\n"
        batch = ImportBatch(
            organization_id=practice.organization_id,
            practice_id=practice.id,
            kind=ImportKind.VOLUMES,
            filename="mix.csv",
            size=len(data),
            data=data,
            options={"prefix": "T"},
        )
        db.session.add(batch)
        db.session.flush()
        return enqueue(practice.organization_id, "aggregate_volumes", {"batch_id": batch.id}).id


@pytest.mark.timeout(120)
def test_a_second_scheduler_process_waits_and_takes_over_when_the_first_stops(
    app, database_url, tmp_path
):
    key = random_key()
    first = SchedulerProcess(database_url, tmp_path / "first.log", key)
    second = None
    try:
        first.wait_for("scheduler lock taken")
        second = SchedulerProcess(database_url, tmp_path / "second.log", key)
        second.wait_for("standing by")
        job = wait_until_done(app, queue_volumes_job(app))
        assert (job.status, job.claimed_by) == (JobStatus.DONE, first.worker)

        assert first.stop() == 0
        assert "stopped" in first.text()
        second.wait_for("scheduler lock taken")
        job = wait_until_done(app, queue_volumes_job(app))
        assert (job.status, job.claimed_by) == (JobStatus.DONE, second.worker)
    finally:
        first.stop()
        if second is not None:
            assert second.stop() == 0
    assert "Traceback" not in first.text() + second.text()

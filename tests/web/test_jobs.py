"""Background jobs (campaigns/jobs): enqueue, claim (never twice), run with progress, failure
messages without stack traces, interruption, the stale reaper, and the volumes aggregation job
leaving no patient value in the database."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import Organization
from campaigns.extensions import db
from campaigns.fees.models import ImportBatch, ImportKind
from campaigns.jobs import runner
from campaigns.jobs.handlers import HANDLERS, JobFailed, handler
from campaigns.jobs.models import Job, JobStatus
from campaigns.jobs.runner import (
    FAILED_MESSAGE,
    STALE_MESSAGE,
    claim_next,
    enqueue,
    job_status,
    reap_stale,
    run_job,
    run_pending,
)
from tests.conftest import database
from tests.factories import OrganizationFactory, PracticeFactory

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATIENTS = ["Zelda Quartzfield", "Ygritte Vollmer"]
PATNUMS = ["PN-771204", "PN-880315"]


def clock(start: datetime = NOW, step: timedelta = timedelta(seconds=2)):
    """A clock that moves `step` at every reading, so progress writes are never throttled."""
    moments = iter(start + step * i for i in range(10_000))
    return lambda: next(moments)


@pytest.fixture
def org_id(app) -> int:
    with database(app):
        return OrganizationFactory().id


@pytest.fixture
def kinds(monkeypatch):
    """Test handlers registered for the test only."""
    calls: list[dict] = []

    def echo(job, ctx):
        ctx.progress(1, 4)
        ctx.progress(4, 4)
        calls.append(dict(job.payload))
        return {"echo": job.payload.get("value")}

    def refuses(job, ctx):
        raise JobFailed("The file has no code column.")

    def crashes(job, ctx):
        db.session.add(Organization(name="Written before the crash"))
        db.session.flush()
        raise RuntimeError("secret internals at line 42")

    for kind, fn in (("echo", echo), ("refuses", refuses), ("crashes", crashes)):
        monkeypatch.setitem(HANDLERS, kind, fn)
    return calls


def make_jobs(app, org_id: int, count: int, kind: str = "echo") -> list[int]:
    with database(app):
        return [enqueue(org_id, kind, {"value": i}).id for i in range(count)]


def load(app, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


# ---- enqueue and claim ----------------------------------------------------------------------


def test_enqueue_flushes_a_queued_job_and_refuses_unknown_kinds(app, org_id, kinds):
    with app.app_context():
        job = enqueue(org_id, "echo", {"value": 1}, None)
        assert job.id is not None
        assert job.status == JobStatus.QUEUED
        db.session.rollback()  # only flushed: the request's commit decides
        assert db.session.scalar(sa.select(sa.func.count(Job.id))) == 0
        with pytest.raises(ValueError, match="unknown job kind 'nope'"):
            enqueue(org_id, "nope", {})


def test_claim_takes_the_oldest_queued_job_once(app, org_id, kinds):
    first, second = make_jobs(app, org_id, 2)
    with app.app_context():
        job = claim_next("worker-a", NOW)
        assert (job.id, job.status, job.claimed_by) == (first, JobStatus.RUNNING, "worker-a")
        assert job.started_at == NOW
        assert job.heartbeat_at == NOW
        assert claim_next("worker-b", NOW).id == second
        assert claim_next("worker-b", NOW) is None


def test_two_workers_claiming_at_once_never_get_the_same_job(app, org_id, kinds):
    job_ids = make_jobs(app, org_id, 40)
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        mine = claimed.setdefault(name, [])
        try:
            with app.app_context():
                start.wait()
                while (job := claim_next(name, NOW)) is not None:
                    mine.append(job.id)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    everything = [job_id for ids in claimed.values() for job_id in ids]
    assert sorted(everything) == sorted(job_ids)  # each job exactly once
    with app.app_context():
        owners = dict(db.session.execute(sa.select(Job.id, Job.claimed_by)).all())
    for name, ids in claimed.items():
        assert all(owners[job_id] == name for job_id in ids)


# ---- running --------------------------------------------------------------------------------


def test_a_job_runs_records_progress_and_ends_done_with_its_result(app, org_id, kinds):
    (job_id,) = make_jobs(app, org_id, 1)
    seen: list[tuple[int, int, JobStatus]] = []

    def watching(job, ctx):
        ctx.progress(30, 120)
        with db.engine.connect() as other:  # what a polling page sees meanwhile
            seen.append(
                other.execute(
                    sa.select(Job.progress_done, Job.progress_total, Job.status).where(
                        Job.id == job.id
                    )
                ).one()
            )
        return {"rows": 120}

    HANDLERS["echo"] = watching
    with app.app_context():
        claim_next("w", NOW)
        assert run_job(job_id, "w", clock()) == JobStatus.DONE
    assert seen == [(30, 120, JobStatus.RUNNING)]
    job = load(app, job_id)
    assert job.status == JobStatus.DONE
    assert job.result == {"rows": 120}
    assert (job.progress_done, job.progress_total, job.percent) == (120, 120, 100)
    assert job.finished_at > NOW
    assert job.message == ""
    status = job_status(job)
    assert status["finished"]
    assert status["percent"] == 100
    assert status["result"] == {"rows": 120}


def test_run_job_only_runs_a_job_claimed_by_this_worker(app, org_id, kinds):
    (job_id,) = make_jobs(app, org_id, 1)
    with app.app_context():
        assert run_job(job_id, "w", clock()) is None  # still queued
        claim_next("other", NOW)
        assert run_job(job_id, "w", clock()) is None
    assert kinds == []


def test_a_refused_job_fails_with_the_handlers_message(app, org_id, kinds):
    (job_id,) = make_jobs(app, org_id, 1, kind="refuses")
    with app.app_context():
        assert run_pending("w", clock()) == 1
    job = load(app, job_id)
    assert job.status == JobStatus.FAILED
    assert job.message == "The file has no code column."
    assert job_status(job)["finished"]


def test_an_unexpected_error_is_logged_rolled_back_and_shown_without_a_stack_trace(
    app, org_id, kinds, caplog
):
    (job_id,) = make_jobs(app, org_id, 1, kind="crashes")
    with app.app_context(), caplog.at_level(logging.ERROR, logger="campaigns.jobs.runner"):
        run_pending("w", clock())
    job = load(app, job_id)
    assert job.status == JobStatus.FAILED
    assert job.message == FAILED_MESSAGE
    assert "Traceback" not in job.message
    assert "secret internals" not in job.message
    assert "secret internals at line 42" in caplog.text  # the log has the details
    assert caplog.records[-1].exc_info is not None
    with app.app_context():  # the handler's writes were rolled back
        names = db.session.scalars(sa.select(Organization.name)).all()
    assert "Written before the crash" not in names


def test_run_pending_runs_queued_jobs_in_order_up_to_the_limit(app, org_id, kinds):
    make_jobs(app, org_id, 3)
    with app.app_context():
        assert run_pending("w", clock(), limit=2) == 2
        assert run_pending("w", clock(), limit=2) == 1
        assert run_pending("w", clock(), limit=2) == 0
    assert [call["value"] for call in kinds] == [0, 1, 2]


def test_a_stopping_worker_puts_its_running_job_back_in_the_queue(app, org_id, kinds):
    (job_id,) = make_jobs(app, org_id, 1)

    def interrupted(job, ctx):
        runner.STOPPING.set()
        ctx.progress(1, 10)
        raise AssertionError("progress should have stopped the work")

    HANDLERS["echo"] = interrupted
    try:
        with app.app_context():
            claim_next("w", NOW)
            assert run_job(job_id, "w", clock()) == JobStatus.QUEUED
    finally:
        runner.STOPPING.clear()
    job = load(app, job_id)
    assert (job.status, job.claimed_by, job.message) == (JobStatus.QUEUED, None, "")


def test_a_job_reaped_while_running_drops_its_work(app, org_id, kinds):
    (job_id,) = make_jobs(app, org_id, 1)

    def slow(job, ctx):
        db.session.add(Organization(name="Late work"))
        with app.app_context():  # meanwhile another scheduler judged the worker dead
            reap_stale(NOW + timedelta(hours=1))
        ctx.progress(5, 10)
        return {}

    HANDLERS["echo"] = slow
    with app.app_context():
        claim_next("w", NOW)
        assert run_job(job_id, "w", clock()) is None
    job = load(app, job_id)
    assert (job.status, job.message) == (JobStatus.FAILED, STALE_MESSAGE)
    with app.app_context():
        assert "Late work" not in db.session.scalars(sa.select(Organization.name)).all()


def test_the_reaper_fails_only_running_jobs_with_an_old_heartbeat(app, org_id, kinds):
    stale, fresh, queued = make_jobs(app, org_id, 3)
    with app.app_context():
        claim_next("w", NOW)
        claim_next("w", NOW + timedelta(minutes=8))
        assert reap_stale(NOW + timedelta(minutes=9)) == 0
        assert reap_stale(NOW + timedelta(minutes=10, seconds=1)) == 1
    assert (load(app, stale).status, load(app, stale).message) == (JobStatus.FAILED, STALE_MESSAGE)
    assert load(app, fresh).status == JobStatus.RUNNING
    assert load(app, queued).status == JobStatus.QUEUED


# ---- the volumes aggregation job ----------------------------------------------------------


def procedure_file(bad_rows: int = 0) -> bytes:
    lines = ["PatNum,Patient Name,ProcDate,ProcCode,Carrier"]
    for i in range(60):
        lines.append(
            f"{PATNUMS[i % 2]},{PATIENTS[i % 2]},2025-0{1 + i % 3}-1{i % 10},"
            f"T{120 + (i % 2) * 990:04d},Acme Dental PPO"
        )
    lines += [f"{PATNUMS[0]},{PATIENTS[0]},2025-01-05,??,Acme Dental PPO"] * bad_rows
    return ("\n".join(lines) + "\n").encode()


def make_batch(app, org_id: int, data: bytes, filename: str = "procedures.csv", **options) -> int:
    with database(app):
        practice = PracticeFactory(organization_id=org_id)
        batch = ImportBatch(
            organization_id=org_id,
            practice_id=practice.id,
            kind=ImportKind.VOLUMES,
            filename=filename,
            size=len(data),
            data=data,
            options={"prefix": "T", **options},
            summary={"note": "kept"},
        )
        db.session.add(batch)
        db.session.flush()
        return batch.id


def all_database_text(app) -> str:
    """Every value of every row of every table, as text."""
    parts: list[str] = []
    with app.app_context(), db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                parts.extend(
                    value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    for value in row
                )
    return "\n".join(parts)


def test_aggregating_a_procedure_export_stores_counts_and_deletes_the_file(app, org_id):
    batch_id = make_batch(app, org_id, procedure_file(bad_rows=2))
    with database(app):
        job_id = enqueue(org_id, "aggregate_volumes", {"batch_id": batch_id}).id
    with app.app_context():
        assert run_pending("w", clock()) == 1
    job = load(app, job_id)
    assert (job.status, job.result, job.message) == (JobStatus.DONE, {"batch_id": batch_id}, "")
    with app.app_context():
        batch = db.session.get(ImportBatch, batch_id)
        assert batch.data is None  # patient-level file: gone once aggregated
        assert batch.summary["note"] == "kept"
        summary = batch.summary["aggregate"]
    assert summary["per_procedure"]
    assert summary["file_deleted"]
    assert summary["counts"] == [
        ["Acme Dental PPO", "T0120", "2025-01-01", 10],
        ["Acme Dental PPO", "T0120", "2025-02-01", 10],
        ["Acme Dental PPO", "T0120", "2025-03-01", 10],
        ["Acme Dental PPO", "T1110", "2025-01-01", 10],
        ["Acme Dental PPO", "T1110", "2025-02-01", 10],
        ["Acme Dental PPO", "T1110", "2025-03-01", 10],
    ]
    assert summary["carriers"] == [["Acme Dental PPO", 60]]
    assert summary["months"] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert (summary["rows_read"], summary["rejected_count"]) == (62, 2)
    assert summary["rejected"][0]["reason"] == "'??' is not a procedure code"
    assert summary["ignored_columns"] == ["PatNum", "Patient Name"]
    stored = all_database_text(app)
    assert [value for value in PATIENTS + PATNUMS if value in stored] == []


def test_a_code_mix_report_is_kept_so_its_columns_can_be_mapped_again(app, org_id):
    data = b"Code,Carrier,Count\nT0120,Acme,12\nT1110,Acme,3\n"
    batch_id = make_batch(app, org_id, data, "mix.csv")
    with database(app):
        enqueue(org_id, "aggregate_volumes", {"batch_id": batch_id})
    with app.app_context():
        run_pending("w", clock())
        batch = db.session.get(ImportBatch, batch_id)
        assert batch.data == data
        assert batch.summary["aggregate"]["counts"] == [
            ["Acme", "T0120", None, 12],
            ["Acme", "T1110", None, 3],
        ]


def test_aggregation_uses_the_batch_options_mapping(app, org_id):
    data = b"a|b|c\n2025-01-02|T0120|Acme\n2025-01-03|T0120|Acme\n"
    batch_id = make_batch(app, org_id, data, "x.csv", mapping={"date": 0, "code": 1, "carrier": 2})
    with database(app):
        enqueue(org_id, "aggregate_volumes", {"batch_id": batch_id, "keep_file": True})
    with app.app_context():
        run_pending("w", clock())
        batch = db.session.get(ImportBatch, batch_id)
        assert batch.summary["aggregate"]["counts"] == [["Acme", "T0120", "2025-01-01", 2]]
        assert batch.data == data  # keep_file


def test_an_unreadable_volumes_file_fails_the_job_with_the_parsers_message(app, org_id):
    batch_id = make_batch(app, org_id, b"Date,Carrier\n2025-01-01,Acme\n", "nocode.csv")
    with database(app):
        job_id = enqueue(org_id, "aggregate_volumes", {"batch_id": batch_id}).id
    with app.app_context():
        run_pending("w", clock())
    job = load(app, job_id)
    assert job.status == JobStatus.FAILED
    assert job.message.startswith("No header row naming a procedure code column")
    with app.app_context():  # the file stays for a mapping by hand
        assert db.session.get(ImportBatch, batch_id).data is not None


def test_a_job_cannot_read_another_organisations_upload(app, org_id):
    batch_id = make_batch(app, org_id, procedure_file())
    with database(app):
        other = OrganizationFactory().id
        job_id = enqueue(other, "aggregate_volumes", {"batch_id": batch_id}).id
    with app.app_context():
        run_pending("w", clock())
        assert db.session.get(ImportBatch, batch_id).summary == {"note": "kept"}
    job = load(app, job_id)
    assert (job.status, job.message) == (JobStatus.FAILED, "The upload to read is no longer there.")


def test_handlers_are_registered_once_per_kind():
    assert "aggregate_volumes" in HANDLERS
    with pytest.raises(ValueError, match="already registered"):
        handler("aggregate_volumes")(lambda job, ctx: None)

"""The periodic scan: finds every reminder that is due and inserts the missing rows.

Set-based: one query per kind over all organisations (plus one for the practices, one for
their settings and one for the last contacts), the dates worked out in Python, then one
insert-if-absent per batch. The unique key (kind, subject, due date) makes a rerun, or a
second scheduler, insert nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa

from ..accounts.models import Practice
from ..extensions import db
from ..negotiations.models import Activity, ActivityKind, Campaign, Status
from ..payers.models import Contract
from . import rules
from .models import Kind, Reminder, ReminderSettings

#: logged activities that count as a follow-up contact with the network
CONTACT_KINDS = (ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.LETTER, ActivityKind.PORTAL)


@dataclass(frozen=True)
class PracticeRules:
    organization_id: int
    time_zone: str
    follow_up_days: list[int]
    schedule_days: int = 14
    review_lead_days: int = 30
    contract_lead_days: int = 30
    off_kinds: frozenset[str] = frozenset()


def practice_rules(organization_id: int | None = None) -> dict[int, PracticeRules]:
    """Every active practice's reminder rules (defaults where it has no settings row), of
    one organisation or of all."""
    settings_query = sa.select(ReminderSettings.__table__)
    practices_query = sa.select(
        Practice.id, Practice.organization_id, Practice.time_zone, Practice.follow_up_days
    ).where(Practice.archived_at.is_(None))
    if organization_id is not None:
        settings_query = settings_query.where(
            ReminderSettings.__table__.c.organization_id == organization_id
        )
        practices_query = practices_query.where(Practice.organization_id == organization_id)
    settings = {row.practice_id: row for row in db.session.execute(settings_query).mappings()}
    result = {}
    for pid, org, tz, follow in db.session.execute(practices_query):
        days = sorted(int(x) for x in (follow or "").split(",") if x.strip())
        extra = {}
        if (s := settings.get(pid)) is not None:
            extra = {
                "schedule_days": s["schedule_days"],
                "review_lead_days": s["review_lead_days"],
                "contract_lead_days": s["contract_lead_days"],
                "off_kinds": frozenset(s["off_kinds"] or ()),
            }
        result[pid] = PracticeRules(org, tz or rules.DEFAULT_TZ, days, **extra)
    return result


class _Cutoffs:
    """The last firing date per time zone at `now` (a handful of zones, computed once)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._by_zone: dict[str, date] = {}

    def __call__(self, tz: str) -> date:
        if tz not in self._by_zone:
            self._by_zone[tz] = rules.last_firing_date(self.now, tz)
        return self._by_zone[tz]


def _row(kind: Kind, subject: int, due: date, p: PracticeRules, pid: int, **more) -> dict:
    return {
        "kind": kind.value,
        "subject_id": subject,
        "organization_id": p.organization_id,
        "practice_id": pid,
        "due_on": due,
        "fire_at": _fire_at(due, p.time_zone),
        "campaign_id": more.get("campaign_id"),
        "contract_id": more.get("contract_id"),
        "user_id": None,
        "event_on": more.get("event_on"),
        "number": more.get("number", 0),
    }


@lru_cache(maxsize=8192)
def _fire_at(day: date, tz: str) -> datetime:
    return rules.fire_at(day, tz)


def _day(value) -> date | None:
    """A date column read without SQLAlchemy's per-row processing (SQLite gives the ISO text,
    PostgreSQL a date): the scan reads hundreds of thousands of them."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _fetch(stmt: sa.Select) -> list[tuple]:
    """The rows as the driver gives them (no SQLAlchemy row objects or type processing): the
    statements hold only constants of ours, so they are compiled with literal values."""
    connection = db.session.connection()
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _raw(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.type_coerce(column, sa.String).label(column.name)


def due_rows(now: datetime) -> list[dict]:
    """The reminder rows due at `now` (whether or not they exist yet)."""
    practices = practice_rules()
    cutoff = _Cutoffs(now)
    rows: list[dict] = []
    c = Campaign.__table__.c
    open_ = c.status == Status.OPEN.value

    # schedule requested, not received N days later
    for cid, pid, requested in _fetch(
        sa.select(c.id, c.practice_id, _raw(c.schedule_requested_on)).where(
            open_, c.schedule_requested_on.is_not(None), c.schedule_received_on.is_(None)
        )
    ):
        requested = _day(requested)
        p = practices.get(pid)
        if p is None or Kind.SCHEDULE in p.off_kinds:
            continue
        due = requested + timedelta(days=p.schedule_days)
        if due <= cutoff(p.time_zone):
            rows.append(_row(Kind.SCHEDULE, cid, due, p, pid, campaign_id=cid, event_on=requested))

    # submitted, no response: follow-ups (pushed by logged contacts) and the reply-by date
    a = Activity.__table__.c
    contacts = (
        sa.select(
            a.campaign_id, sa.type_coerce(sa.func.max(a.happened_on), sa.String).label("last")
        )
        .where(a.kind.in_([k.value for k in CONTACT_KINDS]))
        .group_by(a.campaign_id)
        .subquery()
    )
    for cid, pid, submitted, reply_by, last in _fetch(
        sa.select(
            c.id, c.practice_id, _raw(c.submitted_on), _raw(c.response_due_on), contacts.c.last
        )
        .outerjoin(contacts, contacts.c.campaign_id == c.id)
        .where(open_, c.submitted_on.is_not(None), c.responded_on.is_(None))
    ):
        submitted, reply_by, last = _day(submitted), _day(reply_by), _day(last)
        p = practices.get(pid)
        if p is None:
            continue
        today = cutoff(p.time_zone)
        if Kind.FOLLOW_UP not in p.off_kinds:
            contact = last if last is not None and last >= submitted else None
            due = rules.due_follow_up(submitted, p.follow_up_days, contact, today)
            if due is not None:
                number, day = due
                rows.append(_row(Kind.FOLLOW_UP, cid, day, p, pid, campaign_id=cid, number=number))
        if reply_by is not None and Kind.DUE not in p.off_kinds:
            day = reply_by + timedelta(days=1)  # the day after the reply-by date: it passed
            if day <= today:
                rows.append(_row(Kind.DUE, cid, day, p, pid, campaign_id=cid, event_on=reply_by))

    # re-review: the latest closed campaign of a contract without an open one
    k = Contract.__table__.c
    latest = (
        sa.select(sa.func.max(c.id))
        .where(c.status == Status.CLOSED.value)
        .group_by(c.contract_id)
        .scalar_subquery()
    )
    other = Campaign.__table__.alias("other")
    reopened = sa.exists().where(
        other.c.contract_id == c.contract_id, other.c.status == Status.OPEN.value
    )
    for cid, pid, kid, review_on in _fetch(
        sa.select(c.id, c.practice_id, c.contract_id, _raw(c.next_review_on))
        .join(Contract.__table__, k.id == c.contract_id)
        .where(c.id.in_(latest), c.next_review_on.is_not(None), k.archived_at.is_(None), ~reopened)
    ):
        review_on = _day(review_on)
        p = practices.get(pid)
        if p is None or Kind.REVIEW in p.off_kinds:
            continue
        due = review_on - timedelta(days=p.review_lead_days)
        if due <= cutoff(p.time_zone):
            rows.append(
                _row(
                    Kind.REVIEW,
                    cid,
                    due,
                    p,
                    pid,
                    campaign_id=cid,
                    contract_id=kid,
                    event_on=review_on,
                )  # fmt: skip
            )

    # the contract's renewal date and its notice deadline, a lead time before each
    for kid, pid, renewal, notice_days in _fetch(
        sa.select(k.id, k.practice_id, _raw(k.renewal_date), k.notice_days).where(
            k.archived_at.is_(None), k.renewal_date.is_not(None)
        )
    ):
        renewal = _day(renewal)
        p = practices.get(pid)
        if p is None:
            continue
        today = cutoff(p.time_zone)
        events = [(Kind.RENEWAL, renewal)]
        if notice_days is not None:
            events.append((Kind.NOTICE, renewal - timedelta(days=notice_days)))
        for kind, event in events:
            due = event - timedelta(days=p.contract_lead_days)
            if kind not in p.off_kinds and due <= today <= event:
                rows.append(_row(kind, kid, due, p, pid, contract_id=kid, event_on=event))
    return rows


def existing_keys() -> set[tuple[str, int, date]]:
    """Every reminder's key (read from the unique index)."""
    t = Reminder.__table__.c
    return {
        (kind, subject, _day(due))
        for kind, subject, due in _fetch(sa.select(t.kind, t.subject_id, _raw(t.due_on)))
    }


def insert_if_absent(rows: Iterable[dict], now: datetime) -> int:
    """Insert the rows whose key (kind, subject, due date) is new; returns how many. Keys
    already there are skipped before the insert, and ON CONFLICT DO NOTHING covers a second
    scheduler inserting the same rows meanwhile."""
    have = existing_keys()
    rows = [row for row in rows if (row["kind"], row["subject_id"], row["due_on"]) not in have]
    if not rows:
        return 0
    sqlite = db.session.get_bind().dialect.name == "sqlite"

    def stamp(value: datetime) -> object:
        naive = value.astimezone(UTC).replace(tzinfo=None)  # UTCDateTime's storage
        return naive.isoformat(" ", "microseconds") if sqlite else naive

    def day(value: date | None) -> object:
        return value.isoformat() if sqlite and value is not None else value

    created = stamp(now)
    plain = [
        {**row, "due_on": day(row["due_on"]), "event_on": day(row["event_on"]),
         "fire_at": stamp(row["fire_at"]), "status": "pending", "resolution": "",
         "created_at": created}
        for row in rows
    ]  # fmt: skip
    # the driver itself, without SQLAlchemy's per-row parameter processing
    columns = list(plain[0])
    sql = (
        f"INSERT INTO reminders ({', '.join(columns)}) "  # noqa: S608 - our column names
        f"VALUES ({', '.join('?' for _ in columns)}) "
        "ON CONFLICT (kind, subject_id, due_on) DO NOTHING"
    )
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        if sqlite:
            cursor.executemany(sql, [tuple(row[c] for c in columns) for row in plain])
            return cursor.rowcount if cursor.rowcount >= 0 else len(plain)
        # PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT (row by row
        # inserts cost ~50 us each at 100,000 campaigns)
        names = ", ".join(columns)
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS reminders_new "
            "(LIKE reminders INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY reminders_new ({names}) FROM STDIN") as copy:
            for row in plain:
                copy.write_row(tuple(row[c] for c in columns))
        cursor.execute(
            f"INSERT INTO reminders ({names}) SELECT {names} FROM reminders_new "  # noqa: S608
            "ON CONFLICT (kind, subject_id, due_on) DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute("DROP TABLE reminders_new")
        return inserted
    finally:
        cursor.close()


def scan(now: datetime) -> int:
    """One scan pass: creates the due reminders that do not exist yet (the caller commits)."""
    return insert_if_absent(due_rows(now), now)

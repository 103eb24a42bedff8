"""Pure date rules of reminders: when a date's reminder fires (08:00 where the practice is),
which follow-up is due. No Flask or SQLAlchemy here."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FIRE_TIME = time(8, 0)
DEFAULT_TZ = "America/New_York"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (KeyError, ValueError):  # an unknown name: the default rather than no reminders
        return ZoneInfo(DEFAULT_TZ)


def fire_at(day: date, tz: str | None) -> datetime:
    """08:00 on `day` in the time zone, as aware UTC (zoneinfo applies that day's offset)."""
    return datetime.combine(day, FIRE_TIME, tzinfo=zone(tz)).astimezone(UTC)


def last_firing_date(now: datetime, tz: str | None) -> date:
    """The latest date whose 08:00 (local) is at or before `now`: reminders for this date and
    earlier are due."""
    local = now.astimezone(zone(tz))
    return local.date() if local.time() >= FIRE_TIME else local.date() - timedelta(days=1)


def follow_up_dates(
    submitted: date, days: list[int], last_contact: date | None
) -> list[tuple[int, date]]:
    """The follow-up reminders (number, date): submitted + each interval, each pushed to at
    least the first interval after the last logged contact (made on or after submission)."""
    if not days:
        return []
    floor = last_contact + timedelta(days=days[0]) if last_contact else None
    result = []
    for number, offset in enumerate(sorted(days), start=1):
        day = submitted + timedelta(days=offset)
        if floor is not None and day < floor:
            day = floor
        result.append((number, day))
    return result


def due_follow_up(
    submitted: date, days: list[int], last_contact: date | None, cutoff: date
) -> tuple[int, date] | None:
    """The one follow-up due by `cutoff`: the latest scheduled date not after it (several
    missed ones give one reminder, numbered after the last of them), else None."""
    due = [(n, d) for n, d in follow_up_dates(submitted, days, last_contact) if d <= cutoff]
    return due[-1] if due else None

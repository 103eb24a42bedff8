"""Schedule families and their versions: which version is in effect on a date, the one-row-per-
family list, and the diff of two versions (per code and weighted by the practice's code mix).

A family is every version of one schedule: (practice, office), (practice, contract) or
(practice, benchmark label). `diff_versions` is pure; the loaders take `today` as an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..accounts.models import User
from ..accounts.scoping import scoped
from ..benchmark import engine
from ..extensions import db
from ..money import cents_to_decimal
from ..payers.models import Contract
from .models import FeeLine, FeeSchedule, ProcedureCode, ScheduleKind

FamilyKey = tuple[int, ScheduleKind, int | None, str | None]
Volume = Fraction | Decimal
ZERO = Fraction(0)
KIND_ORDER = {ScheduleKind.OFFICE: 0, ScheduleKind.CONTRACT: 1, ScheduleKind.BENCHMARK: 2}


# ---- families and versions -----------------------------------------------------------------


def family_key(schedule: FeeSchedule) -> FamilyKey:
    """What makes two versions one schedule (the same key the analysis uses)."""
    return (
        schedule.practice_id,
        schedule.kind,
        schedule.contract_id if schedule.kind == ScheduleKind.CONTRACT else None,
        schedule.label if schedule.kind == ScheduleKind.BENCHMARK else None,
    )


def same_family(a: FeeSchedule, b: FeeSchedule) -> bool:
    return a.organization_id == b.organization_id and family_key(a) == family_key(b)


def family_clause(schedule: FeeSchedule) -> sa.ColumnElement[bool]:
    """WHERE clause for every version of `schedule`'s family."""
    clauses = [
        FeeSchedule.organization_id == schedule.organization_id,
        FeeSchedule.practice_id == schedule.practice_id,
        FeeSchedule.kind == schedule.kind,
    ]
    if schedule.kind == ScheduleKind.CONTRACT:
        clauses.append(FeeSchedule.contract_id == schedule.contract_id)
    elif schedule.kind == ScheduleKind.BENCHMARK:
        clauses.append(FeeSchedule.label == schedule.label)
    return sa.and_(*clauses)


def version_order(schedule: FeeSchedule) -> tuple:
    """Later sorts last: effective date, then creation time (the tie-break), then id."""
    return (schedule.effective_from, schedule.created_at, schedule.id)


def in_effect(schedules: Iterable[FeeSchedule], today: date) -> FeeSchedule | None:
    """The version in effect on `today`: the greatest effective_from <= today; on a tie the
    latest created (DOMAIN.md). None when every version starts later."""
    started = [s for s in schedules if s.effective_from <= today]
    return max(started, key=version_order, default=None)


@dataclass(frozen=True)
class Version:
    """One version as the pages list it."""

    schedule: FeeSchedule
    codes: int
    status: str  # "in_effect" | "future" | "superseded"

    @property
    def id(self) -> int:
        return self.schedule.id


def _line_count() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count(FeeLine.id))
        .where(FeeLine.schedule_id == FeeSchedule.id)
        .correlate(FeeSchedule)
        .scalar_subquery()
    )


def _versions(rows: list[tuple[FeeSchedule, int]], today: date) -> list[Version]:
    """Newest first, each with its status on `today`."""
    current = in_effect((s for s, _ in rows), today)
    result = []
    for schedule, codes in sorted(rows, key=lambda r: version_order(r[0]), reverse=True):
        if schedule is current:
            status = "in_effect"
        elif schedule.effective_from > today:
            status = "future"
        else:
            status = "superseded"
        result.append(Version(schedule, int(codes), status))
    return result


def family_versions(user: User, schedule: FeeSchedule, today: date) -> list[Version]:
    """Every version of `schedule`'s family the user may see, newest first."""
    rows = db.session.execute(
        scoped(FeeSchedule, user)
        .where(family_clause(schedule))
        .add_columns(_line_count())
        .options(selectinload(FeeSchedule.created_by))
    ).all()
    return _versions([(s, n) for s, n in rows], today)


@dataclass(frozen=True)
class Family:
    """One row of the schedules list: a schedule with all its versions."""

    key: FamilyKey
    name: str
    versions: list[Version]  # newest first

    @property
    def practice(self):
        return self.versions[0].schedule.practice

    @property
    def kind(self) -> ScheduleKind:
        return self.key[1]

    @property
    def current(self) -> Version | None:
        return next((v for v in self.versions if v.status == "in_effect"), None)

    @property
    def upcoming(self) -> Version | None:
        """The next version to take effect (the earliest future one)."""
        future = [v for v in self.versions if v.status == "future"]
        return future[-1] if future else None

    @property
    def shown(self) -> Version:
        """The version the list links to: the one in effect, else the next one to start."""
        return self.current or self.upcoming or self.versions[0]


def family_name(schedule: FeeSchedule) -> str:
    if schedule.kind == ScheduleKind.CONTRACT and schedule.contract is not None:
        return schedule.contract.network.name
    if schedule.kind == ScheduleKind.OFFICE:
        return "Office fees"
    return schedule.label


def families(
    user: User,
    today: date,
    *,
    practice_id: int | None = None,
    kind: ScheduleKind | None = None,
) -> list[Family]:
    """Every schedule family the user may see (one query), by practice, kind and name."""
    stmt = (
        scoped(FeeSchedule, user)
        .add_columns(_line_count())
        .options(
            selectinload(FeeSchedule.practice),
            selectinload(FeeSchedule.contract).selectinload(Contract.network),
        )
    )
    if practice_id is not None:
        stmt = stmt.where(FeeSchedule.practice_id == practice_id)
    if kind is not None:
        stmt = stmt.where(FeeSchedule.kind == kind)
    grouped: dict[FamilyKey, list[tuple[FeeSchedule, int]]] = {}
    for schedule, codes in db.session.execute(stmt):
        grouped.setdefault(family_key(schedule), []).append((schedule, codes))
    result = [
        Family(key, family_name(rows[0][0]), _versions(rows, today))
        for key, rows in grouped.items()
    ]
    result.sort(key=lambda f: (f.practice.name.lower(), KIND_ORDER[f.kind], f.name.lower()))
    return result


# ---- the diff ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeChange:
    """A code listed in both versions with a different amount."""

    code: str
    old: Decimal
    new: Decimal
    volume: Fraction | None  # annual volume, exact; None when the diff is unweighted

    @property
    def change(self) -> Decimal:
        return self.new - self.old

    @property
    def pct(self) -> Decimal | None:
        """change / old, exact; None ('n/a') when the old amount is 0."""
        return self.change / self.old if self.old else None

    @property
    def annual(self) -> Decimal | None:
        """volume x change, exact, then rounded half-up to the cent."""
        if self.volume is None:
            return None
        return engine.round_cents(self.volume * Fraction(self.change))


@dataclass(frozen=True)
class Listed:
    """A code only one of the two versions lists."""

    code: str
    amount: Decimal


@dataclass(frozen=True)
class ScheduleDiff:
    changed: tuple[CodeChange, ...]
    added: tuple[Listed, ...]
    removed: tuple[Listed, ...]
    unchanged: int
    #: sum(V x new) / sum(V x old) - 1 over the codes in both versions with volume (weighted),
    #: else sum(new) / sum(old) - 1 over the codes in both; None when the denominator is 0
    overall: Decimal | None
    weighted: bool
    #: sum of the rounded per-code yearly effects (weighted only; unchanged codes add 0)
    annual_change: Decimal | None

    @property
    def identical(self) -> bool:
        return not (self.changed or self.added or self.removed)


def diff_versions(
    old: Mapping[str, int],
    new: Mapping[str, int],
    volumes: Mapping[str, Volume] | None = None,
) -> ScheduleDiff:
    """Compare two versions given as {code: cents}; `volumes` ({code: annual volume}) weights
    the overall change. Codes are in code order. Sums are exact (Fractions: an annualised
    volume can be 365/90); the overall ratio becomes a Decimal only at the end."""
    weights = {code: Fraction(v) for code, v in (volumes or {}).items()}
    common = sorted(set(old) & set(new))
    weighted = any(weights.get(code, ZERO) > 0 for code in common)
    changed = tuple(
        CodeChange(
            code,
            cents_to_decimal(old[code]),
            cents_to_decimal(new[code]),
            weights.get(code, ZERO) if weighted else None,
        )
        for code in common
        if old[code] != new[code]
    )
    if weighted:
        numerator = sum((weights.get(c, ZERO) * new[c] for c in common), ZERO)
        denominator = sum((weights.get(c, ZERO) * old[c] for c in common), ZERO)
        annual_change = sum((c.annual for c in changed), Decimal("0.00"))
    else:
        numerator = Fraction(sum(new[c] for c in common))
        denominator = Fraction(sum(old[c] for c in common))
        annual_change = None
    return ScheduleDiff(
        changed=changed,
        added=tuple(Listed(c, cents_to_decimal(new[c])) for c in sorted(set(new) - set(old))),
        removed=tuple(Listed(c, cents_to_decimal(old[c])) for c in sorted(set(old) - set(new))),
        unchanged=len(common) - len(changed),
        overall=engine.to_decimal(numerator / denominator - 1) if denominator else None,
        weighted=weighted,
        annual_change=annual_change,
    )


def lines_of(schedule: FeeSchedule) -> dict[str, int]:
    """{code: cents} of one version."""
    return dict(
        db.session.execute(
            sa.select(FeeLine.code, FeeLine.amount_cents).where(FeeLine.schedule_id == schedule.id)
        ).all()
    )


def descriptions(organization_id: int, codes: Iterable[str]) -> dict[str, str]:
    """The organisation's own descriptions of `codes`."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            sa.select(ProcedureCode.code, ProcedureCode.description).where(
                ProcedureCode.organization_id == organization_id, ProcedureCode.code.in_(wanted)
            )
        ).all()
    )


@dataclass(frozen=True)
class Weights:
    """Annual volume per code used to weight a diff, and where it comes from."""

    volumes: dict[str, Fraction]
    period: engine.Period | None


def annual_volumes(user: User, schedule: FeeSchedule, today: date) -> Weights:
    """The practice's annual volume per code on `today` (the analysis' default period): for a
    contract schedule, the volume its pricing routes send to that contract; for an office or
    benchmark schedule, the practice's volume across all its contracts."""
    # imported here: the analysis service imports the fee models, so a module-level import
    # would be circular whichever package loads first
    from ..benchmark.service import load_analysis

    analysis = load_analysis(user, [schedule.practice_id], today)
    practice = next(
        (p for p in analysis.group.practices if p.practice_id == schedule.practice_id), None
    )
    if practice is None:  # an archived practice: no analysis, no weights
        return Weights({}, None)
    contracts = practice.contracts
    if schedule.kind == ScheduleKind.CONTRACT:
        contracts = tuple(c for c in contracts if c.contract_id == schedule.contract_id)
    volumes: dict[str, Fraction] = {}
    for contract in contracts:
        for row in contract.codes:
            if row.volume > 0:
                volumes[row.code] = volumes.get(row.code, ZERO) + Fraction(row.volume)
    return Weights(volumes, practice.period)

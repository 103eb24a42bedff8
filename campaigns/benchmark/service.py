"""Loads one practice's (or all visible practices') data for an analysis date and hands it to
the engine, in a fixed number of queries whatever the number of codes or contracts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from ..accounts.models import Practice, User
from ..accounts.scoping import scoped
from ..extensions import db
from ..fees.models import CodeVolume, FeeLine, FeeSchedule, ProcedureCode, ScheduleKind
from ..payers.models import Contract, Network, Payer, PricingRoute
from . import engine
from .cache import AnalysisCache, Version
from .models import SCOPE, DataVersion


@dataclass(frozen=True)
class ContractInfo:
    """What the pages show of a contract beside the engine's figures."""

    contract_id: int
    practice_id: int
    practice_name: str
    network_name: str
    schedule_id: int | None
    schedule_effective: date | None
    renewal_date: date | None
    notice_deadline: date | None


@dataclass(frozen=True)
class Analysis:
    """The engine's result plus what the pages need to label it."""

    on: date
    group: engine.GroupResult
    contracts: dict[int, ContractInfo]
    descriptions: dict[str, str]
    office_schedule: dict[int, int | None]  # practice id -> office schedule id used
    payer_names: dict[int, str]
    benchmark_labels: list[str]
    benchmark_label: str | None

    def practice(self, practice_id: int) -> engine.PracticeResult:
        return next(p for p in self.group.practices if p.practice_id == practice_id)

    def contract(self, contract_id: int) -> engine.ContractResult:
        return next(
            c for p in self.group.practices for c in p.contracts if c.contract_id == contract_id
        )

    office_fees: dict[int, dict[str, Decimal]]  # practice id -> code -> office fee
    #: what the figures were computed from: the data version and (practices, date, period,
    #: benchmark), so figures derived from the whole analysis can be cached beside it
    version: Version = (0, 0)
    key: tuple = ()


def pareto(analysis: Analysis, top: int = 50) -> engine.ParetoCurve:
    """The target list's Pareto curve of the analysis, computed once per data version (it
    ranks every code row of every contract: the costly part of the target list)."""
    return analysis_cache().get_or_compute(
        ("pareto", analysis.key, top),
        analysis.version,
        lambda: (engine.pareto_curve(analysis.group.contracts, top=top), 64 * 1024),
    )


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _months_back(first_of_month: date, months: int) -> date:
    year, month = divmod(first_of_month.year * 12 + first_of_month.month - 1 - months, 12)
    return date(year, month + 1, 1)


def _is_month_end(d: date) -> bool:
    return (d + timedelta(days=1)).day == 1


def default_period(practice_ids: list[int], on: date, months: int) -> engine.Period | None:
    """The last `months` full calendar months before `on` that have data (DOMAIN.md).

    The period ends with the latest full month (before the analysis date's month) that has
    volume; it starts `months` months earlier, or at the first full month with data."""
    latest_end = _month_start(on) - timedelta(days=1)
    last, first = db.session.execute(
        sa.select(sa.func.max(CodeVolume.period_end), sa.func.min(CodeVolume.period_start)).where(
            CodeVolume.practice_id.in_(practice_ids),
            CodeVolume.period_end <= latest_end,
            CodeVolume.count > 0,  # zero rows must not stretch the period
        )
    ).one()
    if last is None:
        return None
    end = last if _is_month_end(last) else _month_start(last) - timedelta(days=1)
    first_full = first if first.day == 1 else _months_back(_month_start(first), -1)
    start = max(_months_back(_month_start(end), months - 1), first_full)
    return engine.Period(start, end) if start <= end else None


def _effective_versions(practice_ids: list[int], on: date) -> list[FeeSchedule]:
    """Per (practice, kind, contract, label-for-benchmarks): the version effective on `on`."""
    rows = db.session.scalars(
        sa.select(FeeSchedule)
        .where(FeeSchedule.practice_id.in_(practice_ids), FeeSchedule.effective_from <= on)
        .order_by(FeeSchedule.effective_from, FeeSchedule.created_at, FeeSchedule.id)
    ).all()
    chosen: dict[tuple, FeeSchedule] = {}
    for schedule in rows:  # later rows win: greatest effective_from, then latest created
        key = (
            schedule.practice_id,
            schedule.kind,
            schedule.contract_id,
            schedule.label if schedule.kind == ScheduleKind.BENCHMARK else None,
        )
        chosen[key] = schedule
    return list(chosen.values())


def data_version() -> Version:
    """The version of every table the analysis reads, in one query (bumped by triggers)."""
    row = db.session.execute(
        sa.select(DataVersion.id, DataVersion.version).where(DataVersion.scope == SCOPE)
    ).first()
    return (row.id, row.version) if row else (0, 0)


def analysis_cache() -> AnalysisCache:
    """This app's cache in this process (a gunicorn worker has its own), sized by
    ANALYSIS_CACHE_MB (default 256; 0 turns caching off)."""
    cache = current_app.extensions.get("analysis_cache")
    if cache is None:
        megabytes = int(current_app.config.get("ANALYSIS_CACHE_MB", 256))
        cache = current_app.extensions.setdefault(
            "analysis_cache", AnalysisCache(megabytes * 2**20)
        )
    return cache


@dataclass(frozen=True)
class _PracticeEntry:
    """One practice's analysis and labels: what the cache keeps per practice."""

    result: engine.PracticeResult
    contracts: dict[int, ContractInfo]
    office_schedule: int | None
    benchmark_labels: frozenset[str]
    office_fees: Mapping[str, Decimal]

    @property
    def size(self) -> int:
        """Bytes, roughly (tracemalloc at group scale: about 200 per code row)."""
        rows = sum(len(c.rows) for c in self.result.contracts)
        return 4096 + 1024 * len(self.contracts) + 200 * rows + 150 * len(self.office_fees)


def load_analysis(
    user: User,
    practice_ids: list[int] | None,
    on: date,
    *,
    period: engine.Period | None = None,
    benchmark_label: str | None = None,
) -> Analysis:
    """Analysis of the given practices (None: all the user may see) on date `on`.

    Each practice's figures are computed once per data version (see `data_version`) and kept
    in this process's cache; a request for cached practices reads only the version, the
    practices, the payers' names and the code descriptions."""
    practices = db.session.scalars(
        scoped(Practice, user).where(Practice.archived_at.is_(None)).order_by(Practice.name)
    ).all()
    if practice_ids is not None:
        practices = [p for p in practices if p.id in set(practice_ids)]
    ids = [p.id for p in practices]
    version = data_version()
    cache = analysis_cache()

    if period is None:
        months = max((p.analysis_period_months for p in practices), default=12)
        period = cache.get_or_compute(
            ("period", tuple(ids), on, months),
            version,
            lambda: (default_period(ids, on, months), 512),
        )
    entries: dict[int, _PracticeEntry] = {}
    for pid in ids:
        found = cache.get(("practice", pid, on, period, benchmark_label), version)
        if found is not None:
            entries[pid] = found
    missing = [p for p in practices if p.id not in entries]
    if missing:
        for pid, entry in _compute(user, missing, on, period, benchmark_label).items():
            cache.put(("practice", pid, on, period, benchmark_label), version, entry, entry.size)
            entries[pid] = entry

    payers = db.session.execute(
        sa.select(Payer.id, Payer.name).where(Payer.organization_id == user.organization_id)
    ).all()
    descriptions = dict(
        db.session.execute(
            sa.select(ProcedureCode.code, ProcedureCode.description).where(
                ProcedureCode.organization_id == user.organization_id
            )
        ).all()
    )
    chosen = [entries[pid] for pid in ids]
    return Analysis(
        on=on,
        group=engine.GroupResult(tuple(e.result for e in chosen)),
        contracts={cid: info for e in chosen for cid, info in e.contracts.items()},
        descriptions=descriptions,
        office_schedule={pid: entries[pid].office_schedule for pid in ids},
        payer_names=dict(payers),
        benchmark_labels=sorted(set().union(*(e.benchmark_labels for e in chosen))),
        benchmark_label=benchmark_label,
        office_fees={pid: entries[pid].office_fees for pid in ids},
        version=version,
        key=(tuple(ids), on, period, benchmark_label),
    )


def _compute(
    user: User,
    practices: list[Practice],
    on: date,
    period: engine.Period | None,
    benchmark_label: str | None,
) -> dict[int, _PracticeEntry]:
    """Load the practices' data in a fixed number of queries and run the engine on each."""
    ids = [p.id for p in practices]
    contracts = db.session.execute(
        sa.select(Contract, Network.name, Network.owner_payer_id)
        .join(Network, Network.id == Contract.network_id)
        .where(Contract.practice_id.in_(ids), Contract.archived_at.is_(None))
    ).all()
    schedules = _effective_versions(ids, on)
    cents: dict[int, dict[str, int]] = {s.id: {} for s in schedules}
    for schedule_id, code, amount in db.session.execute(
        sa.select(FeeLine.schedule_id, FeeLine.code, FeeLine.amount_cents).where(
            FeeLine.schedule_id.in_(list(cents))
        )
    ):
        cents[schedule_id][code] = amount
    lines = {schedule_id: engine.CentAmounts(amounts) for schedule_id, amounts in cents.items()}

    counts: dict[int, dict[tuple[int, str], int]] = {pid: {} for pid in ids}
    if period is not None:
        for practice_id, payer_id, code, total in db.session.execute(
            sa.select(
                CodeVolume.practice_id,
                CodeVolume.payer_id,
                CodeVolume.code,
                sa.func.sum(CodeVolume.count),
            )
            .where(
                CodeVolume.practice_id.in_(ids),
                CodeVolume.period_start >= period.start,
                CodeVolume.period_end <= period.end,
            )
            .group_by(CodeVolume.practice_id, CodeVolume.payer_id, CodeVolume.code)
        ):
            counts[practice_id][(payer_id, code)] = int(total)

    routes = db.session.execute(
        sa.select(PricingRoute.practice_id, PricingRoute.payer_id, PricingRoute.network_id).where(
            PricingRoute.practice_id.in_(ids)
        )
    ).all()
    payer_ids = db.session.scalars(
        sa.select(Payer.id).where(Payer.organization_id == user.organization_id)
    ).all()
    own_network = dict(
        db.session.execute(
            sa.select(Network.owner_payer_id, Network.id).where(
                Network.organization_id == user.organization_id, Network.owner_payer_id.is_not(None)
            )
        ).all()
    )

    by_contract = {
        (s.practice_id, s.contract_id): s for s in schedules if s.kind == ScheduleKind.CONTRACT
    }
    office_by_practice = {s.practice_id: s for s in schedules if s.kind == ScheduleKind.OFFICE}
    bench_by_practice = {
        s.practice_id: s
        for s in schedules
        if s.kind == ScheduleKind.BENCHMARK and s.label == benchmark_label
    }

    entries = {}
    for practice in practices:
        own = [(c, name) for c, name, _owner in contracts if c.practice_id == practice.id]
        contract_by_network = {c.network_id: c.id for c, _name in own}
        explicit = {payer: net for pid, payer, net in routes if pid == practice.id}
        route_map: dict[int, int | None] = {}
        for payer_id in payer_ids:
            network_id = explicit.get(payer_id, own_network.get(payer_id))
            route_map[payer_id] = contract_by_network.get(network_id)
        contract_inputs, infos = [], {}
        for contract, network_name in own:
            schedule = by_contract.get((practice.id, contract.id))
            contract_inputs.append(
                engine.ContractInput(
                    contract_id=contract.id,
                    name=network_name,
                    allowed=lines[schedule.id] if schedule else {},
                    has_schedule=schedule is not None,
                )
            )
            infos[contract.id] = ContractInfo(
                contract.id,
                practice.id,
                practice.name,
                network_name,
                schedule.id if schedule else None,
                schedule.effective_from if schedule else None,
                contract.renewal_date,
                contract.notice_deadline,
            )
        office = office_by_practice.get(practice.id)
        office_fees = lines[office.id] if office else engine.CentAmounts({})
        bench = bench_by_practice.get(practice.id)
        result = engine.analyse_practice(
            engine.PracticeInput(
                practice_id=practice.id,
                name=practice.name,
                office=office_fees,
                contracts=contract_inputs,
                counts=counts[practice.id],
                routes=route_map,
                period=period,
                min_raise=Decimal(practice.min_raise_bp) / 10000,
                benchmark=lines[bench.id] if bench else {},
            )
        )
        entries[practice.id] = _PracticeEntry(
            result=result,
            contracts=infos,
            office_schedule=office.id if office else None,
            benchmark_labels=frozenset(
                s.label
                for s in schedules
                if s.kind == ScheduleKind.BENCHMARK and s.practice_id == practice.id
            ),
            office_fees=office_fees,
        )
    return entries

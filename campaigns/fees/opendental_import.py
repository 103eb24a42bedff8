"""An Open Dental import from read to write: matching its fee schedules to contracts and its
carriers to payers, the preview the user confirms, and the confirm that writes schedule
versions, code descriptions and code volumes in the caller's one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from .. import audit
from ..accounts.models import Practice, User
from ..accounts.services import ServiceError
from ..codes import category
from ..extensions import db
from ..payers.models import Contract, Network, Payer, PricingRoute
from .importers.opendental import OpenDentalData, Schedule
from .models import (
    CarrierAlias,
    CodeVolume,
    FeeLine,
    FeeSchedule,
    ImportBatch,
    ImportKind,
    ImportStatus,
    ProcedureCode,
    ScheduleKind,
)

OFFICE_LABEL = "Office fees"  # the label the office schedule has everywhere in the app


@dataclass
class Choices:
    """What goes where: FeeSched -> contract id and CarrierNum -> payer id (None: skip), and
    whether the office schedule is imported. `notes` says why something was left unmatched."""

    schedules: dict[int, int | None] = field(default_factory=dict)
    carriers: dict[int, int | None] = field(default_factory=dict)
    office: bool = True
    notes: dict[str, str] = field(default_factory=dict)  # "feesched:5" / "carrier:10" -> why


def relevant_carriers(data: OpenDentalData) -> list[int]:
    """Carriers on a PPO schedule in use or with code mix in the period (not the whole list)."""
    nums = set(data.volumes)
    for schedule in data.schedules:
        nums.update(schedule.carrier_nums)
    return sorted(n for n in nums if n in data.carriers)


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def suggest_choices(practice: Practice, data: OpenDentalData) -> Choices:
    """The automatic matching. A carrier goes to the payer its saved alias names, else the payer
    with the same name (ignoring case), else the one whose payer id is the ElectID. A FeeSched
    goes to the practice's contract with the network that prices its carriers' payers (the
    pricing route, else the payer's direct network). Ambiguities are left unmatched, with a note.
    """
    choices = Choices(office=bool(data.office and data.office.fees))
    org = practice.organization_id
    payers = db.session.scalars(
        sa.select(Payer).where(Payer.organization_id == org, Payer.archived_at.is_(None))
    ).all()
    aliases = {
        a.name: a.payer_id
        for a in db.session.scalars(
            sa.select(CarrierAlias).where(CarrierAlias.organization_id == org)
        )
    }
    live = {p.id for p in payers}
    for num in relevant_carriers(data):
        carrier = data.carriers[num]
        name, alias = _folded(carrier.name), carrier.name.strip().lower()
        steps = (
            {aliases[alias]} & live if alias in aliases else set(),
            {p.id for p in payers if _folded(p.name) == name},
            {
                p.id
                for p in payers
                if carrier.elect_id and _folded(p.payer_id) == _folded(carrier.elect_id)
            },
        )
        found = next((ids for ids in steps if ids), set())
        choices.carriers[num] = next(iter(found)) if len(found) == 1 else None
        if len(found) > 1:
            choices.notes[f"carrier:{num}"] = "several payers match; choose one"
        elif not found:
            choices.notes[f"carrier:{num}"] = "no payer with this name or payer id"

    pricing = _pricing_networks(practice)
    contracts = {
        c.network_id: c
        for c in db.session.scalars(
            sa.select(Contract).where(
                Contract.practice_id == practice.id, Contract.archived_at.is_(None)
            )
        )
    }
    for schedule in data.schedules:
        key = f"feesched:{schedule.fee_sched}"
        payer_ids = {choices.carriers.get(n) for n in schedule.carrier_nums} - {None}
        found_contracts = {
            contracts[pricing[p]].id for p in payer_ids if pricing.get(p) in contracts
        }
        choices.schedules[schedule.fee_sched] = None
        if not schedule.fees:
            choices.notes[key] = "no fee amounts in Open Dental"
        elif len(found_contracts) == 1:
            choices.schedules[schedule.fee_sched] = found_contracts.pop()
        elif found_contracts:
            choices.notes[key] = "its carriers are priced by several contracts; choose one"
        else:
            choices.notes[key] = "no contract of this practice prices its carriers"
    taken: dict[int, list[int]] = defaultdict(list)
    for sched, contract_id in choices.schedules.items():
        if contract_id is not None:
            taken[contract_id].append(sched)
    for scheds in taken.values():
        if len(scheds) > 1:  # two schedules, one contract: the user decides which
            for sched in scheds:
                choices.schedules[sched] = None
                others = ", ".join(str(s) for s in scheds if s != sched)
                choices.notes[f"feesched:{sched}"] = (
                    f"FeeSched {others} matches the same contract; choose one"
                )
    return choices


def _pricing_networks(practice: Practice) -> dict[int, int]:
    """payer id -> the network pricing its claims for this practice (DOMAIN.md routes)."""
    networks = {
        payer_id: network_id
        for network_id, payer_id in db.session.execute(
            sa.select(Network.id, Network.owner_payer_id).where(
                Network.organization_id == practice.organization_id,
                Network.owner_payer_id.is_not(None),
                Network.archived_at.is_(None),
            )
        )
    }
    for payer_id, network_id in db.session.execute(
        sa.select(PricingRoute.payer_id, PricingRoute.network_id).where(
            PricingRoute.practice_id == practice.id
        )
    ):
        networks[payer_id] = network_id
    return networks


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# ---- preview ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRow:
    fee_sched: int
    description: str
    carriers: list[str]
    plans: int
    codes: int
    clinic_fees: int
    target: str | None  # "contract 12 Bluebird PPO", or None when skipped
    note: str


@dataclass(frozen=True)
class CarrierRow:
    carrier_num: int
    name: str
    elect_id: str
    procedures: int
    codes: int
    target: str | None  # "payer 7 Bluebird Dental", or None when skipped
    note: str


@dataclass
class OpenDentalPreview:
    """What the user checks before confirming: nothing has been written."""

    source: str
    practice: str
    period_start: date
    period_end: date
    months: int
    clinic: int
    schedules: list[ScheduleRow]
    office: str | None  # 'FeeSched 1 "Standard" of provider 1 (DOC1): 4 codes'
    office_chosen: bool
    providers: list[str]
    carriers: list[CarrierRow]
    skipped_codes: list[str]
    warnings: list[str]

    @property
    def anything(self) -> bool:
        return (
            self.office_chosen
            or any(r.target for r in self.schedules)
            or any(r.target for r in self.carriers)
        )

    def lines(self) -> list[str]:
        """The preview as text lines (the command line prints these)."""
        out = [
            f"Open Dental {self.source} -> practice {self.practice}",
            f"Code mix period: {self.period_start} to {self.period_end} ({self.months} "
            f"full month{'s' if self.months != 1 else ''}); clinic {self.clinic}",
            "Fee schedules of PPO plans:",
        ]
        for r in self.schedules or []:
            plans = _n(r.plans, "plan")
            clinic = f" ({r.clinic_fees} from the clinic's fees)" if r.clinic_fees else ""
            target = f"-> {r.target}" if r.target else f"-> skipped: {r.note}"
            codes = _n(r.codes, "code")
            out.append(
                f'  FeeSched {r.fee_sched} "{r.description}": {codes}{clinic}, {plans} '
                f"of {', '.join(r.carriers)} {target}"
            )
        if not self.schedules:
            out.append("  none in use")
        if self.office is None:
            out.append("Office schedule: none (choose the provider whose fee schedule it is)")
        else:
            target = f'-> "{OFFICE_LABEL}"' if self.office_chosen else "-> skipped"
            out.append(f"Office schedule: {self.office} {target}")
        out.append(f"Providers: {'; '.join(self.providers) or 'none'}")
        out.append("Code mix (distinct completed procedures on primary claims):")
        for r in self.carriers:
            elect = f" [{r.elect_id}]" if r.elect_id else ""
            target = f"-> {r.target}" if r.target else f"-> skipped: {r.note}"
            out.append(
                f"  carrier {r.carrier_num} {r.name}{elect}: {_n(r.procedures, 'procedure')}, "
                f"{_n(r.codes, 'code')} {target}"
            )
        if not self.carriers:
            out.append("  no carriers")
        if self.skipped_codes:
            out.append(f"Left out (no procedure-code shape): {', '.join(self.skipped_codes)}")
        out += [f"Warning: {w}" for w in self.warnings]
        return out


def preview(practice: Practice, data: OpenDentalData, choices: Choices) -> OpenDentalPreview:
    """The summary shown before confirm: schedules, office schedule, code mix per carrier."""
    contracts = dict(
        db.session.execute(
            sa.select(Contract.id, Network.name)
            .join(Network, Network.id == Contract.network_id)
            .where(Contract.practice_id == practice.id)
        ).all()
    )
    payers = dict(
        db.session.execute(
            sa.select(Payer.id, Payer.name).where(Payer.organization_id == practice.organization_id)
        ).all()
    )
    schedules = []
    for s in data.schedules:
        contract_id = choices.schedules.get(s.fee_sched)
        schedules.append(
            ScheduleRow(
                s.fee_sched,
                s.description,
                [data.carriers[n].name if n in data.carriers else f"#{n}" for n in s.carrier_nums],
                s.plans,
                len(s.fees),
                s.clinic_fees,
                f"contract {contract_id} {contracts.get(contract_id, '?')}"
                if contract_id
                else None,
                choices.notes.get(f"feesched:{s.fee_sched}", "not chosen"),
            )
        )
    office = None
    if data.office is not None:
        provider = next(p for p in data.providers if p.prov_num == data.office_provider)
        office = (
            f'FeeSched {data.office.fee_sched} "{data.office.description}" of provider '
            f"{provider.prov_num} ({provider.label}): {len(data.office.fees)} codes"
        )
    carriers = []
    for num in relevant_carriers(data):
        carrier, volumes = data.carriers[num], data.volumes.get(num, {})
        payer_id = choices.carriers.get(num)
        carriers.append(
            CarrierRow(
                num,
                carrier.name,
                carrier.elect_id,
                sum(volumes.values()),
                len({code for code, _ in volumes}),
                f"payer {payer_id} {payers.get(payer_id, '?')}" if payer_id else None,
                choices.notes.get(f"carrier:{num}", "not chosen"),
            )
        )
    return OpenDentalPreview(
        source=data.source,
        practice=f"{practice.id} {practice.name}",
        period_start=data.period_start,
        period_end=data.period_end,
        months=data.months,
        clinic=data.clinic,
        schedules=schedules,
        office=office,
        office_chosen=office is not None and choices.office,
        providers=[
            f"{p.prov_num} {p.label} (FeeSched {p.fee_sched or 'none'}"
            f"{', hidden' if p.hidden else ''})"
            for p in data.providers
        ],
        carriers=carriers,
        skipped_codes=[
            f"{raw} ({_n(fees, 'fee row')}, {_n(procs, 'procedure')})"
            for raw, (fees, procs) in sorted(data.skipped_codes.items())
        ],
        warnings=list(data.warnings),
    )


# ---- confirm ----------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What the confirm wrote (ids for links, counts for the message)."""

    contract_schedule_ids: list[int] = field(default_factory=list)
    office_schedule_id: int | None = None
    volume_rows: int = 0
    volume_rows_replaced: int = 0
    procedures: int = 0
    codes_added: int = 0
    codes_updated: int = 0
    batch_ids: list[int] = field(default_factory=list)

    def message(self) -> str:
        parts = [f"{len(self.contract_schedule_ids)} contract schedule version(s)"]
        if self.office_schedule_id is not None:
            parts.append("the office schedule")
        parts.append(
            f"{self.volume_rows} code-volume row(s) ({self.procedures} procedures; "
            f"{self.volume_rows_replaced} older row(s) replaced)"
        )
        parts.append(f"{self.codes_added} code description(s) added, {self.codes_updated} updated")
        return "Imported " + ", ".join(parts) + "."


def confirm(
    user: User | None,
    practice: Practice,
    data: OpenDentalData,
    choices: Choices,
    effective_from: date,
    now: datetime,
) -> ImportResult:
    """Write the chosen parts of an Open Dental read into the practice: one new schedule version
    per chosen contract (and the office's), the code descriptions, and the code volumes per
    payer, code and month, replacing older volumes of the same payers in an overlapping period.

    Everything is checked before the first write; the caller commits once, or rolls back on
    any error so nothing is written. ServiceError says what is wrong with the choices.
    """
    schedules, payer_of = _validated(user, practice, data, choices)
    office = data.office if choices.office and data.office is not None else None
    if office is not None and not office.fees:
        raise ServiceError("The office fee schedule has no fee amounts in Open Dental.")
    volumes: dict[tuple[int, str, date], int] = defaultdict(int)
    for carrier_num, payer_id in payer_of.items():
        for (code, month), count in data.volumes.get(carrier_num, {}).items():
            volumes[(payer_id, code, month)] += count
    if not schedules and office is None and not payer_of:
        raise ServiceError("Nothing is chosen to import.")

    result = ImportResult()
    codes = {code for _, code, _ in volumes}
    for _, schedule in schedules:
        codes.update(schedule.fees)
    if office is not None:
        codes.update(office.fees)
    _upsert_codes(practice, data, sorted(codes), result)

    base = {
        "source": "opendental",
        "database": data.source,
        "clinic": data.clinic,
        "effective_from": effective_from.isoformat(),
    }
    for contract, schedule in schedules:
        options = {**base, "fee_sched": schedule.fee_sched, "contract_id": contract.id}
        version = _write_schedule(
            user,
            practice,
            schedule,
            ScheduleKind.CONTRACT,
            contract,
            effective_from,
            now,
            options,
            result,
        )
        result.contract_schedule_ids.append(version.id)
    if office is not None:
        options = {**base, "fee_sched": office.fee_sched, "provider": data.office_provider}
        version = _write_schedule(
            user, practice, office, ScheduleKind.OFFICE, None, effective_from, now, options, result
        )
        result.office_schedule_id = version.id
    if payer_of:
        _write_volumes(user, practice, data, payer_of, volumes, now, base, result)
    if result.codes_added or result.codes_updated:  # every code came with a batch written
        audit.record(
            user,
            "imported",
            db.session.get(ImportBatch, result.batch_ids[0]),
            summary=f"Open Dental code descriptions: {result.codes_added} added, "
            f"{result.codes_updated} updated",
        )
    return result


def _validated(
    user: User | None, practice: Practice, data: OpenDentalData, choices: Choices
) -> tuple[list[tuple[Contract, Schedule]], dict[int, int]]:
    """([(contract, schedule)], {carrier: payer}) for the chosen parts; ServiceError otherwise."""
    if user is not None and user.organization_id != practice.organization_id:
        raise ServiceError("This practice belongs to another organisation.")
    if practice.archived_at is not None:
        raise ServiceError(f"Practice {practice.name} is archived.")
    by_sched = {s.fee_sched: s for s in data.schedules}
    schedules: list[tuple[Contract, Schedule]] = []
    seen: dict[int, int] = {}
    for sched, contract_id in sorted(choices.schedules.items()):
        if contract_id is None:
            continue
        if sched not in by_sched:
            raise ServiceError(f"FeeSched {sched} is not a PPO fee schedule in use in Open Dental.")
        contract = db.session.get(Contract, contract_id)
        if contract is None or contract.practice_id != practice.id:
            raise ServiceError(f"Contract {contract_id} is not a contract of {practice.name}.")
        if contract.archived_at is not None:
            raise ServiceError(f"Contract {contract_id} is archived.")
        if contract_id in seen:
            raise ServiceError(
                f"FeeSched {seen[contract_id]} and {sched} are both chosen for contract "
                f"{contract_id}; choose one."
            )
        if not by_sched[sched].fees:
            raise ServiceError(f"FeeSched {sched} has no fee amounts in Open Dental.")
        seen[contract_id] = sched
        schedules.append((contract, by_sched[sched]))
    payer_of: dict[int, int] = {}
    for carrier_num, payer_id in sorted(choices.carriers.items()):
        if payer_id is None:
            continue
        if carrier_num not in data.carriers:
            raise ServiceError(f"Open Dental has no carrier {carrier_num}.")
        payer = db.session.get(Payer, payer_id)
        if payer is None or payer.organization_id != practice.organization_id:
            raise ServiceError(f"Payer {payer_id} does not exist.")
        if payer.archived_at is not None:
            raise ServiceError(f"Payer {payer.name} is archived.")
        payer_of[carrier_num] = payer_id
    return schedules, payer_of


def _upsert_codes(
    practice: Practice, data: OpenDentalData, codes: list[str], result: ImportResult
) -> None:
    """The organisation's code table: add the codes it lacks, take Open Dental's descriptions."""
    existing = {
        c.code: c
        for c in db.session.scalars(
            sa.select(ProcedureCode).where(
                ProcedureCode.organization_id == practice.organization_id,
                ProcedureCode.code.in_(codes),
            )
        )
    }
    for code in codes:
        description = data.codes.get(code, "")
        row = existing.get(code)
        if row is None:
            db.session.add(
                ProcedureCode(
                    organization_id=practice.organization_id,
                    code=code,
                    description=description,
                    category=category(code),
                )
            )
            result.codes_added += 1
        elif description and row.description != description:
            row.description = description
            result.codes_updated += 1


def _batch(
    user: User | None,
    practice: Practice,
    kind: ImportKind,
    name: str,
    options: dict,
    summary: dict,
    now: datetime,
) -> ImportBatch:
    """A confirmed import batch (the history and undo work from it); no file is kept."""
    batch = ImportBatch(
        organization_id=practice.organization_id,
        practice_id=practice.id,
        kind=kind,
        status=ImportStatus.CONFIRMED,
        filename=name,
        size=0,
        data=None,
        options=options,
        summary=summary,
        created_by_id=user.id if user else None,
        confirmed_at=now,
        created_at=now,
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def _write_schedule(
    user: User | None,
    practice: Practice,
    schedule: Schedule,
    kind: ScheduleKind,
    contract: Contract | None,
    effective_from: date,
    now: datetime,
    options: dict,
    result: ImportResult,
) -> FeeSchedule:
    source = f"Open Dental FeeSched {schedule.fee_sched}"
    batch = _batch(
        user,
        practice,
        ImportKind.CONTRACT if contract else ImportKind.OFFICE,
        f"{source} ({schedule.description})",
        options,
        {"codes": len(schedule.fees), "clinic_fees": schedule.clinic_fees},
        now,
    )
    result.batch_ids.append(batch.id)
    version = FeeSchedule(
        organization_id=practice.organization_id,
        practice_id=practice.id,
        kind=kind,
        contract_id=contract.id if contract else None,
        label=f"{contract.network.name} fee schedule" if contract else OFFICE_LABEL,
        effective_from=effective_from,
        source=source,
        created_by_id=user.id if user else None,
        import_batch_id=batch.id,
        created_at=now,
        lines=[
            FeeLine(code=code, amount_cents=cents) for code, cents in sorted(schedule.fees.items())
        ],
    )
    db.session.add(version)
    db.session.flush()
    audit.record(
        user,
        "imported",
        version,
        summary=f'{source} "{schedule.description}" -> {version.label} from '
        f"{effective_from.isoformat()}: {len(schedule.fees)} codes",
    )
    return version


def _write_volumes(
    user: User | None,
    practice: Practice,
    data: OpenDentalData,
    payer_of: dict[int, int],
    volumes: dict[tuple[int, str, date], int],
    now: datetime,
    base: dict,
    result: ImportResult,
) -> None:
    """Replace the chosen payers' volumes in any overlapping period with the month rows read."""
    payer_ids = sorted(set(payer_of.values()))
    replaced = db.session.execute(
        sa.delete(CodeVolume)
        .where(
            CodeVolume.practice_id == practice.id,
            CodeVolume.payer_id.in_(payer_ids),
            CodeVolume.period_start <= data.period_end,
            CodeVolume.period_end >= data.period_start,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    result.volume_rows_replaced = replaced or 0
    result.volume_rows = len(volumes)
    result.procedures = sum(volumes.values())
    name = f"Open Dental code mix {data.period_start.isoformat()} to {data.period_end.isoformat()}"
    batch = _batch(
        user,
        practice,
        ImportKind.VOLUMES,
        name,
        {**base, "carriers": {str(c): p for c, p in sorted(payer_of.items())}},
        {
            "period_start": data.period_start.isoformat(),
            "period_end": data.period_end.isoformat(),
            "rows": result.volume_rows,
            "procedures": result.procedures,
            "replaced": result.volume_rows_replaced,
            "payers": payer_ids,
        },
        now,
    )
    result.batch_ids.append(batch.id)
    if volumes:
        db.session.execute(
            sa.insert(CodeVolume),
            [
                {
                    "organization_id": practice.organization_id,
                    "practice_id": practice.id,
                    "payer_id": payer_id,
                    "code": code,
                    "period_start": month,
                    "period_end": _month_end(month),
                    "count": count,
                    "import_batch_id": batch.id,
                }
                for (payer_id, code, month), count in sorted(volumes.items())
            ],
        )
    audit.record(
        user,
        "imported",
        batch,
        summary=f"{name}: {result.procedures} procedures in {result.volume_rows} rows for "
        f"{len(payer_ids)} payer(s); {result.volume_rows_replaced} older row(s) replaced",
    )


def _month_end(first: date) -> date:
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)

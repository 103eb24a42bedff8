"""The analysis engine: every figure of DOMAIN.md "How the numbers are computed".

Pure: dataclasses and Decimal in, dataclasses out; no Flask, no SQLAlchemy. Money is Decimal
dollars; every per-code money figure is exact until it is rounded half-up to the cent, and
every total is the sum of its rounded rows. Percentages come from exact sums.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

ZERO = Decimal(0)
CENT = Decimal("0.01")
EIGHTY_PERCENT = Decimal("0.8")


NONE = Fraction(0)


def round_cents(value: Decimal | Fraction) -> Decimal:
    """Half-up to the cent (the one rounding rule for money), exactly, also for a Fraction."""
    if isinstance(value, Fraction):
        cents = value * 100
        whole, rest = divmod(abs(cents.numerator), cents.denominator)
        if 2 * rest >= cents.denominator:
            whole += 1
        return (Decimal(whole if cents >= 0 else -whole) / 100).quantize(CENT)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def times(volume: Fraction | Decimal, amount: Decimal) -> Fraction | Decimal:
    """V x amount, exact: annualised volumes are Fractions (365 / 90 days has no end). A whole
    volume (a 12-month period) multiplies in Decimal, which is exact and much faster."""
    if isinstance(volume, Fraction) and volume.denominator == 1:
        return volume.numerator * amount
    return Fraction(volume) * Fraction(amount)


def to_decimal(value: Fraction | Decimal | None) -> Decimal | None:
    """A Fraction as a Decimal (28 digits) for display and export; other values unchanged."""
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return value


# ---- periods and volumes -------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """An inclusive date range of volume data."""

    start: date
    end: date

    @property
    def whole_months(self) -> int | None:
        """The number of calendar months when the period is made of whole months, else None."""
        starts_on_first = self.start.day == 1
        ends_on_last = (self.end + timedelta(days=1)).day == 1
        if not (starts_on_first and ends_on_last):
            return None
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def annual_factor(self) -> Fraction:
        """Whole calendar months x 12 / months; any other period x 365 / inclusive days;
        a Fraction, so volumes stay exact until a money figure is rounded."""
        months = self.whole_months
        if months is not None:
            return Fraction(12, months)
        return Fraction(365, self.days)

    @property
    def shorter_than_a_year(self) -> bool:
        months = self.whole_months
        return months < 12 if months is not None else self.days < 365

    def formula(self) -> str:
        months = self.whole_months
        if months is not None:
            return f"annual factor = 12 / {months} months"
        return f"annual factor = 365 / {self.days} days"


# ---- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractInput:
    """One contract of a practice with the allowed amounts of its schedule effective on d."""

    contract_id: int
    name: str
    #: code -> allowed amount A; empty when the contract has no schedule on the date
    allowed: Mapping[str, Decimal]
    has_schedule: bool = True


@dataclass(frozen=True)
class PracticeInput:
    """Everything the engine needs for one practice on one analysis date."""

    practice_id: int
    name: str
    #: code -> office fee U
    office: Mapping[str, Decimal]
    contracts: Sequence[ContractInput]
    #: (payer id, code) -> procedures counted in `period`
    counts: Mapping[tuple[int, str], int]
    #: payer id -> the contract that prices its claims (None: no contract with that network)
    routes: Mapping[int, int | None]
    period: Period | None
    min_raise: Decimal = Decimal("0.05")
    #: code -> the chosen benchmark percentile B
    benchmark: Mapping[str, Decimal] = field(default_factory=dict)


# ---- outputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeResult:
    """One code of one contract, with every figure and its rounding done."""

    code: str
    volume: Fraction  # annualised V, exact
    office: Decimal | None  # U
    allowed: Decimal | None  # A
    effective: Decimal | None  # E = min(A, U) where U exists, else A
    office_below_allowance: bool
    annual_allowed: Decimal | None  # round(V * E)
    annual_write_off: Decimal | None  # round(V * (U - E)), only where U exists
    peer: Decimal | None  # M: median E of the other contracts listing the code
    gap: Decimal | None  # G = max(0, M - E)
    opportunity: Decimal  # round(V * G)
    suggested_ask: Decimal | None
    rank: int = 0
    in_80: bool = False

    def formula(self, figure: str) -> str:
        """The figure's formula with the values filled in (for 'show the inputs')."""
        return explain(self, figure)


@dataclass(frozen=True)
class ContractResult:
    contract_id: int
    name: str
    practice_id: int
    has_schedule: bool
    codes: tuple[CodeResult, ...]  # ranked by opportunity, then code
    annual_allowed: Decimal
    annual_write_off: Decimal
    ucr_numerator: Fraction  # sum V*E over codes with U, E and V > 0 (exact)
    ucr_denominator: Fraction  # sum V*U over the same codes (exact)
    opportunity: Decimal
    volume: Fraction
    rank: int = 0

    @property
    def weighted_pct_of_ucr(self) -> Decimal | None:
        return ratio(self.ucr_numerator, self.ucr_denominator)

    @property
    def eighty_mark_codes(self) -> tuple[CodeResult, ...]:
        return tuple(c for c in self.codes if c.in_80)


@dataclass(frozen=True)
class PracticeResult:
    practice_id: int
    name: str
    period: Period | None
    contracts: tuple[ContractResult, ...]  # ranked
    codes_without_office_fee: tuple[str, ...]  # codes with volume but no office fee
    unrouted_payers: tuple[int, ...]  # payers with volume and no contract to price them
    annual_factor: Fraction | None

    @property
    def opportunity(self) -> Decimal:
        return sum((c.opportunity for c in self.contracts), ZERO)

    @property
    def annual_allowed(self) -> Decimal:
        return sum((c.annual_allowed for c in self.contracts), ZERO)

    @property
    def annual_write_off(self) -> Decimal:
        return sum((c.annual_write_off for c in self.contracts), ZERO)

    @property
    def ucr_numerator(self) -> Fraction:
        return sum((c.ucr_numerator for c in self.contracts), NONE)

    @property
    def ucr_denominator(self) -> Fraction:
        return sum((c.ucr_denominator for c in self.contracts), NONE)

    @property
    def weighted_pct_of_ucr(self) -> Decimal | None:
        return ratio(self.ucr_numerator, self.ucr_denominator)

    @property
    def period_shorter_than_a_year(self) -> bool:
        return self.period is not None and self.period.shorter_than_a_year

    @property
    def contracts_without_schedule(self) -> tuple[ContractResult, ...]:
        return tuple(c for c in self.contracts if not c.has_schedule)


def ratio(numerator: Decimal | Fraction, denominator: Decimal | Fraction) -> Decimal | None:
    """numerator / denominator, or None ('n/a') when the denominator is empty."""
    if not denominator:
        return None
    if isinstance(numerator, Fraction) or isinstance(denominator, Fraction):
        if isinstance(numerator, Decimal):
            numerator = Fraction(numerator)
        if isinstance(denominator, Decimal):
            denominator = Fraction(denominator)
        return to_decimal(Fraction(numerator) / Fraction(denominator))
    return numerator / denominator


# ---- the computation -----------------------------------------------------------------------


def effective_allowed(allowed: Decimal | None, office: Decimal | None) -> Decimal | None:
    """E = min(A, U) where U exists (payers pay the lesser), else A."""
    if allowed is None:
        return None
    if office is None:
        return allowed
    return min(allowed, office)


def _median_without(ordered: Sequence[Decimal], own: Decimal | None) -> Decimal | None:
    """The median of a sorted list after removing one occurrence of `own` (None: nothing)."""
    if own is None:
        return median(ordered)
    index = bisect_left(ordered, own)
    return _median_sorted([*ordered[:index], *ordered[index + 1 :]])


def _median_sorted(ordered: Sequence[Decimal]) -> Decimal | None:
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def median(values: Sequence[Decimal]) -> Decimal | None:
    """The median; an even count takes the exact mean of the two middle values."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def suggested_ask(
    effective: Decimal | None,
    office: Decimal | None,
    peer: Decimal | None,
    benchmark: Decimal | None,
    min_raise: Decimal,
) -> Decimal | None:
    """min(U, max(terms)) over E*(1+min_raise), M, B that exist; None unless above E."""
    if office is None or effective is None:
        return None
    terms = [effective * (1 + min_raise)]
    terms += [t for t in (peer, benchmark) if t is not None]
    ask = round_cents(min(office, max(terms)))
    return ask if ask > effective else None


def contract_volumes(practice: PracticeInput) -> dict[int, dict[str, Fraction]]:
    """Annualised volume per contract and code, added up through the pricing routes."""
    factor = practice.period.annual_factor if practice.period else NONE
    result: dict[int, dict[str, Fraction]] = {c.contract_id: {} for c in practice.contracts}
    for (payer_id, code), count in practice.counts.items():
        contract_id = practice.routes.get(payer_id)
        if contract_id is None or contract_id not in result or not count:
            continue
        per_code = result[contract_id]
        per_code[code] = per_code.get(code, NONE) + count * factor
    return result


def analyse_practice(practice: PracticeInput) -> PracticeResult:
    """All contracts of one practice: their code figures, totals, ranking and 80% marks."""
    office = practice.office
    volumes = contract_volumes(practice)
    effective: dict[int, dict[str, Decimal]] = {
        c.contract_id: {
            code: effective_allowed(amount, office.get(code)) for code, amount in c.allowed.items()
        }
        for c in practice.contracts
    }
    # Which contracts list each code, for the peer reference.
    # Every contract's effective allowed per code, sorted once; a contract's peers are that
    # list without its own value.
    listed: dict[str, list[Decimal]] = {}
    for contract in practice.contracts:
        for code in contract.allowed:
            listed.setdefault(code, []).append(effective[contract.contract_id][code])
    for values in listed.values():
        values.sort()

    results = []
    for contract in practice.contracts:
        cid = contract.contract_id
        codes = set(contract.allowed) | set(volumes[cid])
        rows = []
        for code in codes:
            volume = volumes[cid].get(code, NONE)
            u = office.get(code)
            a = contract.allowed.get(code)
            e = effective[cid].get(code)
            m = _median_without(listed.get(code, ()), e if a is not None else None)
            gap = max(ZERO, m - e) if (m is not None and e is not None) else None
            rows.append(
                CodeResult(
                    code=code,
                    volume=volume,
                    office=u,
                    allowed=a,
                    effective=e,
                    office_below_allowance=a is not None and u is not None and a > u,
                    annual_allowed=round_cents(times(volume, e)) if e is not None else None,
                    annual_write_off=(
                        round_cents(times(volume, u - e))
                        if (u is not None and e is not None)
                        else None
                    ),
                    peer=m,
                    gap=gap,
                    opportunity=round_cents(times(volume, gap)) if gap is not None else ZERO,
                    suggested_ask=suggested_ask(
                        e, u, m, practice.benchmark.get(code), practice.min_raise
                    ),
                )
            )
        results.append(_contract_result(contract, practice.practice_id, rows))

    ranked = rank_contracts(results)
    volume_codes = {code for (_payer, code), count in practice.counts.items() if count}
    unrouted = sorted(
        {
            payer
            for (payer, _code), count in practice.counts.items()
            if count and practice.routes.get(payer) not in volumes
        }
    )
    return PracticeResult(
        practice_id=practice.practice_id,
        name=practice.name,
        period=practice.period,
        contracts=ranked,
        codes_without_office_fee=tuple(sorted(volume_codes - set(office))),
        unrouted_payers=tuple(unrouted),
        annual_factor=practice.period.annual_factor if practice.period else None,
    )


def _contract_result(
    contract: ContractInput, practice_id: int, rows: list[CodeResult]
) -> ContractResult:
    opportunity = sum((r.opportunity for r in rows), ZERO)
    ranked = mark_eighty(rank_codes(rows), opportunity)
    numerator = denominator = NONE  # Fractions for repeating volumes
    whole_numerator = whole_denominator = ZERO  # Decimals for whole volumes (fast, exact)
    for r in rows:
        if r.office is not None and r.effective is not None and r.volume > 0:
            part_e, part_u = times(r.volume, r.effective), times(r.volume, r.office)
            if isinstance(part_e, Decimal):
                whole_numerator += part_e
                whole_denominator += part_u
            else:
                numerator += part_e
                denominator += part_u
    numerator += Fraction(whole_numerator)
    denominator += Fraction(whole_denominator)
    return ContractResult(
        contract_id=contract.contract_id,
        name=contract.name,
        practice_id=practice_id,
        has_schedule=contract.has_schedule,
        codes=ranked,
        annual_allowed=sum((r.annual_allowed for r in rows if r.annual_allowed is not None), ZERO),
        annual_write_off=sum(
            (r.annual_write_off for r in rows if r.annual_write_off is not None), ZERO
        ),
        ucr_numerator=numerator,
        ucr_denominator=denominator,
        opportunity=opportunity,
        volume=sum((r.volume for r in rows), NONE),
    )


def _settle(row: CodeResult, **values) -> None:
    """Set rank / in_80 on a row the engine has just built and not yet handed out (a copy
    through dataclasses.replace per row was a tenth of the engine's time)."""
    for name, value in values.items():
        object.__setattr__(row, name, value)


def rank_codes(rows: Iterable[CodeResult]) -> list[CodeResult]:
    """Codes by opportunity (largest first), ties by code; rank from 1 (rows built here)."""
    ordered = sorted(rows, key=lambda r: (-r.opportunity, r.code))
    for i, row in enumerate(ordered, start=1):
        _settle(row, rank=i)
    return ordered


def mark_eighty(rows: list[CodeResult], total: Decimal) -> tuple[CodeResult, ...]:
    """Flag the ranked codes up to and including the one whose running total first reaches
    80% of the contract's opportunity (none when there is no opportunity)."""
    if total <= 0:
        return tuple(rows)
    threshold = total * EIGHTY_PERCENT
    running = ZERO
    for row in rows:
        running += row.opportunity
        _settle(row, in_80=True)
        if running >= threshold:
            break
    return tuple(rows)


def rank_contracts(results: Iterable[ContractResult]) -> tuple[ContractResult, ...]:
    """Contracts by opportunity (largest first), ties by name; rank from 1."""
    ordered = sorted(results, key=lambda c: (-c.opportunity, c.name, c.contract_id))
    return tuple(_replace(c, rank=i) for i, c in enumerate(ordered, start=1))


def _replace(obj, **changes):
    return replace(obj, **changes)


# ---- several practices ---------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    """'All practices': sums of the per-practice figures; % of UCR from the summed parts."""

    practices: tuple[PracticeResult, ...]

    @property
    def contracts(self) -> tuple[ContractResult, ...]:
        return rank_contracts(c for p in self.practices for c in p.contracts)

    @property
    def opportunity(self) -> Decimal:
        return sum((p.opportunity for p in self.practices), ZERO)

    @property
    def annual_allowed(self) -> Decimal:
        return sum((p.annual_allowed for p in self.practices), ZERO)

    @property
    def annual_write_off(self) -> Decimal:
        return sum((p.annual_write_off for p in self.practices), ZERO)

    @property
    def weighted_pct_of_ucr(self) -> Decimal | None:
        return ratio(
            sum((p.ucr_numerator for p in self.practices), NONE),
            sum((p.ucr_denominator for p in self.practices), NONE),
        )


def analyse_group(practices: Iterable[PracticeInput]) -> GroupResult:
    return GroupResult(tuple(analyse_practice(p) for p in practices))


@dataclass(frozen=True)
class ParetoPoint:
    contract_id: int
    code: str
    opportunity: Decimal
    cumulative: Decimal
    cumulative_share: Decimal | None


def pareto(contracts: Iterable[ContractResult]) -> tuple[ParetoPoint, ...]:
    """Opportunity by (contract, code), largest first, with the running share of the total."""
    rows = sorted(
        ((c.contract_id, c.name, r) for c in contracts for r in c.codes if r.opportunity > 0),
        key=lambda t: (-t[2].opportunity, t[1], t[2].code),
    )
    total = sum((r.opportunity for _cid, _name, r in rows), ZERO)
    points, running = [], ZERO
    for cid, _name, r in rows:
        running += r.opportunity
        points.append(ParetoPoint(cid, r.code, r.opportunity, running, ratio(running, total)))
    return tuple(points)


# ---- asked value, realised gain, what-if ---------------------------------------------------


@dataclass(frozen=True)
class FrozenCode:
    """A code's volume V and effective allowed E, frozen when the campaign was submitted."""

    code: str
    volume: Fraction | Decimal
    effective: Decimal


def asked_value(frozen: Iterable[FrozenCode], asks: Mapping[str, Decimal]) -> Decimal:
    """sum V*(ask - E) over the target codes, each term rounded to the cent."""
    return sum(
        (
            round_cents(times(f.volume, asks[f.code] - f.effective))
            for f in frozen
            if f.code in asks
        ),
        ZERO,
    )


def realised_gain(frozen: Iterable[FrozenCode], new_amounts: Mapping[str, Decimal]) -> Decimal:
    """sum V*(new - E) over ALL codes of the frozen baseline (cuts count), rounded per code.

    A code missing from the new version counts as unchanged (the new version is a full copy
    of the baseline, so this only happens for hand-built inputs)."""
    return sum(
        (
            round_cents(times(f.volume, new_amounts.get(f.code, f.effective) - f.effective))
            for f in frozen
        ),
        ZERO,
    )


@dataclass(frozen=True)
class WhatIfRow:
    code: str
    volume: Fraction
    office: Decimal | None
    effective: Decimal
    new_allowed: Decimal
    new_effective: Decimal
    gain: Decimal


@dataclass(frozen=True)
class WhatIf:
    rows: tuple[WhatIfRow, ...]

    @property
    def gain(self) -> Decimal:
        return sum((r.gain for r in self.rows), ZERO)


def what_if(
    contract: ContractResult,
    codes: Iterable[str],
    *,
    raise_pct: Decimal | None = None,
    targets: Mapping[str, Decimal] | None = None,
) -> WhatIf:
    """$/yr if the chosen codes' allowed amounts rose by `raise_pct` (0.10 = +10%) or became
    the `targets`: per code V*(min(A', U) - E), rounded; codes without an allowed amount are
    skipped (nothing to raise)."""
    by_code = {r.code: r for r in contract.codes}
    rows = []
    for code in sorted(set(codes)):
        r = by_code.get(code)
        if r is None or r.allowed is None or r.effective is None:
            continue
        if targets is not None and code in targets:
            new_allowed = round_cents(targets[code])
        elif raise_pct is not None:
            new_allowed = round_cents(r.allowed * (1 + raise_pct))
        else:
            continue
        new_effective = effective_allowed(new_allowed, r.office)
        rows.append(
            WhatIfRow(
                code,
                r.volume,
                r.office,
                r.effective,
                new_allowed,
                new_effective,
                round_cents(times(r.volume, new_effective - r.effective)),
            )
        )
    return WhatIf(tuple(rows))


# ---- formulas with values ------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"${round_cents(value):,.2f}"


def _exact_money(value: Decimal | None) -> str:
    """Like _money, but keeps the digits of a value that is not whole cents (a median of two
    amounts can end in a half cent), so a formula with this value checks by hand."""
    if value is None or value == round_cents(value):
        return _money(value)
    return f"${value.normalize():,f}"


def _volume(value: Fraction | Decimal) -> str:
    """V for a formula: whole or up to two decimals; a repeating one also as its fraction."""
    exact = Fraction(value)
    shown = to_decimal(exact).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{shown:f}".rstrip("0").rstrip(".") or "0"
    if Fraction(shown) != exact:
        text += f" (= {exact.numerator}/{exact.denominator})"
    return text


def explain(row: CodeResult, figure: str) -> str:
    """'opportunity = 212 x ($118.40 - $104.00) = $3,052.80' and friends."""
    v = _volume(row.volume)
    if figure == "effective":
        if row.office is None:
            return f"effective allowed = allowed = {_money(row.allowed)} (no office fee)"
        return (
            f"effective allowed = min(allowed {_money(row.allowed)}, office fee "
            f"{_money(row.office)}) = {_money(row.effective)}"
        )
    if figure == "annual_allowed":
        return f"annual allowed = {v} x {_money(row.effective)} = {_money(row.annual_allowed)}"
    if figure == "annual_write_off":
        return (
            f"annual write-off = {v} x ({_money(row.office)} - {_money(row.effective)}) = "
            f"{_money(row.annual_write_off)}"
        )
    if figure == "opportunity":
        if row.peer is None:
            return "opportunity = $0.00 (no other contract lists this code)"
        return (
            f"opportunity = {v} x max(0, {_exact_money(row.peer)} - {_money(row.effective)}) = "
            f"{_money(row.opportunity)}"
        )
    if figure == "peer":
        return (
            "peer reference = median effective allowed of the other contracts = "
            f"{_exact_money(row.peer)}"
        )
    raise ValueError(f"no formula for {figure!r}")

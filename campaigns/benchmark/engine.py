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
from math import gcd

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
    """One contract's totals; its code rows are kept as integers and become CodeResults
    (ranked by opportunity, then code) only when asked for (`codes`)."""

    contract_id: int
    name: str
    practice_id: int
    has_schedule: bool
    annual_allowed: Decimal
    annual_write_off: Decimal
    ucr_numerator: Fraction  # sum V*E over codes with U, E and V > 0 (exact)
    ucr_denominator: Fraction  # sum V*U over the same codes (exact)
    opportunity: Decimal
    volume: Fraction
    rows: Mapping[str, tuple] = field(default_factory=dict, repr=False, compare=False)
    scale: _Scale | None = field(default=None, repr=False, compare=False)
    rank: int = 0
    keep_codes: bool = field(default=False, repr=False, compare=False)

    @property
    def weighted_pct_of_ucr(self) -> Decimal | None:
        return _memo(
            self, "_weighted_pct_of_ucr", lambda: ratio(self.ucr_numerator, self.ucr_denominator)
        )

    def _ranked(self, limit: int | None = None) -> tuple[CodeResult, ...]:
        ranked = _ranked_rows(self.rows)
        eighty = _eighty_count(ranked, int(self.opportunity.scaleb(2)))
        chosen = ranked if limit is None else ranked[: min(limit, eighty)]
        return tuple(
            self.scale.row(code, row, rank, rank <= eighty)
            for rank, (code, row) in enumerate(chosen, start=1)
        )

    @property
    def codes(self) -> tuple[CodeResult, ...]:
        """Every code row, ranked by opportunity (largest first), ties by code."""
        if not self.keep_codes:
            return self._ranked()
        return _memo(self, "_codes", self._ranked)

    @property
    def eighty_mark_codes(self) -> tuple[CodeResult, ...]:
        if self.keep_codes:
            return tuple(c for c in self.codes if c.in_80)
        return self._ranked(len(self.rows))

    @property
    def eighty_count(self) -> int:
        """How many codes carry 80% of the opportunity, without building their rows."""
        if self.keep_codes:
            return len(self.eighty_mark_codes)
        return _memo(
            self,
            "_eighty_count",
            lambda: _eighty_count(_ranked_rows(self.rows), int(self.opportunity.scaleb(2))),
        )

    def for_one_page(self) -> ContractResult:
        """A copy that builds its code rows once and keeps them, for a page that reads them
        several times (the shared result in a cache never keeps them: memory)."""
        return replace(self, keep_codes=True)

    def amounts(self, code: str) -> tuple[int | None, int | None, int | None] | None:
        """(A, E, U) of a code in units of 10^-places dollars; None when the contract has no
        row for the code (for pages that show a few figures of many cells)."""
        row = self.rows.get(code)
        return None if row is None else (row[A], row[E], row[U])

    @property
    def places(self) -> int:
        return self.scale.places if self.scale else 2

    def opportunities(self) -> Iterable[tuple[str, int]]:
        """(code, opportunity in cents) of the codes with an opportunity, in no order."""
        return ((code, row[OPPORTUNITY]) for code, row in self.rows.items() if row[OPPORTUNITY])


@dataclass(frozen=True)
class PracticeResult:
    practice_id: int
    name: str
    period: Period | None
    contracts: tuple[ContractResult, ...]  # ranked
    codes_without_office_fee: tuple[str, ...]  # codes with volume but no office fee
    unrouted_payers: tuple[int, ...]  # payers with volume and no contract to price them
    annual_factor: Fraction | None
    #: code -> procedures counted over all contracts (V = count x annual factor)
    code_counts: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def opportunity(self) -> Decimal:
        return _summed(self, self.contracts, "opportunity", ZERO)

    @property
    def annual_allowed(self) -> Decimal:
        return _summed(self, self.contracts, "annual_allowed", ZERO)

    @property
    def annual_write_off(self) -> Decimal:
        return _summed(self, self.contracts, "annual_write_off", ZERO)

    @property
    def ucr_numerator(self) -> Fraction:
        return _summed(self, self.contracts, "ucr_numerator", NONE)

    @property
    def ucr_denominator(self) -> Fraction:
        return _summed(self, self.contracts, "ucr_denominator", NONE)

    @property
    def weighted_pct_of_ucr(self) -> Decimal | None:
        return _memo(
            self, "_weighted_pct_of_ucr", lambda: ratio(self.ucr_numerator, self.ucr_denominator)
        )

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


class CentAmounts(Mapping[str, Decimal]):
    """Amounts stored as whole cents, seen as Decimal dollars; the engine reads the cents
    directly (no Decimal per line for a schedule of hundreds of codes)."""

    __slots__ = ("cents",)

    def __init__(self, cents: Mapping[str, int]):
        self.cents = cents

    def __getitem__(self, code: str) -> Decimal:
        return Decimal(self.cents[code]).scaleb(-2)

    def __contains__(self, code: object) -> bool:
        return code in self.cents

    def __iter__(self):
        return iter(self.cents)

    def __len__(self) -> int:
        return len(self.cents)


def _places(amounts: Mapping[str, Decimal]) -> int:
    """Decimal places that hold every amount exactly (at least 2: cents)."""
    if isinstance(amounts, CentAmounts):
        return 2
    places = 2
    for value in amounts.values():
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            places = -exponent
    return places


def _units(amounts: Mapping[str, Decimal], places: int) -> dict[str, int]:
    if isinstance(amounts, CentAmounts):
        if places == 2:
            return dict(amounts.cents)
        scale = 10 ** (places - 2)
        return {code: cents * scale for code, cents in amounts.cents.items()}
    return {code: int(value.scaleb(places)) for code, value in amounts.items()}


def _round_ratio(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) rounded half-up (away from zero)."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


# A row of a contract, by code: (count, A, E, U, 2M, annual allowed, write-off, opportunity)
# with A, E, U in units, 2M in half units, the money figures in cents; None where missing.
N, A, E, U, M2, ALLOWED, WRITE_OFF, OPPORTUNITY = range(8)


@dataclass(frozen=True)
class _Scale:
    """How one practice's integer rows turn back into Decimals and Fractions."""

    places: int
    factor: Fraction
    min_raise: Decimal
    benchmark: Mapping[str, Decimal]

    def dollars(self, units: int | None) -> Decimal | None:
        return None if units is None else Decimal(units).scaleb(-self.places)

    def peer(self, half_units: int | None) -> Decimal | None:
        if half_units is None:
            return None
        if half_units % 2 == 0:
            return Decimal(half_units // 2).scaleb(-self.places)
        return Decimal(half_units).scaleb(-self.places) / 2

    def row(self, code: str, row: tuple, rank: int, in_80: bool) -> CodeResult:
        count, a, e, u, m2, allowed, write_off, opportunity = row
        office, effective, peer = self.dollars(u), self.dollars(e), self.peer(m2)
        return CodeResult(
            code=code,
            volume=count * self.factor,
            office=office,
            allowed=self.dollars(a),
            effective=effective,
            office_below_allowance=a is not None and u is not None and a > u,
            annual_allowed=_cents(allowed),
            annual_write_off=_cents(write_off),
            peer=peer,
            gap=max(ZERO, peer - effective)
            if (peer is not None and effective is not None)
            else None,
            opportunity=_cents(opportunity),
            suggested_ask=suggested_ask(
                effective, office, peer, self.benchmark.get(code), self.min_raise
            ),
            rank=rank,
            in_80=in_80,
        )


def _cents(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents).scaleb(-2)


def analyse_practice(practice: PracticeInput) -> PracticeResult:
    """All contracts of one practice: their code figures, totals, ranking and 80% marks."""
    places = max([_places(practice.office)] + [_places(c.allowed) for c in practice.contracts])
    office = _units(practice.office, places)
    factor = practice.period.annual_factor if practice.period else NONE
    # cents of V x amount = count x units x mult / div
    mult, div = factor.numerator * 100, factor.denominator * 10**places
    common = gcd(mult, div) or 1
    mult, div = mult // common, div // common
    scale = _Scale(places, factor, practice.min_raise, practice.benchmark)

    counts: dict[int, dict[str, int]] = {c.contract_id: {} for c in practice.contracts}
    for (payer_id, code), count in practice.counts.items():
        contract_id = practice.routes.get(payer_id)
        if contract_id is None or contract_id not in counts or not count:
            continue
        per_code = counts[contract_id]
        per_code[code] = per_code.get(code, 0) + count

    # contract id -> (A per code, E per code), in units
    schedules: dict[int, tuple[dict[str, int], dict[str, int]]] = {}
    for contract in practice.contracts:
        allowed = _units(contract.allowed, places)
        schedules[contract.contract_id] = (
            allowed,
            {
                code: (a if (u := office.get(code)) is None or a <= u else u)
                for code, a in allowed.items()
            },
        )
    # Every contract's effective allowed per code, sorted once; a contract's peers are that
    # list without its own value.
    listed: dict[str, list[int]] = {}
    for _allowed, eff in schedules.values():
        for code, e in eff.items():
            listed.setdefault(code, []).append(e)
    for values in listed.values():
        values.sort()

    results = []
    code_counts: dict[str, int] = {}
    for contract in practice.contracts:
        cid = contract.contract_id
        allowed, eff = schedules[cid]
        volumes = counts[cid]
        rows: dict[str, tuple] = {}
        total_allowed = total_write_off = total_opportunity = 0
        ucr_e = ucr_u = total_count = 0
        for code in allowed.keys() | volumes.keys():
            n = volumes.get(code, 0)
            e = eff.get(code)
            u = office.get(code)
            peers = listed.get(code)
            m2 = None
            if peers:
                size = len(peers)
                skip = bisect_left(peers, e) if e is not None else size
                if e is not None:
                    size -= 1
                if size:
                    half = size // 2
                    upper = peers[half] if half < skip else peers[half + 1]
                    if size % 2:
                        m2 = 2 * upper
                    else:
                        lower = peers[half - 1] if half - 1 < skip else peers[half]
                        m2 = lower + upper
            total_count += n
            code_counts[code] = code_counts.get(code, 0) + n
            if e is None:
                rows[code] = (n, None, None, u, m2, None, None, 0)
                continue
            annual = _round_ratio(n * e * mult, div)
            total_allowed += annual
            write_off = None
            if u is not None:
                write_off = _round_ratio(n * (u - e) * mult, div)
                total_write_off += write_off
                if n > 0:
                    ucr_e += n * e
                    ucr_u += n * u
            opportunity = 0
            if m2 is not None and m2 > 2 * e:
                opportunity = _round_ratio(n * (m2 - 2 * e) * mult, 2 * div)
                total_opportunity += opportunity
            rows[code] = (n, allowed[code], e, u, m2, annual, write_off, opportunity)
        unit = Fraction(factor.numerator, factor.denominator * 10**places)
        results.append(
            ContractResult(
                contract_id=cid,
                name=contract.name,
                practice_id=practice.practice_id,
                has_schedule=contract.has_schedule,
                annual_allowed=Decimal(total_allowed).scaleb(-2),
                annual_write_off=Decimal(total_write_off).scaleb(-2),
                ucr_numerator=ucr_e * unit,
                ucr_denominator=ucr_u * unit,
                opportunity=Decimal(total_opportunity).scaleb(-2),
                volume=total_count * factor,
                rows=rows,
                scale=scale,
            )
        )

    ranked = rank_contracts(results)
    volume_codes = {code for (_payer, code), count in practice.counts.items() if count}
    unrouted = sorted(
        {
            payer
            for (payer, _code), count in practice.counts.items()
            if count and practice.routes.get(payer) not in counts
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
        code_counts=code_counts,
    )


def _ranked_rows(rows: Mapping[str, tuple]) -> list[tuple[str, tuple]]:
    """Codes by opportunity (largest first), ties by code."""
    return sorted(rows.items(), key=lambda item: (-item[1][OPPORTUNITY], item[0]))


def _eighty_count(ranked: Sequence[tuple[str, tuple]], total: int) -> int:
    """How many ranked codes, up to and including the one whose running total first reaches
    80% of the contract's opportunity (none when there is no opportunity)."""
    if total <= 0:
        return 0
    running = 0
    for index, (_code, row) in enumerate(ranked, start=1):
        running += row[OPPORTUNITY]
        if 5 * running >= 4 * total:  # running >= 0.8 x total, in integers
            return index
    return len(ranked)


def _memo(result, name: str, compute):
    """A figure of a frozen result computed once (results are shared by requests through the
    cache; two threads computing it at once get the same value, so no lock is needed)."""
    if name not in result.__dict__:
        object.__setattr__(result, name, compute())
    return result.__dict__[name]


def _summed(result, parts: Iterable, figure: str, start):
    """A figure of a frozen result that is the sum of its parts' figure, computed once."""
    return _memo(result, f"_{figure}", lambda: sum((getattr(p, figure) for p in parts), start))


def rank_contracts(results: Iterable[ContractResult]) -> tuple[ContractResult, ...]:
    """Contracts by opportunity (largest first), ties by name; rank from 1. The ranked copies
    keep the 80% count of the originals, computed once on them (they live in the cache)."""
    ordered = sorted(results, key=lambda c: (-c.opportunity, c.name, c.contract_id))
    ranked = []
    for i, c in enumerate(ordered, start=1):
        copy = replace(c, rank=i)
        if not c.keep_codes:
            object.__setattr__(copy, "_eighty_count", c.eighty_count)
        ranked.append(copy)
    return tuple(ranked)


# ---- several practices ---------------------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    """'All practices': sums of the per-practice figures; % of UCR from the summed parts."""

    practices: tuple[PracticeResult, ...]

    @property
    def contracts(self) -> tuple[ContractResult, ...]:
        return _memo(
            self,
            "_contracts",
            lambda: rank_contracts(c for p in self.practices for c in p.contracts),
        )

    @property
    def opportunity(self) -> Decimal:
        return _summed(self, self.practices, "opportunity", ZERO)

    @property
    def annual_allowed(self) -> Decimal:
        return _summed(self, self.practices, "annual_allowed", ZERO)

    @property
    def annual_write_off(self) -> Decimal:
        return _summed(self, self.practices, "annual_write_off", ZERO)

    @property
    def weighted_pct_of_ucr(self) -> Decimal | None:
        return _memo(
            self,
            "_weighted_pct_of_ucr",
            lambda: ratio(
                sum((p.ucr_numerator for p in self.practices), NONE),
                sum((p.ucr_denominator for p in self.practices), NONE),
            ),
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


def _pareto_rows(contracts: Iterable[ContractResult]) -> tuple[list[tuple], int]:
    """(contract id, name, code, cents) of every code with an opportunity, largest first
    (ties by contract name, then code), and the total in cents."""
    rows = sorted(
        (
            (c.contract_id, c.name, code, cents)
            for c in contracts
            for code, cents in c.opportunities()
        ),
        key=lambda t: (-t[3], t[1], t[2]),
    )
    return rows, sum(cents for *_rest, cents in rows)


def _points(rows: list[tuple], total: int, limit: int | None) -> tuple[ParetoPoint, ...]:
    points, running = [], 0
    for cid, _name, code, cents in rows[:limit]:
        running += cents
        points.append(
            ParetoPoint(
                cid, code, _cents(cents), _cents(running), ratio(Decimal(running), Decimal(total))
            )
        )
    return tuple(points)


def pareto(
    contracts: Iterable[ContractResult], limit: int | None = None
) -> tuple[ParetoPoint, ...]:
    """Opportunity by (contract, code), largest first, with the running share of the total
    (of every point, also when only the first `limit` are returned)."""
    rows, total = _pareto_rows(contracts)
    return _points(rows, total, limit)


@dataclass(frozen=True)
class ParetoCurve:
    """The target list's table (the first points) and its chart: the running share at up to
    `max_points` ranks spread evenly over all points (the shape of the curve, not every bar)."""

    count: int  # points in all
    top: tuple[ParetoPoint, ...]
    ranks: tuple[int, ...]  # 1-based ranks drawn, the last point included
    values: tuple[Decimal, ...]  # opportunity of the point at each rank drawn
    shares: tuple[Decimal | None, ...]  # running share of the total up to that rank


def pareto_curve(
    contracts: Iterable[ContractResult], top: int = 50, max_points: int = 400
) -> ParetoCurve:
    rows, total = _pareto_rows(contracts)
    count = len(rows)
    step = max(1, -(-count // max_points))
    ranks = list(range(1, count + 1, step))
    if count and ranks[-1] != count:
        ranks.append(count)
    running, drawn, values, shares = 0, iter(ranks), [], []
    wanted = next(drawn, None)
    for rank, (*_rest, cents) in enumerate(rows, start=1):
        running += cents
        if rank == wanted:
            values.append(_cents(cents))
            shares.append(ratio(Decimal(running), Decimal(total)))
            wanted = next(drawn, None)
    return ParetoCurve(count, _points(rows, total, top), tuple(ranks), tuple(values), tuple(shares))


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

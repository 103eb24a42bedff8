"""Properties of the analysis engine over small random practices (hypothesis).

The reference figures here are worked out with exact fractions straight from DOMAIN.md, never
taken from the engine. Periods are whole calendar months (1..24), so annualised volumes are
12 x count / months: exact per-code half cents only arise with terminating factors, and the
28-digit Decimal arithmetic of the engine must agree with the exact rounding.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.benchmark.engine import ContractInput, Period, PracticeInput, analyse_practice

D = Decimal
CENT = D("0.01")
CODES = ["T0120", "T0140", "T0150", "T1110", "T1120", "T2391", "T2740", "T3310", "T4341"]
NAMES = ["Alpha PPO", "Beacon Leased", "Cobalt Dental", "Delta Plus"]

cents = st.integers(min_value=1, max_value=500_000).map(lambda c: D(c).scaleb(-2))
counts_strategy = st.integers(min_value=0, max_value=500)


def month_period(start_month: int, months: int) -> Period:
    start = date(2023, start_month, 1)
    end_index = 2023 * 12 + start_month - 1 + months  # first month after the period
    end = date(end_index // 12, end_index % 12 + 1, 1) - timedelta(days=1)
    return Period(start, end)


@st.composite
def practices(draw, months=None):
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=8, unique=True))
    n_contracts = draw(st.integers(min_value=2, max_value=4))
    office = {c: u for c in codes if (u := draw(st.none() | cents)) is not None}
    contracts = []
    for cid in range(1, n_contracts + 1):
        allowed = {c: a for c in codes if (a := draw(st.none() | cents)) is not None}
        contracts.append(ContractInput(cid, NAMES[cid - 1], allowed))
    # payer N is priced by contract N; payer 50 rents contract 1 (a leased network);
    # payer 60 has no contract
    routes: dict[int, int | None] = {cid: cid for cid in range(1, n_contracts + 1)}
    routes |= {50: 1, 60: None}
    counts = {(payer, c): draw(counts_strategy) for payer in routes for c in codes}
    months = months if months is not None else draw(st.integers(min_value=1, max_value=24))
    period = month_period(draw(st.integers(min_value=1, max_value=12)), months)
    benchmark = {c: b for c in codes if (b := draw(st.none() | cents)) is not None}
    min_raise = draw(st.sampled_from([D("0"), D("0.05"), D("0.10")]))
    return PracticeInput(
        1, "North Dental", office, contracts, counts, routes, period, min_raise, benchmark
    )


def exact_round(value: Fraction) -> Decimal:
    """Half-up to the cent, from the exact fraction (no Decimal division on the way)."""
    hundredths = value * 100
    whole = hundredths.numerator // hundredths.denominator  # floor
    if hundredths - whole >= Fraction(1, 2):
        whole += 1
    return D(whole).scaleb(-2)


def reference(p: PracticeInput):
    """DOMAIN.md with fractions: {contract id: {code: (annual allowed, write-off, opportunity)}}
    and {contract id: (ucr numerator, ucr denominator)}."""
    months = p.period.whole_months
    factor = Fraction(12, months)
    volume: dict[int, dict[str, Fraction]] = {c.contract_id: {} for c in p.contracts}
    for (payer, code), n in p.counts.items():
        cid = p.routes.get(payer)
        if cid is not None:
            volume[cid][code] = volume[cid].get(code, Fraction(0)) + n * factor
    eff = {
        c.contract_id: {
            code: min(Fraction(a), Fraction(p.office[code])) if code in p.office else Fraction(a)
            for code, a in c.allowed.items()
        }
        for c in p.contracts
    }
    rows, ucr = {}, {}
    for c in p.contracts:
        cid = c.contract_id
        rows[cid], num, den = {}, Fraction(0), Fraction(0)
        for code in set(c.allowed) | {k for k, v in volume[cid].items() if v}:
            v = volume[cid].get(code, Fraction(0))
            e = eff[cid].get(code)
            u = Fraction(p.office[code]) if code in p.office else None
            peers = sorted(eff[q][code] for q in eff if q != cid and code in eff[q])
            m = None
            if peers:
                mid = len(peers) // 2
                m = peers[mid] if len(peers) % 2 else (peers[mid - 1] + peers[mid]) / 2
            allowed = exact_round(v * e) if e is not None else None
            write_off = exact_round(v * (u - e)) if (e is not None and u is not None) else None
            opportunity = exact_round(v * max(0, m - e)) if (m is not None and e is not None) else 0
            rows[cid][code] = (allowed, write_off, D(opportunity))
            if u is not None and e is not None and v > 0:
                num += v * e
                den += v * u
        ucr[cid] = (num, den)
    return rows, ucr


@settings(max_examples=60, deadline=None)
@given(practices())
def test_opportunity_and_gap_are_never_negative(p):
    result = analyse_practice(p)
    for contract in result.contracts:
        assert contract.opportunity >= 0
        for r in contract.codes:
            assert r.opportunity >= 0
            assert r.gap is None or r.gap >= 0


@settings(max_examples=60, deadline=None)
@given(practices())
def test_asks_never_exceed_the_office_fee_and_always_exceed_effective(p):
    result = analyse_practice(p)
    for contract in result.contracts:
        for r in contract.codes:
            if r.suggested_ask is None:
                continue
            assert r.office is not None
            assert r.effective is not None
            assert r.effective < r.suggested_ask <= r.office
            assert r.suggested_ask == r.suggested_ask.quantize(CENT)


def _scaled_counts(p: PracticeInput, factor: int) -> PracticeInput:
    return PracticeInput(
        p.practice_id,
        p.name,
        p.office,
        p.contracts,
        {key: n * factor for key, n in p.counts.items()},
        p.routes,
        p.period,
        p.min_raise,
        p.benchmark,
    )


def _ranking(result):
    return [
        (c.contract_id, c.rank, [(r.code, r.rank, r.in_80) for r in c.codes])
        for c in result.contracts
    ]


@settings(max_examples=60, deadline=None)
@given(practices(), st.integers(min_value=2, max_value=9))
def test_rankings_do_not_change_when_all_volumes_scale_by_one_factor(p, factor):
    # Ranking is by ROUNDED opportunity, so scaling can split a tie that rounding created
    # (0.5 x 0.03 = 0.015 -> 0.02 and 0.5 x 0.04 = 0.02 tie; doubled they do not). Counts are
    # therefore trimmed to multiples of 2 x months: V = 12 x count / months is then an even
    # integer, V x G is whole cents (G is whole or half cents), and nothing is rounded.
    step = 2 * p.period.whole_months
    p = PracticeInput(
        p.practice_id,
        p.name,
        p.office,
        p.contracts,
        {key: n - n % step for key, n in p.counts.items()},
        p.routes,
        p.period,
        p.min_raise,
        p.benchmark,
    )
    assert _ranking(analyse_practice(p)) == _ranking(analyse_practice(_scaled_counts(p, factor)))


@settings(max_examples=60, deadline=None)
@given(practices())
def test_rows_match_exact_arithmetic_and_totals_are_sums_of_rounded_rows(p):
    result = analyse_practice(p)
    expected_rows, _ucr = reference(p)
    for contract in result.contracts:
        got = {
            r.code: (r.annual_allowed, r.annual_write_off, r.opportunity) for r in contract.codes
        }
        assert got == expected_rows[contract.contract_id]
        for r in contract.codes:
            for money in (r.annual_allowed, r.annual_write_off, r.opportunity):
                assert money is None or money == money.quantize(CENT)
        rows = contract.codes
        assert contract.annual_allowed == sum(
            (r.annual_allowed for r in rows if r.annual_allowed is not None), D(0)
        )
        assert contract.annual_write_off == sum(
            (r.annual_write_off for r in rows if r.annual_write_off is not None), D(0)
        )
        assert contract.opportunity == sum((r.opportunity for r in rows), D(0))
    assert result.annual_allowed == sum((c.annual_allowed for c in result.contracts), D(0))
    assert result.annual_write_off == sum((c.annual_write_off for c in result.contracts), D(0))
    assert result.opportunity == sum((c.opportunity for c in result.contracts), D(0))


@settings(max_examples=60, deadline=None)
@given(practices())
def test_weighted_pct_of_ucr_is_within_zero_and_one_when_defined(p):
    result = analyse_practice(p)
    _rows, ucr = reference(p)
    for contract in result.contracts:
        num, den = ucr[contract.contract_id]
        pct = contract.weighted_pct_of_ucr
        if den == 0:
            assert pct is None  # 'n/a', never 0
            continue
        assert pct is not None
        assert 0 <= pct <= 1
        assert abs(Fraction(pct) - num / den) < Fraction(1, 10**20)
    if result.weighted_pct_of_ucr is not None:
        assert 0 <= result.weighted_pct_of_ucr <= 1

"""The analysis engine against DOMAIN.md "How the numbers are computed", case by case.

Every expected figure is worked out by hand here (as a comment or as a literal Decimal
expression), never by asking the engine. Codes are fictional T-codes.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from campaigns.benchmark.engine import (
    ContractInput,
    FrozenCode,
    Period,
    PracticeInput,
    analyse_group,
    analyse_practice,
    asked_value,
    effective_allowed,
    pareto,
    pareto_curve,
    realised_gain,
    suggested_ask,
    what_if,
)

D = Decimal
ENGINE = Path(__file__).parents[2] / "campaigns" / "benchmark" / "engine.py"

YEAR_2024 = Period(date(2024, 1, 1), date(2024, 12, 31))  # 12 whole months: factor 1
H1_2024 = Period(date(2024, 1, 1), date(2024, 6, 30))  # 6 whole months: factor 2
TWO_YEARS = Period(date(2023, 1, 1), date(2024, 12, 31))  # 24 whole months: factor 1/2


def practice(
    contracts,
    *,
    office=None,
    counts=None,
    routes=None,
    period=YEAR_2024,
    benchmark=None,
    min_raise="0.05",
    practice_id=1,
    name="North Dental",
):
    """contracts: [(id, name, {code: allowed})]; amounts as strings. Unless routes are given,
    payer id N is priced by contract id N (the payer's own network)."""
    return PracticeInput(
        practice_id=practice_id,
        name=name,
        office={code: D(u) for code, u in (office or {}).items()},
        contracts=[
            ContractInput(cid, cname, {code: D(a) for code, a in allowed.items()})
            for cid, cname, allowed in contracts
        ],
        counts=dict(counts or {}),
        routes=routes if routes is not None else {cid: cid for cid, _n, _a in contracts},
        period=period,
        min_raise=D(min_raise),
        benchmark={code: D(b) for code, b in (benchmark or {}).items()},
    )


def by_name(result):
    return {c.name: c for c in result.contracts}


def row(contract, code):
    (found,) = [r for r in contract.codes if r.code == code]
    return found


def reference_practice(subjects, reference="100.00", office="1000.00"):
    """Subject contracts {name: {code: (allowed, yearly count)}} against a 'Zenith Reference'
    contract that lists every code at `reference`; while only one subject lists a code, the
    subject's peer reference is exactly `reference`, so its opportunity = count x (ref - A)."""
    codes = sorted({code for rows in subjects.values() for code in rows})
    contracts = [(99, "Zenith Reference", dict.fromkeys(codes, reference))]
    counts = {}
    for cid, (cname, rows) in enumerate(subjects.items(), start=1):
        contracts.append((cid, cname, {code: a for code, (a, _n) in rows.items()}))
        counts.update({(cid, code): n for code, (_a, n) in rows.items()})
    return practice(contracts, office=dict.fromkeys(codes, office), counts=counts)


# ---- the engine is pure ---------------------------------------------------------------------


def test_engine_imports_neither_flask_nor_sqlalchemy():
    imported = set()
    for node in ast.walk(ast.parse(ENGINE.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # a relative import would pull in the package, whose __init__ imports Flask
            imported.add((node.module or "").split(".")[0] if node.level == 0 else ".")
    assert imported, "the AST walk found no imports at all"
    assert not {name for name in imported if name.startswith(("flask", "sqlalchemy"))}
    assert "." not in imported
    assert "campaigns" not in imported


def test_engine_loads_on_its_own_without_flask_or_sqlalchemy():
    """Load engine.py by path (not through the package, whose __init__ registers a blueprint)
    in a fresh interpreter and check what ended up in sys.modules."""
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('engine', {str(ENGINE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['engine'] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'sqlalchemy', 'flask_sqlalchemy', 'campaigns')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ---- periods and annualisation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "factor"),
    [
        (date(2024, 1, 1), date(2024, 12, 31), D(1)),  # 12 / 12
        (date(2023, 7, 1), date(2024, 6, 30), D(1)),  # 12 / 12 across a year end
        (date(2024, 1, 1), date(2024, 6, 30), D(2)),  # 12 / 6 (Jan-Jun)
        (date(2024, 4, 1), date(2024, 6, 30), D(4)),  # 12 / 3
        (date(2024, 2, 1), date(2024, 2, 29), D(12)),  # 12 / 1, a leap February
        (date(2023, 1, 1), date(2024, 6, 30), Fraction(12, 18)),  # 18 months: exactly 2/3
        # Q1 2023 has 90 days, but it is made of whole months: 12 / 3, not 365 / 90
        (date(2023, 1, 1), date(2023, 3, 31), D(4)),
    ],
)
def test_whole_calendar_months_annualise_by_twelve_over_months(start, end, factor):
    assert Period(start, end).annual_factor == factor


def test_any_other_period_annualises_by_365_over_inclusive_days():
    # Jan 15-31 (17) + Feb 2024 (29) + Mar (31) + Apr 1-13 (13) = 90 inclusive days
    period = Period(date(2024, 1, 15), date(2024, 4, 13))
    assert period.days == 17 + 29 + 31 + 13 == 90
    assert abs(Fraction(period.annual_factor) - Fraction(365, 90)) < Fraction(1, 10**25)
    # one full non-aligned year: 2023-01-15 .. 2024-01-14 is 365 days -> factor 1
    assert Period(date(2023, 1, 15), date(2024, 1, 14)).annual_factor == 1


@pytest.mark.parametrize(
    ("start", "end", "short"),
    [
        (date(2024, 1, 1), date(2024, 12, 31), False),  # 12 months
        (date(2023, 1, 1), date(2024, 6, 30), False),  # 18 months
        (date(2024, 1, 1), date(2024, 11, 30), True),  # 11 months
        (date(2024, 1, 1), date(2024, 6, 30), True),  # 6 months
        (date(2024, 1, 15), date(2024, 4, 13), True),  # 90 days
        (date(2023, 1, 15), date(2024, 1, 14), False),  # 365 days
        (date(2023, 1, 15), date(2024, 1, 13), True),  # 364 days
    ],
)
def test_a_period_shorter_than_a_year_is_flagged(start, end, short):
    period = Period(start, end)
    assert period.shorter_than_a_year is short
    result = analyse_practice(practice([(1, "Alpha PPO", {"T1110": "50.00"})], period=period))
    assert result.period_shorter_than_a_year is short


def test_non_month_period_volumes_are_annualised_by_days():
    # 90 days, 18 procedures: V = 18 x 365 / 90 = 73; annual allowed = 73 x $10.00
    period = Period(date(2024, 1, 15), date(2024, 4, 13))
    result = analyse_practice(
        practice(
            [(1, "Alpha PPO", {"T1110": "10.00"})],
            office={"T1110": "20.00"},
            counts={(1, "T1110"): 18},
            period=period,
        )
    )
    r = row(by_name(result)["Alpha PPO"], "T1110")
    assert r.annual_allowed == D("730.00")
    assert r.annual_write_off == D("730.00")  # 73 x (20.00 - 10.00)


def test_non_month_annualisation_is_exact_until_rounding():
    # 90 days, 29 procedures: V = 29 x 365 / 90 = 10585 / 90 = 2117 / 18 (not a finite decimal)
    # E = $51.75 (below the $100.00 office fee): V x E = 2117 x 51.75 / 18 = 2117 x 2.875
    #   = 6086.375 exactly -> half-up $6,086.38
    assert D("51.75") / 18 == D("2.875")
    assert 2117 * D("2.875") == D("6086.375")
    result = analyse_practice(
        practice(
            [(1, "Alpha PPO", {"T1110": "51.75"})],
            office={"T1110": "100.00"},
            counts={(1, "T1110"): 29},
            period=Period(date(2024, 1, 15), date(2024, 4, 13)),
        )
    )
    assert row(by_name(result)["Alpha PPO"], "T1110").annual_allowed == D("6086.38")


# ---- effective allowed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "office", "effective"),
    [
        ("55.00", "60.00", "55.00"),  # A < U -> A
        ("120.00", "100.00", "100.00"),  # A > U -> U (payers pay the lesser)
        ("70.00", "70.00", "70.00"),  # equal
        ("80.00", None, "80.00"),  # no office fee -> A
    ],
)
def test_effective_allowed_is_the_lesser_of_allowed_and_office_fee(allowed, office, effective):
    assert effective_allowed(D(allowed), D(office) if office else None) == D(effective)


def test_effective_allowed_and_the_office_fee_below_allowance_flag():
    result = analyse_practice(
        practice(
            [
                (
                    1,
                    "Alpha PPO",
                    {"T0120": "55.00", "T1110": "120.00", "T2391": "80.00", "T3310": "70.00"},
                )
            ],
            office={"T0120": "60.00", "T1110": "100.00", "T3310": "70.00"},
        )
    )
    alpha = by_name(result)["Alpha PPO"]
    expected = {
        # code: (effective, office below allowance?)
        "T0120": (D("55.00"), False),
        "T1110": (D("100.00"), True),  # A 120 > U 100
        "T2391": (D("80.00"), False),  # no U: E = A, nothing to compare
        "T3310": (D("70.00"), False),  # A == U is not "below"
    }
    assert {r.code: (r.effective, r.office_below_allowance) for r in alpha.codes} == expected


# ---- the roll-up through pricing routes (a leased network shared by two payers) -------------


@pytest.fixture
def leased():
    """Jan-Jun 2024 (factor 2). Payer 10 is priced by its own network Alpha; payers 20 (Beacon's
    own) and 21 (Cedar, renting Beacon as a leased network) are both priced by Beacon's
    schedule; payer 30 has no contract with any network of the practice."""
    return practice(
        [
            (1, "Alpha PPO", {"T1110": "104.00", "T2391": "150.00"}),
            (2, "Beacon Leased", {"T1110": "118.40", "T2391": "210.00"}),
        ],
        office={"T1110": "150.00", "T2391": "200.00"},
        counts={
            (10, "T1110"): 106,
            (20, "T1110"): 30,
            (21, "T1110"): 23,
            (20, "T2391"): 4,
            (21, "T2391"): 1,
            (30, "T1110"): 999,
        },
        routes={10: 1, 20: 2, 21: 2, 30: None},
        period=H1_2024,
    )


def test_volumes_add_up_per_contract_through_the_pricing_routes(leased):
    result = analyse_practice(leased)
    alpha, beacon = by_name(result)["Alpha PPO"], by_name(result)["Beacon Leased"]
    assert result.annual_factor == 2
    assert row(alpha, "T1110").volume == 106 * 2 == 212
    assert row(alpha, "T2391").volume == 0  # listed, never billed
    assert row(beacon, "T1110").volume == (30 + 23) * 2 == 106  # two payers, one contract
    assert row(beacon, "T2391").volume == (4 + 1) * 2 == 10
    # payer 30 (no contract) is not counted anywhere, and is reported
    assert result.unrouted_payers == (30,)
    assert alpha.volume == 212
    assert beacon.volume == 116


def test_annual_allowed_write_off_and_ucr_through_the_routes(leased):
    result = analyse_practice(leased)
    alpha, beacon = by_name(result)["Alpha PPO"], by_name(result)["Beacon Leased"]

    # Alpha T1110: V 212, E 104.00, U 150.00
    assert row(alpha, "T1110").annual_allowed == 212 * D("104.00") == D("22048.00")
    assert row(alpha, "T1110").annual_write_off == 212 * (D("150.00") - D("104.00")) == D("9752.00")
    assert row(alpha, "T2391").annual_allowed == D("0.00")
    assert alpha.annual_allowed == D("22048.00")
    assert alpha.annual_write_off == D("9752.00")
    # only T1110 has V > 0: 212 x 104 / (212 x 150)
    assert alpha.weighted_pct_of_ucr == D("104.00") / D("150.00")

    # Beacon T1110: V 106, E 118.40; T2391: V 10, A 210.00 > U 200.00 so E = 200.00, flagged
    assert row(beacon, "T1110").annual_allowed == 106 * D("118.40") == D("12550.40")
    assert row(beacon, "T1110").annual_write_off == 106 * (D("150.00") - D("118.40"))
    assert row(beacon, "T2391").effective == D("200.00")
    assert row(beacon, "T2391").office_below_allowance
    assert row(beacon, "T2391").annual_allowed == 10 * D("200.00") == D("2000.00")
    assert row(beacon, "T2391").annual_write_off == D("0.00")
    assert beacon.annual_allowed == D("12550.40") + D("2000.00") == D("14550.40")
    assert beacon.annual_write_off == D("3349.60")  # 106 x 31.60
    assert beacon.ucr_numerator == D("14550.40")
    assert beacon.ucr_denominator == 106 * D("150.00") + 10 * D("200.00") == D("17900.00")

    assert result.annual_allowed == D("22048.00") + D("14550.40")
    assert result.annual_write_off == D("9752.00") + D("3349.60")


def test_peer_gap_opportunity_and_asks_through_the_routes(leased):
    result = analyse_practice(leased)
    alpha, beacon = by_name(result)["Alpha PPO"], by_name(result)["Beacon Leased"]

    # Alpha T1110: M = Beacon's 118.40; G = 14.40; O = 212 x 14.40
    a = row(alpha, "T1110")
    assert (a.peer, a.gap) == (D("118.40"), D("14.40"))
    assert a.opportunity == 212 * (D("118.40") - D("104.00")) == D("3052.80")
    # Alpha T2391: the peer is Beacon's EFFECTIVE 200.00 (capped by U), not its 210.00
    assert row(alpha, "T2391").peer == D("200.00")
    assert row(alpha, "T2391").gap == D("50.00")
    assert row(alpha, "T2391").opportunity == D("0.00")  # V = 0
    # Beacon pays more than Alpha on both codes: no gap
    assert row(beacon, "T1110").gap == 0
    assert row(beacon, "T2391").gap == 0
    assert beacon.opportunity == 0
    assert alpha.opportunity == D("3052.80")
    assert [(c.name, c.rank) for c in result.contracts] == [("Alpha PPO", 1), ("Beacon Leased", 2)]

    # asks, min_raise 5%:
    # Alpha T1110: min(150, max(104 x 1.05 = 109.20, M 118.40)) = 118.40
    assert a.suggested_ask == D("118.40")
    # Alpha T2391: min(200, max(150 x 1.05 = 157.50, M 200.00)) = 200.00
    assert row(alpha, "T2391").suggested_ask == D("200.00")
    # Beacon T1110: min(150, max(118.40 x 1.05 = 124.32, M 104.00)) = 124.32
    assert row(beacon, "T1110").suggested_ask == D("118.40") * D("1.05") == D("124.32")
    # Beacon T2391: E is already U: min(200, ...) = 200 is not above E -> no ask
    assert row(beacon, "T2391").suggested_ask is None


# ---- totals are sums of rounded rows --------------------------------------------------------


def test_totals_are_the_sums_of_the_rounded_rows():
    # 24 months: V = 1 x 12 / 24 = 0.5 for each of three codes; A 10.01, U 20.00, peer 12.00
    #   annual allowed per code 0.5 x 10.01 = 5.005 -> 5.01; total 3 x 5.01 = 15.03
    #     (the exact sum 15.015 would round to 15.02)
    #   write-off per code 0.5 x 9.99 = 4.995 -> 5.00; total 15.00 (exact 14.985 -> 14.99)
    #   opportunity per code 0.5 x (12.00 - 10.01) = 0.995 -> 1.00; total 3.00 (exact -> 2.99)
    codes = ("T0120", "T1110", "T2391")
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", dict.fromkeys(codes, "10.01")),
                (2, "Zenith Reference", dict.fromkeys(codes, "12.00")),
            ],
            office=dict.fromkeys(codes, "20.00"),
            counts={(1, code): 1 for code in codes},
            period=TWO_YEARS,
        )
    )
    alpha = by_name(result)["Alpha PPO"]
    for r in alpha.codes:
        assert r.volume == D("0.5")
        assert (r.annual_allowed, r.annual_write_off, r.opportunity) == (
            D("5.01"),
            D("5.00"),
            D("1.00"),
        )
    assert alpha.annual_allowed == D("15.03")
    assert alpha.annual_write_off == D("15.00")
    assert alpha.opportunity == D("3.00")
    assert result.annual_allowed == D("15.03")  # Zenith has no volume
    assert result.opportunity == D("3.00")


# ---- weighted % of UCR ----------------------------------------------------------------------


def test_weighted_pct_of_ucr_counts_only_codes_with_office_fee_allowed_and_volume():
    result = analyse_practice(
        practice(
            [
                (
                    1,
                    "Alpha PPO",
                    {"T0120": "150.00", "T1110": "100.00", "T2391": "50.00", "T3310": "40.00"},
                ),
                (2, "Beacon PPO", {"T2391": "60.00"}),
                (3, "Cobalt PPO", {"T0120": "90.00"}),
            ],
            office={"T0120": "200.00", "T1110": "100.00", "T3310": "80.00", "T0140": "60.00"},
            counts={
                (1, "T0120"): 10,  # in: 10 x 150 / 10 x 200
                (1, "T1110"): 30,  # in: 30 x 100 / 30 x 100
                (1, "T2391"): 100,  # out: no office fee
                (1, "T3310"): 0,  # out: no volume
                (1, "T0140"): 5,  # out: Alpha lists no allowed amount (no E)
                (2, "T2391"): 3,  # Beacon's only code has no office fee
                (3, "T0120"): 0,  # Cobalt has no volume at all
            },
        )
    )
    contracts = by_name(result)
    alpha = contracts["Alpha PPO"]
    assert alpha.ucr_numerator == 10 * D("150.00") + 30 * D("100.00") == 4500
    assert alpha.ucr_denominator == 10 * D("200.00") + 30 * D("100.00") == 5000
    assert alpha.weighted_pct_of_ucr == D("0.9")
    # an empty denominator is 'n/a' (None), never 0
    assert contracts["Beacon PPO"].weighted_pct_of_ucr is None
    assert contracts["Cobalt PPO"].weighted_pct_of_ucr is None
    assert result.weighted_pct_of_ucr == D("0.9")


# ---- peer reference, gap, opportunity -------------------------------------------------------


def test_peer_is_the_median_of_an_odd_number_of_other_contracts():
    # Alpha 100.00; others 130.00, 104.00, 110.00 -> M = 110.00; G 10.00; O = 7 x 10.00
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", {"T1110": "100.00"}),
                (2, "Beacon PPO", {"T1110": "130.00"}),
                (3, "Cobalt PPO", {"T1110": "104.00"}),
                (4, "Delta PPO", {"T1110": "110.00"}),
            ],
            office={"T1110": "200.00"},
            counts={(1, "T1110"): 7},
        )
    )
    contracts = by_name(result)
    alpha = row(contracts["Alpha PPO"], "T1110")
    assert (alpha.peer, alpha.gap, alpha.opportunity) == (D("110.00"), D("10.00"), D("70.00"))
    # the median is over the OTHER contracts: Beacon's peers are 100, 104, 110 -> 104
    assert row(contracts["Beacon PPO"], "T1110").peer == D("104.00")
    assert row(contracts["Beacon PPO"], "T1110").gap == 0  # max(0, 104 - 130)
    # Delta's peers are 100, 104, 130 -> 104; Cobalt's 100, 110, 130 -> 110
    assert row(contracts["Delta PPO"], "T1110").peer == D("104.00")
    assert row(contracts["Cobalt PPO"], "T1110").peer == D("110.00")


def test_peer_of_an_even_count_is_the_exact_mean_and_opportunity_rounds_half_up():
    # Alpha 100.00; others 104.00 and 104.01 -> M = (104.00 + 104.01) / 2 = 104.005 (exact)
    # V 1: O = 1 x 4.005 = 4.005 -> half-up 4.01 (half-even would give 4.00)
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", {"T1110": "100.00"}),
                (2, "Beacon PPO", {"T1110": "104.00"}),
                (3, "Cobalt PPO", {"T1110": "104.01"}),
            ],
            office={"T1110": "200.00"},
            counts={(1, "T1110"): 1},
        )
    )
    alpha = row(by_name(result)["Alpha PPO"], "T1110")
    assert alpha.peer == D("104.005")
    assert alpha.gap == D("4.005")
    assert alpha.opportunity == D("4.01")
    # ask: min(200, max(100.00 x 1.05 = 105.00, M 104.005)) = 105.00
    assert alpha.suggested_ask == D("105.00")


def test_a_code_listed_by_no_other_contract_has_no_peer_and_no_opportunity():
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", {"T1110": "100.00", "T7140": "80.00"}),
                (2, "Beacon PPO", {"T1110": "120.00"}),
            ],
            office={"T1110": "200.00", "T7140": "150.00"},
            counts={(1, "T1110"): 5, (1, "T7140"): 40, (2, "T7140"): 9},
        )
    )
    contracts = by_name(result)
    t7140 = row(contracts["Alpha PPO"], "T7140")
    assert (t7140.peer, t7140.gap, t7140.opportunity) == (None, None, D("0"))
    assert contracts["Alpha PPO"].opportunity == 5 * D("20.00") == D("100.00")
    # Beacon bills T7140 but does not list it: no E, so no gap, even though Alpha lists it
    beacon_t7140 = row(contracts["Beacon PPO"], "T7140")
    assert beacon_t7140.allowed is None
    assert beacon_t7140.effective is None
    assert beacon_t7140.annual_allowed is None
    assert beacon_t7140.annual_write_off is None
    assert beacon_t7140.opportunity == 0
    # peer 80.00 exists for Beacon, but with no E there is no ask either
    assert beacon_t7140.suggested_ask is None


def test_peer_uses_the_other_contracts_effective_allowed():
    # U 120.00; Beacon A 130.00 -> E 120.00. Alpha's M is 120.00 (not 130.00): G 20.00
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", {"T2391": "100.00"}),
                (2, "Beacon PPO", {"T2391": "130.00"}),
            ],
            office={"T2391": "120.00"},
            counts={(1, "T2391"): 3},
        )
    )
    alpha = row(by_name(result)["Alpha PPO"], "T2391")
    assert alpha.peer == D("120.00")
    assert alpha.gap == D("20.00")
    assert alpha.opportunity == 3 * D("20.00")


def test_peer_needs_no_volume_and_ignores_contracts_without_schedule():
    result = analyse_practice(
        PracticeInput(
            practice_id=1,
            name="North Dental",
            office={"T1110": D("200.00")},
            contracts=[
                ContractInput(1, "Alpha PPO", {"T1110": D("100.00")}),
                ContractInput(2, "Beacon PPO", {"T1110": D("150.00")}),  # no volume
                ContractInput(3, "Cobalt PPO", {}, has_schedule=False),
            ],
            counts={(1, "T1110"): 2, (3, "T1110"): 4},
            routes={1: 1, 2: 2, 3: 3},
            period=YEAR_2024,
        )
    )
    contracts = by_name(result)
    assert row(contracts["Alpha PPO"], "T1110").peer == D("150.00")  # Cobalt lists nothing
    assert contracts["Alpha PPO"].opportunity == 2 * D("50.00")
    cobalt = contracts["Cobalt PPO"]
    assert not cobalt.has_schedule
    assert result.contracts_without_schedule == (cobalt,)
    assert row(cobalt, "T1110").allowed is None
    assert row(cobalt, "T1110").volume == 4


def test_codes_with_volume_but_no_office_fee_are_reported():
    result = analyse_practice(
        practice(
            [(1, "Alpha PPO", {"T1110": "50.00", "T4341": "70.00"})],
            office={"T1110": "90.00"},
            counts={(1, "T1110"): 3, (1, "T4341"): 2, (1, "T0150"): 1, (1, "T2740"): 0},
        )
    )
    # T2740 has no volume (count 0): not reported
    assert result.codes_without_office_fee == ("T0150", "T4341")


# ---- ranking and the 80% mark ---------------------------------------------------------------


def test_contracts_rank_by_opportunity_then_name():
    result = analyse_practice(
        reference_practice(
            {
                "Beacon PPO": {"T1110": ("95.00", 10)},  # 10 x 5.00 = 50.00
                "Cobalt PPO": {"T2391": ("80.00", 5)},  # 5 x 20.00 = 100.00
                "Alpha PPO": {"T0120": ("90.00", 5)},  # 5 x 10.00 = 50.00
            }
        )
    )
    assert [(c.name, c.opportunity, c.rank) for c in result.contracts] == [
        ("Cobalt PPO", D("100.00"), 1),
        ("Alpha PPO", D("50.00"), 2),  # tie with Beacon: by name
        ("Beacon PPO", D("50.00"), 3),
        ("Zenith Reference", D("0"), 4),
    ]


def test_codes_rank_by_opportunity_then_code():
    result = analyse_practice(
        reference_practice(
            {
                "Alpha PPO": {
                    "T3310": ("100.00", 7),  # 0
                    "T1110": ("96.00", 5),  # 5 x 4.00 = 20.00
                    "T2391": ("97.00", 10),  # 10 x 3.00 = 30.00
                    "T0140": ("100.00", 0),  # 0
                    "T0120": ("98.00", 10),  # 10 x 2.00 = 20.00
                }
            }
        )
    )
    alpha = by_name(result)["Alpha PPO"]
    assert [(r.code, r.opportunity, r.rank) for r in alpha.codes] == [
        ("T2391", D("30.00"), 1),
        ("T0120", D("20.00"), 2),  # tie with T1110: by code
        ("T1110", D("20.00"), 3),
        ("T0140", D("0.00"), 4),  # tie at zero: by code
        ("T3310", D("0.00"), 5),
    ]
    assert alpha.opportunity == D("70.00")


def test_eighty_mark_stops_at_the_code_that_first_reaches_80_percent():
    # 50, 30, 15, 5 (total 100): running 50 < 80, then 80 >= 80 -> the first two
    result = analyse_practice(
        reference_practice(
            {
                "Alpha PPO": {
                    "T0120": ("95.00", 10),  # 50.00
                    "T1110": ("97.00", 10),  # 30.00
                    "T2391": ("97.00", 5),  # 15.00
                    "T3310": ("95.00", 1),  # 5.00
                    "T4341": ("100.00", 9),  # 0.00
                }
            }
        )
    )
    alpha = by_name(result)["Alpha PPO"]
    assert alpha.opportunity == D("100.00")
    assert [(r.code, r.in_80) for r in alpha.codes] == [
        ("T0120", True),
        ("T1110", True),
        ("T2391", False),
        ("T3310", False),
        ("T4341", False),
    ]
    assert [r.code for r in alpha.eighty_mark_codes] == ["T0120", "T1110"]


def test_eighty_mark_includes_the_code_that_crosses_80_percent():
    # 50, 29, 21 (total 100): running 50, 79 < 80, then 100 -> all three
    result = analyse_practice(
        reference_practice(
            {
                "Alpha PPO": {
                    "T0120": ("95.00", 10),  # 50.00
                    "T1110": ("71.00", 1),  # 29.00
                    "T2391": ("79.00", 1),  # 21.00
                }
            }
        )
    )
    alpha = by_name(result)["Alpha PPO"]
    assert [(r.code, r.opportunity, r.in_80) for r in alpha.codes] == [
        ("T0120", D("50.00"), True),
        ("T1110", D("29.00"), True),
        ("T2391", D("21.00"), True),
    ]


def test_no_opportunity_marks_nothing():
    result = analyse_practice(
        reference_practice({"Alpha PPO": {"T0120": ("100.00", 10), "T1110": ("120.00", 3)}})
    )
    for contract in result.contracts:
        assert contract.opportunity == 0
        assert contract.eighty_mark_codes == ()
        assert [r.rank for r in contract.codes] == list(range(1, len(contract.codes) + 1))


# ---- suggested ask --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effective", "office", "peer", "bench", "ask"),
    [
        # min(U, max(E x 1.05, M, B)) over the terms that exist, rounded to the cent
        ("100.00", "150.00", "110.00", None, "110.00"),  # M highest
        ("100.00", "150.00", None, None, "105.00"),  # only E x 1.05
        ("100.00", "150.00", "102.00", None, "105.00"),  # E x 1.05 beats M
        ("100.00", "108.00", "120.00", None, "108.00"),  # capped at U
        ("100.00", "150.00", "110.00", "130.00", "130.00"),  # benchmark highest
        ("100.00", "150.00", "110.00", "170.00", "150.00"),  # benchmark capped at U
        ("10.01", "50.00", None, None, "10.51"),  # 10.01 x 1.05 = 10.5105 -> 10.51
        ("10.10", "50.00", None, None, "10.61"),  # 10.10 x 1.05 = 10.605 -> half-up 10.61
        ("100.00", "150.00", "104.005", "104.999", "105.00"),  # B 104.999 < 105
        ("100.00", "150.00", "106.005", None, "106.01"),  # exact median rounded half-up
        ("100.00", "100.00", "130.00", None, None),  # E == U: min(...) = 100 is not above E
        ("0.01", "50.00", None, None, None),  # 0.0105 -> 0.01, not above E
        ("100.00", None, "130.00", "140.00", None),  # no office fee: no ask
        (None, "150.00", "130.00", None, None),  # no allowed amount: no ask
    ],
)
def test_suggested_ask(effective, office, peer, bench, ask):
    def dec(value):
        return None if value is None else D(value)

    got = suggested_ask(dec(effective), dec(office), dec(peer), dec(bench), D("0.05"))
    assert got == dec(ask)


def test_suggested_ask_uses_the_practice_min_raise_and_benchmark():
    # min_raise 10%, benchmark T1110 130.00, T2391 40.00 (below everything: not the max)
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", {"T1110": "100.00", "T2391": "80.00"}),
                (2, "Beacon PPO", {"T1110": "110.00", "T2391": "81.00"}),
            ],
            office={"T1110": "150.00", "T2391": "95.00"},
            benchmark={"T1110": "130.00", "T2391": "40.00"},
            min_raise="0.10",
        )
    )
    contracts = by_name(result)
    # Alpha T1110: min(150, max(110.00, M 110.00, B 130.00)) = 130.00
    assert row(contracts["Alpha PPO"], "T1110").suggested_ask == D("130.00")
    # Beacon T1110: min(150, max(121.00, M 100.00, B 130.00)) = 130.00
    assert row(contracts["Beacon PPO"], "T1110").suggested_ask == D("130.00")
    # Alpha T2391: min(95, max(88.00, M 81.00, B 40.00)) = 88.00
    assert row(contracts["Alpha PPO"], "T2391").suggested_ask == D("80.00") * D("1.10")
    # Beacon T2391: min(95, max(89.10, M 80.00, B 40.00)) = 89.10
    assert row(contracts["Beacon PPO"], "T2391").suggested_ask == D("89.10")


# ---- asked value and realised gain (frozen inputs) ------------------------------------------


def test_asked_value_sums_the_target_codes_rounded_per_code():
    frozen = [
        FrozenCode("T1110", D("212"), D("104.00")),
        FrozenCode("T0120", D("2.5"), D("10.00")),
        FrozenCode("T0140", D("2.5"), D("20.00")),
        FrozenCode("T2391", D("40"), D("150.00")),  # not a target
    ]
    asks = {"T1110": D("118.40"), "T0120": D("10.01"), "T0140": D("20.01")}
    # 212 x 14.40 = 3052.80; 2.5 x 0.01 = 0.025 -> 0.03 (twice); the exact sum would be
    # 3052.85, the sum of rounded rows is 3052.86
    assert asked_value(frozen, asks) == D("3052.80") + D("0.03") + D("0.03") == D("3052.86")


def test_realised_gain_counts_every_frozen_code_including_cuts():
    frozen = [
        FrozenCode("T1110", D("10"), D("50.00")),
        FrozenCode("T0120", D("20"), D("30.00")),
        FrozenCode("T2391", D("5"), D("10.00")),
    ]
    # +10 x 5.00 = 50.00; cut 20 x (28.00 - 30.00) = -40.00; unchanged 0 -> 10.00
    new = {"T1110": D("55.00"), "T0120": D("28.00"), "T2391": D("10.00")}
    assert realised_gain(frozen, new) == D("50.00") - D("40.00") == D("10.00")
    # a deeper cut makes the gain negative: 50.00 + 20 x (25.00 - 30.00) = -50.00
    deeper = {"T1110": D("55.00"), "T0120": D("25.00"), "T2391": D("10.00")}
    assert realised_gain(frozen, deeper) == D("50.00") - D("100.00") == D("-50.00")


def test_realised_gain_rounds_per_code():
    frozen = [FrozenCode("T0120", D("2.5"), D("10.00")), FrozenCode("T0140", D("2.5"), D("7.00"))]
    # 2.5 x 0.01 = 0.025 -> 0.03, twice = 0.06 (the exact sum 0.05 would differ)
    new = {"T0120": D("10.01"), "T0140": D("7.01")}
    assert realised_gain(frozen, new) == D("0.06")


# ---- what-if --------------------------------------------------------------------------------


@pytest.fixture
def what_if_contract():
    result = analyse_practice(
        practice(
            [
                (
                    1,
                    "Alpha PPO",
                    {
                        "T1110": "104.00",
                        "T2391": "190.00",
                        "T0120": "33.33",
                        "T4341": "10.15",
                        "T3310": "210.00",
                    },
                )
            ],
            office={"T1110": "150.00", "T2391": "200.00", "T3310": "200.00"},
            counts={
                (1, "T1110"): 212,
                (1, "T2391"): 10,
                (1, "T0120"): 3,
                (1, "T4341"): 1,
                (1, "T3310"): 6,
                (1, "T0150"): 4,  # billed, not in the schedule
            },
        )
    )
    return by_name(result)["Alpha PPO"]


def test_what_if_raise_pct(what_if_contract):
    got = what_if(
        what_if_contract,
        ["T1110", "T2391", "T0120", "T4341", "T3310", "T0150"],
        raise_pct=D("0.10"),
    )
    rows = {r.code: (r.new_allowed, r.new_effective, r.gain) for r in got.rows}
    assert rows == {
        # 104.00 x 1.10 = 114.40; 212 x (114.40 - 104.00) = 2204.80
        "T1110": (D("114.40"), D("114.40"), D("2204.80")),
        # 190.00 x 1.10 = 209.00, capped by U: min(209, 200) = 200; 10 x 10.00
        "T2391": (D("209.00"), D("200.00"), D("100.00")),
        # 33.33 x 1.10 = 36.663 -> 36.66, no U; 3 x 3.33 = 9.99
        "T0120": (D("36.66"), D("36.66"), D("9.99")),
        # 10.15 x 1.10 = 11.165 -> half-up 11.17; 1 x 1.02
        "T4341": (D("11.17"), D("11.17"), D("1.02")),
        # A 210.00 already above U 200.00: E stays 200.00, nothing gained
        "T3310": (D("231.00"), D("200.00"), D("0.00")),
        # T0150 has no allowed amount: skipped
    }
    assert got.gain == D("2204.80") + D("100.00") + D("9.99") + D("1.02") == D("2315.81")


def test_what_if_target_wins_over_raise(what_if_contract):
    got = what_if(
        what_if_contract,
        ["T1110", "T2391"],
        raise_pct=D("0.10"),
        targets={"T1110": D("120.00")},
    )
    rows = {r.code: r.gain for r in got.rows}
    # T1110 target 120.00: 212 x 16.00 = 3392.00; T2391 +10% as above: 100.00
    assert rows == {"T1110": D("3392.00"), "T2391": D("100.00")}
    assert got.gain == D("3492.00")


def test_what_if_targets_are_capped_by_the_office_fee(what_if_contract):
    # T2391 target 250.00 -> min(250, 200) = 200: 10 x 10.00; T1110 target 118.40: 3052.80
    got = what_if(
        what_if_contract,
        ["T1110", "T2391"],
        targets={"T1110": D("118.40"), "T2391": D("250.00")},
    )
    assert {r.code: r.gain for r in got.rows} == {"T1110": D("3052.80"), "T2391": D("100.00")}
    assert got.gain == D("3152.80")


# ---- all practices --------------------------------------------------------------------------


def test_all_practices_sum_the_practices_and_pool_the_ucr_parts():
    north = practice(
        [(1, "Alpha PPO", {"T1110": "50.00"}), (2, "Delta PPO", {"T1110": "60.00"})],
        office={"T1110": "100.00"},
        counts={(1, "T1110"): 1},
        practice_id=1,
        name="North Dental",
    )
    south = practice(
        [(3, "Beacon PPO", {"T1110": "90.00"}), (4, "Cobalt PPO", {"T1110": "95.00"})],
        office={"T1110": "100.00"},
        counts={(3, "T1110"): 10},
        practice_id=2,
        name="South Dental",
    )
    group = analyse_group([north, south])
    north_result, south_result = group.practices
    # North: Alpha 1 x 50 of 1 x 100 = 50%; peer Delta 60.00 (peers stay inside a practice)
    assert north_result.weighted_pct_of_ucr == D("0.5")
    assert north_result.opportunity == 1 * (D("60.00") - D("50.00"))
    # South: Beacon 10 x 90 of 10 x 100 = 90%; peer Cobalt 95.00
    assert south_result.weighted_pct_of_ucr == D("0.9")
    assert south_result.opportunity == 10 * (D("95.00") - D("90.00"))

    assert group.annual_allowed == D("50.00") + D("900.00")
    assert group.annual_write_off == D("50.00") + D("100.00")
    assert group.opportunity == D("10.00") + D("50.00")
    # pooled: (50 + 900) / (100 + 1000) = 950 / 1100, not the mean of 50% and 90% (70%)
    assert group.weighted_pct_of_ucr == D("950") / D("1100")
    assert group.weighted_pct_of_ucr != (D("0.5") + D("0.9")) / 2
    assert [(c.name, c.rank) for c in group.contracts] == [
        ("Beacon PPO", 1),  # 50.00
        ("Alpha PPO", 2),  # 10.00
        ("Cobalt PPO", 3),  # 0, by name
        ("Delta PPO", 4),
    ]


# ---- Pareto ---------------------------------------------------------------------------------


def test_pareto_sorts_descending_with_cumulative_shares():
    result = analyse_practice(
        reference_practice(
            {
                "Alpha PPO": {"T0120": ("95.00", 10), "T1110": ("95.00", 4)},  # 50.00, 20.00
                "Beacon PPO": {"T2391": ("95.00", 6), "T3310": ("100.00", 2)},  # 30.00, 0
            }
        )
    )
    points = pareto(result.contracts)
    assert [(p.code, p.opportunity, p.cumulative, p.cumulative_share) for p in points] == [
        ("T0120", D("50.00"), D("50.00"), D("0.5")),
        ("T2391", D("30.00"), D("80.00"), D("0.8")),
        ("T1110", D("20.00"), D("100.00"), D("1")),
    ]
    assert [p.contract_id for p in points] == [1, 2, 1]
    assert points[-1].cumulative_share == 1


def test_pareto_curve_keeps_the_top_rows_and_samples_the_chart_to_the_last_point():
    result = analyse_practice(
        reference_practice(
            {
                "Alpha PPO": {"T0120": ("95.00", 10), "T1110": ("95.00", 4)},  # 50.00, 20.00
                "Beacon PPO": {"T2391": ("95.00", 6), "T3310": ("100.00", 2)},  # 30.00, 0
            }
        )
    )
    assert pareto(result.contracts, limit=1)[0].cumulative_share == D("0.5")  # of all 100.00
    curve = pareto_curve(result.contracts, top=2, max_points=2)
    assert curve.count == 3
    assert [(p.code, p.cumulative_share) for p in curve.top] == [
        ("T0120", D("0.5")),
        ("T2391", D("0.8")),
    ]
    # 3 points drawn at most 2 at a time: every 2nd rank (1) and the last one (3)
    assert curve.ranks == (1, 3)
    assert curve.values == (D("50.00"), D("20.00"))
    assert curve.shares == (D("0.5"), D("1"))
    # Beacon's 30.00 is reached by T2391 alone; Alpha's 80% of 70.00 = 56.00 needs both codes
    # (50.00, then 70.00); the reference contract has no opportunity.
    assert {c.name: c.eighty_count for c in result.contracts} == {
        "Alpha PPO": 2,
        "Beacon PPO": 1,
        "Zenith Reference": 0,
    }
    assert [c.eighty_count for c in result.contracts] == [
        len(c.eighty_mark_codes) for c in result.contracts
    ]


# ---- formulas with the values filled in -----------------------------------------------------


def test_opportunity_formula_shows_the_values(leased):
    result = analyse_practice(leased)
    a = row(by_name(result)["Alpha PPO"], "T1110")
    assert "opportunity = 212 x max(0, $118.40 - $104.00) = $3,052.80" in a.formula("opportunity")
    for figure, values in {
        "effective": ["$104.00", "$150.00"],
        "annual_allowed": ["212", "$104.00", "$22,048.00"],
        "annual_write_off": ["212", "$150.00", "$104.00", "$9,752.00"],
        "peer": ["$118.40"],
    }.items():
        text = a.formula(figure)
        for value in values:
            assert value in text, (figure, value, text)


def test_opportunity_formula_with_a_half_cent_median_checks_by_hand():
    # M = 104.005, E 100.00, V 3: 3 x 4.005 = 12.015 -> 12.02; showing M as $104.01 would
    # not check by hand (3 x 4.01 = 12.03)
    result = analyse_practice(
        practice(
            [
                (1, "Alpha PPO", {"T1110": "100.00"}),
                (2, "Beacon PPO", {"T1110": "104.00"}),
                (3, "Cobalt PPO", {"T1110": "104.01"}),
            ],
            office={"T1110": "200.00"},
            counts={(1, "T1110"): 3},
        )
    )
    text = row(by_name(result)["Alpha PPO"], "T1110").formula("opportunity")
    assert "104.005" in text
    assert "$12.02" in text

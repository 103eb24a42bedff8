"""The campaign rules of DOMAIN.md (campaigns/negotiations/rules.py) and the review-date
arithmetic of the services, checked against figures worked out by hand; no app, no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from campaigns.benchmark.engine import Period
from campaigns.negotiations import rules
from campaigns.negotiations.rules import CodeFigures
from campaigns.negotiations.services import add_months, next_review

D = Decimal

# A 9-month period of whole calendar months: the annual factor is 12 / 9 = 4/3, not whole.
NINE_MONTHS = Period(date(2026, 1, 1), date(2026, 9, 30))
# An 8-month period: 12 / 8 = 3/2, so an odd count gives a half procedure a year.
EIGHT_MONTHS = Period(date(2026, 1, 1), date(2026, 8, 31))


def row(code="T1110", *, count=30, factor=Fraction(1), allowed="70.00", office="120.00", **kw):
    """One campaign code: V = count x factor; amounts as dollar strings (None allowed)."""
    money = {k: (D(v) if v is not None else None) for k, v in kw.items() if k != "is_target"}
    return CodeFigures(
        code=code,
        volume=count * factor,
        allowed=D(allowed) if allowed is not None else None,
        office=D(office) if office is not None else None,
        is_target=kw.get("is_target", False),
        **money,
    )


def test_the_annual_factors_of_the_test_periods():
    assert NINE_MONTHS.annual_factor == Fraction(4, 3)  # 12 / 9
    assert EIGHT_MONTHS.annual_factor == Fraction(3, 2)  # 12 / 8


# ---- per-code responses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "word"),
    [
        ("95.00", "granted"),  # exactly the ask
        ("99.00", "granted"),  # more than the ask
        ("80.00", "partial"),  # up from 70.00, below the ask of 95.00
        ("70.00", "declined"),  # no change
        ("65.00", "reduced"),  # below the baseline's 70.00
        (None, None),  # no answer yet
    ],
)
def test_code_response_compares_the_new_amount_with_the_ask_and_the_baseline(granted, word):
    figures = row(asked="95.00", granted=granted, is_target=True)
    assert rules.code_response(figures) == word


def test_a_code_answered_without_an_ask_is_partial_when_raised_and_declined_when_unchanged():
    assert rules.code_response(row(granted="72.00")) == "partial"
    assert rules.code_response(row(granted="70.00")) == "declined"


# ---- the campaign outcome -------------------------------------------------------------------


def test_every_target_granted_is_yes():
    rows = [
        row("T1110", asked="95.00", granted="95.00", is_target=True),
        row(
            "T0120", allowed="50.00", office="80.00", asked="62.00", granted="65.00", is_target=True
        ),
    ]
    assert rules.derive_outcome(rows) == "yes"


def test_a_gain_with_one_target_below_its_ask_is_partial():
    rows = [
        row("T1110", asked="95.00", granted="95.00", is_target=True),
        row(
            "T0120", allowed="50.00", office="80.00", asked="62.00", granted="58.00", is_target=True
        ),
    ]
    assert rules.derive_outcome(rows) == "partial"


def test_every_target_declined_is_no():
    rows = [row("T1110", asked="95.00", granted="70.00", is_target=True)]
    assert rules.realised_gain(rows) == D("0.00")
    assert rules.derive_outcome(rows) == "no"


def test_a_cut_on_a_code_not_asked_for_can_turn_a_granted_ask_into_no():
    rows = [
        # target granted: V 12 x (71.00 - 70.00) = +12.00
        row("T1110", count=12, asked="71.00", granted="71.00", is_target=True),
        # not a target, cut: V 24 x (49.50 - 50.00) = -12.00
        row("T0120", count=24, allowed="50.00", office="80.00", granted="49.50"),
    ]
    assert rules.realised_gain(rows) == D("0.00")  # 12.00 - 12.00: not above 0
    assert rules.derive_outcome(rows) == "no"


def test_the_outcome_waits_while_a_target_is_unanswered_and_without_targets():
    answered = row("T1110", asked="95.00", granted="95.00", is_target=True)
    waiting = row("T0120", allowed="50.00", office="80.00", asked="62.00", is_target=True)
    assert rules.derive_outcome([answered, waiting]) is None
    assert rules.derive_outcome([row("T0120", granted="80.00")]) is None  # no target at all


# ---- asked value, realised gain, offer value ------------------------------------------------


def test_asked_value_sums_the_rounded_rows_of_the_targets_over_a_nine_month_period():
    f = NINE_MONTHS.annual_factor
    rows = [
        # V = 7 x 4/3 = 28/3; 28/3 x (95.00 - 70.00) = 700/3 = 233.333... -> 233.33
        row("T1110", count=7, factor=f, asked="95.00", is_target=True),
        # V = 27 x 4/3 = 36; 36 x (62.00 - 50.00) = 432.00
        row("T0120", count=27, factor=f, allowed="50.00", office="80.00", asked="62.00",
            is_target=True),
        # not a target: its ask does not count
        row("T2391", count=9, factor=f, allowed="120.00", office="200.00", asked="155.00"),
    ]  # fmt: skip
    assert rules.value_of(rows[0], rows[0].asked) == D("233.33")
    assert rules.asked_value(rows) == D("665.33")  # 233.33 + 432.00


def test_a_row_worth_half_a_cent_rounds_up():
    # V = 3 x 12/8 = 4.5; 4.5 x (80.01 - 70.00 = 10.01) = 45.045 -> 45.05 (half-up; the
    # banker's rule would give 45.04)
    figures = row(count=3, factor=EIGHT_MONTHS.annual_factor, asked="80.01", is_target=True)
    assert rules.asked_value([figures]) == D("45.05")


def test_the_payer_pays_at_most_the_office_fee():
    # U = 80.00: an ask or a grant of 90.00 is worth only up to 80.00 -> 10 x (80 - 50) = 300.00
    capped = row("T0120", count=10, allowed="50.00", office="80.00", asked="90.00",
                 granted="90.00", is_target=True)  # fmt: skip
    assert capped.pays(D("90.00")) == D("80.00")
    assert rules.asked_value([capped]) == D("300.00")
    assert rules.realised_gain([capped]) == D("300.00")
    # A above U: E = min(85.00, 80.00) = 80.00, so a raise to 90.00 is worth 10 x 0 = 0.00
    above = row("T0120", count=10, allowed="85.00", office="80.00", granted="90.00")
    assert above.effective == D("80.00")
    assert rules.realised_gain([above]) == D("0.00")
    # without an office fee nothing caps: 10 x (90.00 - 50.00) = 400.00
    uncapped = row("T0120", count=10, allowed="50.00", office=None, granted="90.00")
    assert rules.realised_gain([uncapped]) == D("400.00")


def test_realised_gain_counts_every_answered_code_of_the_baseline_including_cuts():
    f = NINE_MONTHS.annual_factor
    rows = [
        # V 40 (30 x 4/3) x (95.00 - 70.00) = 1,000.00
        row("T1110", count=30, factor=f, asked="95.00", granted="95.00", is_target=True),
        # V 36 (27 x 4/3) x (58.00 - 50.00) = 288.00
        row("T0120", count=27, factor=f, allowed="50.00", office="80.00", asked="62.00",
            granted="58.00", is_target=True),
        # declined: V 12 x 0 = 0.00
        row("T2391", count=9, factor=f, allowed="120.00", office="200.00", asked="155.00",
            granted="120.00", is_target=True),
        # not asked, cut: V 28/3 (7 x 4/3) x (98.45 - 100.00) = -43.40 / 3 = -14.4666... -> -14.47
        row("T4910", count=7, factor=f, allowed="100.00", office="150.00", granted="98.45"),
        # no new amount: unchanged, worth nothing
        row("T9310", count=5, factor=f, allowed="45.00", office=None),
    ]  # fmt: skip
    assert rules.realised_gain(rows) == D("1273.53")  # 1,000.00 + 288.00 + 0 - 14.47
    assert rules.derive_outcome(rows) == "partial"


def test_offer_value_prices_only_the_codes_the_offer_names():
    rows = [
        row("T1110", count=40, asked="95.00", is_target=True),
        row("T0120", count=36, allowed="50.00", office="80.00", asked="62.00", is_target=True),
    ]
    # 40 x (85.00 - 70.00) = 600.00; T0120 not in the offer: 0
    assert rules.offer_value(rows, {"T1110": D("85.00")}) == D("600.00")
    # plus 36 x (81.00 capped at 80.00 - 50.00) = 1,080.00 -> 1,680.00
    assert rules.offer_value(rows, {"T1110": D("85.00"), "T0120": D("81.00")}) == D("1680.00")
    assert rules.offer_value(rows, {"T7140": D("10.00")}) == D("0")


def test_weighted_raise_weights_the_asks_by_volume():
    rows = [
        row("T1110", count=40, asked="95.00", is_target=True),
        row("T0120", count=36, allowed="50.00", office="80.00", asked="62.00", is_target=True),
        row("T2391", count=12, allowed="120.00", office="200.00", asked="300.00"),  # not a target
    ]
    # (40 x 25 + 36 x 12) / (40 x 70 + 36 x 50) = 1,432 / 4,600 = 0.3113043478...
    assert rules.weighted_raise(rows) == Decimal(1432) / Decimal(4600)
    assert rules.weighted_raise(rows).quantize(D("0.001")) == D("0.311")
    assert rules.weighted_raise([row(asked="95.00")]) is None  # no target: n/a


# ---- win rate and days to respond -----------------------------------------------------------


def test_win_rate_ignores_withdrawn_campaigns():
    outcomes = ["yes", "partial", "no", "withdrawn", "withdrawn"]
    assert rules.win_rate(outcomes) == Decimal(2) / Decimal(3)  # (1 + 1) / (1 + 1 + 1)
    assert rules.win_rate(["withdrawn"]) is None
    assert rules.win_rate([]) is None


def test_median_days_takes_the_mean_of_the_two_middle_values_for_an_even_count():
    sent = date(2026, 1, 1)
    pairs = [
        (sent, date(2026, 1, 31)),  # 30 days
        (sent, date(2026, 2, 15)),  # 45
        (sent, date(2026, 3, 2)),  # 60
        (sent, date(2026, 4, 2)),  # 91
    ]
    assert rules.median_days(pairs) == D("52.5")  # (45 + 60) / 2
    assert rules.median_days(pairs[:3]) == D(45)
    assert rules.median_days([]) is None


# ---- leverage -------------------------------------------------------------------------------

SHARE = "share of production at least 15%"
SCARCE = "at least 50 scarce-category procedures a year"
PROVIDERS = "at most 3 in-network providers within 10 miles"
ROUTE = "a better-paying access route exists"


def test_two_criteria_at_their_thresholds_rate_strong_with_the_reasons():
    rating = rules.rate_leverage(
        share_bp=1500, scarce_per_year=49, providers_nearby=3, better_route=None,
        thresholds=rules.Thresholds(),
    )  # fmt: skip
    assert rating.level == "strong"
    assert rating.reasons == (SHARE, PROVIDERS)
    assert rating.missing == (f"{SCARCE}: no", f"{ROUTE}: not known")


def test_one_criterion_rates_moderate():
    rating = rules.rate_leverage(
        share_bp=1499, scarce_per_year=None, providers_nearby=4, better_route=True,
        thresholds=rules.Thresholds(),
    )  # fmt: skip
    assert rating.level == "moderate"
    assert rating.reasons == (ROUTE,)
    assert rating.missing == (f"{SHARE}: no", f"{SCARCE}: not known", f"{PROVIDERS}: no")


def test_nothing_known_rates_weak_and_says_so():
    rating = rules.rate_leverage(
        share_bp=None, scarce_per_year=None, providers_nearby=None, better_route=None,
        thresholds=rules.Thresholds(),
    )  # fmt: skip
    assert rating.level == "weak"
    assert rating.reasons == ()
    assert rating.missing == tuple(f"{t}: not known" for t in (SHARE, SCARCE, PROVIDERS, ROUTE))


def test_the_practice_thresholds_change_the_rating_and_its_words():
    rating = rules.rate_leverage(
        share_bp=1000, scarce_per_year=20, providers_nearby=None, better_route=False,
        thresholds=rules.Thresholds(share_bp=1000, scarce_count=20, max_providers=5,
                                    radius_miles=25),
    )  # fmt: skip
    assert rating.level == "strong"
    assert rating.reasons == (
        "share of production at least 10%",
        "at least 20 scarce-category procedures a year",
    )
    assert rating.missing == (
        "at most 5 in-network providers within 25 miles: not known",
        f"{ROUTE}: no",
    )


# ---- the next review date -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # February is shorter
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # a leap year
        (date(2026, 12, 15), 1, date(2027, 1, 15)),  # across the year end
        (date(2026, 8, 31), 18, date(2028, 2, 29)),  # 18 months to a leap-year February end
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 3, 31), 6, date(2026, 9, 30)),
        (date(2026, 5, 10), 24, date(2028, 5, 10)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_month_end(day, months, expected):
    assert add_months(day, months) == expected


def test_next_review_is_the_practice_interval_after_closing():
    assert next_review(date(2026, 12, 2), 12, None, None) == date(2027, 12, 2)
    assert next_review(date(2026, 12, 2), 18, None, None) == date(2028, 6, 2)


def test_next_review_comes_earlier_with_the_renewal_or_the_notice_deadline():
    closed = date(2026, 12, 2)
    # renewal before the 12 months are up
    assert next_review(closed, 12, date(2027, 6, 1), None) == date(2027, 6, 1)
    # renewal Jun 1, 2027 with 90 days' notice: notice deadline Mar 3, 2027 comes first
    assert next_review(closed, 12, date(2027, 6, 1), date(2027, 3, 3)) == date(2027, 3, 3)
    # a renewal after the interval does not pull it in
    assert next_review(closed, 12, date(2028, 6, 1), None) == date(2027, 12, 2)
    # a deadline already passed (on or before closing) is ignored
    assert next_review(closed, 12, date(2027, 6, 1), date(2026, 12, 2)) == date(2027, 6, 1)

"""build_letter_context: plain text values, figures computed and rounded as DOMAIN.md says."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from campaigns.letters.context import LetterKind, code_rows, demo_context, variables
from campaigns.negotiations.rules import CodeFigures


def test_rows_round_each_figure_half_up_and_totals_sum_the_rounded_rows():
    # V = 2117/18 (a 90-day period): V x $51.75 = $6,086.375 -> $6,086.38; V x $55.00 =
    # $6,468.61 (6468.611...); a code not asked for is not in the table.
    rows, totals = code_rows(
        [
            CodeFigures(
                "T1110",
                Fraction(2117, 18),
                Decimal("51.75"),
                None,
                Decimal("55.00"),
                is_target=True,
            ),  # fmt: skip
            CodeFigures(
                "T0120", Fraction(10), Decimal("20.00"), None, Decimal("21.00"), is_target=True
            ),  # fmt: skip
            CodeFigures("T2391", Fraction(50), Decimal("90.00"), None, None, is_target=False),
        ],
        {"T1110": "Cleaning & polish"},
    )
    assert [r["code"] for r in rows] == ["T0120", "T1110"]
    t1110 = rows[1]
    assert t1110["description"] == "Cleaning & polish"  # escaping is the renderer's job
    assert (t1110["current_annual"], t1110["requested_annual"]) == ("$6,086.38", "$6,468.61")
    assert t1110["increase_annual"] == "$382.23"
    assert t1110["volume"] == "118"  # 117.61 rounded
    assert t1110["change_pct"] == "+6.3%"  # 3.25 / 51.75 = 6.28%
    assert totals["current_annual"] == "$6,286.38"  # 6,086.38 + 200.00
    assert totals["requested_annual"] == "$6,678.61"  # 6,468.61 + 210.00
    assert totals["increase_annual"] == "$392.23"
    assert totals["codes"] == "2"


def test_every_documented_variable_has_an_example_and_the_context_is_plain_text():
    context = demo_context(LetterKind.FOLLOW_UP)
    assert context["practice"]["name"] == "Smith & Jones Family Dentistry"
    assert context["request"]["date"] == "October 15, 2026"
    names = [name for name, _, example in variables() if example != ""]
    assert "totals.increase_annual" in names
    assert "row.requested" in names

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, str)

    assert plain(context)

"""Money and procedure-code helpers: exact cents, half-up rounding, code shapes, categories."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.codes import category, normalise_code
from campaigns.money import (
    cents_to_decimal,
    decimal_to_cents,
    format_money,
    format_percent,
    parse_money,
    round_cents,
)


def test_rounding_is_half_up_to_the_cent():
    assert round_cents(Decimal("104.005")) == Decimal("104.01")
    assert round_cents(Decimal("104.004999")) == Decimal("104.00")
    assert round_cents(Decimal("0.125")) == Decimal("0.13")  # banker's rounding would give .12


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("$1,234.50", "1234.50"), ("1234.5", "1234.50"), ("1,234", "1234.00"), (" 7 ", "7.00")],
)
def test_parse_money_accepts_what_people_type(typed, expected):
    assert parse_money(typed) == Decimal(expected)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter an amount."),
        ("-5", "cannot be negative"),
        ("12.345", "at most two decimals"),
        ("abc", "is not an amount"),
        ("NaN", "is not an amount"),
    ],
)
def test_parse_money_refuses_bad_input_with_a_reason(typed, message):
    with pytest.raises(ValueError, match=message):
        parse_money(typed)


def test_money_is_shown_as_dollars_and_missing_values_as_na():
    assert format_money(Decimal("3052.8")) == "$3,052.80"
    assert format_money(123456, cents=True) == "$1,234.56"
    assert format_money(Decimal("-12")) == "-$12.00"
    assert format_money(None) == "n/a"
    assert format_percent(Decimal("0.75125")) == "75.1%"
    assert format_percent(Decimal("0.7515")) == "75.2%"
    assert format_percent(None) == "n/a"


@given(st.integers(min_value=0, max_value=10_000_000_000))
def test_cents_round_trip_exactly(cents):
    assert decimal_to_cents(cents_to_decimal(cents)) == cents


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" t0120 ", "T0120"),
        ("1110", "T1110"),
        ("T2392A", "T2392A"),
        ("T12", None),
        ("12345", None),
        ("", None),
        (None, None),
        ("0120", "T0120"),
    ],
)
def test_codes_are_normalised_or_refused(raw, expected):
    assert normalise_code(raw, prefix="T") == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("T0120", "Diagnostic"),
        ("T1110", "Preventive"),
        ("T2740", "Restorative"),
        ("T3330", "Endodontics"),
        ("T4341", "Periodontics"),
        ("T5899", "Removable prosthetics"),
        ("T5900", "Maxillofacial"),
        ("T6199", "Implants"),
        ("T6200", "Fixed prosthetics"),
        ("T7140", "Oral surgery"),
        ("T8080", "Orthodontics"),
        ("T9944", "Adjunctive"),
    ],
)
def test_category_follows_the_number_ranges(code, expected):
    assert category(code) == expected


@given(st.from_regex(r"[A-Z][0-9]{4}[A-Z0-9]{0,3}", fullmatch=True))
def test_every_code_shape_has_a_category(code):
    assert normalise_code(code) == code
    assert category(code)


@pytest.mark.parametrize("module", ["money.py", "codes.py"])
def test_pure_helpers_import_neither_flask_nor_sqlalchemy(module):
    import ast
    from pathlib import Path

    source = (Path(__file__).parents[2] / "campaigns" / module).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0] if node.level == 0 else ".")
    assert not imported & {"flask", "sqlalchemy", "flask_sqlalchemy", "."}

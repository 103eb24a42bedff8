"""The shared preview core: amounts, codes, counts, dates, header detection, and a reason for
every row not taken (on plain tables, without any file format)."""

from __future__ import annotations

from datetime import date

import pytest

from campaigns.fees.importers.preview import (
    ColumnsNotFound,
    RowProblem,
    UnreadableFile,
    build_preview,
    parse_amount,
    parse_code,
    parse_count,
    parse_date,
    role_of,
)

# ---- amounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("$1,234.50", 123450),
        ("1234.5", 123450),
        ("1,234", 123400),
        ("45", 4500),
        (" $ 45.00 ", 4500),
        ("USD 88.10", 8810),
        ("12.500", 1250),  # trailing zeros are not extra precision
        ("0", 0),
        ("$100,000.00", 10_000_000),  # the limit itself is allowed
    ],
)
def test_amounts_are_read_to_exact_cents(text, cents):
    assert parse_amount(text) == (cents, "")


@pytest.mark.parametrize(
    ("text", "cents"), [("12,50", 1250), ("1.234,50", 123450), ("1 234,5", 123450), ("12.50", 1250)]
)
def test_decimal_comma_amounts_when_the_file_uses_them(text, cents):
    assert parse_amount(text, decimal_comma=True) == (cents, "")


@pytest.mark.parametrize("text", ["N/C", "Not a benefit", "NB", "not covered", "-", "By report"])
def test_not_covered_words_are_flagged_not_rejected(text):
    assert parse_amount(text) == (None, f"'{text}'")


def test_blank_amount_is_flagged_as_blank():
    assert parse_amount("  ") == (None, "blank amount")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(12.00)", "negative amount '(12.00)'"),
        ("-5", "negative amount '-5'"),
        ("$150,000.00", "'$150,000.00' is over $100,000"),
        ("100000.01", "'100000.01' is over $100,000"),
        ("12.345", "'12.345' has more than two decimals"),
        ("12,50", "decimal comma"),
        ("call us", "'call us' is not an amount"),
        ("1e5", "'1e5' is not an amount"),
        ("NaN", "'NaN' is not an amount"),
        ("9" * 60, "is not an amount"),
    ],
)
def test_bad_amounts_give_the_reason(text, reason):
    with pytest.raises(
        RowProblem, match=reason.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")
    ):
        parse_amount(text)


# ---- codes, counts, dates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" t1110 ", ("T1110", "", False)),
        ("1110", ("T1110", "", False)),  # a bare number takes the configured prefix
        ("120", ("T0120", "", True)),  # a spreadsheet dropped the leading zero
        ("T0120 - Recall exam", ("T0120", "Recall exam", False)),
        ("T2392*", ("T2392", "", False)),  # a footnote mark
        ("XX", (None, "", False)),
        ("T12", (None, "", False)),
        ("", (None, "", False)),
    ],
)
def test_codes_are_normalised_with_the_prefix(raw, expected):
    assert parse_code(raw, "T") == expected


@pytest.mark.parametrize(("text", "count"), [("12", 12), ("1,234", 1234), ("7.0", 7), ("0", 0)])
def test_counts_are_whole_numbers(text, count):
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("text", "reason"), [("", "no count"), ("-2", "negative"), ("2.5", "whole"), ("12,5", "whole")]
)
def test_bad_counts_give_the_reason(text, reason):
    with pytest.raises(RowProblem, match=reason):
        parse_count(text)


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2025-03-14", False, date(2025, 3, 14)),
        ("2025-03-14 00:00:00", False, date(2025, 3, 14)),
        ("03/14/2025", False, date(2025, 3, 14)),
        ("3/4/25", False, date(2025, 3, 4)),
        ("14/03/2025", True, date(2025, 3, 14)),
        ("20250314", False, date(2025, 3, 14)),
    ],
)
def test_dates_in_the_usual_export_formats(text, day_first, expected):
    assert parse_date(text, day_first) == expected


@pytest.mark.parametrize("text", ["2025-02-30", "yesterday", ""])
def test_bad_dates_are_problems(text):
    with pytest.raises(RowProblem):
        parse_date(text)


@pytest.mark.parametrize(
    ("header", "role"),
    [
        ("Maximum Plan Allowance", "amount"),
        ("Contract allowance", "amount"),
        ("UCR", "amount"),
        ("80th percentile", "amount"),
        ("Procedure Code", "code"),
        ("CDT", "code"),
        ("Procedure Description", "description"),
        ("Qty", "count"),
        ("#", "count"),
        ("Primary Carrier", "carrier"),
        ("Proc Date", "date"),
        ("Patient ID", "patient"),
        ("Notes", None),
        ("This schedule lists the maximum plan allowance for each procedure code", None),
    ],
)
def test_header_words_name_column_roles(header, role):
    assert role_of(header) == role


# ---- tables -------------------------------------------------------------------------------

MESSY = [
    ["Acme Dental Network", "", ""],
    ["Fee schedule effective 2025-01-01", "", ""],
    [],
    ["Code", "Description", "Allowance"],
    ["T0120", "Recall exam", "$52.00"],
    ["T1110", "Adult cleaning (age 14+)", "$82.00"],
    ["", "", ""],
    ["T1110", "Adult cleaning (age 19+)", "$95.00"],
    ["T1110", "Adult cleaning (older)", "$78.00"],
    ["T1206", "Fluoride", "N/C"],
    ["T1351", "Sealant", "Not a benefit"],
    ["T1352", "Sealant, other", ""],
    ["T2392", "Filling, 2 surfaces", "(12.00)"],
    ["T6010", "Implant post", "$150,000.00"],
    ["T2740", "Ceramic crown", "12.345"],
    ["Diagnostic", "", ""],
    ["XX12", "Unknown thing", "$5.00"],
    ["", "Nothing coded", "$7.00"],
    ["1110", "Bare number", "$60.00"],
    ["Total", "", "$1,234.00"],
    ["Page 1 of 1", "", ""],
]


@pytest.fixture
def messy():
    return build_preview(MESSY, prefix="T")


def test_header_row_is_found_below_the_preamble(messy):
    assert messy.header_row == 3
    assert messy.header == ["Code", "Description", "Allowance"]
    assert messy.columns == {"code": 0, "description": 1, "amount": 2}


def test_every_row_is_taken_flagged_rejected_or_skipped_with_a_reason(messy):
    assert messy.blank_lines == 1
    assert messy.rows_read == 16
    assert [row.code for row in messy.rows] == [
        "T0120", "T1110", "T1110", "T1110", "T1206", "T1351", "T1352", "T1110",
    ]  # fmt: skip
    assert {row.where: row.reason for row in messy.rejected} == {
        "line 13": "negative amount '(12.00)'",
        "line 14": "'$150,000.00' is over $100,000",
        "line 15": "'12.345' has more than two decimals",
        "line 17": "'XX12' is not a procedure code",
        "line 18": "no procedure code",
    }
    assert [(row.where, row.reason) for row in messy.skipped] == [
        ("line 16", "section heading"),
        ("line 20", "totals line"),
        ("line 21", "page header or footer"),
    ]


def test_not_covered_rows_are_flagged_with_what_the_file_said(messy):
    assert [(row.code, row.note) for row in messy.not_covered] == [
        ("T1206", "'N/C'"),
        ("T1351", "'Not a benefit'"),
        ("T1352", "blank amount"),
    ]
    assert "T1206" not in messy.resolve()


def test_duplicate_codes_are_listed_and_resolved_by_the_users_rule(messy):
    assert [row.amount_cents for row in messy.duplicates["T1110"]] == [8200, 9500, 7800, 6000]
    assert list(messy.duplicates) == ["T1110"]
    assert messy.resolve("first")["T1110"] == 8200
    assert messy.resolve("highest")["T1110"] == 9500
    assert messy.resolve("lowest")["T1110"] == 6000
    assert messy.resolve() == {"T0120": 5200, "T1110": 8200}


def test_descriptions_come_from_the_file(messy):
    assert messy.descriptions() == {
        "T0120": "Recall exam",
        "T1110": "Adult cleaning (age 14+)",
        "T1206": "Fluoride",
        "T1351": "Sealant",
        "T1352": "Sealant, other",
    }


def test_a_user_mapping_overrides_the_guess():
    table = [["Ref", "Text", "Billed", "Paid"], ["T0120", "Exam", "90.00", "52.00"]]
    preview = build_preview(table, {"code": 0, "description": 1, "amount": 3})
    assert preview.header_row == 0  # still skipped as the header
    assert preview.resolve() == {"T0120": 5200}


def test_a_mapping_without_codes_is_refused():
    with pytest.raises(UnreadableFile, match="procedure codes"):
        build_preview([["a", "b"]], {"amount": 1})


def test_allowance_is_preferred_over_the_office_fee_when_both_are_there():
    table = [["Code", "Office fee", "Max allowable"], ["T0120", "90.00", "52.00"]]
    preview = build_preview(table)
    assert preview.columns["amount"] == 2
    assert preview.rows[0].amounts == {"Office fee": 9000, "Max allowable": 5200}


def test_percentile_columns_each_become_an_amount_column():
    table = [
        ["Code", "Description", "50th", "80th", "90th"],
        ["T0120", "Recall exam", "$62.00", "$78.00", "$88.50"],
        ["T1110", "Adult cleaning", "$110", "$128", "N/C"],
    ]
    preview = build_preview(table)
    assert [label for _, label in preview.amount_columns] == ["50th", "80th", "90th"]
    assert preview.resolve(column="90th") == {"T0120": 8850}
    assert preview.resolve(column="50th") == {"T0120": 6200, "T1110": 11000}
    with pytest.raises(ValueError, match="no amount column"):
        preview.resolve(column="95th")


def test_a_file_without_a_header_is_read_from_its_values_with_a_warning():
    table = [["T0120", "52.00"], ["T1110", "95.5"], ["T2392", "180"]]
    preview = build_preview(table)
    assert preview.header_row is None
    assert preview.columns == {"code": 0, "amount": 1}
    assert preview.resolve() == {"T0120": 5200, "T1110": 9550, "T2392": 18000}
    assert "No header row found" in preview.warnings[0]


def test_no_recognisable_columns_is_a_clear_error_with_a_sample():
    table = [["Name", "Phone"], ["Ann", "555-0100"]]
    with pytest.raises(ColumnsNotFound, match="No recognisable columns") as caught:
        build_preview(table)
    assert caught.value.sample == table


def test_an_empty_table_is_a_clear_error():
    with pytest.raises(UnreadableFile, match="empty"):
        build_preview([[], ["", "  "]])


def test_a_wrapped_description_line_joins_the_row_above():
    table = [
        ["Code", "Description", "Fee"],
        ["T2740", "Ceramic crown on a", "1,250.00"],
        ["", "back tooth", ""],
        ["T2950", "Crown build-up", "295.00"],
    ]
    preview = build_preview(table)
    assert preview.descriptions()["T2740"] == "Ceramic crown on a back tooth"
    assert preview.rejected == []
    assert preview.skipped == []


def test_volumes_without_a_count_column_count_one_per_row_and_hide_patients():
    table = [
        ["Proc Date", "Code", "Carrier", "Patient ID"],
        ["2025-01-03", "T0120", "Acme", "P-1001"],
        ["2025-01-04", "T0120", "Acme", "P-1002"],
        ["someday", "T1110", "Acme", "P-1003"],
    ]
    preview = build_preview(table, kind="volumes")
    assert preview.per_procedure
    assert preview.ignored_columns == [3]
    assert [(r.code, r.count, r.service_date) for r in preview.rows] == [
        ("T0120", 1, date(2025, 1, 3)),
        ("T0120", 1, date(2025, 1, 4)),
    ]
    assert preview.rejected[0].reason == "'someday' is not a date"
    assert preview.rejected[0].cells == ("someday", "T1110", "Acme", "[hidden]")
    assert preview.duplicates == {}  # one row per procedure: repeats are the point


def test_decimal_commas_are_detected_from_the_amounts():
    table = [["Code", "Fee"], ["T0120", "52,00"], ["T1110", "1.095,50"], ["T2392", "180"]]
    preview = build_preview(table)
    assert preview.decimal_comma
    assert preview.resolve() == {"T0120": 5200, "T1110": 109550, "T2392": 18000}
    assert any("Decimal commas" in warning for warning in preview.warnings)


def test_a_repeated_row_with_an_amount_is_rejected_not_taken_for_a_page_header():
    table = [["Code", "Fee"], ["T0120", "52"], ["T01-20", "52.00"], ["T01-20", "52.00"]]
    preview = build_preview(table)
    assert [row.reason for row in preview.rejected] == ["'T01-20' is not a procedure code"] * 2
    assert preview.skipped == []


def test_a_row_number_column_in_a_schedule_is_not_read_as_counts():
    table = [["No.", "Code", "Description", "Fee"], ["1", "T0120", "Recall exam", "52"]]
    preview = build_preview(table)
    assert preview.resolve() == {"T0120": 5200}
    assert preview.rows[0].count is None


def test_a_volumes_file_hides_every_unmapped_column_of_a_rejected_row():
    table = [["Code", "Count", "Ref"], ["T0120", "x", "A-77"]]
    preview = build_preview(table, kind="volumes")
    assert preview.rejected[0].cells == ("T0120", "x", "[hidden]")


def test_zero_amounts_are_kept_but_pointed_out():
    preview = build_preview([["Code", "Fee"], ["T1206", "$0.00"], ["T0120", "52"]])
    assert preview.resolve() == {"T1206": 0, "T0120": 5200}
    assert "1 code(s) have an amount of $0.00 (e.g. T1206)" in preview.warnings[0]

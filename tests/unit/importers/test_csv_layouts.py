"""CSV files as payers' portals and practice-management systems write them: encodings,
delimiters, preambles, totals, decimal commas; and the files that must be refused clearly."""

from __future__ import annotations

import codecs
import time
from datetime import date

import pytest

from campaigns.fees.importers import UnreadableFile, preview_csv, preview_file
from campaigns.fees.importers.csv_file import read_csv


def test_semicolon_windows_1252_with_preamble_and_decimal_commas():
    text = (
        "Cabinet Dupont - Tarifs;;\r\n"
        "Export du 02/01/2025;;\r\n"
        ";;\r\n"
        "Code;Description;Fee\r\n"
        "T0120;Examen de contrôle;52,00\r\n"
        "T1110;Détartrage;1.095,50\r\n"
        "T2392;Composite 2 faces;245,5\r\n"
        "T1206;Fluor;N/C\r\n"
        ";;\r\n"
        "Total;;1.393,00\r\n"
    )
    preview = preview_csv(text.encode("cp1252"), prefix="T")
    assert (preview.encoding, preview.delimiter) == ("Windows-1252", ";")
    assert preview.header_row == 3
    assert preview.decimal_comma
    assert len(preview.rows) == 4
    assert preview.rejected == []
    assert preview.resolve() == {"T0120": 5200, "T1110": 109550, "T2392": 24550}
    assert preview.descriptions()["T1110"] == "Détartrage"
    assert [(row.where, row.reason) for row in preview.skipped] == [("line 10", "totals line")]
    assert preview.blank_lines == 1


def test_utf8_with_bom_and_quoted_thousands():
    text = (
        "Code,Description,Maximum Plan Allowance\n"
        'T2740,"Ceramic crown, back tooth","1,234.50"\n'
        'T6010,Implant post,"$2,150.00"\n'
        "\n"
        "T0120,Recall exam,52\n"
        "\n"
        'Grand total,,"3,436.50"\n'
    )
    preview = preview_csv(codecs.BOM_UTF8 + text.encode("utf-8"))
    assert preview.encoding == "UTF-8 with BOM"
    assert preview.header == ["Code", "Description", "Maximum Plan Allowance"]
    assert preview.resolve() == {"T2740": 123450, "T6010": 215000, "T0120": 5200}
    assert preview.descriptions()["T2740"] == "Ceramic crown, back tooth"
    assert preview.blank_lines == 2
    assert preview.skipped[0].reason == "totals line"


def test_utf16_tab_delimited_as_excel_saves_unicode_text():
    text = "Procedure Code\tDescription\tContract Allowance\r\nT0120\tRecall exam\t52.00\r\n"
    text += "T0274\tFour bite-wings\t64.25\r\nT1110\tAdult cleaning\t95.00\r\n"
    preview = preview_csv(text.encode("utf-16"))
    assert (preview.encoding, preview.delimiter) == ("UTF-16", "\t")
    assert preview.resolve() == {"T0120": 5200, "T0274": 6425, "T1110": 9500}


def test_utf16_without_a_bom_is_recognised():
    text = "Code|Fee\nT0120|52.00\nT1110|95.00\n"
    preview = preview_csv(text.encode("utf-16-le"))
    assert (preview.encoding, preview.delimiter) == ("UTF-16-LE", "|")
    assert preview.resolve() == {"T0120": 5200, "T1110": 9500}


def test_pms_code_mix_report_by_carrier():
    text = (
        "Utilization Report,,,,\n"
        "Date range: 01/01/2024 - 12/31/2024,,,,\n"
        "Code,Description,Carrier,Count,Amount\n"
        'T0120,Recall exam,Acme Dental PPO,212,"$11,024.00"\n'
        'T0120,Recall exam,Blue Tooth Mutual,87,"$4,524.00"\n'
        'T1110,Adult cleaning,Acme Dental PPO,"1,045","$99,275.00"\n'
        "T2392,Filling 2 surfaces,Blue Tooth Mutual,-3,($735.00)\n"
        'Total,,,"1,341","$114,088.00"\n'
    )
    preview = preview_csv(text.encode(), kind="volumes")
    assert preview.columns == {
        "code": 0, "description": 1, "carrier": 2, "count": 3, "amount": 4,
    }  # fmt: skip
    assert not preview.per_procedure
    assert [(row.code, row.carrier, row.count, row.amount_cents) for row in preview.rows] == [
        ("T0120", "Acme Dental PPO", 212, 1102400),
        ("T0120", "Blue Tooth Mutual", 87, 452400),
        ("T1110", "Acme Dental PPO", 1045, 9927500),
    ]
    assert preview.rejected[0].reason == "negative count '-3'"
    assert preview.skipped[0].reason == "totals line"


def test_procedure_level_export_is_parsed_row_by_row_without_patient_values():
    lines = ["ProcDate,ProcCode,Carrier,PatNum,Patient Name"]
    for day in range(1, 31):
        lines.append(
            f"01/{day:02d}/2025,T{120 + (day % 3) * 990:04d},Acme Dental PPO,{9000 + day},X"
        )
    lines.append("13/45/2025,T0120,Acme Dental PPO,9999,Y")
    preview = preview_csv("\n".join(lines).encode(), kind="volumes")
    assert preview.per_procedure
    assert preview.ignored_columns == [3, 4]
    assert len(preview.rows) == 30
    assert preview.rows[0].service_date == date(2025, 1, 1)
    assert preview.rows[0].code == "T1110"
    assert preview.rows[0].count == 1
    assert [row.code for row in preview.rows].count("T0120") == 10
    assert preview.rejected[0].reason == "'13/45/2025' is not a date"
    assert preview.rejected[0].cells == (
        "13/45/2025",
        "T0120",
        "Acme Dental PPO",
        "[hidden]",
        "[hidden]",
    )


def test_open_dental_fee_export_without_header_round_trips():
    data = b"T0120\t52\nT1110\t95.5\nT2740\t1234.5\n"
    preview = preview_csv(data)
    assert preview.header_row is None
    assert preview.delimiter == "\t"
    assert preview.resolve() == {"T0120": 5200, "T1110": 9550, "T2740": 123450}


def test_benchmark_percentiles_in_one_file():
    data = (
        b"CDT,Description,P50,P80,P90\nT0120,Recall exam,62,78,88.5\nT1110,Cleaning,110,128,141\n"
    )
    preview = preview_csv(data)
    assert [label for _, label in preview.amount_columns] == ["P50", "P80", "P90"]
    assert preview.resolve(column="P80") == {"T0120": 7800, "T1110": 12800}
    assert preview.resolve(column="P90") == {"T0120": 8850, "T1110": 14100}


def test_bare_numbers_take_the_practices_prefix():
    preview = preview_csv(b"Code,Fee\n1110,95\n0120,52\n120,52\n", prefix="T")
    assert [row.code for row in preview.rows] == ["T1110", "T0120", "T0120"]
    assert "lost a leading zero" in preview.warnings[-1]


def test_preview_file_dispatches_on_content_and_extension():
    preview = preview_file("schedule.csv", b"Code,Fee\nT0120,52\n")
    assert preview.source == "csv"
    with pytest.raises(UnreadableFile, match=r"old Excel \(.xls\)"):
        preview_file("fees.xls", b"\xd0\xcf\x11\xe0junk")
    with pytest.raises(UnreadableFile, match="Upload a CSV"):
        preview_file("fees.docx", b"hello")


# ---- files refused with a clear message ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (codecs.BOM_UTF8, "empty"),
        (b"\x00\x01\x02\x03binary\x00\xff" * 50, "not a text file"),
        (b"Code,Fee\nT0120,\x81\x8d\x90\x9d\n", "encoding is not recognised"),
        (b"PK\x03\x04rest of a zip", "not a CSV"),
        (b"%PDF-1.7\n", "not a CSV"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "not valid UTF-16"),
        (b"Name,Phone\nAnn,555-0100\n", "No recognisable columns"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(data, message):
    with pytest.raises(UnreadableFile, match=message):
        preview_csv(data)


def test_a_two_million_character_line_is_refused_quickly():
    data = b"Code,Fee\nT0120," + b"9" * 2_000_000 + b"\nT1110,95\n"
    started = time.perf_counter()
    with pytest.raises(UnreadableFile, match="Line 2 is 2,000,006 characters long"):
        preview_csv(data)
    assert time.perf_counter() - started < 2


def test_an_unterminated_quote_is_refused_not_swallowed():
    data = b'Code,Fee\nT0120,"52\n' + b"T1110,95,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" * 4000
    with pytest.raises(UnreadableFile, match="could not be read near line"):
        read_csv(data)

"""XLSX files: cover sheets, headers further down, merged title rows, numbers stored as text or
as floats; and zip bombs, XML bombs and damaged files refused with a clear message."""

from __future__ import annotations

import time

import pytest
from openpyxl import Workbook

from campaigns.fees.importers import UnreadableFile, preview_file, preview_xlsx
from campaigns.fees.importers import xlsx as xlsx_module
from campaigns.fees.importers.xlsx import cell_text

from .builders import replace_member, xlsx_bytes, zip_bomb


@pytest.fixture
def cover_sheet_workbook() -> bytes:
    """A cover sheet, then the data sheet with its header on row 6 and numbers as text."""
    workbook = Workbook()
    cover = workbook.active
    cover.title = "Cover"
    cover["A1"] = "Blue Tooth Mutual - Participating provider schedule"
    cover["A3"] = "Confidential. Effective January 1, 2025."
    data = workbook.create_sheet("Schedule")
    data["A1"] = "Blue Tooth Mutual"
    data["A2"] = "Region 4 - Dental PPO"
    data["A4"] = "Amounts in US dollars"
    data.append([])  # row 5 stays blank
    rows = [
        ("Procedure Code", "Description", "Max Allowable", "Notes"),
        ("T0120", "Recall exam", "$52.00", ""),
        ("T0210", "Full x-ray set", "118.4", ""),
        ("T1110", "Adult cleaning", " 95 ", "age 14+"),
        ("T1110", "Adult cleaning", "101.00", "age 19+"),
        ("T2740", "Ceramic crown", "1,104.00", ""),
        ("T9940", "Night guard", "Not a benefit", ""),
        ("Total", "", "1,470.40", ""),
    ]
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            data.cell(row=6 + offset, column=column, value=value)
    return xlsx_bytes(workbook)


def test_cover_sheet_is_passed_over_for_the_sheet_with_a_header(cover_sheet_workbook):
    preview = preview_xlsx(cover_sheet_workbook)
    assert preview.sheet_names == ["Cover", "Schedule"]
    assert preview.sheet == "Schedule"
    assert preview.header_row == 5  # sheet row 6
    assert preview.columns == {"code": 0, "description": 1, "amount": 2}
    assert len(preview.rows) == 6
    assert preview.rejected == []
    assert list(preview.duplicates) == ["T1110"]
    assert preview.resolve("highest") == {
        "T0120": 5200, "T0210": 11840, "T1110": 10100, "T2740": 110400,
    }  # fmt: skip
    assert preview.not_covered[0].where == "row 12"
    assert preview.skipped[0].where == "row 13"


def test_a_sheet_can_be_chosen_by_name(cover_sheet_workbook):
    with pytest.raises(UnreadableFile, match="no sheet named 'Fees'; the sheets are: Cover"):
        preview_xlsx(cover_sheet_workbook, sheet="Fees")
    with pytest.raises(UnreadableFile, match="No recognisable columns"):
        preview_xlsx(cover_sheet_workbook, sheet="Cover")


def test_merged_title_rows_and_real_numbers():
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Office fees"
    sheet["A1"] = "Smile Street Dental - Office fee schedule"
    sheet.merge_cells("A1:C1")
    sheet["A2"] = "Printed from the practice system"
    sheet.merge_cells("A2:C2")
    sheet.append(["Code", "Description", "UCR"])
    sheet.append([1110, "Adult cleaning", 125])  # a bare number: takes the prefix
    sheet.append([120, "Recall exam", 75.5])  # a spreadsheet dropped the leading zero
    sheet.append(["T2392", "Filling 2 surfaces", 0.1 + 0.2 + 244.7])  # a float from arithmetic
    sheet.append(["T2950", "Crown build-up", 295.125])  # three real decimals
    sheet.append(["T3330", "Molar root canal", 1320.4])
    preview = preview_xlsx(xlsx_bytes(workbook), prefix="T")
    assert preview.header_row == 2
    assert preview.resolve() == {"T1110": 12500, "T0120": 7550, "T2392": 24500, "T3330": 132040}
    assert preview.rejected[0].reason == "'295.125' has more than two decimals"
    assert any("leading zero" in warning for warning in preview.warnings)


def test_code_volumes_from_an_xlsx_report():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Practice Analysis - Production Summary"])
    sheet.append(["Proc Code", "Description", "Qty", "Total"])
    sheet.append(["T0120", "Recall exam", 212, 11024])
    sheet.append(["T1110", "Adult cleaning", 1045.0, 99275])
    preview = preview_xlsx(xlsx_bytes(workbook), kind="volumes")
    assert [(row.code, row.count) for row in preview.rows] == [("T0120", 212), ("T1110", 1045)]


@pytest.mark.parametrize(
    ("value", "text"),
    [(1234.5, "1234.50"), (95.0, "95"), (0.1 + 0.2, "0.30"), (295.125, "295.125"), (None, "")],
)
def test_float_cells_become_exact_text(value, text):
    assert cell_text(value) == text


# ---- files refused with a clear message ----------------------------------------------------


def test_a_zip_bomb_is_refused_before_it_is_opened():
    started = time.perf_counter()
    bomb = zip_bomb(210)
    assert len(bomb) < 2_000_000
    with pytest.raises(UnreadableFile, match="would expand to 210 MB.*zip bomb"):
        preview_xlsx(bomb)
    assert time.perf_counter() - started < 3


def test_an_absurd_compression_ratio_is_refused():
    with pytest.raises(UnreadableFile, match="compressed .* to 1.*zip bomb"):
        preview_xlsx(zip_bomb(40))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>"""


@pytest.fixture
def xml_bomb() -> bytes:
    workbook = Workbook()
    workbook.active.append(["Code", "Fee"])
    return replace_member(xlsx_bytes(workbook), "xl/worksheets/sheet1.xml", BILLION_LAUGHS)


def test_an_xml_bomb_is_refused(xml_bomb):
    with pytest.raises(UnreadableFile, match="XML bomb"):
        preview_xlsx(xml_bomb)


def test_defusedxml_refuses_the_xml_bomb_even_without_the_prolog_check(xml_bomb, monkeypatch):
    monkeypatch.setattr(xlsx_module, "XML_PROLOG_BYTES", 0)
    with pytest.raises(UnreadableFile, match=r"\(EntitiesForbidden\).*XML bomb"):
        preview_xlsx(xml_bomb)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04" + b"\x00" * 100, "damaged"),
        (b"Code,Fee\nT0120,52\n", r"not an Excel \(.xlsx\) file"),
        (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, r"old Excel \(.xls\)"),
    ],
)
def test_damaged_or_wrong_files_are_refused(data, message):
    with pytest.raises(UnreadableFile, match=message):
        preview_xlsx(data)


@pytest.mark.parametrize(
    ("member", "content", "message"),
    [
        ("xl/workbook.xml", b"<nonsense/>", "no worksheets"),
        ("xl/workbook.xml", b"<unclosed", r"damaged or not a real workbook.*\(XMLSyntaxError\)"),
        ("xl/worksheets/sheet1.xml", b"\xff\xfe garbage", "damaged or not a real workbook"),
    ],
)
def test_a_zip_that_is_not_a_workbook_is_refused(member, content, message):
    workbook = Workbook()
    workbook.active.append(["Code", "Fee"])
    not_a_workbook = replace_member(xlsx_bytes(workbook), member, content)
    with pytest.raises(UnreadableFile, match=message):
        preview_file("fees.xlsx", not_a_workbook)


def test_an_empty_workbook_is_refused():
    with pytest.raises(UnreadableFile, match="'Sheet' is empty"):
        preview_xlsx(xlsx_bytes(Workbook()))

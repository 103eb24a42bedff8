"""PDF schedules: a ruled table over two pages, a borderless multi-page table with page headers
and footers; scanned, damaged and non-PDF files refused with a clear message."""

from __future__ import annotations

import pytest

from campaigns.fees.importers import UnreadableFile, preview_file, preview_pdf

from .builders import borderless_pdf, expected_cents, ruled_pdf, scanned_pdf, schedule_rows


@pytest.fixture(scope="module")
def ruled_rows():
    rows = schedule_rows(60)
    rows[5] = (rows[5][0], rows[5][1], "N/C")
    rows[9] = (rows[9][0], rows[9][1], "($12.00)")
    rows[20] = ("T2392-T2394", "A range, not a code", "$95.00")
    return rows


def test_ruled_table_over_two_pages(ruled_rows):
    data = ruled_pdf(
        ruled_rows, ["Code", "Description", "Maximum Plan Allowance"], "Acme Dental PPO schedule"
    )
    preview = preview_pdf(data)
    assert preview.pages == 2
    assert preview.header == ["Code", "Description", "Maximum Plan Allowance"]
    assert len(preview.rows) == 58  # 60 rows less the negative and the range
    assert [row.reason for row in preview.rejected] == [
        "negative amount '($12.00)'",
        "'T2392-T2394' is not a procedure code",
    ]
    assert [row.reason for row in preview.skipped] == ["repeated header"]  # page 2's header
    expected = expected_cents(ruled_rows)
    expected.pop("T2392-T2394")
    assert preview.resolve() == expected
    assert preview.resolve()["T0100"] == 4500
    assert preview.resolve()["T0513"] == 4500 + 59 * 1234
    assert preview.not_covered[0].code == ruled_rows[5][0]


@pytest.fixture(scope="module")
def borderless():
    rows = schedule_rows(70, start=2000)
    rows[3] = (rows[3][0], rows[3][1], "Not a benefit")
    rows[10] = (rows[10][0], rows[10][1], "")  # nothing printed in the amount column
    rows[40] = (rows[40][0], rows[40][1], "$150,000.00")
    rows.append((rows[0][0], "Age band 19+", "$99.99"))  # a duplicate code on the last page
    header = ["Code", "Description", "Contract Allowance"]
    return rows, borderless_pdf(rows, header, per_page=25)


def test_borderless_multi_page_table_skips_page_headers_and_footers(borderless):
    rows, data = borderless
    preview = preview_pdf(data)
    assert preview.pages == 3
    assert preview.header_row == 2  # the title and the confidentiality note come first
    assert preview.columns == {"code": 0, "description": 1, "amount": 2}
    assert len(preview.rows) == 70
    assert [(row.where, row.reason) for row in preview.rejected] == [
        ("page 2, line 19", "'$150,000.00' is over $100,000"),
    ]
    assert sorted({row.reason for row in preview.skipped}) == [
        "page header or footer",
        "repeated header",
        "repeated page header or footer",
    ]
    assert len(preview.skipped) == 3 + 2 * 3  # 3 footers; title, note and header on pages 2-3
    assert [(row.code, row.note) for row in preview.not_covered] == [
        ("T2021", "'Not a benefit'"),
        ("T2070", "blank amount"),
    ]
    assert preview.resolve("first")["T2000"] == 4500
    assert preview.resolve("highest")["T2000"] == 9999
    assert preview.resolve()["T2007"] == 5734
    assert preview.descriptions()["T2007"] == "Full x-ray set"


def test_a_cover_letter_page_before_the_schedule_is_passed_over():
    rows = schedule_rows(30)
    header = ["Procedure Code", "Description", "Fee"]
    data = borderless_pdf(rows, header, per_page=20, cover_letter_lines=45)
    preview = preview_pdf(data)
    assert preview.pages == 3
    assert preview.header_row == 47  # 45 letter lines, then the title and the note
    assert preview.resolve() == expected_cents(rows)
    assert preview.rejected == []


def test_preview_file_recognises_a_pdf_by_its_content(borderless):
    _, data = borderless
    assert preview_file("download", data).source == "pdf"


def test_a_scanned_pdf_is_refused_with_a_message_that_says_so(tmp_path):
    data = scanned_pdf(str(tmp_path / "page.png"))
    with pytest.raises(UnreadableFile, match="no text layer: it looks like a scan.*OCR"):
        preview_pdf(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"Code,Fee\nT0120,52\n", "not a PDF"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", "damaged"),
        (b"%PDF-1.4\n" + bytes(range(256)) * 20, "damaged"),
    ],
)
def test_damaged_or_wrong_files_are_refused(data, message):
    with pytest.raises(UnreadableFile, match=message):
        preview_pdf(data)


def test_a_pdf_with_text_but_no_table_says_so(tmp_path):
    data = borderless_pdf([("Dear Doctor,", "thank you for", "your letter")], ["a", "b", "c"],
                          per_page=5)  # fmt: skip
    with pytest.raises(UnreadableFile, match="No recognisable columns"):
        preview_pdf(data)

"""XLSX reading with openpyxl (read-only, values not formulas), after a zip-bomb check.

defusedxml is installed, so openpyxl refuses XML entity tricks itself; the checks here refuse
zip bombs and entity declarations before openpyxl opens the file.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from defusedxml import DefusedXmlException
from openpyxl import load_workbook

from campaigns.codes import DEFAULT_PREFIX
from campaigns.money import CENT

from .preview import (
    HEADER_SEARCH_ROWS,
    ImportPreview,
    Kind,
    Table,
    UnreadableFile,
    build_preview,
    clean_cell,
    find_header,
)

MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200  # deflated XML compresses ~5-30:1; a bomb compresses hundreds to thousands:1
RATIO_CHECK_FROM = 10 * 1024 * 1024  # small members may compress well; only big ones matter
MAX_MEMBERS = 10_000
XML_PROLOG_BYTES = 4096
# A float from a formula (0.1 + 0.2) is taken as cents when this close to them.
FLOAT_CENT_TOLERANCE = Decimal("0.000001")


@dataclass(frozen=True)
class SheetTable:
    """One worksheet as rows of strings (row i is sheet row i + 1) and the workbook's sheets."""

    rows: Table
    sheet: str
    sheet_names: list[str]


def check_zip(data: bytes) -> None:
    """Refuse what is not an XLSX zip, and zip bombs, before any XML is parsed.

    The sizes checked are the ones the zip declares; zipfile (and so openpyxl) never inflates a
    member beyond its declared size, so a lying header cannot get past this.
    """
    if data[:4] != b"PK\x03\x04":
        if data[:4] == b"\xd0\xcf\x11\xe0":
            raise UnreadableFile(
                "This is an old Excel (.xls) file. Save it as .xlsx and upload it again."
            )
        raise UnreadableFile("This is not an Excel (.xlsx) file.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise UnreadableFile("This Excel file has too many parts to be a fee schedule.")
            total = sum(member.file_size for member in members)
            if total > MAX_UNCOMPRESSED:
                raise UnreadableFile(
                    f"This Excel file would expand to {total / 1024 / 1024:,.0f} MB; files over "
                    f"{MAX_UNCOMPRESSED // 1024 // 1024} MB are refused (it may be a zip bomb)."
                )
            for member in members:
                ratio = member.file_size / max(member.compress_size, 1)
                if member.file_size > RATIO_CHECK_FROM and ratio > MAX_RATIO:
                    raise UnreadableFile(
                        f"This Excel file is compressed {ratio:,.0f} to 1, which real "
                        "spreadsheets never are; it is refused (it may be a zip bomb)."
                    )
            for member in members:
                if member.filename.endswith((".xml", ".rels")):
                    with archive.open(member) as part:
                        prolog = part.read(XML_PROLOG_BYTES)
                    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
                        raise UnreadableFile(
                            "This Excel file declares XML entities, which real spreadsheets "
                            "never do; it is refused (it may be an XML bomb)."
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise UnreadableFile(f"This Excel file is damaged and cannot be opened ({exc}).") from None


def cell_text(value: object) -> str:
    """A cell value as text; floats exact to the cent (never via float arithmetic)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        exact = Decimal(repr(value))  # the shortest text that round-trips: 1234.5 -> "1234.5"
        if exact == exact.to_integral_value():
            return str(int(exact))
        cents = exact.quantize(CENT)
        if abs(exact - cents) <= FLOAT_CENT_TOLERANCE:
            return str(cents)
        return str(exact)  # more than two decimals: the amount parser says so
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return clean_cell(value)


def _sheet_rows(worksheet: Any, limit: int | None = None) -> Table:
    """Rows of a read-only worksheet as text, trailing empty cells dropped."""
    worksheet.reset_dimensions()  # some writers record a wrong used range; read what is there
    rows: Table = []
    for values in worksheet.iter_rows(values_only=True):
        row = [cell_text(value) for value in values]
        while row and not row[-1]:
            row.pop()
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def read_workbook(data: bytes, sheet: str | None = None, kind: Kind = "schedule") -> SheetTable:
    """Read one sheet: the named one, else the first with a recognisable header row, else the
    first that has any data. UnreadableFile for damaged files, bombs and unknown sheets."""
    check_zip(data)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; they do not matter here
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                names = list(workbook.sheetnames)
                worksheets = [n for n in names if hasattr(workbook[n], "iter_rows")]
                if sheet is not None:
                    if sheet not in worksheets:
                        raise UnreadableFile(
                            f"There is no sheet named '{sheet}'; the sheets are: "
                            f"{', '.join(worksheets)}."
                        )
                    chosen = sheet
                else:
                    chosen = _choose_sheet(workbook, worksheets, kind)
                rows = _sheet_rows(workbook[chosen])
            finally:
                workbook.close()
    except UnreadableFile:
        raise
    except Exception as exc:  # openpyxl and the XML parsers raise many types on bad files
        raise _read_error(exc) from None
    return SheetTable(rows, chosen, names)


def _read_error(exc: BaseException) -> UnreadableFile:
    """The message for an exception openpyxl raised, named after its root cause."""
    root: BaseException = exc
    while root.__cause__ or root.__context__:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    if isinstance(root, DefusedXmlException):
        return UnreadableFile(
            "This Excel file uses XML features real spreadsheets never use "
            f"({type(root).__name__}); it is refused (it may be an XML bomb)."
        )
    return UnreadableFile(
        f"This Excel file is damaged or not a real workbook and cannot be read "
        f"({type(root).__name__})."
    )


def _choose_sheet(workbook: Any, worksheets: list[str], kind: Kind) -> str:
    """The first worksheet with a header row, else the first with data, else the first."""
    if not worksheets:
        raise UnreadableFile("This Excel file has no worksheets.")
    first_with_data = None
    for name in worksheets:
        top = _sheet_rows(workbook[name], HEADER_SEARCH_ROWS)
        top = [[clean_cell(cell) for cell in row] for row in top]
        if find_header(top, kind) is not None:
            return name
        if first_with_data is None and any(any(row) for row in top):
            first_with_data = name
    return first_with_data or worksheets[0]


def preview_xlsx(
    data: bytes,
    mapping: dict[str, object] | None = None,
    *,
    sheet: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    kind: Kind = "schedule",
    header_row: int | None = None,
    decimal_comma: bool | None = None,
) -> ImportPreview:
    """Read an XLSX file into an ImportPreview (see build_preview for the options)."""
    table = read_workbook(data, sheet, kind)
    if not any(any(row) for row in table.rows):
        raise UnreadableFile(f"The sheet '{table.sheet}' is empty: it has no rows to import.")
    preview = build_preview(
        table.rows,
        mapping,
        prefix=prefix,
        kind=kind,
        header_row=header_row,
        decimal_comma=decimal_comma,
        locations=[f"row {number}" for number in range(1, len(table.rows) + 1)],
        source="xlsx",
    )
    preview.sheet = table.sheet
    preview.sheet_names = table.sheet_names
    return preview

"""CSV and XLSX downloads that are safe to open in a spreadsheet (no formula injection)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from flask import Response
from openpyxl import Workbook
from openpyxl.styles import Font

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT = '"$"#,##0.00'
PERCENT_FORMAT = "0.0%"
COUNT_FORMAT = "#,##0.##"


def safe_text(value: str) -> str:
    """Neutralise a text cell a spreadsheet would run as a formula (prefix a quote)."""
    return "'" + value if value.startswith(DANGEROUS_START) else value


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "text"  # text | money | percent | count | date


def _plain_number(value):
    """Fractions (exact annualised volumes) become Decimals for files."""
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return value


def _csv_value(value, kind: str) -> str:
    value = _plain_number(value)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        # Half-up, as on the pages (Decimal's default would round 61.25% to 61.2%).
        if kind == "percent":
            return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"
        if kind == "money":
            return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"
        return f"{value.normalize():f}"
    return safe_text(str(value))


def csv_response(filename: str, columns: Sequence[Column], rows: Iterable[Sequence]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_text(c.header) for c in columns])
    for row in rows:
        writer.writerow([_csv_value(v, c.kind) for v, c in zip(row, columns, strict=True)])
    return _download(buffer.getvalue().encode("utf-8-sig"), filename, "text/csv; charset=utf-8")


def xlsx_response(
    filename: str, title: str, columns: Sequence[Column], rows: Iterable[Sequence]
) -> Response:
    """One sheet; money, percentages and counts stay numbers with a number format."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title(title)
    sheet.append([safe_text(c.header) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    formats = {
        "money": MONEY_FORMAT,
        "percent": PERCENT_FORMAT,
        "count": COUNT_FORMAT,
        "date": "yyyy-mm-dd",
    }
    for row in rows:
        sheet.append([safe_text(v) if isinstance(v, str) else _plain_number(v) for v in row])
        for cell, column in zip(sheet[sheet.max_row], columns, strict=True):
            if column.kind in formats and cell.value is not None:
                cell.number_format = formats[column.kind]
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _download(
        buffer.getvalue(),
        filename,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def sheet_title(title: str) -> str:
    """A worksheet name Excel accepts: no []:*?/\\, at most 31 characters, not blank."""
    cleaned = re.sub(r"[\[\]:*?/\\]", "-", title).strip().strip("'")[:31].strip()
    return cleaned or "Sheet"


def delimited_response(
    filename: str,
    rows: Iterable[Sequence[str]],
    *,
    delimiter: str = ",",
    header: Sequence[str] | None = None,
    mimetype: str = "text/csv; charset=utf-8",
) -> Response:
    """A plain delimited text file for another program's importer: CRLF line ends, no byte
    order mark, text cells neutralised like every other export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if header is not None:
        writer.writerow([safe_text(h) for h in header])
    for row in rows:
        writer.writerow([safe_text(str(v)) for v in row])
    return _download(buffer.getvalue().encode("utf-8"), filename, mimetype)


def _download(data: bytes, filename: str, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

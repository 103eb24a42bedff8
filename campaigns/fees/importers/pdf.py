"""PDF reading with pdfplumber: ruled tables as drawn, borderless tables from word positions.

A page with a ruled table is read cell by cell. A page without one is read line by line: words
on one line are split into cells where the gap between them is wider than a space, and the
cells are put into the columns of the header line by their horizontal position. Repeated page
headers and footers are left for build_preview to skip.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import pdfplumber

from campaigns.codes import DEFAULT_PREFIX

from .preview import (
    ImportPreview,
    Kind,
    Table,
    UnreadableFile,
    build_preview,
    clean_cell,
    find_header,
)

MAX_PAGES = 500
LINE_TOLERANCE = 3.0  # points: words whose tops differ by less are on one line
MIN_COLUMN_GAP = 4.0  # points: never split cells closer than this
COLUMN_GAP_PER_POINT = 0.8  # a gap wider than 0.8 x the text height separates two cells
SCANNED = (
    "This PDF has no text layer: it looks like a scan (pictures of the pages). Ask the network "
    "for the schedule as a text PDF, Excel or CSV file, or run the PDF through OCR first."
)


@dataclass(frozen=True)
class PdfTable:
    """The rows found in a PDF, where each came from ("page 2, line 5"), the page count and the
    header row."""

    rows: Table
    locations: list[str]
    pages: int
    header_row: int | None  # found on any page (build_preview alone looks near the top)


@dataclass(frozen=True)
class _Cell:
    text: str
    x0: float
    x1: float


def _text_lines(page: Any) -> list[list[_Cell]]:
    """The page's lines of text, each split into cells at gaps wider than a word space."""
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False)
    words.sort(key=lambda word: (word["top"], word["x0"]))
    lines: list[list[dict[str, Any]]] = []
    for word in words:
        if lines and abs(word["top"] - lines[-1][0]["top"]) <= LINE_TOLERANCE:
            lines[-1].append(word)
        else:
            lines.append([word])
    result: list[list[_Cell]] = []
    for line in lines:
        line.sort(key=lambda word: word["x0"])
        cells: list[list[dict[str, Any]]] = [[line[0]]]
        for previous, word in zip(line, line[1:], strict=False):
            height = max(word["bottom"] - word["top"], 1.0)
            if word["x0"] - previous["x1"] > max(MIN_COLUMN_GAP, COLUMN_GAP_PER_POINT * height):
                cells.append([word])
            else:
                cells[-1].append(word)
        result.append(
            [
                _Cell(" ".join(w["text"] for w in group), group[0]["x0"], group[-1]["x1"])
                for group in cells
            ]
        )
    return result


def _zones(header: list[_Cell]) -> list[tuple[float, float]]:
    """Each header cell's horizontal zone: halfway to its neighbours on either side."""
    zones = []
    for index, cell in enumerate(header):
        left = float("-inf") if index == 0 else (header[index - 1].x1 + cell.x0) / 2
        last = index == len(header) - 1
        right = float("inf") if last else (cell.x1 + header[index + 1].x0) / 2
        zones.append((left, right))
    return zones


def _place(cells: list[_Cell], zones: list[tuple[float, float]]) -> list[str]:
    """Put a line's cells into the header's columns by the most horizontal overlap."""
    row = [""] * len(zones)
    for cell in cells:
        overlaps = [min(cell.x1, right) - max(cell.x0, left) for left, right in zones]
        column = max(range(len(zones)), key=lambda i: overlaps[i])
        row[column] = f"{row[column]} {cell.text}".strip()
    return row


def _open_error(exc: Exception) -> UnreadableFile:
    names = f"{type(exc).__name__} {exc!r}".lower()
    if "password" in names or "encrypt" in names:
        return UnreadableFile("This PDF is password-protected; upload an unprotected copy.")
    return UnreadableFile("This PDF is damaged and cannot be read.")


def read_pdf(data: bytes, kind: Kind = "schedule") -> PdfTable:
    """Read every page's table rows; UnreadableFile for non-PDFs, damaged or scanned PDFs."""
    if not data.strip():
        raise UnreadableFile("The file is empty: it has no rows to import.")
    if b"%PDF" not in data[:1024]:
        raise UnreadableFile("This is not a PDF file.")
    items: list[tuple[list[str] | list[_Cell], str]] = []
    has_text = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pdfminer warns about small defects it works around
            with pdfplumber.open(io.BytesIO(data)) as document:
                pages = len(document.pages)
                if pages > MAX_PAGES:
                    raise UnreadableFile(f"This PDF has {pages:,} pages; at most {MAX_PAGES}.")
                for number, page in enumerate(document.pages, start=1):
                    if page.chars:
                        has_text = True
                        items.extend(_page_items(page, number))
                    page.close()  # frees the page's parsed objects: long PDFs stay small
    except UnreadableFile:
        raise
    except Exception as exc:  # pdfminer raises many types on damaged input
        raise _open_error(exc) from None
    if pages == 0:
        raise UnreadableFile("This PDF has no pages.")
    if not has_text:
        raise UnreadableFile(SCANNED)
    rows, header_row = _align(items, kind)
    return PdfTable(rows, [where for _, where in items], pages, header_row)


def _page_items(page: Any, number: int) -> list[tuple[list[str] | list[_Cell], str]]:
    """A page's rows: a ruled table's cells as text, or the page's text lines as _Cells."""
    items: list[tuple[list[str] | list[_Cell], str]] = []
    tables = [t for t in page.find_tables() if len(t.rows) >= 2 and len(t.columns) >= 2]
    if tables:
        for table in tables:
            for index, row in enumerate(table.extract(), start=1):
                items.append(([clean_cell(cell) for cell in row], f"page {number}, row {index}"))
        return items
    for index, cells in enumerate(_text_lines(page), start=1):
        items.append((cells, f"page {number}, line {index}"))
    return items


def _align(
    items: list[tuple[list[str] | list[_Cell], str]], kind: Kind
) -> tuple[Table, int | None]:
    """(rows, header index): text lines put into the columns of the header line (or of a
    line that only loosely looks like one; its index is then not returned).

    The header is searched on every page, not only near the top: a schedule often starts
    after a cover letter. A header in a ruled table leaves the text lines as they are.
    """
    as_text = [
        [cell.text if isinstance(cell, _Cell) else cell for cell in cells] for cells, _ in items
    ]
    found = find_header(as_text, kind, limit=None)
    loose = find_header(as_text, kind, loose=True, limit=None) if found is None else found
    header = items[loose][0] if loose is not None else []
    zones = _zones([c for c in header if isinstance(c, _Cell)]) if _is_text(header) else None
    rows: Table = []
    for (cells, _), texts in zip(items, as_text, strict=True):
        if zones and _is_text(cells):
            rows.append(_place([cell for cell in cells if isinstance(cell, _Cell)], zones))
        else:
            rows.append(texts)
    return rows, found


def _is_text(cells: list[str] | list[_Cell]) -> bool:
    return bool(cells) and isinstance(cells[0], _Cell)


def preview_pdf(
    data: bytes,
    mapping: dict[str, object] | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    kind: Kind = "schedule",
    header_row: int | None = None,
    decimal_comma: bool | None = None,
) -> ImportPreview:
    """Read a PDF file into an ImportPreview (see build_preview for the options)."""
    table = read_pdf(data, kind)
    preview = build_preview(
        table.rows,
        mapping,
        prefix=prefix,
        kind=kind,
        header_row=table.header_row if header_row is None else header_row,
        decimal_comma=decimal_comma,
        locations=table.locations,
        source="pdf",
    )
    preview.pages = table.pages
    return preview

"""File importers: CSV, XLSX and PDF parsers that all return one ImportPreview shape.

Pure parsing: no Flask, no database. A service reads the upload's bytes, calls
`preview_file`, shows the preview, and writes only on confirm.
"""

from __future__ import annotations

from campaigns.codes import DEFAULT_PREFIX

from .csv_file import preview_csv, read_csv
from .pdf import preview_pdf, read_pdf
from .preview import (
    ColumnsNotFound,
    ImportPreview,
    Kind,
    ParsedRow,
    RejectedRow,
    SkippedRow,
    UnreadableFile,
    build_preview,
    parse_amount,
)
from .xlsx import preview_xlsx, read_workbook

__all__ = [
    "ColumnsNotFound",
    "ImportPreview",
    "ParsedRow",
    "RejectedRow",
    "SkippedRow",
    "UnreadableFile",
    "build_preview",
    "detect_format",
    "parse_amount",
    "preview_csv",
    "preview_file",
    "preview_pdf",
    "preview_xlsx",
    "read_csv",
    "read_pdf",
    "read_workbook",
]

EXTENSIONS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".pdf": "pdf"}


def detect_format(filename: str, data: bytes) -> str:
    """'csv', 'xlsx' or 'pdf': from the content when it is unmistakable, else the extension."""
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    name = filename.lower()
    if name.endswith(".xls"):
        raise UnreadableFile(
            "This is an old Excel (.xls) file. Save it as .xlsx or CSV and upload it again."
        )
    for extension, found in EXTENSIONS.items():
        if name.endswith(extension):
            return found
    raise UnreadableFile("Upload a CSV, Excel (.xlsx) or PDF file.")


def preview_file(
    filename: str,
    data: bytes,
    mapping: dict[str, object] | None = None,
    *,
    sheet: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    kind: Kind = "schedule",
    header_row: int | None = None,
    decimal_comma: bool | None = None,
) -> ImportPreview:
    """Read any supported upload into an ImportPreview; UnreadableFile says what is wrong."""
    options = {
        "prefix": prefix,
        "kind": kind,
        "header_row": header_row,
        "decimal_comma": decimal_comma,
    }
    detected = detect_format(filename, data)
    if detected == "xlsx":
        return preview_xlsx(data, mapping, sheet=sheet, **options)
    if detected == "pdf":
        return preview_pdf(data, mapping, **options)
    return preview_csv(data, mapping, **options)

"""CSV reading: encoding and delimiter detection, guarded against binary and absurd input.

Named csv_file so it does not shadow the standard library's csv module.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections import Counter
from dataclasses import dataclass

from campaigns.codes import DEFAULT_PREFIX

from .preview import ImportPreview, Kind, Table, UnreadableFile, build_preview

MAX_LINE_CHARS = 100_000  # no table row is this long; a longer line is not a CSV table
SNIFF_LINES = 50
SNIFF_CHARS = 200_000
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1a")  # \x1a: the DOS end-of-file mark


@dataclass(frozen=True)
class CsvTable:
    """A decoded CSV: its rows, the physical line each row ends on, and what was detected."""

    rows: Table
    line_numbers: list[int]
    encoding: str
    delimiter: str


def _refuse_other_formats(data: bytes) -> None:
    head = data[:1024].lstrip()
    if head.startswith(b"PK\x03\x04"):
        raise UnreadableFile("This is an Excel (XLSX) or other zip file, not a CSV file.")
    if head.startswith(b"%PDF"):
        raise UnreadableFile("This is a PDF file, not a CSV file.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile(
            "This is an old Excel (.xls) file. Save it as .xlsx or CSV and upload it again."
        )


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): a BOM decides (UTF-8, UTF-16, UTF-32); else UTF-8, else Windows-1252.

    Raises UnreadableFile for an empty file, another format, binary data or an unknown encoding.
    """
    if not data.strip():
        raise UnreadableFile("The file is empty: it has no rows to import.")
    _refuse_other_formats(data)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                raise UnreadableFile(
                    f"The file starts with a {encoding.upper()} marker but is not valid "
                    f"{encoding.upper()} text."
                ) from None
            shown = "UTF-8 with BOM" if encoding == "utf-8-sig" else encoding.upper()
            return _check_text(text), shown
    if b"\x00" in data[:4096]:
        # Unicode text saved without a BOM: every other byte of ASCII text is zero
        even, odd = data[0:4096:2].count(0), data[1:4096:2].count(0)
        encoding = "utf-16-be" if even > odd else "utf-16-le"
        if len(data) % 2 == 0 and max(even, odd) > len(data[:4096]) // 4:
            try:
                return _check_text(data.decode(encoding)), encoding.upper()
            except UnicodeDecodeError:
                pass  # not UTF-16 after all; judged as binary below
        raise UnreadableFile("This is not a text file (it contains binary data).")
    try:
        return _check_text(data.decode("utf-8")), "UTF-8"
    except UnicodeDecodeError:
        pass  # the usual case for files saved by Excel on Windows
    try:
        return _check_text(data.decode("cp1252")), "Windows-1252"
    except UnicodeDecodeError:
        raise UnreadableFile(
            "The file's text encoding is not recognised (tried UTF-8, UTF-16 and "
            "Windows-1252). Save it as 'CSV UTF-8' and upload it again."
        ) from None


def _check_text(text: str) -> str:
    """Refuse decoded text that is really binary (control characters where text should be)."""
    if not text.strip():
        raise UnreadableFile("The file is empty: it has no rows to import.")
    sample = text[:20_000]
    controls = sum(
        1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc"
    )
    if "\x00" in sample or controls > len(sample) // 100:
        raise UnreadableFile("This is not a text file (it contains binary data).")
    return text


def _check_line_lengths(text: str) -> None:
    lengths = [len(line) for line in text.splitlines()]
    longest = max(lengths, default=0)
    if longest > MAX_LINE_CHARS:
        number = lengths.index(longest) + 1
        raise UnreadableFile(
            f"Line {number} is {longest:,} characters long; a table row is never that long. "
            "Check that this is the right file."
        )


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the most of the first lines into the same number (> 1) of
    fields; preamble lines with fewer fields do not disturb it. Comma when nothing splits."""
    lines = [line for line in text[:SNIFF_CHARS].splitlines() if line.strip()][:SNIFF_LINES]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(next(csv.reader([line], delimiter=delimiter))) for line in lines]
        except (csv.Error, StopIteration):
            continue
        wide = Counter(count for count in counts if count > 1)
        if not wide:
            continue
        fields, lines_with = max(wide.items(), key=lambda item: (item[1], item[0]))
        if (lines_with, fields) > best_score:
            best, best_score = delimiter, (lines_with, fields)
    return best


def read_csv(data: bytes) -> CsvTable:
    """Decode and split a CSV file into rows of strings; UnreadableFile when it cannot be."""
    text, encoding = decode(data)
    _check_line_lengths(text)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: Table = []
    line_numbers: list[int] = []
    try:
        for row in reader:
            rows.append(row)
            line_numbers.append(reader.line_num)
    except csv.Error as exc:
        raise UnreadableFile(
            f"The CSV file could not be read near line {reader.line_num}: {exc}."
        ) from None
    return CsvTable(rows, line_numbers, encoding, delimiter)


def preview_csv(
    data: bytes,
    mapping: dict[str, object] | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    kind: Kind = "schedule",
    header_row: int | None = None,
    decimal_comma: bool | None = None,
) -> ImportPreview:
    """Read a CSV file into an ImportPreview (see build_preview for the options)."""
    table = read_csv(data)
    preview = build_preview(
        table.rows,
        mapping,
        prefix=prefix,
        kind=kind,
        header_row=header_row,
        decimal_comma=decimal_comma,
        locations=[f"line {number}" for number in table.line_numbers],
        source="csv",
    )
    preview.encoding = table.encoding
    preview.delimiter = table.delimiter
    return preview

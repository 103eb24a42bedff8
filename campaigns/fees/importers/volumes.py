"""Code volumes streamed from a code-mix report or a procedure-level export into counts per
(carrier, code, service month), keeping nothing else: no row, and no patient value, is held.

`aggregate_volumes` reads CSV as a stream (XLSX row by row with openpyxl in read-only mode;
PDF reports through the PDF reader), so memory stays flat however long the file is. It
reuses the parsers' detection: encoding and delimiter (csv_file), the header row and column
roles, codes, counts and dates (preview). Pure: no Flask, no SQLAlchemy.

Speed: each data row costs three dictionary look-ups (raw carrier, code and date text ->
their normalised values, cached on first sight) and one counter increment, close to a bare
`csv.reader` loop (bench/import_volumes.py). Only rows seen for the first time, and bad rows,
take the slow path that parses and explains.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import warnings as warnings_module
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, islice
from typing import Any, BinaryIO

from campaigns.codes import DEFAULT_PREFIX

from . import detect_format
from .csv_file import DELIMITER_NAMES, MAX_LINE_CHARS, decode, sniff_delimiter
from .preview import (
    _DMY_OR_MDY,
    _TOTALS,
    HEADER_SEARCH_ROWS,
    HIDDEN,
    SAMPLE_ROWS,
    ColumnsNotFound,
    RejectedRow,
    RowProblem,
    UnreadableFile,
    _columns_from_header,
    _not_data_reason,
    _row_above_first_code,
    _validate_mapping,
    find_header,
    match_roles,
    parse_code,
    parse_count,
    parse_date,
    uses_decimal_comma,
)
from .xlsx import _choose_sheet, _read_error, cell_text, check_zip

Source = bytes | str | os.PathLike | BinaryIO
Key = tuple[str | None, str, date | None]

ROLES_READ = ("code", "count", "carrier", "date")
PROGRESS_EVERY = 50_000  # rows between progress calls
HEAD_BYTES = 256 * 1024  # what encoding and delimiter detection look at
READ_CHUNK = 1 << 20  # characters read (and checked for absurd lines) at a time
CACHE_LIMIT = 50_000  # distinct cell texts remembered per column (timestamps would grow it)
DECIMAL_SAMPLE_ROWS = 200  # data rows looked at for decimal commas before counting starts
MAX_CARRIERS = 1_000  # more distinct "carriers" than this is a wrongly chosen column
_NO_REPEATS: Counter[str] = Counter()  # streaming: a row is judged alone, not by repeats
_END = object()
_CODECS = {
    "UTF-8": "utf-8",
    "UTF-8 with BOM": "utf-8-sig",
    "UTF-16": "utf-16",
    "UTF-16-LE": "utf-16-le",
    "UTF-16-BE": "utf-16-be",
    "UTF-32": "utf-32",
    "Windows-1252": "cp1252",
}


@dataclass
class VolumeAggregate:
    """What a volumes file holds, as counts: the preview and the confirm work from this alone.

    `counts` maps (carrier, code, month) to procedures: carrier None when the file has no
    carrier column ("" when the column is blank on a row), month the first of the month of
    service, None when the file has no date column. `rejected` holds the first 200 rows not
    taken, showing only the mapped columns' cells (every other cell reads "[hidden]").
    """

    source: str  # "csv" | "xlsx" | "pdf"
    header: list[str]
    columns: dict[str, int]  # role -> 0-based column: code, count, carrier, date
    ignored_columns: list[str]  # header names of every column not read (patient columns too)
    per_procedure: bool  # no count column: every row is one procedure
    rows_read: int  # non-blank rows below the header: counted + rejected + skipped
    rejected_count: int
    rejected: list[RejectedRow]
    skipped_count: int  # totals lines, repeated headers, section headings
    blank_lines: int
    counts: dict[Key, int]
    carriers: dict[str | None, int]  # carrier -> procedures
    months: list[date]
    descriptions: dict[str, str]  # code -> description (code-mix reports only)
    warnings: list[str]
    prefix: str = DEFAULT_PREFIX
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    day_first: bool = False
    header_row: int | None = None

    @property
    def procedures(self) -> int:
        """All procedures counted."""
        return sum(self.counts.values())

    def by_code(self) -> dict[str, int]:
        """{code: procedures} over every carrier and month."""
        totals: dict[str, int] = {}
        for (_carrier, code, _month), count in self.counts.items():
            totals[code] = totals.get(code, 0) + count
        return totals

    def as_json(self) -> dict[str, Any]:
        """A JSON-able summary (dates as 'YYYY-MM-DD'; counts as [carrier, code, month, n])."""
        return {
            "source": self.source,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "header": list(self.header),
            "columns": dict(self.columns),
            "ignored_columns": list(self.ignored_columns),
            "per_procedure": self.per_procedure,
            "prefix": self.prefix,
            "day_first": self.day_first,
            "rows_read": self.rows_read,
            "rejected_count": self.rejected_count,
            "skipped_count": self.skipped_count,
            "blank_lines": self.blank_lines,
            "rejected": [
                {"line_no": r.line_no, "where": r.where, "cells": list(r.cells), "reason": r.reason}
                for r in self.rejected
            ],
            "procedures": self.procedures,
            "counts": [
                [carrier, code, month.isoformat() if month else None, count]
                for (carrier, code, month), count in _sorted_counts(self.counts)
            ],
            "carriers": [[carrier, count] for carrier, count in self.carriers.items()],
            "months": [month.isoformat() for month in self.months],
            "descriptions": dict(self.descriptions),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolumeAggregate:
        """The aggregate back from `as_json()` (for the confirm, from the batch's summary)."""
        counts = {
            (carrier, code, date.fromisoformat(month) if month else None): count
            for carrier, code, month, count in data["counts"]
        }
        return cls(
            source=data["source"],
            header=list(data["header"]),
            columns=dict(data["columns"]),
            ignored_columns=list(data["ignored_columns"]),
            per_procedure=data["per_procedure"],
            rows_read=data["rows_read"],
            rejected_count=data["rejected_count"],
            rejected=[
                RejectedRow(r["line_no"], r["where"], tuple(r["cells"]), r["reason"])
                for r in data["rejected"]
            ],
            skipped_count=data["skipped_count"],
            blank_lines=data["blank_lines"],
            counts=counts,
            carriers=dict(data["carriers"]),
            months=[date.fromisoformat(month) for month in data["months"]],
            descriptions=dict(data["descriptions"]),
            warnings=list(data["warnings"]),
            prefix=data.get("prefix", DEFAULT_PREFIX),
            encoding=data.get("encoding"),
            delimiter=data.get("delimiter"),
            sheet=data.get("sheet"),
            day_first=data.get("day_first", False),
            header_row=data.get("header_row"),
        )


def _sorted_counts(counts: dict[Key, int]) -> list[tuple[Key, int]]:
    def order(item: tuple[Key, int]) -> tuple:
        (carrier, code, month), _count = item
        return (carrier is not None, carrier or "", code, month or date.min)

    return sorted(counts.items(), key=order)


# ---- the entry point ------------------------------------------------------------------------


def aggregate_volumes(
    source: Source,
    filename: str,
    *,
    mapping: dict[str, object] | None = None,
    prefix: str = DEFAULT_PREFIX,
    progress: Callable[[int, int], None] | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    decimal_comma: bool | None = None,
) -> VolumeAggregate:
    """Count the procedures of a volumes file per (carrier, code, month), streaming.

    `source`: the file's bytes, a path (str or PathLike) or a binary stream. `mapping`
    ({role: 0-based column}, as the preview's) overrides the detected columns; roles other than
    code, count, carrier and date are ignored. `progress(bytes_read, total_bytes)` is called
    every 50,000 rows. Raises UnreadableFile (ColumnsNotFound without a usable header) with a
    message for the user.
    """
    stream, total = _open(source)
    try:
        head = stream.read(HEAD_BYTES)
        if not head.strip() and len(head) < HEAD_BYTES:
            raise UnreadableFile("The file is empty: it has no rows to import.")
        detected = detect_format(filename, head)
        options = _Options(mapping, prefix, sheet, header_row, decimal_comma, progress, total)
        if detected == "csv":
            return _aggregate_csv(stream, head, options)
        data = head + stream.read()
        if detected == "xlsx":
            return _aggregate_xlsx(data, options)
        return _aggregate_pdf(data, options)
    finally:
        if not isinstance(source, io.IOBase) and not hasattr(source, "read"):
            stream.close()


@dataclass
class _Options:
    mapping: dict[str, object] | None
    prefix: str
    sheet: str | None
    header_row: int | None
    decimal_comma: bool | None
    progress: Callable[[int, int], None] | None
    total: int


def _open(source: Source) -> tuple[BinaryIO, int]:
    """A binary stream positioned at the start, and the size in bytes (0 when unknown)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source), len(source)
    if isinstance(source, str | os.PathLike):
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed by aggregate_volumes
        except OSError as exc:
            raise UnreadableFile(f"The file cannot be opened ({exc.strerror}).") from None
        return stream, os.fstat(stream.fileno()).st_size
    total = 0
    try:
        if source.seekable():
            start = source.tell()
            total = source.seek(0, io.SEEK_END) - start
            source.seek(start)
    except (OSError, AttributeError):
        total = 0
    return source, total


# ---- CSV --------------------------------------------------------------------------------------


def _aggregate_csv(stream: BinaryIO, head: bytes, options: _Options) -> VolumeAggregate:
    complete = len(head) < HEAD_BYTES
    head_text, shown = decode(head if complete else _whole_lines(head))
    encoding = _CODECS.get(shown, shown.lower())
    delimiter = sniff_delimiter(head_text)
    del head_text
    start = _tell(stream) - len(head)
    try:
        return _read_csv_stream(stream, head, encoding, shown, delimiter, options)
    except UnicodeDecodeError:
        # Only the head was checked: a Windows-1252 file can look like UTF-8 for a long while.
        if shown != "UTF-8" or not _rewind(stream, start):
            raise UnreadableFile(
                f"The file starts as {shown} text but is not {shown} further down. Save it as "
                "'CSV UTF-8' and upload it again."
            ) from None
    try:
        aggregate = _read_csv_stream(stream, b"", "cp1252", "Windows-1252", delimiter, options)
    except UnicodeDecodeError:
        raise UnreadableFile(
            "The file's text encoding is not recognised (tried UTF-8, UTF-16 and Windows-1252). "
            "Save it as 'CSV UTF-8' and upload it again."
        ) from None
    aggregate.warnings.insert(0, "The file is not UTF-8 throughout; it was read as Windows-1252.")
    return aggregate


def _tell(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except (OSError, AttributeError):
        return -1


def _rewind(stream: BinaryIO, start: int) -> bool:
    try:
        if start < 0 or not stream.seekable():
            return False
        stream.seek(start)
    except (OSError, AttributeError):
        return False
    return True


def _whole_lines(head: bytes) -> bytes:
    """The head cut after its last complete line, so no character is split (UTF-16/32 too)."""
    unit = 1
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        unit = 4
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head[:4096]:
        unit = 2
    cut = head.rfind(b"\n")
    if cut < 0:
        return head[: len(head) - len(head) % unit]
    end = cut + 1
    return head[: -(-end // unit) * unit]


class _HeadThenRest(io.RawIOBase):
    """A read-once stream: the bytes already read for detection, then the rest of the source."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _read_csv_stream(
    stream: BinaryIO,
    head: bytes,
    encoding: str,
    shown: str,
    delimiter: str,
    options: _Options,
) -> VolumeAggregate:
    raw: BinaryIO
    if head and not _rewind(stream, _tell(stream) - len(head)):
        raw = io.BufferedReader(_HeadThenRest(head, stream))
    else:
        raw = stream
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    try:
        lines = chain.from_iterable(_checked_lines(text))
        reader = csv.reader(lines, delimiter=delimiter)
        state = _Aggregator("csv", options, lambda line: f"line {line}")

        def position() -> int:
            return _tell(stream) if raw is stream else -1

        try:
            state.run(reader, lambda: reader.line_num, position)
        except csv.Error as exc:
            raise UnreadableFile(
                f"The CSV file could not be read near line {reader.line_num}: {exc}."
            ) from None
    finally:
        text.detach()
    aggregate = state.result()
    aggregate.encoding = shown
    aggregate.delimiter = DELIMITER_NAMES.get(delimiter, delimiter)
    return aggregate


def _checked_lines(text: io.TextIOWrapper) -> Iterator[list[str]]:
    """The stream's lines in lists of about 1 MB, refusing a line no table row would have.

    `readlines` splits as the csv module expects with newline="" (only CR, LF and CRLF end a
    line), and the length check runs once per list, not once per line."""
    number = 0
    while True:
        lines = text.readlines(READ_CHUNK)
        if not lines:
            return
        if max(map(len, lines)) > MAX_LINE_CHARS:
            at = next(i for i, line in enumerate(lines) if len(line) > MAX_LINE_CHARS)
            raise UnreadableFile(
                f"Line {number + at + 1:,} is over {MAX_LINE_CHARS:,} characters long; a table "
                "row is never that long. Check that this is the right file."
            )
        number += len(lines)
        yield lines


# ---- XLSX and PDF -----------------------------------------------------------------------------


def _aggregate_xlsx(data: bytes, options: _Options) -> VolumeAggregate:
    from openpyxl import load_workbook

    check_zip(data)
    try:
        with warnings_module.catch_warnings():
            warnings_module.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                names = [n for n in workbook.sheetnames if hasattr(workbook[n], "iter_rows")]
                if options.sheet is not None and options.sheet not in names:
                    raise UnreadableFile(
                        f"There is no sheet named '{options.sheet}'; the sheets are: "
                        f"{', '.join(names)}."
                    )
                chosen = options.sheet or _choose_sheet(workbook, names, "volumes")
                worksheet = workbook[chosen]
                estimate = worksheet.max_row or 0
                worksheet.reset_dimensions()
                state = _Aggregator("xlsx", options, lambda line: f"row {line}")
                numbered = _Numbered(worksheet.iter_rows(values_only=True))

                def position() -> int:
                    if not estimate or not options.total:
                        return -1
                    return min(options.total, options.total * numbered.number // estimate)

                state.run(numbered, lambda: numbered.number, position)
            finally:
                workbook.close()
    except UnreadableFile:
        raise
    except Exception as exc:  # openpyxl and the XML parsers raise many types on bad files
        raise _read_error(exc) from None
    aggregate = state.result()
    aggregate.sheet = chosen
    return aggregate


def _aggregate_pdf(data: bytes, options: _Options) -> VolumeAggregate:
    from .pdf import read_pdf

    table = read_pdf(data, "volumes")
    if options.header_row is None and options.mapping is None and table.header_row is not None:
        options.header_row = table.header_row
    locations = table.locations
    state = _Aggregator("pdf", options, lambda line: locations[line - 1])
    numbered = _Numbered(iter(table.rows))
    state.run(numbered, lambda: numbered.number, lambda: -1)
    return state.result()


class _Numbered:
    """An iterator that remembers the 1-based number of the row it last gave."""

    def __init__(self, rows: Iterator) -> None:
        self._rows = rows
        self.number = 0

    def __iter__(self) -> _Numbered:
        return self

    def __next__(self):
        row = next(self._rows)
        self.number += 1
        return row


# ---- the counting -----------------------------------------------------------------------------


class _Aggregator:
    """The state of one pass: caches from raw cell values to normalised ones, and the counts.

    A cache holds only good values, so a miss (KeyError) sends the row to the slow path, which
    parses it, explains a bad row, or adds the new value to the cache.
    """

    def __init__(self, source: str, options: _Options, where: Callable[[int], str]) -> None:
        self.source = source
        self.options = options
        self.where = where
        self.prefix = options.prefix
        self.header: list[str] = []
        self.header_row: int | None = None
        self.header_key: list[str] | None = None
        self.columns: dict[str, int] = {}
        self.width = 0
        self.decimal_comma = False
        self.warnings: list[str] = []
        # raw cell value -> normalised value; only good values are cached
        self.codes: dict[Any, str] = {}
        self.months: dict[Any, Any] = {}  # -> date, or (month/day reading, day/month reading)
        self.carriers: dict[Any, str | None] = {}
        self.carrier_names: set[str] = set()
        # a role the file lacks: the code column read through a cache that answers None
        self.nothing: defaultdict[Any, None] = defaultdict(type(None))
        self.numbers: dict[Any, int] = {}
        # (carrier, code, month token) -> procedures, and -> rows (only with a count column)
        self.counts: dict[tuple, int] = {}
        self.row_counts: dict[tuple, int] = {}
        self.rejected: list[RejectedRow] = []
        self.rejected_count = 0
        self.skipped_count = 0
        self.blank_lines = 0
        self.descriptions: dict[str, str] = {}
        self.lost_zero: dict[str, str] = {}
        # evidence for the order of slash dates, and where an order-dependent date was first seen
        self.only_day_first = False
        self.only_month_first = False
        self.order_dependent: dict[str, tuple[int, tuple[str, ...]]] = {}

    # -- set-up from the first rows --

    def run(
        self,
        rows: Iterable,
        line_of: Callable[[], int],
        position: Callable[[], int],
    ) -> None:
        """Find the header in the first rows, then count every row."""
        rows = iter(rows)
        options = self.options
        wanted = max(HEADER_SEARCH_ROWS, (options.header_row or 0) + 1)
        head: list[tuple[Any, int]] = []
        for row in islice(rows, wanted):
            head.append((row, line_of()))
        self._choose_columns([[cell_text(c) for c in _trimmed(row)] for row, _ in head])
        data = head[self.header_row + 1 :] if self.header_row is not None else head
        for row in islice(rows, DECIMAL_SAMPLE_ROWS):
            data.append((row, line_of()))
        self._choose_decimal_comma([row for row, _ in data])
        for row, line in data:
            self._slow(row, line)
        self._count(rows, line_of, position)

    def _choose_columns(self, top: list[list[str]]) -> None:
        options = self.options
        header_row = options.header_row
        if header_row is not None and not 0 <= header_row < len(top):
            raise UnreadableFile(f"There is no row {header_row + 1} to use as the header.")
        if not any(any(row) for row in top):
            raise UnreadableFile("The file is empty: it has no rows to import.")
        if options.mapping is not None:
            columns, _amounts = _validate_mapping(options.mapping, "volumes")
            if header_row is None:
                header_row = find_header(top, "volumes", loose=True)
            if header_row is None:
                header_row = _row_above_first_code(top, columns["code"], self.prefix)
        else:
            if header_row is None:
                header_row = find_header(top, "volumes")
            if header_row is None:
                raise ColumnsNotFound(
                    "No header row naming a procedure code column ('Code', 'Procedure') was "
                    f"found in the first {HEADER_SEARCH_ROWS} rows. Choose the columns by hand.",
                    [],
                )
            header = top[header_row]
            columns, _amounts, _patients = _columns_from_header(header, match_roles(header))
            if "code" not in columns:
                raise ColumnsNotFound(
                    "No procedure code column ('Code', 'Procedure') was found. Choose the "
                    "columns by hand.",
                    [],
                )
        self.header_row = header_row
        self.header = top[header_row] if header_row is not None else []
        roles = match_roles(self.header)
        self.columns = {role: columns[role] for role in ROLES_READ if role in columns}
        self.amount_column = columns.get("amount")
        self.description_column = columns.get("description")
        for role, index in self.columns.items():
            if roles.get(index) == "patient":
                raise UnreadableFile(
                    f"Column {index + 1} ('{self.header[index]}') holds patient data and cannot "
                    f"be read as the {role}; choose another column."
                )
        if self.header:
            self.header_key = [cell.lower() for cell in self.header if cell]
        used = set(self.columns.values())
        self.width = max(used) + 1
        self.ignored = [name for i, name in enumerate(self.header) if name and i not in used]
        self.per_procedure = "count" not in self.columns
        if self.per_procedure:
            self.description_column = None  # a procedure-level file: keep codes and counts only

    def _choose_decimal_comma(self, rows: list) -> None:
        if self.options.decimal_comma is not None:
            self.decimal_comma = self.options.decimal_comma
            return
        if self.amount_column is None:
            return
        cells = [cell_text(_cell(row, self.amount_column)) for row in rows]
        self.decimal_comma, _mixed = uses_decimal_comma(cells)
        if self.decimal_comma and "count" in self.columns:
            self.warnings.append("Decimal commas detected: counts like '1.045' are read as 1045.")

    # -- the loop --

    def _count(
        self, rows: Iterator, line_of: Callable[[], int], position: Callable[[], int]
    ) -> None:
        columns = self.columns
        code_at = columns["code"]
        # A role the file lacks reads the code column through a cache that answers None.
        carrier_at = columns.get("carrier", code_at)
        date_at = columns.get("date", code_at)
        carriers = self.carriers if "carrier" in columns else self.nothing
        months = self.months if "date" in columns else self.nothing
        codes = self.codes
        counts = self.counts
        slow = self._slow
        progress = self.options.progress
        total = self.options.total
        count_at = columns.get("count")
        numbers = self.numbers
        row_counts = self.row_counts
        row: Any = None
        while row is not _END:
            row = _END
            if count_at is None:
                for row in islice(rows, PROGRESS_EVERY):
                    try:
                        code = codes[row[code_at]]  # first: only a good code reaches `nothing`
                        key = (carriers[row[carrier_at]], code, months[row[date_at]])
                    except (KeyError, IndexError):
                        slow(row, line_of())
                        continue
                    try:
                        counts[key] += 1
                    except KeyError:
                        counts[key] = 1
            else:
                for row in islice(rows, PROGRESS_EVERY):
                    try:
                        code = codes[row[code_at]]
                        key = (carriers[row[carrier_at]], code, months[row[date_at]])
                        number = numbers[row[count_at]]
                    except (KeyError, IndexError):
                        slow(row, line_of())
                        continue
                    counts[key] = counts.get(key, 0) + number
                    row_counts[key] = row_counts.get(key, 0) + 1
            if progress is not None and row is not _END:
                done = position()
                progress(done if done >= 0 else 0, total)

    def _slow(self, row: Any, line: int) -> None:
        """One row the caches could not take: count it, or say why it is not counted."""
        columns = self.columns
        if len(row) < self.width:
            row = [*row, *([None] * (self.width - len(row)))]
        raw_code = row[columns["code"]]
        code = self.codes.get(raw_code)
        new_code = code is None
        if new_code:
            code_text = cell_text(raw_code)
            code, rest, lost_zero = parse_code(code_text, self.prefix)
            if code is None:
                self._not_a_code_row(row, line, code_text)
                return
        try:
            number = 1
            if "count" in columns:
                raw_count = row[columns["count"]]
                number = self.numbers.get(raw_count)
                if number is None:
                    number = parse_count(cell_text(raw_count), self.decimal_comma)
                    self._remember(self.numbers, raw_count, number)
            month = None
            if "date" in columns:
                raw_date = row[columns["date"]]
                month = self.months.get(raw_date)
                if month is None:
                    # A date with a time: cached by its date part, or every row would miss.
                    day = _date_part(raw_date)
                    month = self.months.get(day)
                    if month is None:
                        month = self._month(day, row, line)
                        self._remember(self.months, day, month)
        except RowProblem as problem:
            self._reject(row, line, str(problem))
            return
        carrier = None
        if "carrier" in columns:
            raw_carrier = row[columns["carrier"]]
            carrier = self.carriers.get(raw_carrier)
            if carrier is None:
                carrier = cell_text(raw_carrier)
                self._remember(self.carriers, raw_carrier, carrier)
                self.carrier_names.add(carrier)
                if len(self.carrier_names) > MAX_CARRIERS:
                    raise UnreadableFile(
                        f"The carrier column ('{self._name('carrier')}') has over "
                        f"{MAX_CARRIERS:,} different values; check that it really names the "
                        "carriers, or choose the columns by hand."
                    )
        if new_code:  # a good row: its code may now take the fast path
            if lost_zero and len(self.lost_zero) < 100:
                self.lost_zero.setdefault(code_text, code)
            description_at = self.description_column
            if description_at is not None and code not in self.descriptions:
                description = cell_text(_cell(row, description_at)) or rest
                if description:
                    self.descriptions[code] = description
            self._remember(self.codes, raw_code, code)
            if len(self.nothing) >= CACHE_LIMIT:
                self.nothing.clear()
        key = (carrier, code, month)
        self.counts[key] = self.counts.get(key, 0) + number
        if "count" in columns:
            self.row_counts[key] = self.row_counts.get(key, 0) + 1

    @staticmethod
    def _remember(cache: dict, raw: Any, value: Any) -> None:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()  # distinct texts without end (timestamps): start over, stay small
        with contextlib.suppress(TypeError):  # an unhashable cell: never cached, always parsed
            cache[raw] = value

    def _month(self, raw: Any, row: list, line: int) -> Any:
        """A date cell -> the first of its month, or (month/day reading, day/month reading)
        for a slash date whose order is decided once the whole file has been seen."""
        if isinstance(raw, datetime | date):
            return date(raw.year, raw.month, 1)
        text = cell_text(raw)
        match = _DMY_OR_MDY.match(text.strip())
        if match is None:
            found = parse_date(text)  # raises with the reason
            return date(found.year, found.month, 1)
        first, second = int(match[1]), int(match[2])
        self.only_day_first |= first > 12 >= second
        self.only_month_first |= second > 12 >= first
        readings = []
        for day_first in (False, True):
            try:
                found = parse_date(text, day_first)
            except RowProblem:
                readings.append(None)
            else:
                readings.append(date(found.year, found.month, 1))
        if readings[0] is None and readings[1] is None:
            parse_date(text)  # raises: not a date either way
        if readings[0] == readings[1]:
            return readings[0]
        if None in readings and len(self.order_dependent) < SAMPLE_ROWS:
            self.order_dependent.setdefault(text.strip(), (line, self._shown(row)))
        return (readings[0], readings[1])

    def _not_a_code_row(self, row: list, line: int, code_text: str) -> None:
        cells = [cell_text(cell) for cell in row]
        filled = [cell for cell in cells if cell]
        if not filled:
            self.blank_lines += 1
            return
        if self.header_key and [cell.lower() for cell in filled] == self.header_key:
            self.skipped_count += 1
            return
        if _not_data_reason(cells, _NO_REPEATS, False) or _TOTALS.match(code_text.lower()):
            self.skipped_count += 1
            return
        reason = f"'{code_text}' is not a procedure code" if code_text else "no procedure code"
        self._reject(row, line, reason)

    def _shown(self, row: list) -> tuple[str, ...]:
        """A row as a rejected sample shows it: the mapped columns, every other cell hidden."""
        used = set(self.columns.values())
        return tuple(
            cell_text(cell) if index in used else (HIDDEN if cell_text(cell) else "")
            for index, cell in enumerate(row)
        )

    def _reject(self, row: list, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < SAMPLE_ROWS:
            self.rejected.append(RejectedRow(line, self.where(line), self._shown(row), reason))

    def _name(self, role: str) -> str:
        index = self.columns[role]
        return _cell(self.header, index) or f"column {index + 1}"

    # -- the result --

    def result(self) -> VolumeAggregate:
        """Settle the order of slash dates, then total the counts per carrier, code, month."""
        day_first = self.only_day_first and not self.only_month_first
        counts: dict[Key, int] = {}
        rows_counted = 0
        late: list[RejectedRow] = []
        for (carrier, code, token), number in self.counts.items():
            rows = self.row_counts.get((carrier, code, token), number)
            month = token
            if isinstance(token, tuple):
                month = token[1] if day_first else token[0]
                if month is None:
                    self.rejected_count += rows
                    continue
            rows_counted += rows
            if number:
                key = (carrier, code, month)
                counts[key] = counts.get(key, 0) + number
        for text, (line, shown) in self.order_dependent.items():
            try:
                parse_date(text, day_first)
            except RowProblem:
                late.append(RejectedRow(line, self.where(line), shown, f"'{text}' is not a date"))
        if late:
            self.rejected = sorted([*self.rejected, *late], key=lambda r: r.line_no)[:SAMPLE_ROWS]
        carriers: dict[str | None, int] = {}
        months: set[date] = set()
        for (carrier, _code, month), number in counts.items():
            carriers[carrier] = carriers.get(carrier, 0) + number
            if month is not None:
                months.add(month)
        warnings = self.warnings
        if day_first:
            warnings.append("Dates are read as day/month/year.")
        if self.only_day_first and self.only_month_first:
            warnings.append(
                "The dates mix month/day/year and day/month/year; they are read as "
                "month/day/year and the others are rejected."
            )
        if self.lost_zero:
            example, code = next(iter(self.lost_zero.items()))
            warnings.append(
                f"{len(self.lost_zero)} code(s) had lost a leading zero (e.g. '{example}' read "
                f"as {code})."
            )
        if "" in carriers:
            warnings.append(f"{carriers['']:,} procedure(s) name no carrier.")
        rows_read = rows_counted + self.rejected_count + self.skipped_count
        if rows_read == 0:
            warnings.append("The file has a header but no rows below it.")
        return VolumeAggregate(
            source=self.source,
            header=list(self.header),
            columns=dict(self.columns),
            ignored_columns=self.ignored,
            per_procedure=self.per_procedure,
            rows_read=rows_read,
            rejected_count=self.rejected_count,
            rejected=self.rejected,
            skipped_count=self.skipped_count,
            blank_lines=self.blank_lines,
            counts=counts,
            carriers=dict(sorted(carriers.items(), key=lambda item: (-item[1], item[0] or ""))),
            months=sorted(months),
            descriptions=dict(sorted(self.descriptions.items())),
            warnings=warnings,
            prefix=self.prefix,
            day_first=day_first,
            header_row=self.header_row,
        )


def _date_part(raw: Any) -> Any:
    """'2025-01-03 10:32:11', '2025-01-03T10:32' or '01/03/2025 10:32 AM' -> the date text."""
    if isinstance(raw, str) and len(raw) > 10:
        text = raw.strip()
        for separator in (" ", "T"):
            head, found, _rest = text.partition(separator)
            if found and head:
                return head
    return raw


def _cell(row: Any, index: int | None) -> Any:
    if index is None or index >= len(row):
        return None
    return row[index]


def _trimmed(row: Any) -> list:
    """A row without its trailing empty cells (XLSX rows come padded with None)."""
    cells = list(row)
    while cells and (cells[-1] is None or cells[-1] == ""):
        cells.pop()
    return cells


__all__ = ["VolumeAggregate", "aggregate_volumes"]

"""The one preview shape every importer returns, and the table logic behind it: header row and
column detection, code/amount/count/date parsing, and a reason for every row not taken.

A reader (CSV, XLSX, PDF) turns its file into a table of strings; `build_preview` does the rest.
Pure Python: no Flask, no SQLAlchemy, no file access.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

from campaigns.codes import DEFAULT_PREFIX, normalise_code
from campaigns.money import CENT

Table = list[list[str]]
Kind = Literal["schedule", "volumes"]
DuplicateRule = Literal["first", "highest", "lowest"]

MAX_CENTS = 10_000_000  # $100,000: anything above is a typo or a total, not a fee
MAX_COUNT = 10_000_000
HEADER_SEARCH_ROWS = 30
HEADER_CELL_MAX_CHARS = 60  # a sentence in a preamble is not a column header
SAMPLE_ROWS = 200
MAX_AMOUNT_CHARS = 40
HIDDEN = "[hidden]"  # what a rejected row shows instead of a patient column's value

ROLES = ("code", "description", "amount", "count", "carrier", "date", "patient")


class UnreadableFile(Exception):  # noqa: N818 - the name says what the user sees
    """Anything a user's file can do wrong: the message is shown as is, no stack trace."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ColumnsNotFound(UnreadableFile):
    """The file was read but no code/amount columns were recognised; `sample` holds its first
    rows so the page can offer a column mapping by hand."""

    def __init__(self, message: str, sample: Table) -> None:
        super().__init__(message)
        self.sample = sample


class RowProblem(ValueError):
    """One cell that cannot be taken; the message is the row's reason."""


@dataclass
class ParsedRow:
    """A row taken from the file. `flag` is "not_covered" for N/C, "Not a benefit" or blank
    amounts (not listed codes, DOMAIN.md), with `note` saying what the file said."""

    line_no: int  # 1-based position in the table the reader produced
    where: str  # for people: "line 12", "row 7", "page 2, line 5"
    code: str
    description: str = ""
    amount_cents: int | None = None
    amounts: dict[str, int | None] = field(default_factory=dict)  # every amount column
    count: int | None = None
    carrier: str = ""
    service_date: date | None = None
    flag: str | None = None
    note: str = ""


@dataclass(frozen=True)
class RejectedRow:
    """A row not taken, with the reason. Patient columns (and, in a volumes file, every column
    not mapped) show "[hidden]" in `cells`."""

    line_no: int
    where: str
    cells: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class SkippedRow:
    """A row recognised as not data (totals, page header or footer, section heading)."""

    line_no: int
    where: str
    text: str
    reason: str


@dataclass
class ImportPreview:
    """What the import page shows before anything is written, and what confirm works from."""

    kind: Kind
    source: str  # "csv" | "xlsx" | "pdf" | "table"
    header_row: int | None  # 0-based index in the table; None when the file has no header
    header: list[str]
    columns: dict[str, int]  # role -> 0-based column: code, description, amount, count, ...
    amount_columns: list[tuple[int, str]]  # every amount column with its label (percentiles)
    ignored_columns: list[int]  # patient columns: never read into rows
    decimal_comma: bool
    prefix: str
    rows: list[ParsedRow]
    rejected: list[RejectedRow]
    skipped: list[SkippedRow]
    blank_lines: int
    warnings: list[str]
    sheet_names: list[str] = field(default_factory=list)
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    pages: int | None = None

    @property
    def rows_read(self) -> int:
        """Non-blank rows below the header: taken + rejected + skipped."""
        return len(self.rows) + len(self.rejected) + len(self.skipped)

    @property
    def per_procedure(self) -> bool:
        """A volumes file without a count column: every row is one procedure."""
        return self.kind == "volumes" and "count" not in self.columns

    @property
    def not_covered(self) -> list[ParsedRow]:
        """Rows whose amount says the code is not covered (or is blank)."""
        return [row for row in self.rows if row.flag == "not_covered"]

    @property
    def duplicates(self) -> dict[str, list[ParsedRow]]:
        """Schedule codes listed more than once (age bands, tooth ranges), in file order."""
        if self.kind != "schedule":
            return {}
        by_code: dict[str, list[ParsedRow]] = {}
        for row in self.rows:
            by_code.setdefault(row.code, []).append(row)
        return {code: rows for code, rows in by_code.items() if len(rows) > 1}

    def resolve(
        self, duplicates: DuplicateRule = "first", column: str | None = None
    ) -> dict[str, int]:
        """The final schedule {code: cents}: duplicates settled by the user's rule; codes with no
        amount (not covered) are left out. `column` picks one of `amount_columns` by label."""
        if duplicates not in ("first", "highest", "lowest"):
            raise ValueError(f"unknown duplicate rule {duplicates!r}")
        labels = [label for _, label in self.amount_columns]
        if column is not None and column not in labels:
            raise ValueError(f"no amount column {column!r}; columns: {labels}")
        result: dict[str, int] = {}
        for row in self.rows:
            cents = row.amounts.get(column) if column is not None else row.amount_cents
            if cents is None:
                continue
            if row.code not in result:
                result[row.code] = cents
            elif duplicates == "highest":
                result[row.code] = max(result[row.code], cents)
            elif duplicates == "lowest":
                result[row.code] = min(result[row.code], cents)
        return result

    def descriptions(self) -> dict[str, str]:
        """{code: the first description the file gives it} for the organisation's code table."""
        found: dict[str, str] = {}
        for row in self.rows:
            if row.description and row.code not in found:
                found[row.code] = row.description
        return found


# ---- cells -------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def clean_cell(value: object) -> str:
    """A cell as one trimmed line of text (wrapped PDF cells, non-breaking spaces)."""
    if value is None:
        return ""
    text = str(value)
    if text.isprintable() and "  " not in text:  # the usual cell: nothing to collapse
        return text.strip()
    return _SPACES.sub(" ", text.replace("\u00a0", " ")).strip()


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index]


# ---- codes --------------------------------------------------------------------------------

_THREE_DIGITS = re.compile(r"^[0-9]{3}$")
_CODE_THEN_TEXT = re.compile(r"^([A-Za-z]?[0-9]{4}[A-Za-z0-9]*)\s*[-:\u2013\u2014]?\s+(\S.*)$")


def parse_code(raw: str, prefix: str = DEFAULT_PREFIX) -> tuple[str | None, str, bool]:
    """(code, text after the code, lost_leading_zero) for a code cell; code None if no shape.

    Also takes a cell holding code and description together ("T0120 Periodic exam"), and a
    3-digit number whose leading zero a spreadsheet dropped ("120" -> prefix + "0120").
    """
    text = raw.strip().rstrip("*").strip()
    code = normalise_code(text, prefix)
    if code:
        return code, "", False
    if _THREE_DIGITS.match(text):
        code = normalise_code("0" + text, prefix)
        return code, "", code is not None
    match = _CODE_THEN_TEXT.match(text)
    if match:
        code = normalise_code(match[1], prefix)
        if code:
            return code, match[2].strip(), False
    return None, "", False


# ---- amounts ------------------------------------------------------------------------------

NOT_COVERED_WORDS = frozenset(
    {
        "nc", "notcovered", "notabenefit", "nb", "nobenefit", "noncovered", "notpayable",
        "na", "none", "excluded", "byreport", "br", "nocharge",
    }
)  # fmt: skip
_US_AMOUNT = re.compile(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?$|^\.[0-9]+$")
_EU_AMOUNT = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,[0-9]+)?$|^,[0-9]+$")
_PLAIN_DOT_CENTS = re.compile(r"^[0-9]+\.[0-9]{1,2}$")
_COMMA_CENTS = re.compile(r"[0-9],[0-9]{1,2}$")
_DOT_CENTS = re.compile(r"[0-9]\.[0-9]{1,2}$")
_EU_THOUSANDS = re.compile(r"[0-9]\.[0-9]{3},[0-9]")
_CURRENCY = re.compile(r"(?i)usd|us\$|\$")


_DIGIT = re.compile(r"[0-9]")


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


def parse_amount(text: str, decimal_comma: bool = False) -> tuple[int | None, str]:
    """A money cell -> (cents, "") or (None, note) when it says "not covered" or is blank.

    Raises RowProblem with the reason for negatives (also "(12.00)"), amounts over $100,000,
    more than two decimals, and anything that is not an amount.
    """
    shown = text.strip()
    if not shown:
        return None, "blank amount"
    if not _has_digit(shown):
        word = re.sub(r"[^a-z]", "", shown.lower())
        if word in NOT_COVERED_WORDS or not word:
            return None, f"'{shown}'"
        raise RowProblem(f"'{shown}' is not an amount")
    if len(shown) > MAX_AMOUNT_CHARS:
        raise RowProblem(f"'{shown[:MAX_AMOUNT_CHARS]}...' is not an amount")
    value_text = shown.replace("\u00a0", " ").replace("\u202f", " ")
    negative = False
    if value_text.startswith("(") and value_text.endswith(")"):
        negative, value_text = True, value_text[1:-1]
    value_text = _CURRENCY.sub("", value_text).strip()
    if value_text.startswith("-") or value_text.endswith("-"):
        negative, value_text = True, value_text.strip("-")
    elif value_text.upper().endswith("CR"):
        negative, value_text = True, value_text[:-2]
    value_text = value_text.replace(" ", "").removeprefix("+")
    if decimal_comma and _EU_AMOUNT.match(value_text):
        number = value_text.replace(".", "").replace(",", ".")
    elif decimal_comma and _PLAIN_DOT_CENTS.match(value_text):
        number = value_text
    elif not decimal_comma and _US_AMOUNT.match(value_text):
        number = value_text.replace(",", "")
    elif not decimal_comma and _COMMA_CENTS.search(value_text):
        raise RowProblem(f"'{shown}' is not an amount (a decimal comma in a file that uses dots?)")
    else:
        raise RowProblem(f"'{shown}' is not an amount")
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the patterns above only let numbers through
        raise RowProblem(f"'{shown}' is not an amount") from None
    if negative and value != 0:
        raise RowProblem(f"negative amount '{shown}'")
    if value > MAX_CENTS / 100:  # before quantize, which fails on numbers of 28+ digits
        raise RowProblem(f"'{shown}' is over $100,000")
    if value != value.quantize(CENT):
        raise RowProblem(f"'{shown}' has more than two decimals")
    cents = int(value.quantize(CENT) * 100)
    if cents > MAX_CENTS:
        raise RowProblem(f"'{shown}' is over $100,000")
    return cents, ""


def uses_decimal_comma(cells: list[str]) -> tuple[bool, bool]:
    """(decimal commas?, mixed?) judged from amount cells: '12,50' or '1.234,50' vs '12.50'."""
    comma = dot = 0
    for raw in cells:
        text = _CURRENCY.sub("", raw).strip("() -")
        if _EU_THOUSANDS.search(text) or (_COMMA_CENTS.search(text) and "." not in text):
            comma += 1
        elif _DOT_CENTS.search(text):
            dot += 1
    return comma > dot, comma > 0 and dot > 0


# ---- counts and dates ------------------------------------------------------------------------

_US_COUNT = re.compile(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.0+)?$")
_EU_COUNT = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,0+)?$")


def parse_count(text: str, decimal_comma: bool = False) -> int:
    """A count cell -> int; RowProblem for blank, negative, fractional or absurd counts."""
    shown = text.strip()
    if not shown:
        raise RowProblem("no count")
    value_text = shown.replace(" ", "")
    if value_text.startswith("-") or (value_text.startswith("(") and value_text.endswith(")")):
        raise RowProblem(f"negative count '{shown}'")
    if decimal_comma and _EU_COUNT.match(value_text):
        number = value_text.split(",")[0].replace(".", "")
    elif not decimal_comma and _US_COUNT.match(value_text):
        number = value_text.split(".")[0].replace(",", "")
    else:
        raise RowProblem(f"'{shown}' is not a whole count")
    count = int(number)
    if count > MAX_COUNT:
        raise RowProblem(f"count '{shown}' is not plausible")
    return count


_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T].*)?$")
_YMD_SLASH = re.compile(r"^([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})(?:\s.*)?$")
_COMPACT_DATE = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$")
_DMY_OR_MDY = re.compile(r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2}|[0-9]{4})(?:\s.*)?$")


def parse_date(text: str, day_first: bool = False) -> date:
    """A date cell: ISO, YYYY/MM/DD, YYYYMMDD, or MM/DD/YYYY (DD/MM/YYYY when day_first)."""
    shown = text.strip()
    parts: tuple[int, int, int] | None = None
    for pattern in (_ISO_DATE, _YMD_SLASH, _COMPACT_DATE):
        match = pattern.match(shown)
        if match:
            parts = (int(match[1]), int(match[2]), int(match[3]))
            break
    else:
        match = _DMY_OR_MDY.match(shown)
        if match:
            first, second, year = int(match[1]), int(match[2]), int(match[3])
            if year < 100:
                year += 2000 if year < 70 else 1900
            month, day = (second, first) if day_first else (first, second)
            parts = (year, month, day)
    if parts is None:
        raise RowProblem(f"'{shown}' is not a date" if shown else "no date")
    try:
        return date(*parts)
    except ValueError:
        raise RowProblem(f"'{shown}' is not a date") from None


def dates_are_day_first(cells: list[str]) -> bool:
    """True when some slash date can only be day/month (first part over 12) and none can only
    be month/day."""
    only_day_first = only_month_first = False
    for text in cells:
        match = _DMY_OR_MDY.match(text.strip())
        if match:
            first, second = int(match[1]), int(match[2])
            only_day_first |= first > 12 >= second
            only_month_first |= second > 12 >= first
    return only_day_first and not only_month_first


# ---- header detection ------------------------------------------------------------------------

# First match wins, in this order: "Procedure description" is a description, "Max plan
# allowance" an amount (not a carrier), "Proc date" a date (not a code).
_ROLE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("description", re.compile(
        r"\b(desc|description|descriptor|descript|abbrdesc|abbr ?desc|procedure name|"
        r"service name|treatment)\b")),
    ("amount", re.compile(
        r"\b(fee|fees|procfee|feebilled|allowance|allowances|allowed|allowable|amount|amt|"
        r"ucr|usual|price|rate|reimbursement|mac|charge|charges|payment|maximum|max|"
        r"percentile|pctl|[0-9]{2}(st|nd|rd|th)|p[0-9]{2})\b")),
    ("count", re.compile(
        r"\b(count|counts|qty|quantity|units?|unitqty|number|num|times|frequency|volume|"
        r"no of|procs)\b|^#$|^no$")),
    ("date", re.compile(
        r"\b(date|dos|procdate|dateservice|date of service|service date|effective|eff)\b")),
    ("carrier", re.compile(
        r"\b(carrier|carriername|payer|payor|insurance|ins|insurer|plan|company|network)\b")),
    ("code", re.compile(
        r"\b(code|codes|cdt|cpt|ada|proc|procedure|proccode|service|svc|hcpcs)\b")),
    ("patient", re.compile(
        r"\b(patient|pat|patnum|pat ?id|chart|guarantor|name|first name|last name|dob|birth|"
        r"birthdate|ssn|subscriber|member)\b")),
)  # fmt: skip
_PERCENTILE = re.compile(r"\b([0-9]{2}(st|nd|rd|th)|p[0-9]{2}|percentile|pctl)\b")
# Which amount column a schedule means when it has several: allowance before fee before amount.
_AMOUNT_PREFERENCE = (
    re.compile(r"\b(allowance|allowed|allowable|maximum|max|mac|contract|reimbursement)\b"),
    re.compile(r"\b(fee|fees|procfee|ucr|usual|price|rate)\b"),
)


def _header_text(cell: str) -> str:
    text = cell.strip().lower()
    if text == "#":
        return "#"
    return _SPACES.sub(" ", re.sub(r"[^a-z0-9]+", " ", text)).strip()


def role_of(cell: str) -> str | None:
    """The role a header cell names ("Maximum Plan Allowance" -> "amount"), or None."""
    if not cell or len(cell) > HEADER_CELL_MAX_CHARS:
        return None
    text = _header_text(cell)
    if not text or text.replace(" ", "").isdigit():
        return None
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(text):
            return role
    return None


def match_roles(row: list[str]) -> dict[int, str]:
    """{column: role} for the cells of a candidate header row."""
    found = {}
    for index, cell in enumerate(row):
        role = role_of(cell)
        if role:
            found[index] = role
    return found


def _is_header(roles: dict[int, str], kind: Kind) -> bool:
    present = set(roles.values())
    if "code" not in present:
        return False
    if kind == "schedule":
        return "amount" in present
    return bool(present & {"count", "date", "carrier", "amount"})


def find_header(
    table: Table, kind: Kind, loose: bool = False, limit: int | None = HEADER_SEARCH_ROWS
) -> int | None:
    """Index of the header row: the first of the first `limit` rows (None: all) naming a code
    column and (for a schedule) an amount column; `loose` accepts any row naming a code and
    one other role."""
    for index, row in enumerate(table[:limit]):
        roles = match_roles(row)
        if _is_header(roles, kind) or (loose and "code" in roles.values() and len(roles) >= 2):
            return index
    return None


def _columns_from_header(
    header: list[str], roles: dict[int, str]
) -> tuple[dict[str, int], list[int], list[int]]:
    """(columns by role, amount columns, patient columns) from a header's roles."""
    columns: dict[str, int] = {}
    amounts = [index for index, role in roles.items() if role == "amount"]
    patients = [index for index, role in roles.items() if role == "patient"]
    for index, role in roles.items():
        if role not in ("amount", "patient"):
            columns.setdefault(role, index)
    percentiles = [i for i in amounts if _PERCENTILE.search(_header_text(header[i]))]
    if len(percentiles) >= 2:
        amounts = percentiles
    if amounts:
        columns["amount"] = amounts[0]
    if len(percentiles) < 2:
        for pattern in _AMOUNT_PREFERENCE:
            preferred = [i for i in amounts if pattern.search(_header_text(header[i]))]
            if preferred:
                columns["amount"] = preferred[0]
                break
    return columns, amounts, patients


def _fraction(rows: Table, index: int, test: Callable[[str], bool]) -> float:
    """Share of the rows whose cell in column `index` passes `test` (blank cells fail)."""
    return sum(1 for row in rows if _cell(row, index) and test(_cell(row, index))) / len(rows)


def _is_amount(cell: str) -> bool:
    try:
        return parse_amount(cell)[0] is not None or parse_amount(cell, True)[0] is not None
    except RowProblem:
        return False


def _is_count(cell: str) -> bool:
    try:
        parse_count(cell)
    except RowProblem:
        return False
    return True


def _guess_without_header(table: Table, kind: Kind, prefix: str) -> dict[str, int] | None:
    """Columns for a file with no header row (e.g. an Open Dental `code<TAB>fee` export):
    the column that is mostly codes, the column that is mostly amounts (or counts)."""
    sample = [row for row in table if any(row)][:SAMPLE_ROWS]
    if not sample:
        return None
    width = max(len(row) for row in sample)

    def best(test: Callable[[str], bool], exclude: set[int], prefer_right: bool) -> int | None:
        scored = [(_fraction(sample, i, test), i) for i in range(width) if i not in exclude]
        scored = [(score, i) for score, i in scored if score >= 0.6]
        if not scored:
            return None
        return max(scored, key=lambda item: (item[0], item[1] if prefer_right else -item[1]))[1]

    code = best(lambda cell: parse_code(cell, prefix)[0] is not None, set(), False)
    if code is None:
        return None
    columns = {"code": code}
    value_test = _is_amount if kind == "schedule" else _is_count
    value = best(value_test, {code}, True)
    if value is None and kind == "schedule":
        return None
    if value is not None:
        columns["amount" if kind == "schedule" else "count"] = value
    description = best(lambda cell: bool(re.search(r"[A-Za-z]{3}", cell)), set(columns.values()),
                       False)  # fmt: skip
    if description is not None:
        columns["description"] = description
    return columns


# ---- rows that are not data -----------------------------------------------------------------

_TOTALS = re.compile(r"^(grand |sub ?|report |page )?totals?\b|^sum\b|^count\b")
_FOOTER = re.compile(
    r"\bpage [0-9]+( of [0-9]+)?\b|^confidential|^proprietary|^printed|^generated|^run date|"
    r"^report date|copyright|\u00a9|^\(?continued\)?$|^end of report"
)


def _row_key(row: list[str]) -> str:
    """A row's text with numbers blanked, so 'Page 2' and 'Page 3' headers compare equal."""
    return re.sub(r"[0-9]+", "#", " | ".join(cell.lower() for cell in row if cell))


def _not_data_reason(row: list[str], repeats: Counter[str], has_value: bool) -> str | None:
    """Why a row without a code is not data, or None when it should be listed as rejected.

    `has_value`: the row has a readable amount (or count) where the data has one; such a row
    is data with a bad code, so repeating does not make it a page header.
    """
    filled = [cell for cell in row if cell]
    first = _header_text(filled[0])
    text = " ".join(filled).lower()
    if _TOTALS.match(first):
        return "totals line"
    if _FOOTER.search(text):
        return "page header or footer"
    if repeats[_row_key(row)] >= 2 and not has_value:
        return "repeated page header or footer"
    if len(filled) == 1 and not _has_digit(filled[0]):
        return "section heading"
    return None


def _has_value(preview: ImportPreview, row: list[str]) -> bool:
    """Whether the row holds a readable amount or count in the mapped columns."""
    for index, _ in preview.amount_columns:
        try:
            if parse_amount(_cell(row, index), preview.decimal_comma)[0] is not None:
                return True
        except RowProblem:
            pass  # not an amount: keep looking
    if "count" in preview.columns:
        try:
            parse_count(_cell(row, preview.columns["count"]), preview.decimal_comma)
        except RowProblem:
            return False
        return True
    return False


# ---- the table -> preview core ----------------------------------------------------------------


def _validate_mapping(mapping: dict[str, object], kind: Kind) -> tuple[dict[str, int], list[int]]:
    """A user's mapping {role: column, "amounts": [columns]} -> (columns, amount columns)."""
    columns: dict[str, int] = {}
    for role, index in mapping.items():
        if role == "amounts":
            continue
        if role not in ROLES or role == "patient":
            raise UnreadableFile(f"Unknown column role '{role}'.")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise UnreadableFile(f"The column for '{role}' must be a column number.")
        columns[role] = index
    extra = mapping.get("amounts") or []
    if not isinstance(extra, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in extra
    ):
        raise UnreadableFile("The amount columns must be column numbers.")
    if "code" not in columns:
        raise UnreadableFile("Choose the column that holds the procedure codes.")
    if kind == "schedule" and "amount" not in columns and not extra:
        raise UnreadableFile("Choose the column that holds the amounts.")
    amounts = list(extra)
    if "amount" in columns and columns["amount"] not in amounts:
        amounts.insert(0, columns["amount"])
    if amounts and "amount" not in columns:
        columns["amount"] = amounts[0]
    return columns, amounts


def _labels(header: list[str], amounts: list[int]) -> list[tuple[int, str]]:
    labels: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index in amounts:
        label = _cell(header, index) or f"column {index + 1}"
        if label in seen:
            label = f"{label} (column {index + 1})"
        seen.add(label)
        labels.append((index, label))
    return labels


def _row_above_first_code(table: Table, code_column: int, prefix: str) -> int | None:
    """With a user's mapping and no recognisable header: the non-blank row just above the
    first row with a code in the code column is taken as the header."""
    for index, row in enumerate(table[: HEADER_SEARCH_ROWS + 1]):
        if parse_code(_cell(row, code_column), prefix)[0] is not None:
            above = [i for i in range(index) if any(table[i])]
            return above[-1] if above else None
    return None


def _columns_not_found(table: Table, kind: Kind) -> ColumnsNotFound:
    wanted = "an amount column ('Fee', 'Allowance', 'Amount')"
    if kind == "volumes":
        wanted = "a count column ('Count', 'Qty') or one row per procedure"
    sample = [row for row in table if any(row)][:HEADER_SEARCH_ROWS]
    return ColumnsNotFound(
        "No recognisable columns: the file needs a procedure code column ('Code', "
        f"'Procedure') and {wanted}. Choose the columns by hand.",
        sample,
    )


def build_preview(
    table: Table,
    mapping: dict[str, object] | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
    kind: Kind = "schedule",
    header_row: int | None = None,
    decimal_comma: bool | None = None,
    locations: list[str] | None = None,
    source: str = "table",
) -> ImportPreview:
    """Turn a table of cells into an ImportPreview.

    Without `mapping`, the header row is found among the first 30 rows and its columns are
    guessed (or, with no header, inferred from the values). `mapping` ({role: column index,
    "amounts": [column indexes]}) overrides the guess. `decimal_comma` None means detect.
    `locations` labels each table row for people ("row 12"); default "line N".
    """
    if kind not in ("schedule", "volumes"):
        raise ValueError(f"unknown kind {kind!r}")
    table = [[clean_cell(cell) for cell in row] for row in table]
    if not any(any(row) for row in table):
        raise UnreadableFile("The file is empty: it has no rows to import.")
    warnings: list[str] = []
    header: list[str] = []
    if header_row is not None and not 0 <= header_row < len(table):
        raise UnreadableFile(f"There is no row {header_row + 1} to use as the header.")

    if mapping is not None:
        columns, amount_indexes = _validate_mapping(mapping, kind)
        if header_row is None:
            header_row = find_header(table, kind, loose=True)
        if header_row is None:
            header_row = _row_above_first_code(table, columns["code"], prefix)
        patients = []
        if header_row is not None:
            header = table[header_row]
            patients = [i for i, role in match_roles(header).items() if role == "patient"]
            patients = [i for i in patients if i not in columns.values()]
    else:
        if header_row is None:
            header_row = find_header(table, kind)
        if header_row is not None:
            header = table[header_row]
            columns, amount_indexes, patients = _columns_from_header(header, match_roles(header))
            if "code" not in columns or (kind == "schedule" and "amount" not in columns):
                raise _columns_not_found(table, kind)
        else:
            guessed = _guess_without_header(table, kind, prefix)
            if guessed is None:
                raise _columns_not_found(table, kind)
            columns, patients = guessed, []
            amount_indexes = [columns["amount"]] if "amount" in columns else []
            described = ", ".join(f"{role} = column {i + 1}" for role, i in columns.items())
            warnings.append(f"No header row found; columns guessed from the values ({described}).")

    start = 0 if header_row is None else header_row + 1
    data = table[start:]
    amount_labels = _labels(header, amount_indexes)

    if decimal_comma is None:
        amount_cells = [_cell(row, i) for row in data for i in amount_indexes]
        decimal_comma, mixed = uses_decimal_comma(amount_cells)
        if decimal_comma:
            warnings.append("Decimal commas detected: amounts like '12,50' are read as 12.50.")
        if mixed:
            warnings.append("The amounts mix decimal commas and decimal points; check them.")
    day_first = False
    if "date" in columns:
        day_first = dates_are_day_first([_cell(row, columns["date"]) for row in data])
        if day_first:
            warnings.append("Dates are read as day/month/year.")

    preview = ImportPreview(
        kind=kind,
        source=source,
        header_row=header_row,
        header=header,
        columns=columns,
        amount_columns=amount_labels,
        ignored_columns=patients,
        decimal_comma=decimal_comma,
        prefix=prefix,
        rows=[],
        rejected=[],
        skipped=[],
        blank_lines=0,
        warnings=warnings,
    )
    _read_rows(preview, table, start, locations, day_first)
    return preview


def _read_rows(
    preview: ImportPreview,
    table: Table,
    start: int,
    locations: list[str] | None,
    day_first: bool,
) -> None:
    """Fill the preview's rows, rejected, skipped and blank count from the data rows."""
    columns = preview.columns
    header_key = [cell.lower() for cell in preview.header if cell] if preview.header else None
    code_column = columns["code"]
    codes = [parse_code(_cell(row, code_column), preview.prefix) for row in table]
    # page headers and footers repeat; only rows without a code can be one
    repeats = Counter(
        _row_key(row)
        for row, parsed in zip(table, codes, strict=True)
        if any(row) and not parsed[0]
    )
    hidden = set(preview.ignored_columns)
    if preview.kind == "volumes":  # a PMS export may carry patient columns we do not know
        mapped = set(columns.values()) | {index for index, _ in preview.amount_columns}
        width = max((len(row) for row in table), default=0)
        hidden |= set(range(width)) - mapped
    lost_zero: list[str] = []
    last_taken = -2  # table index of the row a wrapped description line would continue

    for index in range(start, len(table)):
        row = table[index]
        where = locations[index] if locations else f"line {index + 1}"
        if not any(row):
            preview.blank_lines += 1
            continue

        if header_key and [cell.lower() for cell in row if cell] == header_key:
            preview.skipped.append(SkippedRow(index + 1, where, " ".join(row), "repeated header"))
            continue
        raw_code = _cell(row, code_column)
        code, code_text, no_zero = codes[index]
        if code is None:
            reason = _not_data_reason(row, repeats, _has_value(preview, row))
            description = _cell(row, columns.get("description"))
            filled = [cell for cell in row if cell]
            if (
                not raw_code
                and preview.rows
                and description
                and filled == [description]
                and reason in (None, "section heading")
                and last_taken == index - 1  # directly below a taken row: a wrapped line
            ):
                previous = preview.rows[-1]
                previous.description = f"{previous.description} {description}".strip()
                last_taken = index
            elif reason:
                preview.skipped.append(SkippedRow(index + 1, where, " ".join(filled), reason))
            elif raw_code:
                reason = f"'{raw_code}' is not a procedure code"
                preview.rejected.append(_rejected(index, where, row, hidden, reason))
            else:
                preview.rejected.append(_rejected(index, where, row, hidden, "no procedure code"))
            continue
        if no_zero:
            lost_zero.append(raw_code)
        try:
            parsed = _parse_values(preview, row, day_first)
        except RowProblem as problem:
            preview.rejected.append(_rejected(index, where, row, hidden, str(problem)))
            continue
        parsed.line_no, parsed.where, parsed.code = index + 1, where, code
        parsed.description = _cell(row, columns.get("description")) or code_text
        preview.rows.append(parsed)
        last_taken = index

    zeros = [row.code for row in preview.rows if row.amount_cents == 0]
    if zeros and preview.kind == "schedule":
        preview.warnings.append(
            f"{len(zeros)} code(s) have an amount of $0.00 (e.g. {zeros[0]}); check whether "
            "they mean 'not covered'."
        )
    if lost_zero:
        preview.warnings.append(
            f"{len(lost_zero)} code(s) had lost a leading zero (e.g. '{lost_zero[0]}' read as "
            f"{normalise_code('0' + lost_zero[0], preview.prefix)})."
        )


def _rejected(index: int, where: str, row: list[str], hidden: set[int], reason: str) -> RejectedRow:
    """A rejected row with its hidden columns blanked out."""
    cells = tuple(HIDDEN if i in hidden and cell else cell for i, cell in enumerate(row))
    return RejectedRow(index + 1, where, cells, reason)


def _parse_values(preview: ImportPreview, row: list[str], day_first: bool) -> ParsedRow:
    """Amounts, count, carrier and date of one coded row; RowProblem says why it is rejected."""
    columns = preview.columns
    parsed = ParsedRow(line_no=0, where="", code="")
    schedule = preview.kind == "schedule"
    for index, label in preview.amount_columns:
        try:
            cents, note = parse_amount(_cell(row, index), preview.decimal_comma)
        except RowProblem:
            if schedule:
                raise
            cents, note = None, ""  # a code-mix report's production amount is optional
        parsed.amounts[label] = cents
        if index == columns.get("amount"):
            parsed.amount_cents = cents
            if cents is None and schedule:
                parsed.flag, parsed.note = "not_covered", note
    if preview.kind == "volumes":
        count_text = _cell(row, columns["count"]) if "count" in columns else "1"
        parsed.count = parse_count(count_text, preview.decimal_comma)
    parsed.carrier = _cell(row, columns.get("carrier"))
    if "date" in columns:
        date_text = _cell(row, columns["date"])
        if preview.kind == "volumes":
            parsed.service_date = parse_date(date_text, day_first)
        elif date_text:
            try:
                parsed.service_date = parse_date(date_text, day_first)
            except RowProblem:
                parsed.service_date = None  # an effective-date note on a schedule is optional
    return parsed

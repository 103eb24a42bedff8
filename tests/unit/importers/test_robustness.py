"""Whatever bytes arrive, the parsers either return a preview or raise UnreadableFile with a
message, and they do it quickly (property tests; small example counts to keep the run short)."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.fees.importers import (
    ImportPreview,
    UnreadableFile,
    build_preview,
    preview_csv,
    preview_pdf,
    preview_xlsx,
)

from .builders import xlsx_bytes

VALID_CSV = (
    b"Fee schedule 2025\n"
    b"Code,Description,Allowance,Count\n"
    b'T0120,Recall exam,"$1,052.00",12\n'
    b"T1110,Adult cleaning,95.5,3\n"
    b"T1206,Fluoride,N/C,1\n"
    b"Total,,,16\n"
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(parse, data: bytes) -> ImportPreview | None:
    """Run a parser; only UnreadableFile (with a message) may escape, and only quickly."""
    started = time.perf_counter()
    message = None
    try:
        result = parse(data)
    except UnreadableFile as refused:
        result, message = None, refused.message
    assert time.perf_counter() - started < 2
    assert result is not None or (message or "").strip()
    return result


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_never_break_any_parser(data):
    for parse in (preview_csv, preview_xlsx, preview_pdf):
        outcome(parse, data)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID_CSV) - 1), st.binary(min_size=0, max_size=4)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["schedule", "volumes"]),
)
def test_mutated_csv_never_breaks_the_parser(edits, kind):
    data = bytearray(VALID_CSV)
    for position, replacement in edits:
        data[position : position + 1] = replacement
    preview = outcome(lambda raw: preview_csv(raw, kind=kind), bytes(data))
    if preview is not None:
        for row in preview.rows:
            assert row.amount_cents is None or 0 <= row.amount_cents <= 10_000_000


@FAST
@given(st.lists(st.lists(st.text(max_size=12), max_size=6), max_size=12))
def test_random_tables_get_a_preview_or_a_clear_refusal(table):
    preview = outcome(lambda _: build_preview(table, prefix="T"), b"")
    if preview is not None:
        assert preview.rows_read + preview.blank_lines <= len(table)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=10), st.integers(), st.floats()), max_size=8))
def test_any_cell_values_in_a_workbook_are_read_or_refused(cells):
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    workbook = Workbook()
    try:
        workbook.active.append(["Code", "Fee"])
        workbook.active.append(cells)
    except (IllegalCharacterError, ValueError):
        return  # openpyxl refuses to write it; nothing to read
    outcome(preview_xlsx, xlsx_bytes(workbook))

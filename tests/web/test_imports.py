"""The schedule import flow through the web: upload -> preview -> the user's choices -> confirm,
cancel and undo, with the exact rows written, the messages a user sees for bad input, and who
may do what. Contract, office and benchmark schedules (the code-mix path has its own tests).

Every figure is worked out by hand next to the file it comes from. Codes are fictional T-codes.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, date, datetime
from html import unescape
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from campaigns.accounts.models import AuditEvent, Practice, User
from campaigns.accounts.services import ServiceError
from campaigns.extensions import db
from campaigns.fees.imports import start_import
from campaigns.fees.models import (
    FeeLine,
    FeeSchedule,
    ImportBatch,
    ImportKind,
    ImportStatus,
    MappingProfile,
    ProcedureCode,
    ScheduleKind,
)
from tests.conftest import database, html_text, login
from tests.unit.importers.builders import ruled_pdf, xlsx_bytes

NEW = "/fees/imports/new"

# ---- files ----------------------------------------------------------------------------------

# A network's schedule with a two-line preamble, a blank line, a header on line 4, one code in
# three age bands, a negative amount, an 'N/C' row, a code with no code shape and a totals line.
ALPHA_CSV = (
    b"Alpha Dental PPO - provider fee schedule\n"  # line 1
    b"Effective 2026-03-01; amounts in US dollars\n"  # line 2
    b"\n"  # line 3: blank
    b"Code,Description,Max Allowance\n"  # line 4: the header
    b"T0120,Recall exam,$52.00\n"  # line 5
    b"T0150,New patient exam,$78.50\n"  # line 6
    b'T1120,"Child cleaning, age 0-13",$61.25\n'  # line 7: duplicate, first
    b'T1120,"Child cleaning, age 14-18",$64.50\n'  # line 8: duplicate, highest
    b'T1120,"Child cleaning, age 19+",$60.00\n'  # line 9: duplicate, lowest
    b'T2391,"Filling, 2 surfaces",$150.25\n'  # line 10
    b'T6010,Implant post,"$2,150.00"\n'  # line 11
    b"T7140,Simple extraction,(12.00)\n"  # line 12: rejected, negative
    b"T9110,Palliative visit,N/C\n"  # line 13: not covered
    b"X12,Night guard,$420.00\n"  # line 14: rejected, no code shape
    b'Total,,"$2,586.00"\n'  # line 15: totals line, skipped
)
# rows read = 8 with a code (5..11 and 13) + 2 rejected (12, 14) + 1 totals (15) = 11
ALPHA_FIRST = {"T0120": 5200, "T0150": 7850, "T1120": 6125, "T2391": 15025, "T6010": 215000}

# No header the parser knows ('Item', 'Wording', 'Pays $'), under a three-line preamble: only 4
# of the first 8 non-blank rows hold a code, too few to guess the columns from the values. One
# bare number (1110: the prefix T makes it T1110) and one amount that is not an amount.
UNNAMED_CSV = (
    b"Beta Network\n"
    b"Schedule for contracted providers\n"
    b"Prepared for North Office\n"
    b"Item,Wording,Pays $\n"  # line 4
    b"T0120,Recall exam,55.00\n"  # line 5
    b"T0220,Single x-ray,28.40\n"  # line 6
    b"1110,Adult cleaning,98.00\n"  # line 7: T1110 with prefix T
    b"T4910,Gum-maintenance cleaning,abc\n"  # line 8: rejected
)
UNNAMED_CENTS = {"T0120": 5500, "T0220": 2840, "T1110": 9800}

# Columns found, but the wrong amount: 'Office fee' names an amount, 'Plan pays' reads as a
# carrier column, so the office fee is taken until the user picks column 4.
WRONG_COLUMN_CSV = (
    b"Procedure,Description,Office fee,Plan pays\n"
    b"T0120,Recall exam,$75.00,$52.00\n"
    b"T1110,Adult cleaning,$128.00,$81.50\n"
    b"T2391,Filling 2 surfaces,$240.00,$150.25\n"
)
PLAN_PAYS = {"T0120": 5200, "T1110": 8150, "T2391": 15025}  # column 4, not the office fee

# Percentiles: three amount columns, one blank P90 (that code is missing from P90 only).
BENCHMARK_CSV = (
    b"Code,Description,P50,P80,P90\n"
    b"T0120,Recall exam,$61.00,$74.00,$82.50\n"
    b"T1110,Adult cleaning,$112.00,$131.25,\n"
    b'T2740,Ceramic crown,"$1,210.00","$1,405.00","$1,520.00"\n'
)


def office_xlsx() -> bytes:
    """A cover sheet, then the fee sheet: title rows, the header on row 6, amounts stored as
    numbers and as text."""
    book = Workbook()
    cover = book.active
    cover.title = "Cover"
    cover["A1"] = "North Office - usual and customary fees"
    cover["A3"] = "Exported for the fee review; see the next sheet."
    fees = book.create_sheet("Fees")
    fees["A1"] = "North Office"
    fees["A2"] = "Fee list as of March 2026"
    fees["A4"] = "Provider: all"
    fees.append([])  # row 5 stays blank
    fees["A6"], fees["B6"], fees["C6"] = "Procedure Code", "Description", "UCR Fee"
    fees.append(["T0120", "Recall exam", 75])  # row 7: an integer
    fees.append(["T0140", "Limited exam", "95.50"])  # row 8: a number stored as text
    fees.append(["T1110", "Adult cleaning", 128.5])  # row 9: a float
    fees.append(["T2740", "Ceramic crown", "$1,350.00"])  # row 10: text with $ and a comma
    return xlsx_bytes(book)


OFFICE_XLSX_CENTS = {"T0120": 7500, "T0140": 9550, "T1110": 12850, "T2740": 135000}

PDF_ROWS = [
    ("T0120", "Recall exam", "$52.00"),
    ("T0274", "Four bite-wings", "$61.80"),
    ("T2740", "Ceramic crown", "$1,012.00"),
    ("T3330", "Molar root canal", "$845.50"),
]
PDF_CENTS = {"T0120": 5200, "T0274": 6180, "T2740": 101200, "T3330": 84550}


def word_document() -> bytes:
    """The parts of a .docx that matter here: a zip with a Word document and no workbook."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document>Dear network,</document>")
    return buffer.getvalue()


# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture
def manager(client, world):
    """The client signed in as organisation A's manager (sees both practices)."""
    login(client, world.a.manager)
    return client


def upload(
    client,
    data: bytes | None,
    filename: str,
    *,
    practice_id: int,
    kind: str = "contract",
    contract_id: int | str = "",
):
    form = {"practice_id": str(practice_id), "kind": kind, "contract_id": str(contract_id)}
    if data is not None:
        form["file"] = (io.BytesIO(data), filename)
    return client.post(NEW, data=form, content_type="multipart/form-data")


def batch_id_of(response) -> int:
    assert response.status_code == 303, seen(response)[:800]
    match = re.search(r"/fees/imports/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match[1])


def upload_contract(client, world, data: bytes, filename: str, practice: int = 0) -> int:
    return batch_id_of(
        upload(
            client,
            data,
            filename,
            practice_id=world.a.practice_ids[practice],
            contract_id=world.a.contract_ids[practice],
        )
    )


def choices(**changes) -> dict[str, str]:
    """The preview form as a user leaves it: code, description and amount in columns 1-3."""
    return {
        "col_code": "0",
        "col_description": "1",
        "col_amount": "2",
        "header_row": "",
        "prefix": "T",
        "decimal_comma": "",
        "duplicates": "first",
        "label": "",
        "effective_from": "2026-03-01",
        "contract_id": "",
    } | {key: str(value) for key, value in changes.items()}


def seen(response) -> str:
    """What the user reads: tags removed, white space folded, entities decoded."""
    return unescape(html_text(response))


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table(response, *header: str) -> list[list[str]]:
    """The body rows of the page's table whose header row starts with `header`."""
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    for rows in parser.tables:
        if rows and tuple(rows[0][: len(header)]) == header:
            return rows[1:]
    raise AssertionError(f"no table headed {header}")


def field_error(response, field: str) -> str:
    """The message next to a field (the <small class="field-error"> in its label)."""
    html = response.get_data(as_text=True)
    match = re.search(
        rf'<label for="{field}">(?:(?!</label>).)*?<small class="field-error"[^>]*>([^<]*)</small>',
        html,
        re.S,
    )
    return unescape(match[1]) if match else ""


def counts(app) -> dict[str, int]:
    """Rows in the tables an import may write, over both organisations."""
    models = {
        "schedules": FeeSchedule,
        "lines": FeeLine,
        "codes": ProcedureCode,
        "profiles": MappingProfile,
        "batches": ImportBatch,
    }
    with database(app) as s:
        return {
            name: s.scalar(sa.select(sa.func.count()).select_from(model))
            for name, model in models.items()
        }


# build_world gives every contract one version with two lines, and no code descriptions; and
# every practice an office upload and a code-mix upload, both waiting ("office.csv",
# "volumes.csv"), which no test here touches
WORLD = {"schedules": 3, "lines": 6, "codes": 0, "profiles": 0, "batches": 6}
WORLD_FILES = ["volumes.csv", "office.csv"]  # one practice's, in the history's order


def imported(app, batch_id: int) -> list[dict]:
    """The schedule versions an import wrote, with their lines as {code: cents}."""
    with database(app) as s:
        schedules = s.scalars(
            sa.select(FeeSchedule)
            .where(FeeSchedule.import_batch_id == batch_id)
            .order_by(FeeSchedule.id)
        ).all()
        return [
            {
                "id": sched.id,
                "kind": sched.kind,
                "contract_id": sched.contract_id,
                "practice_id": sched.practice_id,
                "label": sched.label,
                "effective_from": sched.effective_from,
                "source": sched.source,
                "lines": {line.code: line.amount_cents for line in sched.lines},
            }
            for sched in schedules
        ]


def batch_state(app, batch_id: int) -> tuple[ImportStatus, bool, dict]:
    """(status, whether the upload is still kept, summary)."""
    with database(app) as s:
        batch = s.get(ImportBatch, batch_id)
        return batch.status, batch.data is not None, dict(batch.summary or {})


def add_codes(app, org_id: int, codes: dict[str, str]) -> None:
    from campaigns.codes import category

    with database(app) as s:
        for code, text in codes.items():
            s.add(
                ProcedureCode(
                    organization_id=org_id, code=code, description=text, category=category(code)
                )
            )


def code_table(app, org_id: int) -> dict[str, tuple[str, str]]:
    with database(app) as s:
        rows = s.scalars(
            sa.select(ProcedureCode).where(ProcedureCode.organization_id == org_id)
        ).all()
        return {pc.code: (pc.description, pc.category) for pc in rows}


# ---- upload -> preview ----------------------------------------------------------------------


def test_preview_lists_rows_rejected_duplicates_not_covered_and_the_header_writing_nothing(
    app, manager, world
):
    response = upload(
        manager,
        ALPHA_CSV,
        "alpha_schedule.csv",
        practice_id=world.a.practice_ids[0],
        contract_id=world.a.contract_ids[0],
    )
    batch_id = batch_id_of(response)
    page = manager.get(f"/fees/imports/{batch_id}")
    assert page.status_code == 200
    text = seen(page)
    assert "Import alpha_schedule.csv" in text
    for stat in (
        "11 rows read",
        "8 rows with a code",
        "2 rows rejected",
        "1 duplicate codes",
        "1 not covered / no amount",
    ):
        assert stat in text
    assert "header row 4: Code | Description | Max Allowance" in text
    assert table(page, "Where", "Cells", "Reason") == [
        ["line 12", "T7140 | Simple extraction | (12.00)", "negative amount '(12.00)'"],
        ["line 14", "X12 | Night guard | $420.00", "'X12' is not a procedure code"],
    ]
    assert table(page, "Code", "Rows") == [
        [
            "T1120",
            "line 7: $61.25 (Child cleaning, age 0-13); line 8: $64.50 (Child cleaning, "
            "age 14-18); line 9: $60.00 (Child cleaning, age 19+)",
        ]
    ]
    rows = table(page, "Where", "Code", "Description", "Amount", "Note")
    assert rows[0] == ["line 5", "T0120", "Recall exam", "$52.00", ""]
    assert ["line 11", "T6010", "Implant post", "$2,150.00", ""] in rows
    assert ["line 13", "T9110", "Palliative visit", "", "'N/C'"] in rows
    assert len(rows) == 8
    # the detected columns are the form's starting point; the contract is preselected
    html = page.get_data(as_text=True)
    assert re.search(r'id="col_amount".*?<option value="2" selected>3: Max Allowance', html, re.S)
    assert re.search(
        rf'id="contract_id".*?<option value="{world.a.contract_ids[0]}" selected>', html, re.S
    )
    assert "Confirm import" in text

    # nothing but the upload itself is stored before confirm, also after updating the preview
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}
    again = manager.post(
        f"/fees/imports/{batch_id}/preview",
        data=choices(contract_id=world.a.contract_ids[0], duplicates="highest"),
    )
    assert again.status_code == 200
    assert "11 rows read" in seen(again)
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept, summary) == (ImportStatus.UPLOADED, True, {})


def test_preview_update_by_htmx_returns_only_the_preview_section(manager, world):
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha_schedule.csv")
    response = manager.post(
        f"/fees/imports/{batch_id}/preview",
        data=choices(contract_id=world.a.contract_ids[0]),
        htmx=True,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="import-preview">')
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    assert "2 rows rejected" in seen(response)


# ---- fixing the column mapping -----------------------------------------------------------------


def test_unrecognised_columns_show_the_sample_and_a_hand_mapping_gives_the_rows(
    app, manager, world
):
    batch_id = upload_contract(manager, world, UNNAMED_CSV, "beta_fees.csv")
    page = manager.get(f"/fees/imports/{batch_id}")
    assert page.status_code == 200
    text = seen(page)
    assert (
        "No recognisable columns: the file needs a procedure code column ('Code', "
        "'Procedure') and an amount column ('Fee', 'Allowance', 'Amount'). Choose the columns "
        "by hand." in text
    )
    assert "The first rows of the file" in text
    parser = _Tables()
    parser.feed(page.get_data(as_text=True))
    assert parser.tables[-1][:5] == [
        ["Beta Network"],
        ["Schedule for contracted providers"],
        ["Prepared for North Office"],
        ["Item", "Wording", "Pays $"],
        ["T0120", "Recall exam", "55.00"],
    ]
    assert "Confirm import" not in text  # nothing to confirm yet
    assert "1: column 1" in text
    assert "3: column 3" in text

    form = choices(contract_id=world.a.contract_ids[0], label="Beta network 2026")
    updated = manager.post(f"/fees/imports/{batch_id}/preview", data=form)
    assert updated.status_code == 200
    text = seen(updated)
    assert "No recognisable columns" not in text
    assert "4 rows read" in text
    assert "3 rows with a code" in text
    assert "1 rows rejected" in text
    assert "header row 4: Item | Wording | Pays $" in text
    assert table(updated, "Where", "Cells", "Reason") == [
        ["line 8", "T4910 | Gum-maintenance cleaning | abc", "'abc' is not an amount"]
    ]
    assert table(updated, "Where", "Code", "Description", "Amount", "Note") == [
        ["line 5", "T0120", "Recall exam", "$55.00", ""],
        ["line 6", "T0220", "Single x-ray", "$28.40", ""],
        ["line 7", "T1110", "Adult cleaning", "$98.00", ""],
    ]
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}

    confirmed = manager.post(f"/fees/imports/{batch_id}/confirm", data=form)
    assert confirmed.status_code == 303
    [version] = imported(app, batch_id)
    assert confirmed.headers["Location"].endswith(f"/fees/{version['id']}")
    assert version["lines"] == UNNAMED_CENTS
    assert version["label"] == "Beta network 2026"
    assert version["contract_id"] == world.a.contract_ids[0]


# ---- confirm ----------------------------------------------------------------------------------


def test_confirm_writes_one_version_with_the_cents_and_the_code_descriptions(app, manager, world):
    add_codes(app, world.a.org_id, {"T0120": "", "T0150": "Comprehensive exam (ours)"})
    add_codes(app, world.b.org_id, {"T1120": "Beta's own text"})
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha_schedule.csv")
    before = counts(app)

    response = manager.post(
        f"/fees/imports/{batch_id}/confirm",
        data=choices(
            contract_id=world.a.contract_ids[0],
            label="Alpha PPO 2026",
            effective_from="2026-03-01",
        ),
    )
    assert response.status_code == 303
    [version] = imported(app, batch_id)
    assert response.headers["Location"].endswith(f"/fees/{version['id']}")
    assert version == {
        "id": version["id"],
        "kind": ScheduleKind.CONTRACT,
        "contract_id": world.a.contract_ids[0],
        "practice_id": world.a.practice_ids[0],
        "label": "Alpha PPO 2026",
        "effective_from": date(2026, 3, 1),
        "source": "Import of alpha_schedule.csv",
        "lines": ALPHA_FIRST,
    }
    # 5 lines; the 4 codes new to the table: T1120, T2391, T6010 and the not-covered T9110
    assert counts(app) == before | {
        "schedules": before["schedules"] + 1,
        "lines": before["lines"] + 5,
        "codes": before["codes"] + 4,
        "profiles": 1,
    }
    assert code_table(app, world.a.org_id) == {
        "T0120": ("Recall exam", "Diagnostic"),  # was empty: filled from the file
        "T0150": ("Comprehensive exam (ours)", "Diagnostic"),  # kept
        "T1120": ("Child cleaning, age 0-13", "Preventive"),  # the first row's description
        "T2391": ("Filling, 2 surfaces", "Restorative"),
        "T6010": ("Implant post", "Implants"),
        "T9110": ("Palliative visit", "Adjunctive"),
    }
    assert code_table(app, world.b.org_id) == {"T1120": ("Beta's own text", "Preventive")}

    status, kept, summary = batch_state(app, batch_id)
    assert status == ImportStatus.CONFIRMED
    assert kept is False  # the uploaded file is deleted
    assert summary == {
        "schedule_ids": [version["id"]],
        "codes": 5,
        "rows_read": 11,
        "rejected": 2,
        "duplicates": 1,
        "not_covered": 1,
        "new_codes": 4,
    }
    with database(app) as s:
        events = s.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.object_type == "ImportBatch", AuditEvent.object_id == batch_id
            )
        ).all()
        assert [(e.action, e.summary, e.user_id) for e in events] == [
            (
                "imported",
                "contract schedule from alpha_schedule.csv: 5 codes, effective 2026-03-01",
                world.a.user_ids[world.a.manager],
            )
        ]

    page = manager.get(response.headers["Location"])
    assert page.status_code == 200
    text = seen(page)
    assert "Imported 5 codes from alpha_schedule.csv." in text
    assert "Import of alpha_schedule.csv" in text
    assert table(page, "Code", "Description", "Category", "Amount") == [
        ["T0120", "Recall exam", "Diagnostic", "$52.00"],
        ["T0150", "Comprehensive exam (ours)", "Diagnostic", "$78.50"],
        ["T1120", "Child cleaning, age 0-13", "Preventive", "$61.25"],
        ["T2391", "Filling, 2 surfaces", "Restorative", "$150.25"],
        ["T6010", "Implant post", "Implants", "$2,150.00"],
    ]


@pytest.mark.parametrize(
    ("rule", "cents"),
    [("first", 6125), ("highest", 6450), ("lowest", 6000)],
)
def test_duplicate_codes_are_resolved_by_the_users_choice(app, manager, world, rule, cents):
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha_schedule.csv")
    response = manager.post(
        f"/fees/imports/{batch_id}/confirm",
        data=choices(contract_id=world.a.contract_ids[0], duplicates=rule),
    )
    assert response.status_code == 303
    [version] = imported(app, batch_id)
    assert version["lines"] == ALPHA_FIRST | {"T1120": cents}


def test_office_schedule_import(app, manager, world):
    csv = b"Code,Description,Office fee\nT0120,Recall exam,$75.00\nT1110,Adult cleaning,$128.00\n"
    batch_id = batch_id_of(
        upload(manager, csv, "office.csv", practice_id=world.a.practice_ids[1], kind="office")
    )
    page = manager.get(f"/fees/imports/{batch_id}")
    assert "The practice's office fees" in seen(page)
    assert 'id="contract_id"' not in page.get_data(as_text=True)  # no contract to choose
    response = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=choices(effective_from="2026-01-15")
    )
    assert response.status_code == 303
    assert imported(app, batch_id) == [
        {
            "id": imported(app, batch_id)[0]["id"],
            "kind": ScheduleKind.OFFICE,
            "contract_id": None,
            "practice_id": world.a.practice_ids[1],
            "label": "Office fees",
            "effective_from": date(2026, 1, 15),
            "source": "Import of office.csv",
            "lines": {"T0120": 7500, "T1110": 12800},
        }
    ]


def test_benchmark_columns_each_become_a_benchmark_schedule(app, manager, world):
    batch_id = batch_id_of(
        upload(
            manager,
            BENCHMARK_CSV,
            "region_2025.csv",
            practice_id=world.a.practice_ids[0],
            kind="benchmark",
        )
    )
    page = manager.get(f"/fees/imports/{batch_id}")
    assert table(page, "Where", "Code", "Description", "P50", "P80", "P90") == [
        ["line 2", "T0120", "Recall exam", "$61.00", "$74.00", "$82.50", ""],
        ["line 3", "T1110", "Adult cleaning", "$112.00", "$131.25", "", ""],
        ["line 4", "T2740", "Ceramic crown", "$1,210.00", "$1,405.00", "$1,520.00", ""],
    ]
    html = page.get_data(as_text=True)
    selected = re.search(r'<select id="col_amounts".*?</select>', html, re.S)[0]
    assert re.findall(r'value="(\d+)" selected', selected) == ["2", "3", "4"]

    form = choices(label="Texas 2025", effective_from="2025-07-01") | {
        "col_amounts": ["2", "3", "4"]
    }
    response = manager.post(f"/fees/imports/{batch_id}/confirm", data=form)
    assert response.status_code == 303
    versions = imported(app, batch_id)
    assert response.headers["Location"].endswith(f"/fees/{versions[0]['id']}")
    assert [(v["label"], v["kind"], v["contract_id"], v["lines"]) for v in versions] == [
        (
            "Texas 2025 P50",
            ScheduleKind.BENCHMARK,
            None,
            {"T0120": 6100, "T1110": 11200, "T2740": 121000},
        ),
        (
            "Texas 2025 P80",
            ScheduleKind.BENCHMARK,
            None,
            {"T0120": 7400, "T1110": 13125, "T2740": 140500},
        ),
        ("Texas 2025 P90", ScheduleKind.BENCHMARK, None, {"T0120": 8250, "T2740": 152000}),
    ]
    assert {(v["effective_from"], v["source"]) for v in versions} == {
        (date(2025, 7, 1), "Import of region_2025.csv")
    }
    assert batch_state(app, batch_id)[2]["schedule_ids"] == [v["id"] for v in versions]


def test_xlsx_with_a_cover_sheet_and_the_header_on_row_6(app, manager, world):
    batch_id = batch_id_of(
        upload(
            manager,
            office_xlsx(),
            "north_fees.xlsx",
            practice_id=world.a.practice_ids[0],
            kind="office",
        )
    )
    page = manager.get(f"/fees/imports/{batch_id}")
    text = seen(page)
    assert "XLSX · sheet Fees · header row 6: Procedure Code | Description | UCR Fee" in text
    assert "4 rows read" in text
    assert "0 rows rejected" in text
    assert table(page, "Where", "Code", "Description", "Amount") == [
        ["row 7", "T0120", "Recall exam", "$75.00", ""],
        ["row 8", "T0140", "Limited exam", "$95.50", ""],
        ["row 9", "T1110", "Adult cleaning", "$128.50", ""],
        ["row 10", "T2740", "Ceramic crown", "$1,350.00", ""],
    ]
    html = page.get_data(as_text=True)
    assert re.search(r'<select id="sheet".*?<option selected>Fees</option>', html, re.S)
    response = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=choices(sheet="Fees", header_row="6")
    )
    assert response.status_code == 303
    [version] = imported(app, batch_id)
    assert (version["kind"], version["lines"]) == (ScheduleKind.OFFICE, OFFICE_XLSX_CENTS)


def test_ruled_pdf_table(app, manager, world):
    pdf = ruled_pdf(PDF_ROWS, ("Code", "Description", "Allowance"), "Gamma network fee schedule")
    batch_id = upload_contract(manager, world, pdf, "gamma.pdf", practice=1)
    page = manager.get(f"/fees/imports/{batch_id}")
    text = seen(page)
    assert "PDF · 1 page(s)" in text
    assert "4 rows read" in text
    assert "0 rows rejected" in text
    assert [row[1:4] for row in table(page, "Where", "Code", "Description", "Amount")] == [
        list(row) for row in PDF_ROWS
    ]
    response = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=choices(contract_id=world.a.contract_ids[1])
    )
    assert response.status_code == 303
    [version] = imported(app, batch_id)
    assert version["lines"] == PDF_CENTS
    assert (version["contract_id"], version["practice_id"], version["source"]) == (
        world.a.contract_ids[1],
        world.a.practice_ids[1],
        "Import of gamma.pdf",
    )


# ---- mapping profiles -----------------------------------------------------------------------


def test_a_confirmed_mapping_is_applied_to_the_next_file_of_the_same_contract(app, manager, world):
    first = upload_contract(manager, world, WRONG_COLUMN_CSV, "alpha_jan.csv")
    page = manager.get(f"/fees/imports/{first}")
    assert table(page, "Where", "Code", "Description", "Amount")[0][3] == "$75.00"  # office fee
    assert "last time is applied" not in seen(page)
    form = choices(contract_id=world.a.contract_ids[0], col_amount="3")
    assert manager.post(f"/fees/imports/{first}/confirm", data=form).status_code == 303
    assert imported(app, first)[0]["lines"] == PLAN_PAYS

    second = upload_contract(manager, world, WRONG_COLUMN_CSV, "alpha_jul.csv")
    page = manager.get(f"/fees/imports/{second}")
    text = seen(page)
    assert "The column mapping you confirmed for this source last time is applied." in text
    assert [row[3] for row in table(page, "Where", "Code", "Description", "Amount")] == [
        "$52.00",
        "$81.50",
        "$150.25",
    ]
    html = page.get_data(as_text=True)
    assert re.search(r'id="col_amount".*?<option value="3" selected>4: Plan pays', html, re.S)
    # the user confirms what the page shows (the browser sends the selected columns)
    assert (
        manager.post(
            f"/fees/imports/{second}/confirm",
            data=choices(contract_id=world.a.contract_ids[0], col_amount="3"),
        ).status_code
        == 303
    )
    assert imported(app, second)[0]["lines"] == PLAN_PAYS

    # another contract is another source: its file is read as detected
    other = upload_contract(manager, world, WRONG_COLUMN_CSV, "south.csv", practice=1)
    page = manager.get(f"/fees/imports/{other}")
    assert "last time is applied" not in seen(page)
    assert [row[3] for row in table(page, "Where", "Code", "Description", "Amount")] == [
        "$75.00",
        "$128.00",
        "$240.00",
    ]


def test_a_hand_mapping_for_an_unrecognised_header_is_applied_next_time(app, manager, world):
    first = upload_contract(manager, world, UNNAMED_CSV, "beta_q1.csv")
    form = choices(contract_id=world.a.contract_ids[0])
    assert manager.post(f"/fees/imports/{first}/confirm", data=form).status_code == 303

    second = upload_contract(manager, world, UNNAMED_CSV, "beta_q2.csv")
    page = manager.get(f"/fees/imports/{second}")
    text = seen(page)
    assert "No recognisable columns" not in text
    assert "The column mapping you confirmed for this source last time is applied." in text
    assert [row[1:4] for row in table(page, "Where", "Code", "Description", "Amount")] == [
        ["T0120", "Recall exam", "$55.00"],
        ["T0220", "Single x-ray", "$28.40"],
        ["T1110", "Adult cleaning", "$98.00"],
    ]
    html = page.get_data(as_text=True)
    assert re.search(r'id="prefix"[^>]*value="T"', html)


# ---- confirm once, cancel, undo ------------------------------------------------------------


def test_a_second_confirm_is_refused_and_writes_nothing(app, manager, world):
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha_schedule.csv")
    form = choices(contract_id=world.a.contract_ids[0])
    assert manager.post(f"/fees/imports/{batch_id}/confirm", data=form).status_code == 303
    after_first = counts(app)

    again = manager.post(f"/fees/imports/{batch_id}/confirm", data=form)
    assert again.status_code == 422
    assert "This import was already confirmed; nothing changed." in seen(again)
    assert counts(app) == after_first
    assert len(imported(app, batch_id)) == 1
    with database(app) as s:
        actions = s.scalars(
            sa.select(AuditEvent.action).where(
                AuditEvent.object_type == "ImportBatch", AuditEvent.object_id == batch_id
            )
        ).all()
    assert actions == ["imported"]


def test_cancel_deletes_the_upload_and_a_later_confirm_is_refused(app, manager, world):
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha_schedule.csv")
    response = manager.post(f"/fees/imports/{batch_id}/cancel")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/fees/imports")
    history = manager.get(response.headers["Location"])
    assert "The import of alpha_schedule.csv is cancelled; the file is deleted." in seen(history)
    assert table(history, "When", "File")[0][1:5] == [
        "alpha_schedule.csv",
        world.a.practice_names[0],
        "contract",
        "cancelled",
    ]
    assert batch_state(app, batch_id)[:2] == (ImportStatus.CANCELLED, False)

    late = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=choices(contract_id=world.a.contract_ids[0])
    )
    assert late.status_code == 422
    assert "This import was already cancelled; nothing changed." in seen(late)
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}
    again = manager.post(f"/fees/imports/{batch_id}/cancel", follow_redirects=True)
    assert "This import was already confirmed or cancelled; nothing changed." in seen(again)


def test_undo_removes_the_versions_and_lines_once(app, manager, world):
    batch_id = batch_id_of(
        upload(
            manager,
            BENCHMARK_CSV,
            "region.csv",
            practice_id=world.a.practice_ids[0],
            kind="benchmark",
        )
    )
    form = choices(label="Texas") | {"col_amounts": ["2", "3", "4"]}
    assert manager.post(f"/fees/imports/{batch_id}/confirm", data=form).status_code == 303
    written = counts(app)
    assert (written["schedules"], written["lines"]) == (3 + 3, 6 + 8)
    ids = batch_state(app, batch_id)[2]["schedule_ids"]

    history = manager.get("/fees/imports")
    assert "Undo" in table(history, "When", "File")[0][-1]
    response = manager.post(f"/fees/imports/{batch_id}/undo")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/fees/imports")
    page = manager.get("/fees/imports")
    assert "The import of region.csv is undone." in seen(page)
    assert table(page, "When", "File")[0][4] == "undone"
    assert imported(app, batch_id) == []
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count()).where(FeeSchedule.id.in_(ids))) == 0
        assert s.scalar(sa.select(sa.func.count()).where(FeeLine.schedule_id.in_(ids))) == 0
        events = s.execute(
            sa.select(AuditEvent.action, AuditEvent.summary)
            .where(AuditEvent.object_type == "ImportBatch", AuditEvent.object_id == batch_id)
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events][1] == (
        "undone",
        "import of region.csv: removed 3 schedule version(s) and 0 volume row(s)",
    )
    assert counts(app) == written | {"schedules": 3, "lines": 6}
    assert batch_state(app, batch_id)[0] == ImportStatus.UNDONE
    for sid in ids:
        assert manager.get(f"/fees/{sid}").status_code == 404

    again = manager.post(f"/fees/imports/{batch_id}/undo", follow_redirects=True)
    assert again.status_code == 200
    assert "Only a confirmed import can be undone." in seen(again)
    assert counts(app) == written | {"schedules": 3, "lines": 6}


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "alpha.csv", "alpha.csv is empty: it has no rows to import."),
        (None, "", "Choose a file to upload."),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "fees.xls",
         "This is an old Excel (.xls) file. Save it as .xlsx or CSV and upload it again."),
        (bytes(range(256)) * 4, "fees.bin", "Upload a CSV, Excel (.xlsx) or PDF file."),
        (word_document(), "letter.docx",
         "letter.docx is not an Excel workbook. Upload a CSV, Excel (.xlsx) or PDF file."),
    ],
    ids=["empty", "no-file", "xls", "binary", "docx"],
)  # fmt: skip
def test_a_file_that_cannot_be_a_schedule_is_refused_at_upload(
    app, manager, world, data, filename, message
):
    response = upload(
        manager,
        data,
        filename,
        practice_id=world.a.practice_ids[0],
        contract_id=world.a.contract_ids[0],
    )
    assert response.status_code == 422
    assert field_error(response, "file") == message
    assert "Traceback" not in response.get_data(as_text=True)
    assert counts(app) == WORLD


def test_a_binary_file_named_csv_shows_why_on_the_preview_and_cannot_be_confirmed(
    app, manager, world
):
    noise = bytes(range(256)) * 8
    batch_id = upload_contract(manager, world, noise, "fees.csv")
    page = manager.get(f"/fees/imports/{batch_id}")
    assert page.status_code == 200
    assert "This is not a text file (it contains binary data)." in seen(page)
    assert "Confirm import" not in seen(page)
    response = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=choices(contract_id=world.a.contract_ids[0])
    )
    assert response.status_code == 422
    assert "This is not a text file (it contains binary data)." in seen(response)
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}


def test_an_upload_over_the_request_limit_gets_the_file_too_large_page(
    app, manager, world, monkeypatch
):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    big = b"Code,Fee\n" + b"T0120,$52.00\n" * 1000
    response = upload(
        manager,
        big,
        "big.csv",
        practice_id=world.a.practice_ids[0],
        contract_id=world.a.contract_ids[0],
    )
    assert response.status_code == 413
    text = seen(response)
    assert "File too large" in text
    assert "The upload is larger than the limit." in text
    assert counts(app) == WORLD


def test_the_service_limit_names_the_size_and_the_limit(app, world):
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == world.a.manager))
        practice = db.session.get(Practice, world.a.practice_ids[0])
        with pytest.raises(ServiceError) as refused:
            start_import(
                user,
                practice,
                ImportKind.OFFICE,
                "big.csv",
                b"T0120,$52.00\n" * 121_000,  # 1,573,000 bytes
                1_048_576,
                datetime(2026, 3, 1, tzinfo=UTC),
            )
        db.session.rollback()
    assert str(refused.value) == "big.csv is 1.5 MB; the limit is 1 MB."
    assert counts(app) == WORLD


def test_a_contract_of_another_practice_or_organisation_is_refused(app, manager, world):
    other_practice = upload(
        manager,
        ALPHA_CSV,
        "alpha.csv",
        practice_id=world.a.practice_ids[0],
        contract_id=world.a.contract_ids[1],
    )
    assert other_practice.status_code == 422
    assert field_error(other_practice, "contract_id") == (
        "That contract belongs to another practice."
    )
    other_org = upload(
        manager,
        ALPHA_CSV,
        "alpha.csv",
        practice_id=world.a.practice_ids[0],
        contract_id=world.b.contract_ids[0],
    )
    assert other_org.status_code == 404
    other_org_practice = upload(
        manager, ALPHA_CSV, "alpha.csv", practice_id=world.b.practice_ids[0], kind="office"
    )
    assert other_org_practice.status_code == 404
    no_contract = upload(manager, ALPHA_CSV, "alpha.csv", practice_id=world.a.practice_ids[0])
    assert no_contract.status_code == 422
    assert field_error(no_contract, "contract_id") == (
        "Choose the contract this schedule belongs to."
    )
    assert counts(app) == WORLD

    # on the preview, a contract outside the batch's practice or organisation is not found
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha.csv")
    for contract_id in (world.a.contract_ids[1], world.b.contract_ids[0]):
        for action in ("preview", "confirm"):
            response = manager.post(
                f"/fees/imports/{batch_id}/{action}", data=choices(contract_id=contract_id)
            )
            assert response.status_code == 404, (action, contract_id)
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}


def test_a_date_that_is_not_a_date_and_a_prefix_that_is_not_a_letter(app, manager, world):
    batch_id = upload_contract(manager, world, ALPHA_CSV, "alpha.csv")
    contract = world.a.contract_ids[0]
    for bad in ("2026-02-30", "next month"):
        response = manager.post(
            f"/fees/imports/{batch_id}/confirm",
            data=choices(contract_id=contract, effective_from=bad),
        )
        assert response.status_code == 422
        assert field_error(response, "effective_from") == "Enter a date."
    missing = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=choices(contract_id=contract, effective_from="")
    )
    assert missing.status_code == 422
    assert "Enter the date the schedule takes effect." in seen(missing)

    for action in ("preview", "confirm"):
        response = manager.post(
            f"/fees/imports/{batch_id}/{action}", data=choices(contract_id=contract, prefix="7")
        )
        assert response.status_code == 422
        assert field_error(response, "prefix") == "The prefix is one letter."
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}
    assert batch_state(app, batch_id)[:2] == (ImportStatus.UPLOADED, True)


# ---- roles and tenancy --------------------------------------------------------------------------


def test_a_viewer_sees_imports_and_previews_but_cannot_change_them(app, client, world):
    login(client, world.a.manager)
    waiting = upload_contract(client, world, ALPHA_CSV, "alpha.csv")
    done = upload_contract(client, world, WRONG_COLUMN_CSV, "done.csv")
    form = choices(contract_id=world.a.contract_ids[0])
    assert client.post(f"/fees/imports/{done}/confirm", data=form).status_code == 303
    client.post("/logout")
    before = counts(app)

    login(client, world.a.viewer)
    history = client.get("/fees/imports")
    assert history.status_code == 200
    assert [row[1] for row in table(history, "When", "File")] == [
        "done.csv",
        "alpha.csv",
        *WORLD_FILES * 2,  # the world's uploads, both practices, the latest first
    ]
    assert "Undo" not in seen(history)
    assert "Import a file" not in seen(history)
    page = client.get(f"/fees/imports/{waiting}")
    assert page.status_code == 200
    assert "2 rows rejected" in seen(page)
    assert client.get(NEW).status_code == 403
    refused = upload(
        client,
        ALPHA_CSV,
        "alpha.csv",
        practice_id=world.a.practice_ids[0],
        contract_id=world.a.contract_ids[0],
    )
    assert refused.status_code == 403
    assert client.post(f"/fees/imports/{waiting}/preview", data=form).status_code == 403
    assert client.post(f"/fees/imports/{waiting}/confirm", data=form).status_code == 403
    assert client.post(f"/fees/imports/{waiting}/cancel").status_code == 403
    assert client.post(f"/fees/imports/{done}/undo").status_code == 403
    assert counts(app) == before
    assert batch_state(app, waiting)[:2] == (ImportStatus.UPLOADED, True)
    assert batch_state(app, done)[0] == ImportStatus.CONFIRMED


def test_another_organisations_batch_is_not_found_on_any_import_route(app, client, world):
    login(client, world.a.manager)
    waiting = upload_contract(client, world, ALPHA_CSV, "alpha.csv")
    done = upload_contract(client, world, WRONG_COLUMN_CSV, "done.csv")
    form = choices(contract_id=world.a.contract_ids[0])
    assert client.post(f"/fees/imports/{done}/confirm", data=form).status_code == 303
    client.post("/logout")
    before = counts(app)

    for email in (world.b.owner, world.b.manager, world.b.viewer):
        login(client, email)
        for batch_id in (waiting, done):
            assert client.get(f"/fees/imports/{batch_id}").status_code == 404
        if email != world.b.viewer:
            for action in ("preview", "confirm", "cancel"):
                url = f"/fees/imports/{waiting}/{action}"
                assert client.post(url, data=form).status_code == 404, (email, action)
            assert client.post(f"/fees/imports/{done}/undo").status_code == 404
        history = client.get("/fees/imports")
        assert "alpha.csv" not in seen(history)
        assert "done.csv" not in seen(history)
        client.post("/logout")
    assert counts(app) == before
    assert batch_state(app, waiting)[:2] == (ImportStatus.UPLOADED, True)
    assert batch_state(app, done)[0] == ImportStatus.CONFIRMED


def test_a_manager_limited_to_one_practice_does_not_see_the_other_practices_batch(
    app, client, world
):
    login(client, world.a.manager)
    south = upload_contract(client, world, ALPHA_CSV, "south.csv", practice=1)
    north = upload_contract(client, world, ALPHA_CSV, "north.csv", practice=0)
    client.post("/logout")

    login(client, world.a.manager1)
    assert client.get(f"/fees/imports/{north}").status_code == 200
    assert client.get(f"/fees/imports/{south}").status_code == 404
    form = choices(contract_id=world.a.contract_ids[1])
    for action in ("preview", "confirm", "cancel", "undo"):
        assert client.post(f"/fees/imports/{south}/{action}", data=form).status_code == 404
    history = client.get("/fees/imports")
    assert [row[1] for row in table(history, "When", "File")] == ["north.csv", *WORLD_FILES]
    # nor upload for it
    refused = upload(
        client,
        ALPHA_CSV,
        "alpha.csv",
        practice_id=world.a.practice_ids[1],
        contract_id=world.a.contract_ids[1],
    )
    assert refused.status_code == 404
    assert batch_state(app, south)[:2] == (ImportStatus.UPLOADED, True)
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 2}


def test_a_failed_confirm_writes_nothing_and_leaves_the_import_open(app, manager, world):
    # P90 is blank on every row: P50 and P80 are written first, then P90 has no amount at all
    csv = b"Code,P50,P80,P90\nT0120,$61.00,$74.00,\nT1110,$112.00,$131.25,\n"
    batch_id = batch_id_of(
        upload(manager, csv, "partial.csv", practice_id=world.a.practice_ids[0], kind="benchmark")
    )
    form = choices(col_description="", col_amount="1") | {"col_amounts": ["1", "2", "3"]}
    response = manager.post(f"/fees/imports/{batch_id}/confirm", data=form)
    assert response.status_code == 422
    assert "No row has both a code and an amount: check the columns." in seen(response)
    assert counts(app) == WORLD | {"batches": WORLD["batches"] + 1}
    assert batch_state(app, batch_id) == (ImportStatus.UPLOADED, True, {})
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.object_type == "ImportBatch")) == 0  # fmt: skip

    # the same upload, with the columns that hold amounts, still confirms
    form = choices(col_description="", col_amount="1") | {"col_amounts": ["1", "2"]}
    assert manager.post(f"/fees/imports/{batch_id}/confirm", data=form).status_code == 303
    assert [v["lines"] for v in imported(app, batch_id)] == [
        {"T0120": 6100, "T1110": 11200},
        {"T0120": 7400, "T1110": 13125},
    ]

"""The code-mix (volumes) import through the web: upload -> counts per carrier, code and month
-> carriers matched to payers (remembered) -> confirm writes volume rows, replacing older rows
of the same practice, payer and overlapping period -> undo. Procedure-level exports carry
patient columns: no patient value may reach a page or the database. Large files are counted by
the background worker while the page shows a progress bar.

Every figure is worked out by hand next to the file it comes from. Codes are fictional T-codes;
the patients are invented.
"""

from __future__ import annotations

import io
import re
from datetime import date
from html import unescape
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import AuditEvent
from campaigns.extensions import db
from campaigns.fees.models import (
    CarrierAlias,
    CodeVolume,
    ImportBatch,
    ImportStatus,
    ProcedureCode,
)
from campaigns.jobs.models import Job, JobStatus
from campaigns.payers.models import Payer
from tests.conftest import database, html_text, login

NEW = "/fees/imports/new"

# ---- files ----------------------------------------------------------------------------------

# A procedure-level export: one row per procedure, with two patient columns.
PROCEDURES_CSV = (
    b"Date,Code,Carrier,PatNum,Patient Name\n"  # line 1: the header
    b"2026-01-05,T0120,ALPHA DENTAL PAYER,9071533,Harriet Quillfeather\n"  # 2
    b"2026-01-19,T1110,ALPHA DENTAL PAYER,9071533,Harriet Quillfeather\n"  # 3
    b"2026-01-20,T0120,Gamma Hlth Ins Co,9084410,Bartholomew Fenwickshire\n"  # 4
    b"2026-02-02,T0120,ALPHA DENTAL PAYER,9084410,Bartholomew Fenwickshire\n"  # 5
    b"2026-02-17,T0120,ALPHA DENTAL PAYER,9096627,Ottoline Brackenbury\n"  # 6
    b"2026-02-17,T2391,Gamma Hlth Ins Co,9096627,Ottoline Brackenbury\n"  # 7
    b"2026-03-03,T1110,ALPHA DENTAL PAYER,9071533,Harriet Quillfeather\n"  # 8
    b"2026-03-30,T2391,Omega Benefits,9084410,Bartholomew Fenwickshire\n"  # 9
    b"2026-03-31,X12,ALPHA DENTAL PAYER,9096627,Ottoline Brackenbury\n"  # 10: not a code
    b"2026-02-30,T0120,Gamma Hlth Ins Co,9071533,Harriet Quillfeather\n"  # 11: not a date
    b"Total procedures,,,,\n"  # 12: totals line, skipped
)
# counted: 8 rows (2-9); rejected 2 (10, 11); skipped 1 (12) -> 11 rows read
# carriers: ALPHA DENTAL PAYER 5 (2, 3, 5, 6, 8), Gamma Hlth Ins Co 2 (4, 7), Omega Benefits 1 (9)
# codes: T0120 4 (2, 4, 5, 6), T1110 2 (3, 8), T2391 2 (7, 9); months Jan, Feb, Mar 2026
PATIENT_VALUES = (
    "9071533",
    "9084410",
    "9096627",
    "Harriet",
    "Quillfeather",
    "Bartholomew",
    "Fenwickshire",
    "Ottoline",
    "Brackenbury",
)

# A PMS code-mix report by carrier: counts, descriptions, no dates.
CODE_MIX_CSV = (
    b"Code,Description,Carrier,Count\n"  # line 1
    b"T0120,Recall exam,Alpha Dental Payer,41\n"  # 2
    b"T1110,Adult cleaning,Alpha Dental Payer,37\n"  # 3
    b"T2391,Filling two surfaces,Alpha Dental Payer,12\n"  # 4
    b"T0120,Recall exam,Gamma Health,9\n"  # 5
    b"T2740,Ceramic crown,Gamma Health,n/a\n"  # 6: rejected, not a count
    b"Total,,,99\n"  # 7: totals line, skipped
)
# Alpha Dental Payer 41 + 37 + 12 = 90, Gamma Health 9 -> 99 procedures; 6 rows read


def procedures(*rows: str, header: str = "Date,Code,Carrier,PatNum") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture
def gamma(app, world) -> int:
    """A second payer of organisation A, 'Gamma Health' (its id)."""
    return add_payer(app, world.a.org_id, "Gamma Health")


@pytest.fixture
def manager(client, world):
    login(client, world.a.manager)
    return client


def add_payer(app, org_id: int, name: str) -> int:
    with database(app) as s:
        payer = Payer(organization_id=org_id, name=name, payer_id="")
        s.add(payer)
        s.flush()
        return payer.id


def upload(client, data: bytes, filename: str, practice_id: int):
    form = {
        "practice_id": str(practice_id),
        "kind": "volumes",
        "contract_id": "",
        "file": (io.BytesIO(data), filename),
    }
    return client.post(NEW, data=form, content_type="multipart/form-data")


def batch_id_of(response) -> int:
    assert response.status_code == 303, seen(response)[:800]
    match = re.search(r"/fees/imports/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match[1])


def upload_batch(client, world, data: bytes, filename: str, practice: int = 0) -> int:
    return batch_id_of(upload(client, data, filename, world.a.practice_ids[practice]))


def seen(response) -> str:
    return unescape(html_text(response))


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._in_option = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "option":
            self._in_option = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "option":
            self._in_option = False

    def handle_data(self, data):
        if self._cell is not None and not self._in_option:
            self._cell.append(data)


def table(response, *header: str) -> list[list[str]]:
    """The body rows of the page's table whose header row starts with `header` (the text of
    <option>s is left out, so a cell with a <select> reads empty)."""
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    for rows in parser.tables:
        if rows and tuple(rows[0][: len(header)]) == header:
            return rows[1:]
    raise AssertionError(f"no table headed {header}")


def carriers_shown(response) -> list[tuple[str, int]]:
    return [(row[0], int(row[1])) for row in table(response, "Carrier in the file", "Procedures")]


def selected(response, index: int) -> str:
    """The value preselected in the payer choice of carrier `index` ('' when none)."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<select id="carrier-{index}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no payer choice for carrier {index}"
    chosen = re.findall(r'<option value="([^"]*)"\s+selected', match[1])
    assert len(chosen) <= 1, chosen
    return chosen[0] if chosen else ""


def stats(response) -> dict[str, str]:
    """The figures above the carrier table: {label: figure}, e.g. {"rows read": "11"}."""
    html = response.get_data(as_text=True)
    found = re.findall(r'<article><span class="stat">([^<]*)</span>([^<]*)</article>', html)
    return {label.strip(): unescape(figure).strip() for figure, label in found}


def carrier_form(*choices: int | str, **extra: str) -> dict[str, str]:
    """The confirm form: carrier-<i> for each choice (a payer id, 'skip' or '')."""
    form = {f"carrier-{i}": str(choice) for i, choice in enumerate(choices)}
    return form | {"prefix": "T"} | extra


def volume_rows(app) -> list[tuple]:
    """Every volume row: (practice, payer, code, first day, last day, count, batch)."""
    with database(app) as s:
        return sorted(
            (v.practice_id, v.payer_id, v.code, v.period_start, v.period_end, v.count,
             v.import_batch_id)
            for v in s.scalars(sa.select(CodeVolume))
        )  # fmt: skip


def aliases(app) -> set[tuple[int, str, int]]:
    with database(app) as s:
        return {(a.organization_id, a.name, a.payer_id) for a in s.scalars(sa.select(CarrierAlias))}


def batch_state(app, batch_id: int) -> tuple[ImportStatus, bool, dict]:
    """(status, whether the upload is still kept, summary)."""
    with database(app) as s:
        batch = s.get(ImportBatch, batch_id)
        return batch.status, batch.data is not None, dict(batch.summary or {})


def database_text(app) -> str:
    """Every row of every table as text (binary columns decoded), to search for a value."""
    parts = []
    with database(app) as s:
        for table_ in db.metadata.sorted_tables:
            for row in s.execute(table_.select()):
                cells = []
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        value = bytes(value).decode("latin-1")
                    cells.append(str(value))
                parts.append(f"{table_.name}: " + " | ".join(cells))
    return "\n".join(parts)


def assert_no_patient_value(text: str) -> None:
    leaked = [value for value in PATIENT_VALUES if value in text]
    assert not leaked, leaked


def month(year: int, number: int) -> tuple[date, date]:
    first = date(year, number, 1)
    last = date(year + number // 12, number % 12 + 1, 1)
    return first, date.fromordinal(last.toordinal() - 1)


# ---- a procedure-level export ------------------------------------------------------------------


def test_a_procedure_level_export_is_counted_and_no_patient_value_is_kept(
    app, manager, world, gamma
):
    alpha = world.a.payer_id
    north = world.a.practice_ids[0]
    response = upload(manager, PROCEDURES_CSV, "procedures.csv", north)
    batch_id = batch_id_of(response)
    assert_no_patient_value(response.get_data(as_text=True))

    # counted at upload (small file): the file is gone, only the counts remain
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.UPLOADED, False)
    aggregate = summary["aggregate"]
    assert aggregate["file_deleted"] is True
    assert aggregate["ignored_columns"] == ["PatNum", "Patient Name"]
    assert_no_patient_value(database_text(app))

    page = manager.get(f"/fees/imports/{batch_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert_no_patient_value(html)
    assert stats(page) == {
        "rows read": "11",
        "procedures counted": "8",
        "rows rejected": "2",
        "codes": "3",
        "months": "3",
    }
    text = seen(page)
    assert "From Jan 2026 to Mar 2026." in text
    assert "the columns PatNum, Patient Name were never read" in text
    assert table(page, "Where", "Cells", "Reason") == [
        [
            "line 10",
            "2026-03-31 | X12 | ALPHA DENTAL PAYER | [hidden] | [hidden]",
            "'X12' is not a procedure code",
        ],
        [
            "line 11",
            "2026-02-30 | T0120 | Gamma Hlth Ins Co | [hidden] | [hidden]",
            "'2026-02-30' is not a date",
        ],
    ]
    assert carriers_shown(page) == [
        ("ALPHA DENTAL PAYER", 5),
        ("Gamma Hlth Ins Co", 2),
        ("Omega Benefits", 1),
    ]
    assert table(page, "Code", "Description", "Procedures") == [
        ["T0120", "", "4"],
        ["T1110", "", "2"],
        ["T2391", "", "2"],
    ]
    # the columns cannot be chosen again: the file is deleted
    assert 'name="col_code"' not in html
    # "ALPHA DENTAL PAYER" is the payer "Alpha Dental Payer"; the other two are for the user
    assert [selected(page, i) for i in range(3)] == [str(alpha), "", ""]
    assert volume_rows(app) == []

    confirm = manager.post(
        f"/fees/imports/{batch_id}/confirm", data=carrier_form(alpha, gamma, "skip")
    )
    assert confirm.status_code == 303, seen(confirm)[:800]
    assert confirm.headers["Location"].endswith("/fees/imports")
    history = manager.get("/fees/imports")
    assert "Imported 7 procedures over 3 codes from procedures.csv." in seen(history)
    assert_no_patient_value(history.get_data(as_text=True))

    jan, feb, mar = month(2026, 1), month(2026, 2), month(2026, 3)
    assert volume_rows(app) == sorted(
        [
            (north, alpha, "T0120", *jan, 1, batch_id),
            (north, alpha, "T1110", *jan, 1, batch_id),
            (north, alpha, "T0120", *feb, 2, batch_id),
            (north, alpha, "T1110", *mar, 1, batch_id),
            (north, gamma, "T0120", *jan, 1, batch_id),
            (north, gamma, "T2391", *feb, 1, batch_id),
        ]
    )
    assert jan == (date(2026, 1, 1), date(2026, 1, 31))
    assert feb == (date(2026, 2, 1), date(2026, 2, 28))
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.CONFIRMED, False)
    assert {k: summary[k] for k in ("codes", "rows", "procedures", "replaced", "new_codes")} == {
        "codes": 3,
        "rows": 6,
        "procedures": 7,
        "replaced": 0,
        "new_codes": 3,
    }
    # the codes join the organisation's code table, without descriptions (none in the file)
    with database(app) as s:
        codes = s.execute(
            sa.select(ProcedureCode.code, ProcedureCode.description)
            .where(ProcedureCode.organization_id == world.a.org_id)
            .order_by(ProcedureCode.code)
        ).all()
    assert [tuple(c) for c in codes] == [("T0120", ""), ("T1110", ""), ("T2391", "")]
    assert_no_patient_value(database_text(app))

    done = manager.get(f"/fees/imports/{batch_id}")
    assert "This import is confirmed" in seen(done)
    assert "7 procedures over 3 codes in 6 volume rows; 0 older rows replaced." in seen(done)
    assert_no_patient_value(done.get_data(as_text=True))


# ---- carriers and payers ------------------------------------------------------------------------


def test_carrier_choices_are_remembered_for_the_next_report(app, manager, world, gamma):
    alpha = world.a.payer_id
    first = upload_batch(manager, world, PROCEDURES_CSV, "january.csv")
    response = manager.post(
        f"/fees/imports/{first}/confirm", data=carrier_form(alpha, gamma, "skip")
    )
    assert response.status_code == 303
    # names are kept trimmed and lower-case; a left-out carrier is not remembered
    assert aliases(app) == {
        (world.a.org_id, "alpha dental payer", alpha),
        (world.a.org_id, "gamma hlth ins co", gamma),
    }

    report = (
        b"Code,Carrier,Count\n"
        b"T0120,Omega Benefits,3\n"
        b"T0120,GAMMA HLTH INS CO,2\n"
        b"T1110,Gamma Hlth Ins Co,1\n"
        b"T1110,alpha dental payer,4\n"
    )
    second = upload_batch(manager, world, report, "second.csv")
    page = manager.get(f"/fees/imports/{second}")
    # carriers by procedures: alpha 4, Omega 3, GAMMA 2, Gamma 1
    assert carriers_shown(page) == [
        ("alpha dental payer", 4),
        ("Omega Benefits", 3),
        ("GAMMA HLTH INS CO", 2),
        ("Gamma Hlth Ins Co", 1),
    ]
    assert [selected(page, i) for i in range(4)] == [str(alpha), "", str(gamma), str(gamma)]


def test_carriers_spelled_two_ways_go_to_one_payer(app, manager, world):
    alpha = world.a.payer_id
    north = world.a.practice_ids[0]
    data = procedures(
        "2026-05-04,T0120,ALPHA DENTAL PAYER,9071533",
        "2026-05-11,T0120,Alpha Dental Payer,9084410",
        "2026-05-12,T0120,Alpha Dental Payer,9096627",
    )
    batch_id = upload_batch(manager, world, data, "may.csv")
    page = manager.get(f"/fees/imports/{batch_id}")
    assert carriers_shown(page) == [("Alpha Dental Payer", 2), ("ALPHA DENTAL PAYER", 1)]
    assert [selected(page, i) for i in range(2)] == [str(alpha), str(alpha)]

    response = manager.post(f"/fees/imports/{batch_id}/confirm", data=carrier_form(alpha, alpha))
    assert response.status_code == 303, seen(response)[:800]
    assert volume_rows(app) == [(north, alpha, "T0120", *month(2026, 5), 3, batch_id)]
    assert aliases(app) == {(world.a.org_id, "alpha dental payer", alpha)}


def test_a_missing_or_foreign_payer_choice_is_refused_and_nothing_is_written(
    app, manager, world, gamma
):
    alpha = world.a.payer_id
    batch_id = upload_batch(manager, world, PROCEDURES_CSV, "procedures.csv")
    url = f"/fees/imports/{batch_id}/confirm"

    missing = manager.post(url, data=carrier_form(alpha, gamma, ""))
    assert missing.status_code == 422
    assert "Choose a payer, or 'leave out', for: 'Omega Benefits'." in seen(missing)
    # the choices made are shown again
    assert [selected(missing, i) for i in range(3)] == [str(alpha), str(gamma), ""]

    # a payer of organisation B
    foreign = manager.post(url, data=carrier_form(alpha, world.b.payer_id, "skip"))
    assert foreign.status_code == 422
    assert "Choose payers of your organisation." in seen(foreign)
    nowhere = manager.post(url, data=carrier_form(alpha, 999_999, "skip"))
    assert nowhere.status_code == 422
    assert "Choose payers of your organisation." in seen(nowhere)

    # every carrier left out: nothing to import
    empty = manager.post(url, data=carrier_form("skip", "skip", "skip"))
    assert empty.status_code == 422
    assert "Nothing to import: every carrier is left out or no row counted." in seen(empty)

    assert volume_rows(app) == []
    assert aliases(app) == set()
    status, _kept, summary = batch_state(app, batch_id)
    assert status == ImportStatus.UPLOADED
    assert "procedures" not in summary
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ProcedureCode)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.object_type == "ImportBatch")) == 0  # fmt: skip

    # the same upload still confirms with good choices
    assert manager.post(url, data=carrier_form(alpha, gamma, "skip")).status_code == 303
    assert len(volume_rows(app)) == 6


# ---- a code-mix report without dates ------------------------------------------------------------


def test_a_code_mix_report_without_dates_needs_the_period(app, manager, world, gamma):
    alpha = world.a.payer_id
    north = world.a.practice_ids[0]
    batch_id = upload_batch(manager, world, CODE_MIX_CSV, "codemix.csv")
    status, kept, _summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.UPLOADED, True)  # a report: kept to map again

    page = manager.get(f"/fees/imports/{batch_id}")
    assert stats(page) == {
        "rows read": "6",
        "procedures counted": "99",
        "rows rejected": "1",
        "codes": "3",
        "": "no dates",
    }
    assert table(page, "Where", "Cells", "Reason") == [
        # only the columns read are shown: the description is not one of them
        ["line 6", "T2740 | [hidden] | Gamma Health | n/a", "'n/a' is not a whole count"]
    ]
    assert carriers_shown(page) == [("Alpha Dental Payer", 90), ("Gamma Health", 9)]
    assert [selected(page, i) for i in range(2)] == [str(alpha), str(gamma)]
    assert table(page, "Code", "Description", "Procedures") == [
        ["T0120", "Recall exam", "50"],
        ["T1110", "Adult cleaning", "37"],
        ["T2391", "Filling two surfaces", "12"],
    ]
    assert 'name="period_start"' in page.get_data(as_text=True)

    url = f"/fees/imports/{batch_id}/confirm"
    no_period = manager.post(url, data=carrier_form(alpha, gamma))
    assert no_period.status_code == 422
    assert "The file has no dates: enter the period it covers." in seen(no_period)
    backwards = manager.post(
        url,
        data=carrier_form(alpha, gamma, period_start="2025-12-31", period_end="2025-07-01"),
    )
    assert backwards.status_code == 422
    assert "The period ends before it starts." in seen(backwards)
    not_a_date = manager.post(
        url, data=carrier_form(alpha, gamma, period_start="2025-07-01", period_end="soon")
    )
    assert not_a_date.status_code == 422
    assert "Enter the first and the last day the file covers." in seen(not_a_date)
    assert volume_rows(app) == []

    response = manager.post(
        url, data=carrier_form(alpha, gamma, period_start="2025-07-01", period_end="2025-12-31")
    )
    assert response.status_code == 303, seen(response)[:800]
    half = (date(2025, 7, 1), date(2025, 12, 31))
    assert volume_rows(app) == sorted(
        [
            (north, alpha, "T0120", *half, 41, batch_id),
            (north, alpha, "T1110", *half, 37, batch_id),
            (north, alpha, "T2391", *half, 12, batch_id),
            (north, gamma, "T0120", *half, 9, batch_id),
        ]
    )
    with database(app) as s:
        codes = s.execute(
            sa.select(ProcedureCode.code, ProcedureCode.description, ProcedureCode.category)
            .where(ProcedureCode.organization_id == world.a.org_id)
            .order_by(ProcedureCode.code)
        ).all()
    assert [c[:2] for c in codes] == [
        ("T0120", "Recall exam"),
        ("T1110", "Adult cleaning"),
        ("T2391", "Filling two surfaces"),
    ]
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.CONFIRMED, False)
    assert (summary["procedures"], summary["rows"], summary["codes"]) == (99, 4, 3)


# ---- a newer import replaces the older one -------------------------------------------------------


def test_a_newer_import_replaces_the_overlapping_months_of_the_same_payer(
    app, manager, world, gamma
):
    alpha = world.a.payer_id
    north, south = world.a.practice_ids
    first = upload_batch(
        manager,
        world,
        procedures(
            "2026-01-07,T0120,Alpha Dental Payer,9071533",
            "2026-01-21,T0120,Alpha Dental Payer,9084410",
            "2026-02-11,T0120,Alpha Dental Payer,9071533",
            "2026-03-09,T1110,Alpha Dental Payer,9084410",
            "2026-02-12,T0120,Gamma Health,9096627",
        ),
        "jan-mar.csv",
    )
    assert manager.post(
        f"/fees/imports/{first}/confirm", data=carrier_form(alpha, gamma)
    ).status_code == 303  # fmt: skip
    # the same payer at the other practice, in February
    other = upload_batch(
        manager,
        world,
        procedures("2026-02-03,T0120,Alpha Dental Payer,9071533"),
        "south.csv",
        practice=1,
    )
    assert (
        manager.post(f"/fees/imports/{other}/confirm", data=carrier_form(alpha)).status_code == 303
    )

    second = upload_batch(
        manager,
        world,
        procedures(
            "2026-02-04,T0120,Alpha Dental Payer,9071533",
            "2026-02-05,T0120,Alpha Dental Payer,9084410",
            "2026-02-26,T0120,Alpha Dental Payer,9096627",
            "2026-03-16,T1110,Alpha Dental Payer,9071533",
            "2026-03-17,T1110,Alpha Dental Payer,9084410",
            "2026-04-01,T0120,Alpha Dental Payer,9096627",
        ),
        "feb-apr.csv",
    )
    page = manager.get(f"/fees/imports/{second}")
    assert "From Feb 2026 to Apr 2026." in seen(page)
    response = manager.post(f"/fees/imports/{second}/confirm", data=carrier_form(alpha))
    assert response.status_code == 303, seen(response)[:800]

    jan, feb, mar, apr = (month(2026, m) for m in (1, 2, 3, 4))
    assert volume_rows(app) == sorted(
        [
            (north, alpha, "T0120", *jan, 2, first),  # January: kept
            (north, alpha, "T0120", *feb, 3, second),  # February: replaced (was 1)
            (north, alpha, "T1110", *mar, 2, second),  # March: replaced (was 1)
            (north, alpha, "T0120", *apr, 1, second),  # April: added
            (north, gamma, "T0120", *feb, 1, first),  # another payer: untouched
            (south, alpha, "T0120", *feb, 1, other),  # another practice: untouched
        ]
    )
    summary = batch_state(app, second)[2]
    assert (summary["replaced"], summary["rows"], summary["procedures"]) == (2, 3, 6)
    done = manager.get(f"/fees/imports/{second}")
    assert "6 procedures over 2 codes in 3 volume rows; 2 older rows replaced." in seen(done)
    with database(app) as s:
        event = s.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.object_type == "ImportBatch", AuditEvent.object_id == second
            )
        ).one()
        assert event.summary == (
            "code volumes from feb-apr.csv: 6 procedures, 2 codes, replaced 2 older rows"
        )


# ---- undo and a second confirm ------------------------------------------------------------------


def test_undo_removes_the_volume_rows_and_a_second_confirm_is_refused(app, manager, world, gamma):
    alpha = world.a.payer_id
    north = world.a.practice_ids[0]
    kept_id = upload_batch(manager, world, CODE_MIX_CSV, "codemix.csv")
    period = {"period_start": "2025-01-01", "period_end": "2025-06-30"}
    form = carrier_form(alpha, gamma, **period)
    assert manager.post(f"/fees/imports/{kept_id}/confirm", data=form).status_code == 303

    batch_id = upload_batch(manager, world, PROCEDURES_CSV, "procedures.csv")
    url = f"/fees/imports/{batch_id}/confirm"
    assert manager.post(url, data=carrier_form(alpha, gamma, "skip")).status_code == 303
    assert len(volume_rows(app)) == 4 + 6

    again = manager.post(url, data=carrier_form(alpha, gamma, "skip"))
    assert again.status_code == 422
    assert "This import was already confirmed; nothing changed." in seen(again)
    assert len(volume_rows(app)) == 10

    undo = manager.post(f"/fees/imports/{batch_id}/undo")
    assert undo.status_code == 303
    assert "The import of procedures.csv is undone." in seen(manager.get("/fees/imports"))
    half = (date(2025, 1, 1), date(2025, 6, 30))
    assert volume_rows(app) == sorted(
        [
            (north, alpha, "T0120", *half, 41, kept_id),
            (north, alpha, "T1110", *half, 37, kept_id),
            (north, alpha, "T2391", *half, 12, kept_id),
            (north, gamma, "T0120", *half, 9, kept_id),
        ]
    )
    assert batch_state(app, batch_id)[0] == ImportStatus.UNDONE
    with database(app) as s:
        event = s.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.object_id == batch_id, AuditEvent.action == "undone"
            )
        ).one()
        assert event.summary == (
            "import of procedures.csv: removed 0 schedule version(s) and 6 volume row(s)"
        )

    # undone: neither undone again nor confirmed again
    manager.post(f"/fees/imports/{batch_id}/undo")
    assert "Only a confirmed import can be undone." in seen(manager.get("/fees/imports"))
    late = manager.post(url, data=carrier_form(alpha, gamma, "skip"))
    assert late.status_code == 422
    assert "This import was already undone; nothing changed." in seen(late)
    assert len(volume_rows(app)) == 4


# ---- the background path ------------------------------------------------------------------------


def run_worker(app, job_id: int) -> JobStatus:
    """Run the queued jobs (the world's too) as the scheduler process would; `job_id`'s status."""
    from campaigns.jobs.runner import run_pending

    with app.app_context():
        assert run_pending("test-worker") >= 1
        db.session.remove()
    with database(app) as s:
        return s.get(Job, job_id).status


def test_a_large_file_is_counted_in_the_background_with_a_progress_bar(
    app, manager, world, gamma, monkeypatch
):
    monkeypatch.setitem(app.config, "VOLUME_INLINE_BYTES", 100)
    batch_id = upload_batch(manager, world, PROCEDURES_CSV, "large.csv")
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.UPLOADED, True)  # waiting for the worker
    assert "aggregate" not in summary
    with database(app) as s:
        job = s.get(Job, summary["job_id"])
        assert (job.kind, job.status, job.payload) == (
            "aggregate_volumes",
            JobStatus.QUEUED,
            {"batch_id": batch_id},
        )
        assert job.organization_id == world.a.org_id

    page = manager.get(f"/fees/imports/{batch_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<progress value="0" max="100"' in html
    assert f'hx-get="/fees/imports/{batch_id}/progress"' in html
    assert "Counting large.csv… 0% (waiting for the background worker)" in seen(page)
    assert "Confirm import" not in seen(page)
    assert_no_patient_value(html)

    poll = manager.get(f"/fees/imports/{batch_id}/progress", htmx=True)
    assert poll.status_code == 200
    body = poll.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="import-progress"')
    assert "<html" not in body
    assert "(waiting for the background worker)" in body

    # a confirm before the count (from a stale page) is refused: the progress bar again
    early = manager.post(f"/fees/imports/{batch_id}/confirm", data=carrier_form())
    assert early.status_code == 422
    assert "<progress" in early.get_data(as_text=True)
    assert batch_state(app, batch_id)[0] == ImportStatus.UPLOADED

    assert run_worker(app, summary["job_id"]) == JobStatus.DONE
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.UPLOADED, False)  # counted, then deleted
    assert summary["aggregate"]["procedures"] == 8
    assert_no_patient_value(database_text(app))

    done = manager.get(f"/fees/imports/{batch_id}/progress", htmx=True)
    assert done.status_code == 204
    assert done.headers["HX-Redirect"] == f"/fees/imports/{batch_id}"
    plain = manager.get(f"/fees/imports/{batch_id}/progress")
    assert plain.status_code == 303
    assert plain.headers["Location"].endswith(f"/fees/imports/{batch_id}")

    page = manager.get(f"/fees/imports/{batch_id}")
    assert stats(page) == {
        "rows read": "11",
        "procedures counted": "8",
        "rows rejected": "2",
        "codes": "3",
        "months": "3",
    }
    assert "<progress" not in page.get_data(as_text=True)
    assert carriers_shown(page) == [
        ("ALPHA DENTAL PAYER", 5),
        ("Gamma Hlth Ins Co", 2),
        ("Omega Benefits", 1),
    ]
    response = manager.post(
        f"/fees/imports/{batch_id}/confirm",
        data=carrier_form(world.a.payer_id, gamma, "skip"),
    )
    assert response.status_code == 303
    assert sum(row[5] for row in volume_rows(app)) == 7


def test_a_background_count_that_fails_says_why_and_stops_polling(app, manager, world, monkeypatch):
    monkeypatch.setitem(app.config, "VOLUME_INLINE_BYTES", 10)
    data = b"Patient,Phone,Notes\nsomeone,555-0100,called back\nanother,555-0199,left a message\n"
    batch_id = upload_batch(manager, world, data, "contacts.csv")
    job_id = batch_state(app, batch_id)[2]["job_id"]
    assert run_worker(app, job_id) == JobStatus.FAILED
    with database(app) as s:
        message = s.get(Job, job_id).message
    assert "No header row naming a procedure code column" in message

    poll = manager.get(f"/fees/imports/{batch_id}/progress", htmx=True)
    assert poll.status_code == 204
    assert poll.headers["HX-Redirect"] == f"/fees/imports/{batch_id}"
    page = manager.get(f"/fees/imports/{batch_id}")
    assert page.status_code == 200
    text = seen(page)
    assert f"The file could not be counted: {message}" in text
    assert text.count(message) == 1  # once, not also as a flash
    # the page no longer polls: polling would redirect to this page again, for ever
    html = page.get_data(as_text=True)
    assert "/progress" not in html
    assert "<progress" not in html
    assert "Confirm import" not in seen(page)


# ---- choosing other columns ----------------------------------------------------------------------


def test_a_kept_code_mix_report_is_counted_again_with_other_columns(app, manager, world):
    alpha = world.a.payer_id
    north = world.a.practice_ids[0]
    report = (
        b"Code,Description,Carrier,Count 2025,Count 2024\n"
        b"T0120,Recall exam,Alpha Dental Payer,41,30\n"
        b"T1110,Adult cleaning,Alpha Dental Payer,37,33\n"
        b"T0120,Recall exam,Beta Mutual,5,7\n"
    )
    batch_id = upload_batch(manager, world, report, "two-years.csv")
    page = manager.get(f"/fees/imports/{batch_id}")
    # the first count column is taken: 41 + 37 + 5
    assert stats(page)["procedures counted"] == "83"
    html = page.get_data(as_text=True)
    assert re.search(r'<option value="3" selected>4: Count 2025</option>', html)

    form = {"col_code": "0", "col_count": "4", "col_carrier": "", "col_date": "", "prefix": "T"}
    again = manager.post(f"/fees/imports/{batch_id}/preview", data=form, htmx=True)
    assert again.status_code == 200
    body = again.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="import-preview">')
    # 30 + 33 + 7, no carrier column: one payer for everything
    assert stats(again)["procedures counted"] == "70"
    assert re.search(r'<option value="4" selected>5: Count 2024</option>', body)
    assert carriers_shown(again) == [("(the file has no carrier column: one payer for all)", 70)]
    status, kept, summary = batch_state(app, batch_id)
    assert (status, kept) == (ImportStatus.UPLOADED, True)
    assert summary["aggregate"]["columns"] == {"code": 0, "count": 4}
    assert volume_rows(app) == []

    response = manager.post(
        f"/fees/imports/{batch_id}/confirm",
        data=carrier_form(alpha, period_start="2024-01-01", period_end="2024-12-31"),
    )
    assert response.status_code == 303, seen(response)[:800]
    year = (date(2024, 1, 1), date(2024, 12, 31))
    assert volume_rows(app) == [
        (north, alpha, "T0120", *year, 37, batch_id),
        (north, alpha, "T1110", *year, 33, batch_id),
    ]
    assert aliases(app) == set()  # no carrier names to remember


def test_a_procedure_level_file_cannot_be_counted_again_once_deleted(app, manager, world):
    batch_id = upload_batch(manager, world, PROCEDURES_CSV, "procedures.csv")
    before = batch_state(app, batch_id)[2]
    form = {"col_code": "1", "col_count": "", "col_carrier": "", "col_date": "0", "prefix": "T"}
    response = manager.post(f"/fees/imports/{batch_id}/preview", data=form)
    assert response.status_code == 422
    assert (
        "The file was deleted once counted (it may hold patient columns); upload it again to "
        "choose other columns."
    ) in seen(response)
    # the counts stay as they were, and can still be confirmed
    assert batch_state(app, batch_id)[2]["aggregate"] == before["aggregate"]
    assert stats(response)["procedures counted"] == "8"
    assert_no_patient_value(response.get_data(as_text=True))


# ---- roles and tenancy ---------------------------------------------------------------------------


def test_a_viewer_cannot_confirm_and_another_organisation_sees_nothing(
    app, client, world, monkeypatch
):
    login(client, world.a.manager)
    counted = upload_batch(client, world, CODE_MIX_CSV, "codemix.csv")
    monkeypatch.setitem(app.config, "VOLUME_INLINE_BYTES", 100)
    queued = upload_batch(client, world, PROCEDURES_CSV, "queued.csv")
    client.post("/logout")
    form = carrier_form(
        world.a.payer_id, "skip", period_start="2025-01-01", period_end="2025-12-31"
    )

    login(client, world.a.viewer)
    assert client.get(f"/fees/imports/{counted}").status_code == 200
    assert client.get(f"/fees/imports/{queued}/progress", htmx=True).status_code == 200
    assert client.post(f"/fees/imports/{counted}/confirm", data=form).status_code == 403
    assert client.post(f"/fees/imports/{counted}/preview", data=form).status_code == 403
    client.post("/logout")

    for email in (world.b.owner, world.b.manager, world.b.viewer):
        login(client, email)
        for batch_id in (counted, queued):
            assert client.get(f"/fees/imports/{batch_id}").status_code == 404, email
            assert client.post(f"/fees/imports/{batch_id}/confirm", data=form).status_code in (
                403 if email == world.b.viewer else 404,
            )
        assert client.get(f"/fees/imports/{queued}/progress", htmx=True).status_code == 404
        if email != world.b.viewer:
            assert client.post(f"/fees/imports/{counted}/preview", data=form).status_code == 404
        client.post("/logout")

    # a manager of one practice does not reach the other practice's import
    login(client, world.a.manager)
    south = upload_batch(client, world, PROCEDURES_CSV, "south.csv", practice=1)
    client.post("/logout")
    login(client, world.a.manager1)
    assert client.get(f"/fees/imports/{south}").status_code == 404
    assert client.get(f"/fees/imports/{south}/progress", htmx=True).status_code == 404
    assert client.post(f"/fees/imports/{south}/confirm", data=form).status_code == 404

    assert volume_rows(app) == []
    assert aliases(app) == set()
    for batch_id in (counted, queued, south):
        assert batch_state(app, batch_id)[0] == ImportStatus.UPLOADED

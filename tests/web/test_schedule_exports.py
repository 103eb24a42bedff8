"""Exports of a schedule version: XLSX, CSV, Open Dental's tab-delimited text and Dentrix
Ascend's CSV, checked cell by cell, neutralised against formula injection, and re-imported
through the app's own parsers to the same cents."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest

from campaigns.accounts.models import Role
from campaigns.codes import category
from campaigns.extensions import db
from campaigns.fees.importers import preview_file
from campaigns.fees.models import FeeLine, ProcedureCode, ScheduleKind
from tests.conftest import database, login
from tests.factories import (
    ContractFactory,
    FeeScheduleFactory,
    NetworkFactory,
    OrganizationFactory,
    PracticeFactory,
    UserFactory,
)

# T0120 $52.00, T1110 $1,234.50 (a thousands amount), T2391 $0.00 (listed at zero), T2740
# $99,999.99 (the largest amount below the importers' $100,000 limit), T4910 $80.05.
LINES = {"T0120": 5200, "T1110": 123450, "T2391": 0, "T2740": 9999999, "T4910": 8005}
DESCRIPTIONS = {
    "T0120": "=cmd|' /C calc'!A0",  # a formula a spreadsheet would run
    "T1110": 'Adult cleaning, "full"',  # a comma and quotes: CSV quoting
    "T2391": "+Plus",
    "T2740": "@SUM(A1)",
    # T4910: no description in the organisation's code table
}


def build_schedule(label: str = "Acme PPO 2026/27: [final]", lines: dict | None = None) -> dict:
    org = OrganizationFactory(name="Export Group")
    practice = PracticeFactory(org=org, name="Elm Street Dental")
    UserFactory(org=org, email="viewer@export.test", role=Role.VIEWER)
    network = NetworkFactory(org=org, name="Acme PPO")
    contract = ContractFactory(practice=practice, network=network)
    db.session.add_all(
        ProcedureCode(organization_id=org.id, code=c, description=d, category=category(c))
        for c, d in DESCRIPTIONS.items()
    )
    schedule = FeeScheduleFactory(
        practice=practice,
        kind=ScheduleKind.CONTRACT,
        contract_id=contract.id,
        label=label,
        effective_from=date(2026, 7, 1),
    )
    schedule.lines = [FeeLine(code=c, amount_cents=v) for c, v in (lines or LINES).items()]
    db.session.flush()
    return {"id": schedule.id}


@pytest.fixture
def schedule(app, client):
    with database(app):
        built = build_schedule()
    login(client, "viewer@export.test")  # read-only is enough to export
    return built["id"]


def disposition(response) -> str:
    return response.headers["Content-Disposition"]


# ---- each format, cell by cell ------------------------------------------------------------------


def test_xlsx_export_has_code_description_and_amount_as_a_money_number(client, schedule):
    response = client.get(f"/fees/{schedule}/export.xlsx")

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert disposition(response) == (
        'attachment; filename="acme-ppo-2026-27-final-2026-07-01.xlsx"'
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = workbook.active
    assert sheet.title == "Acme PPO 2026-27- -final-"  # no / : [ ] in a sheet name
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows == [
        ["Code", "Description", "Amount"],
        ["T0120", "'=cmd|' /C calc'!A0", 52],
        ["T1110", 'Adult cleaning, "full"', 1234.5],
        ["T2391", "'+Plus", 0],
        ["T2740", "'@SUM(A1)", 99999.99],
        ["T4910", None, 80.05],
    ]
    for row in sheet.iter_rows(min_row=2):
        assert row[0].data_type == "s"
        assert row[2].data_type == "n"
        assert row[2].number_format == '"$"#,##0.00'


def test_csv_export_has_two_decimal_amounts_and_neutralised_text(client, schedule):
    response = client.get(f"/fees/{schedule}/export.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert disposition(response) == 'attachment; filename="acme-ppo-2026-27-final-2026-07-01.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows == [
        ["Code", "Description", "Amount"],
        ["T0120", "'=cmd|' /C calc'!A0", "52.00"],
        ["T1110", 'Adult cleaning, "full"', "1234.50"],
        ["T2391", "'+Plus", "0.00"],
        ["T2740", "'@SUM(A1)", "99999.99"],
        ["T4910", "", "80.05"],
    ]


def test_open_dental_export_is_tab_delimited_code_and_fee_without_header_or_dollar(
    client, schedule
):
    response = client.get(f"/fees/{schedule}/export.opendental")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert disposition(response) == (
        'attachment; filename="acme-ppo-2026-27-final-2026-07-01-opendental.txt"'
    )
    assert response.data.split(b"\r\n") == [
        b"T0120\t52.00",
        b"T1110\t1234.50",
        b"T2391\t0.00",
        b"T2740\t99999.99",
        b"T4910\t80.05",
        b"",
    ]


def test_dentrix_export_is_a_code_fee_csv_with_its_header(client, schedule):
    response = client.get(f"/fees/{schedule}/export.dentrix")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert disposition(response) == (
        'attachment; filename="acme-ppo-2026-27-final-2026-07-01-dentrix.csv"'
    )
    assert not response.data.startswith(b"\xef\xbb\xbf")  # no BOM before "code"
    assert response.data.decode("ascii").split("\r\n") == [
        "code,fee",
        "T0120,52.00",
        "T1110,1234.50",
        "T2391,0.00",
        "T2740,99999.99",
        "T4910,80.05",
        "",
    ]


def test_the_schedule_page_offers_every_download(client, schedule):
    html = client.get(f"/fees/{schedule}").get_data(as_text=True)

    for fmt in ("xlsx", "csv", "opendental", "dentrix"):
        assert f'href="/fees/{schedule}/export.{fmt}"' in html


def test_an_unknown_format_or_another_organisations_schedule_is_not_found(app, client, schedule):
    with database(app):
        org = OrganizationFactory(name="Other Group")
        UserFactory(org=org, email="manager@other.test", role=Role.MANAGER)
    assert client.get(f"/fees/{schedule}/export.pdf").status_code == 404
    client.post("/logout")
    login(client, "manager@other.test")
    for fmt in ("xlsx", "csv", "opendental", "dentrix"):
        assert client.get(f"/fees/{schedule}/export.{fmt}").status_code == 404


def test_a_manager_limited_to_one_practice_cannot_export_the_others_schedule(client, world):
    login(client, world.a.manager1)
    north, south = world.a.schedule_ids

    assert client.get(f"/fees/{north}/export.csv").status_code == 200
    assert client.get(f"/fees/{south}/export.csv").status_code == 404
    assert client.get(f"/fees/{south}/export.opendental").status_code == 404


# ---- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "filename"),
    [
        ("csv", "schedule.csv"),
        ("xlsx", "schedule.xlsx"),
        ("opendental", "schedule.txt"),
        ("dentrix", "schedule.csv"),
    ],
)
def test_every_export_reimports_to_the_same_cents(client, schedule, fmt, filename):
    response = client.get(f"/fees/{schedule}/export.{fmt}")

    preview = preview_file(filename, response.data)

    assert preview.rejected == []
    assert preview.resolve() == LINES
    assert preview.duplicates == {}


def test_a_long_generated_schedule_round_trips_through_open_dental_and_dentrix(app, client):
    """300 codes with amounts over the whole range, none lost or changed."""
    lines = {f"T{n:04d}": (n * 7919 * 13) % 10_000_000 for n in range(100, 400)}
    with database(app):
        built = build_schedule(label="Big", lines=lines)
    login(client, "viewer@export.test")

    for fmt, filename in (("opendental", "big.txt"), ("dentrix", "big.csv"), ("csv", "big.csv")):
        data = client.get(f"/fees/{built['id']}/export.{fmt}").data
        assert preview_file(filename, data).resolve() == lines, fmt

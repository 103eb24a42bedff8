"""The Open Dental import against a real MariaDB: the test builds an Open Dental database with
fictional data, reads it (read-only, no patient column), confirms into the app's database and
runs `flask import-opendental`. Expected cents and counts are worked out by hand below.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pymysql
import pytest
import sqlalchemy as sa

from campaigns.accounts.models import Practice, Role, User
from campaigns.accounts.services import ServiceError
from campaigns.extensions import db
from campaigns.fees import opendental_import
from campaigns.fees.importers.opendental import (
    OpenDentalError,
    parse_url,
    period_for,
    read_only_connection,
    read_opendental,
)
from campaigns.fees.models import (
    CodeVolume,
    FeeSchedule,
    ImportBatch,
    ImportKind,
    ProcedureCode,
    ScheduleKind,
)
from campaigns.fees.opendental_import import Choices, confirm, preview, suggest_choices
from campaigns.payers.models import NetworkKind
from tests.conftest import database, require
from tests.factories import (
    ContractFactory,
    NetworkFactory,
    OrganizationFactory,
    PayerFactory,
    PracticeFactory,
    UserFactory,
)

HOST, PORT, ROOT_USER = "127.0.0.1", 3306, "root"
TODAY = date(2026, 11, 15)  # with 3 months: August, September and October 2026
MONTHS = 3
AUG, SEP, OCT = date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)
EFFECTIVE = date(2026, 12, 1)
NOW = datetime(2026, 11, 15, 15, 0, tzinfo=UTC)
PATIENTS = {"A": 7700101, "B": 7700102, "C": 7700103, "D": 7700104, "E": 7700105}
TABLES = (
    "carrier", "procedurecode", "fee", "feesched", "insplan", "provider",
    "procedurelog", "claim", "claimproc",
)  # fmt: skip


def _root(database: str | None = None):
    return pymysql.connect(
        host=HOST, port=PORT, user=ROOT_USER, password="", database=database, autocommit=True,
        connect_timeout=3,
    )  # fmt: skip


def _mariadb_up() -> bool:
    try:
        _root().close()
    except pymysql.err.MySQLError:
        return False
    return True


# ---- the Open Dental database ----------------------------------------------------------------

SCHEMA = """
CREATE TABLE carrier (CarrierNum BIGINT PRIMARY KEY, CarrierName VARCHAR(255),
  ElectID VARCHAR(255));
CREATE TABLE procedurecode (CodeNum BIGINT PRIMARY KEY, ProcCode VARCHAR(15),
  Descript VARCHAR(255), AbbrDesc VARCHAR(50));
CREATE TABLE fee (FeeNum BIGINT PRIMARY KEY, Amount DOUBLE, FeeSched BIGINT, CodeNum BIGINT,
  ClinicNum BIGINT, ProvNum BIGINT);
CREATE TABLE feesched (FeeSchedNum BIGINT PRIMARY KEY, Description VARCHAR(255),
  FeeSchedType INT, IsHidden TINYINT);
CREATE TABLE insplan (PlanNum BIGINT PRIMARY KEY, CarrierNum BIGINT, FeeSched BIGINT,
  PlanType VARCHAR(1));
CREATE TABLE provider (ProvNum BIGINT PRIMARY KEY, Abbr VARCHAR(255), FeeSched BIGINT,
  IsHidden TINYINT);
CREATE TABLE procedurelog (ProcNum BIGINT PRIMARY KEY, PatNum BIGINT, CodeNum BIGINT,
  ProcDate DATE, ProcFee DOUBLE, UnitQty INT, ProcStatus TINYINT, ClinicNum BIGINT);
CREATE TABLE claim (ClaimNum BIGINT PRIMARY KEY, PatNum BIGINT, PlanNum BIGINT,
  ClaimType VARCHAR(255), DateService DATE);
CREATE TABLE claimproc (ClaimProcNum BIGINT AUTO_INCREMENT PRIMARY KEY, ProcNum BIGINT,
  ClaimNum BIGINT, PlanNum BIGINT, PatNum BIGINT, FeeBilled DOUBLE, InsPayAmt DOUBLE,
  WriteOff DOUBLE, Status TINYINT)
"""

CARRIERS = [
    (10, "Bluebird Dental", "BB100"),
    (11, "Cardinal Benefits", "CB200"),
    (12, "Heron Insurance", "HR300"),
    (13, "Owl Indemnity", ""),
    (14, "Sparrow Flat Copay", "SP400"),  # only a flat-copay plan and no claims: not listed
    (15, "Unused Carrier", "UC500"),
]
CODES = [  # (CodeNum, ProcCode as Open Dental stores it, description): fictional T-codes
    (1, "T0120", "Periodic exam (fictional)"),
    (2, "T1110", "Adult cleaning (fictional)"),
    (3, "T2391", "One-surface filling (fictional)"),
    (4, " t2740", "Ceramic crown (fictional)"),  # normalised to T2740
    (5, "~GRP~", "Group note"),  # no code shape: left out and listed
    (6, "T9999", "Never used (fictional)"),
]
FEESCHEDS = [
    (1, "Standard fees", 0, 0),
    (2, "Premium fees", 0, 0),
    (5, "Bluebird PPO 2026", 0, 0),
    (6, "Heron PPO", 0, 0),
    (7, "Sparrow copay", 0, 0),
]
FEES = [  # (FeeNum, Amount, FeeSched, CodeNum, ClinicNum, ProvNum)
    (1, 95.00, 1, 1, 0, 0),
    (2, 150.00, 1, 2, 0, 0),
    (3, 210.50, 1, 3, 0, 0),
    (4, 1450.00, 1, 4, 0, 0),
    (5, 99.00, 1, 1, 0, 1),  # a provider's own fee: not the schedule
    (6, 160.00, 1, 2, 3, 0),  # clinic 3's office fee for T1110
    (7, 52.00, 5, 1, 0, 0),
    (8, 81.50, 5, 2, 0, 0),
    (9, 120.25, 5, 3, 0, 0),
    (10, 125.75, 5, 3, 3, 0),  # clinic 3's allowance for T2391
    (11, 0.00, 5, 5, 0, 0),  # ~GRP~: no code shape
    (12, 48.10, 6, 1, 0, 0),
    (13, 77.77, 6, 2, 0, 0),
    (14, 830.00, 6, 4, 0, 0),
    (15, 120.00, 2, 1, 0, 0),
    (16, 40.00, 7, 1, 0, 0),
    (17, 85.00, 5, 2, 0, 2),  # a provider's own fee in the PPO schedule: ignored
]
PLANS = [  # (PlanNum, CarrierNum, FeeSched, PlanType)
    (100, 10, 5, "p"),
    (101, 11, 5, "p"),  # another carrier's PPO plan on the same FeeSched: one schedule
    (102, 12, 6, "p"),
    (103, 13, 0, ""),  # indemnity: no PPO schedule, but its code mix counts
    (104, 10, 5, "p"),
    (105, 14, 7, "f"),  # flat copay: not a PPO schedule
]
PROVIDERS = [(1, "DOC1", 1, 0), (2, "HYG1", 1, 0), (3, "DOC2", 2, 0), (4, "OLD", 2, 1)]
P = PATIENTS
CLAIMS = [  # (ClaimNum, PatNum, PlanNum, ClaimType, DateService)
    (500, P["A"], 100, "P", date(2026, 8, 5)),
    (501, P["B"], 101, "P", date(2026, 9, 3)),
    (502, P["C"], 102, "P", date(2026, 9, 10)),
    (503, P["C"], 101, "S", date(2026, 9, 10)),  # secondary: not counted
    (504, P["A"], 100, "P", date(2026, 10, 31)),
    (505, P["D"], 103, "P", date(2026, 10, 2)),
    (506, P["A"], 100, "PreAuth", date(2026, 8, 25)),  # pre-authorisation: not counted
    (507, P["E"], 104, "P", date(2026, 8, 12)),
]
PROCS = [  # (ProcNum, PatNum, CodeNum, ProcDate, ProcFee, UnitQty, ProcStatus, ClinicNum)
    (1, P["A"], 1, date(2026, 8, 5), 95.0, 1, 2, 3),
    (2, P["A"], 2, date(2026, 8, 20), 150.0, 1, 2, 3),
    (3, P["B"], 1, date(2026, 9, 3), 95.0, 1, 2, 3),
    (4, P["C"], 1, date(2026, 9, 10), 95.0, 1, 2, 3),
    (5, P["A"], 3, date(2026, 10, 31), 210.5, 1, 2, 3),  # the period's last day
    (6, P["A"], 3, date(2026, 11, 1), 210.5, 1, 2, 3),  # after the period
    (7, P["A"], 1, date(2026, 7, 31), 95.0, 1, 2, 3),  # before the period
    (8, P["B"], 2, date(2026, 9, 15), 150.0, 1, 1, 3),  # treatment-planned, not complete
    (9, P["D"], 2, date(2026, 10, 2), 150.0, 1, 2, 3),
    (10, P["E"], 1, date(2026, 10, 5), 95.0, 1, 2, 3),  # no claim (an estimate only)
    (11, P["C"], 4, date(2026, 9, 20), 1450.0, 1, 2, 3),
    (12, P["C"], 5, date(2026, 9, 20), 0.0, 1, 2, 3),  # ~GRP~
    (13, P["A"], 1, date(2026, 8, 25), 95.0, 1, 2, 3),  # on the pre-authorisation only
    (14, P["E"], 1, date(2026, 8, 12), 95.0, 1, 2, 3),
    (15, P["E"], 2, date(2026, 8, 12), 150.0, 1, 2, 4),  # clinic 4
]
CLAIMPROCS = [  # (ProcNum, ClaimNum, PlanNum, PatNum, FeeBilled, InsPayAmt, WriteOff, Status)
    (1, 500, 100, P["A"], 95.0, 40.0, 43.0, 1),
    (1, 500, 100, P["A"], 0.0, 5.0, 0.0, 4),  # supplemental: repeats procedure 1
    (2, 500, 100, P["A"], 150.0, 60.0, 68.5, 1),
    (3, 501, 101, P["B"], 95.0, 40.0, 43.0, 1),
    (4, 502, 102, P["C"], 95.0, 38.0, 46.9, 1),
    (4, 503, 101, P["C"], 95.0, 5.0, 0.0, 1),
    (5, 504, 100, P["A"], 210.5, 90.0, 85.25, 1),
    (6, 504, 100, P["A"], 210.5, 90.0, 85.25, 1),
    (7, 504, 100, P["A"], 95.0, 40.0, 43.0, 1),
    (8, 501, 101, P["B"], 150.0, 0.0, 0.0, 0),
    (9, 505, 103, P["D"], 150.0, 100.0, 0.0, 1),
    (10, 0, 104, P["E"], 95.0, 0.0, 0.0, 6),
    (11, 502, 102, P["C"], 1450.0, 300.0, 620.0, 1),
    (12, 502, 102, P["C"], 0.0, 0.0, 0.0, 1),
    (13, 506, 100, P["A"], 95.0, 0.0, 0.0, 2),
    (14, 507, 104, P["E"], 95.0, 40.0, 43.0, 1),
    (15, 507, 104, P["E"], 150.0, 60.0, 68.5, 1),
]

# Worked out by hand from the rows above, for clinic 3 (fees: clinic row wins; procedures of
# clinic 3 only) over August-October 2026.
EXPECTED_VOLUMES = {
    10: {
        ("T0120", AUG): 2,
        ("T1110", AUG): 1,
        ("T2391", OCT): 1,
    },  # procs 1 (+supplemental), 14; 2; 5
    11: {("T0120", SEP): 1},  # proc 3 (proc 4's secondary claim does not count)
    12: {("T0120", SEP): 1, ("T2740", SEP): 1},  # procs 4, 11
    13: {("T1110", OCT): 1},  # proc 9
}
BLUEBIRD_FEES = {"T0120": 5200, "T1110": 8150, "T2391": 12575}  # T2391: clinic 3's 125.75
HERON_FEES = {"T0120": 4810, "T1110": 7777, "T2740": 83000}
OFFICE_FEES = {"T0120": 9500, "T1110": 16000, "T2391": 21050, "T2740": 145000}


def _insert(cursor, table: str, columns: str, rows: list[tuple]) -> None:
    marks = ", ".join(["%s"] * len(rows[0]))
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def fingerprint(name: str) -> dict[str, tuple[int, int]]:
    """Row count and CHECKSUM TABLE of every Open Dental table: proof nothing was written."""
    connection = _root(name)
    try:
        with connection.cursor() as cursor:
            result = {}
            for table in TABLES:
                cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - fixed names
                rows = cursor.fetchone()[0]
                cursor.execute(f"CHECKSUM TABLE {table}")
                result[table] = (rows, cursor.fetchone()[1])
            return result
    finally:
        connection.close()


@pytest.fixture(scope="module")
def od():
    """A fictional Open Dental database and a SELECT-only user with a password; dropped after."""
    require(_mariadb_up(), f"MariaDB at {HOST}:{PORT}")
    token = secrets.token_hex(4)
    name, empty, user = f"od_test_{token}", f"od_empty_{token}", f"od_reader_{token}"
    password = f"fictional-{secrets.token_hex(6)}"
    connection = _root()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
            cursor.execute(f"CREATE DATABASE `{empty}`")
            cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", [password])
            cursor.execute(f"GRANT SELECT ON `{name}`.* TO '{user}'@'%'")
            cursor.execute(f"GRANT SELECT ON `{empty}`.* TO '{user}'@'%'")
            cursor.execute(f"USE `{name}`")
            for statement in SCHEMA.split(";"):
                cursor.execute(statement)
            _insert(cursor, "carrier", "CarrierNum, CarrierName, ElectID", CARRIERS)
            _insert(cursor, "procedurecode", "CodeNum, ProcCode, Descript", CODES)
            _insert(cursor, "feesched", "FeeSchedNum, Description, FeeSchedType, IsHidden",
                    FEESCHEDS)  # fmt: skip
            _insert(cursor, "fee", "FeeNum, Amount, FeeSched, CodeNum, ClinicNum, ProvNum", FEES)
            _insert(cursor, "insplan", "PlanNum, CarrierNum, FeeSched, PlanType", PLANS)
            _insert(cursor, "provider", "ProvNum, Abbr, FeeSched, IsHidden", PROVIDERS)
            _insert(cursor, "claim", "ClaimNum, PatNum, PlanNum, ClaimType, DateService", CLAIMS)
            _insert(
                cursor,
                "procedurelog",
                "ProcNum, PatNum, CodeNum, ProcDate, ProcFee, UnitQty, ProcStatus, ClinicNum",
                PROCS,
            )
            _insert(
                cursor,
                "claimproc",
                "ProcNum, ClaimNum, PlanNum, PatNum, FeeBilled, InsPayAmt, WriteOff, Status",
                CLAIMPROCS,
            )
        before = fingerprint(name)
        yield SimpleNamespace(
            name=name,
            url=f"mysql+pymysql://{user}@{HOST}:{PORT}/{name}",
            root_url=f"mysql+pymysql://{ROOT_USER}@{HOST}:{PORT}/{name}",
            empty_url=f"mysql+pymysql://{user}@{HOST}:{PORT}/{empty}",
            password=password,
            before=before,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"DROP DATABASE IF EXISTS `{empty}`")
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        connection.close()


@pytest.fixture
def statements(monkeypatch):
    """Every statement the reader sends to Open Dental."""
    sent: list[str] = []
    original = pymysql.cursors.Cursor.execute

    def execute(self, query, args=None):
        sent.append(query)
        return original(self, query, args)

    monkeypatch.setattr(pymysql.cursors.Cursor, "execute", execute)
    return sent


def read(od, **options):
    options = {"months": MONTHS, "today": TODAY, "office_provider": 1, "clinic": 3, **options}
    return read_opendental(od.url, od.password, **options)


# ---- the app's side --------------------------------------------------------------------------


def build_practice():
    """A practice with a contract on Bluebird's network, payers matched by name and by payer id,
    and older volumes and a code description the import replaces."""
    org = OrganizationFactory(name="Lakeside Dental Group")
    practice = PracticeFactory(org=org, name="Lakeside Office")
    other = PracticeFactory(org=org, name="Hillside Office")
    owner = UserFactory(org=org, email="owner@lakeside.test", role=Role.OWNER)
    bluebird = PayerFactory(org=org, name="BLUEBIRD  dental", payer_id="")  # name, any case
    cardinal = PayerFactory(org=org, name="Cardinal Dental Plans", payer_id="cb200")  # ElectID
    heron = PayerFactory(org=org, name="Heron Insurance", payer_id="")
    network = NetworkFactory(
        org=org, name="Bluebird PPO", kind=NetworkKind.DIRECT, owner_payer_id=bluebird.id
    )
    NetworkFactory(org=org, name="Heron PPO", kind=NetworkKind.DIRECT, owner_payer_id=heron.id)
    contract = ContractFactory(practice=practice, network=network)
    other_contract = ContractFactory(practice=other, network=network)
    db.session.add_all(
        [
            ProcedureCode(
                organization_id=org.id, code="T0120", description="old words", category="Diagnostic"
            ),
            *(
                CodeVolume(
                    organization_id=org.id,
                    practice_id=pid,
                    payer_id=payer,
                    code=code,
                    period_start=start,
                    period_end=end,
                    count=count,
                )  # fmt: skip
                for pid, payer, code, start, end, count in (
                    (practice.id, bluebird.id, "T0120", date(2026, 7, 1), date(2026, 7, 31), 9),
                    (practice.id, bluebird.id, "T0120", SEP, date(2026, 9, 30), 7),  # replaced
                    (practice.id, heron.id, "T1110", date(2026, 1, 1), date(2026, 12, 31), 50),
                    (other.id, bluebird.id, "T0120", SEP, date(2026, 9, 30), 4),  # other practice
                )
            ),
        ]
    )
    db.session.flush()
    return SimpleNamespace(
        org_id=org.id,
        practice_id=practice.id,
        other_practice_id=other.id,
        owner_id=owner.id,
        bluebird=bluebird.id,
        cardinal=cardinal.id,
        heron=heron.id,
        contract=contract.id,
        other_contract=other_contract.id,
    )


def volumes(s, practice_id) -> dict[tuple[int, str, date, date], int]:
    rows = s.execute(
        sa.select(
            CodeVolume.payer_id,
            CodeVolume.code,
            CodeVolume.period_start,
            CodeVolume.period_end,
            CodeVolume.count,
        ).where(CodeVolume.practice_id == practice_id)
    )
    return {(p, c, a, b): n for p, c, a, b, n in rows}


def expected_volumes(ids) -> dict[tuple[int, str, date, date], int]:
    month_end = {AUG: date(2026, 8, 31), SEP: date(2026, 9, 30), OCT: date(2026, 10, 31)}
    payer = {10: ids.bluebird, 11: ids.cardinal, 12: ids.heron}
    result = {(ids.bluebird, "T0120", date(2026, 7, 1), date(2026, 7, 31)): 9}  # kept: July
    for carrier, counts in EXPECTED_VOLUMES.items():
        if carrier in payer:  # Owl Indemnity (13) has no payer: skipped
            for (code, month), count in counts.items():
                result[(payer[carrier], code, month, month_end[month])] = count
    return result


def lines(s, schedule_id) -> dict[str, int]:
    return {line.code: line.amount_cents for line in s.get(FeeSchedule, schedule_id).lines}


def assert_written(s, ids) -> None:
    """What a confirm of the automatic matches (clinic 3, provider 1) must leave behind."""
    versions = s.scalars(
        sa.select(FeeSchedule)
        .where(FeeSchedule.practice_id == ids.practice_id, FeeSchedule.source.like("Open Dental%"))
        .order_by(FeeSchedule.kind)
    ).all()
    assert [(v.kind, v.contract_id, v.label, v.source, v.effective_from) for v in versions] == [
        (
            ScheduleKind.CONTRACT,
            ids.contract,
            "Bluebird PPO fee schedule",
            "Open Dental FeeSched 5",
            EFFECTIVE,
        ),
        (ScheduleKind.OFFICE, None, "Office fees", "Open Dental FeeSched 1", EFFECTIVE),
    ]
    assert lines(s, versions[0].id) == BLUEBIRD_FEES
    assert lines(s, versions[1].id) == OFFICE_FEES
    assert all(v.import_batch_id is not None for v in versions)
    assert volumes(s, ids.practice_id) == expected_volumes(ids)
    assert volumes(s, ids.other_practice_id) == {(ids.bluebird, "T0120", SEP, date(2026, 9, 30)): 4}
    codes = {
        c.code: (c.description, c.category)
        for c in s.scalars(
            sa.select(ProcedureCode).where(ProcedureCode.organization_id == ids.org_id)
        )
    }
    assert codes == {
        "T0120": ("Periodic exam (fictional)", "Diagnostic"),
        "T1110": ("Adult cleaning (fictional)", "Preventive"),
        "T2391": ("One-surface filling (fictional)", "Restorative"),
        "T2740": ("Ceramic crown (fictional)", "Restorative"),
    }
    batches = s.scalars(sa.select(ImportBatch).order_by(ImportBatch.id)).all()
    assert [b.kind for b in batches] == [ImportKind.CONTRACT, ImportKind.OFFICE, ImportKind.VOLUMES]
    assert all(b.data is None and b.confirmed_at is not None for b in batches)
    assert batches[2].summary["procedures"] == 7
    assert batches[2].summary["replaced"] == 2


def assert_no_patient_values(s) -> None:
    """No PatNum value anywhere in the app's database, in any column of any table."""
    wanted = {str(v) for v in PATIENTS.values()}
    for table in db.metadata.sorted_tables:
        for row in s.execute(sa.select(table)):
            for value in row:
                text = str(value)
                assert not any(p in text for p in wanted), (table.name, text)


# ---- pure helpers (no database) --------------------------------------------------------------


def test_period_is_the_full_months_before_this_month():
    assert period_for(date(2026, 11, 15), 3) == (AUG, date(2026, 10, 31))
    assert period_for(date(2026, 1, 1), 12) == (date(2025, 1, 1), date(2025, 12, 31))


def test_url_without_password_is_parsed_and_a_password_in_it_refused():
    address = parse_url("mysql+pymysql://reader@od.example:3307/opendental?charset=utf8mb4")
    assert (address.user, address.host, address.port, address.database) == (
        "reader", "od.example", 3307, "opendental",
    )  # fmt: skip
    with pytest.raises(OpenDentalError, match="Leave the password out"):
        parse_url("mysql+pymysql://reader:secret@od.example/opendental")
    with pytest.raises(OpenDentalError, match="must look like"):
        parse_url("postgresql://reader@od.example/opendental")
    with pytest.raises(OpenDentalError, match="needs a user, a host and a database"):
        parse_url("mysql+pymysql://od.example/opendental")


# ---- the reader ------------------------------------------------------------------------------


@pytest.mark.mariadb
def test_reader_takes_fees_by_clinic_precedence_and_counts_distinct_primary_procedures(
    od, statements
):
    data = read(od)

    assert (data.period_start, data.period_end, data.months, data.clinic) == (
        AUG, date(2026, 10, 31), 3, 3,
    )  # fmt: skip
    assert [(s.fee_sched, s.description, s.carrier_nums, s.plans) for s in data.schedules] == [
        (5, "Bluebird PPO 2026", [10, 11], 3),  # two carriers' plans share FeeSched 5
        (6, "Heron PPO", [12], 1),
    ]
    assert data.schedules[0].fees == BLUEBIRD_FEES
    assert data.schedules[0].clinic_fees == 1
    assert data.schedules[1].fees == HERON_FEES
    assert (data.office_provider, data.office.fee_sched, data.office.fees) == (1, 1, OFFICE_FEES)
    assert data.volumes == EXPECTED_VOLUMES
    assert data.skipped_codes == {"~GRP~": [1, 1]}
    assert data.codes["T2740"] == "Ceramic crown (fictional)"
    assert "~GRP~" not in data.codes
    assert [(p.prov_num, p.label, p.fee_sched, p.hidden) for p in data.providers] == [
        (1, "DOC1", 1, False), (2, "HYG1", 1, False), (3, "DOC2", 2, False), (4, "OLD", 2, True),
    ]  # fmt: skip
    assert data.carriers[10].elect_id == "BB100"
    # Amounts are integers (cents), never floats.
    assert all(type(c) is int for s in data.schedules for c in s.fees.values())

    # Never a patient column, never a write: only reads inside a read-only transaction.
    assert statements[:2] == [
        "SET SESSION TRANSACTION READ ONLY",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    ]
    assert statements[-1] == "ROLLBACK"
    for statement in statements[2:-1]:
        assert statement.lstrip().upper().startswith("SELECT"), statement
        assert "patnum" not in statement.lower(), statement
        assert "*" not in statement.replace("COUNT(*)", ""), statement  # no SELECT *
    assert fingerprint(od.name) == od.before


@pytest.mark.mariadb
def test_reader_without_a_clinic_takes_the_default_fees_and_every_clinics_procedures(od):
    data = read(od, clinic=0)
    assert data.schedules[0].fees == {**BLUEBIRD_FEES, "T2391": 12025}
    assert data.schedules[0].clinic_fees == 0
    assert data.office.fees == {**OFFICE_FEES, "T1110": 15000}
    assert data.volumes[10] == {**EXPECTED_VOLUMES[10], ("T1110", AUG): 2}  # + clinic 4's


@pytest.mark.mariadb
def test_reader_office_schedule_needs_a_provider_when_providers_differ(od):
    data = read(od, office_provider=None)
    assert (data.office, data.office_provider) == (None, None)
    assert any("different fee schedules" in w for w in data.warnings)
    with pytest.raises(OpenDentalError, match="no provider 9; providers: 1 \\(DOC1\\)"):
        read(od, office_provider=9)


@pytest.mark.mariadb
def test_the_reading_session_refuses_writes(od):
    with (
        read_only_connection(parse_url(od.root_url), "") as cursor,  # root could write
        pytest.raises(pymysql.err.OperationalError) as refused,
    ):
        cursor.execute("UPDATE fee SET Amount = 1 WHERE FeeNum = 1")
    assert refused.value.args[0] == 1792  # "Cannot execute statement in a READ ONLY transaction"
    assert fingerprint(od.name) == od.before


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("password", "refused user 'od_reader_"),
        ("port", "Cannot reach the Open Dental database server at 127.0.0.1:1"),
        ("database", "There is no database 'od_missing'"),
        ("empty", "does not look like an Open Dental database: table(s) carrier, claim"),
    ],
)
def test_reader_errors_are_readable(od, which, message):
    url, password = od.url, od.password
    if which == "password":
        password = "wrong-password"
    elif which == "port":
        url = od.url.replace(f":{PORT}/", ":1/")
    elif which == "database":
        url = f"mysql+pymysql://{ROOT_USER}@{HOST}:{PORT}/od_missing"
        password = ""
    elif which == "empty":
        url = od.empty_url
    with pytest.raises(OpenDentalError) as error:
        read_opendental(url, password, months=3, today=TODAY, office_provider=None)
    assert message in error.value.message


# ---- matching, preview and confirm -----------------------------------------------------------


@pytest.mark.mariadb
def test_confirm_writes_schedules_volumes_and_descriptions_in_one_go(app, od):
    data = read(od)
    with database(app) as s:
        ids = build_practice()
        practice = s.get(Practice, ids.practice_id)
        choices = suggest_choices(practice, data)
        assert choices.schedules == {5: ids.contract, 6: None}
        assert choices.carriers == {10: ids.bluebird, 11: ids.cardinal, 12: ids.heron, 13: None}
        assert choices.office is True
        shown = "\n".join(preview(practice, data, choices).lines())
        assert (
            'FeeSched 5 "Bluebird PPO 2026": 3 codes (1 from the clinic\'s fees), 3 plans of '
            f"Bluebird Dental, Cardinal Benefits -> contract {ids.contract} Bluebird PPO"
        ) in shown
        assert (
            'FeeSched 6 "Heron PPO": 3 codes, 1 plan of Heron Insurance -> skipped: no '
            "contract of this practice prices its carriers" in shown
        )
        assert 'Office schedule: FeeSched 1 "Standard fees" of provider 1 (DOC1): 4 codes' in shown
        assert (
            f"carrier 10 Bluebird Dental [BB100]: 4 procedures, 3 codes -> payer {ids.bluebird}"
        ) in shown
        assert "carrier 13 Owl Indemnity: 1 procedure, 1 code -> skipped: no payer" in shown
        assert "Left out (no procedure-code shape): ~GRP~ (1 fee row, 1 procedure)" in shown
        assert "Sparrow" not in shown  # no PPO plan, no code mix
        assert "Unused Carrier" not in shown

        owner = s.get(User, ids.owner_id)
        result = confirm(owner, practice, data, choices, EFFECTIVE, NOW)
        assert (result.volume_rows, result.procedures, result.volume_rows_replaced) == (6, 7, 2)
        assert (result.codes_added, result.codes_updated) == (3, 1)
    with database(app) as s:
        assert_written(s, ids)
        assert_no_patient_values(s)
        events = s.execute(
            sa.text("SELECT action, object_type, summary FROM audit_events ORDER BY id")
        ).all()
        assert [(a, o) for a, o, _ in events] == [
            ("imported", "FeeSchedule"),
            ("imported", "FeeSchedule"),
            ("imported", "ImportBatch"),
            ("imported", "ImportBatch"),
        ]
        assert "7 procedures in 6 rows for 3 payer(s); 2 older row(s) replaced" in events[2][2]
    assert fingerprint(od.name) == od.before


@pytest.mark.mariadb
def test_confirm_refuses_choices_outside_the_practice_and_writes_nothing(app, od):
    data = read(od)
    with database(app) as s:
        ids = build_practice()
        practice = s.get(Practice, ids.practice_id)
        other_org_payer = PayerFactory(name="Elsewhere")
        cases = [
            (Choices(schedules={5: ids.other_contract}), "is not a contract of Lakeside Office"),
            (Choices(schedules={5: ids.contract, 6: ids.contract}), "both chosen for contract"),
            (Choices(carriers={10: other_org_payer.id}), f"Payer {other_org_payer.id} does not"),
            (Choices(schedules={7: ids.contract}), "FeeSched 7 is not a PPO fee schedule in use"),
            (Choices(office=False), "Nothing is chosen"),
        ]
        for choices, message in cases:
            with pytest.raises(ServiceError, match=message):
                confirm(None, practice, data, choices, EFFECTIVE, NOW)
        assert s.scalar(sa.select(sa.func.count(ImportBatch.id))) == 0


@pytest.mark.mariadb
def test_a_failure_halfway_through_the_confirm_leaves_nothing_written(app, od, monkeypatch):
    data = read(od)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(opendental_import, "_write_volumes", broken)
    with database(app) as s:
        ids = build_practice()
    with app.app_context():
        practice = db.session.get(Practice, ids.practice_id)
        choices = suggest_choices(practice, data)
        with pytest.raises(RuntimeError):
            confirm(None, practice, data, choices, EFFECTIVE, NOW)
        db.session.rollback()
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(FeeSchedule.id))) == 0
        assert s.scalar(sa.select(sa.func.count(ImportBatch.id))) == 0
        codes = s.execute(sa.select(ProcedureCode.code, ProcedureCode.description)).all()
        assert codes == [("T0120", "old words")]
        assert len(volumes(s, ids.practice_id)) == 3


# ---- the command line ------------------------------------------------------------------------


def run(app, od, *extra, env_password: str | None = "od", input: str | None = None):
    args = [
        "import-opendental", "--url", od.url, "--months", str(MONTHS), "--today", TODAY.isoformat(),
        "--effective-from", EFFECTIVE.isoformat(), *extra,
    ]  # fmt: skip
    env = {"OPENDENTAL_PASSWORD": od.password if env_password == "od" else env_password}
    return app.test_cli_runner().invoke(args=args, env=env, input=input)


@pytest.mark.mariadb
def test_cli_imports_with_the_password_from_the_environment(app, od):
    with database(app):
        ids = build_practice()
    result = run(app, od, "--practice", str(ids.practice_id), "--provider", "1", "--clinic", "3",
                 "--yes")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert od.password not in result.output
    assert f"Open Dental od_reader_{od.name[8:]}@127.0.0.1:3306/{od.name}" in result.output
    assert "Code mix period: 2026-08-01 to 2026-10-31 (3 full months); clinic 3" in result.output
    assert (
        "Providers: 1 DOC1 (FeeSched 1); 2 HYG1 (FeeSched 1); 3 DOC2 (FeeSched 2); "
        "4 OLD (FeeSched 2, hidden)" in result.output
    )
    assert result.output.rstrip().endswith(
        "Imported 1 contract schedule version(s), the office schedule, 6 code-volume row(s) "
        "(7 procedures; 2 older row(s) replaced), 3 code description(s) added, 1 updated."
    )
    with database(app) as s:
        assert_written(s, ids)
        assert_no_patient_values(s)
    assert fingerprint(od.name) == od.before


@pytest.mark.mariadb
def test_cli_asks_for_the_password_and_for_confirmation(app, od):
    with database(app):
        ids = build_practice()
    practice = ["--practice", str(ids.practice_id), "--provider", "1", "--clinic", "3"]
    declined = run(app, od, *practice, env_password=None, input=f"{od.password}\nn\n")
    assert declined.exit_code == 1
    assert "Open Dental database password: \n" in declined.output  # typed, not echoed
    assert od.password not in declined.output
    assert "Import this into practice Lakeside Office? [y/N]: n\nAborted!" in declined.output
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(ImportBatch.id))) == 0

    accepted = run(app, od, *practice, env_password=None, input=f"{od.password}\ny\n")
    assert accepted.exit_code == 0, accepted.output
    with database(app) as s:
        assert_written(s, ids)


@pytest.mark.mariadb
def test_cli_overrides_skip_and_map_by_hand(app, od):
    with database(app):
        ids = build_practice()
    result = run(
        app, od, "--practice", str(ids.practice_id), "--clinic", "3", "--no-office",
        "--schedule", "5=skip", "--carrier", f"13={ids.heron}", "--carrier", "11=skip", "--yes",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 'FeeSched 5 "Bluebird PPO 2026"' in result.output
    assert "-> skipped: skipped as asked" in result.output
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(FeeSchedule.id))) == 0
        got = volumes(s, ids.practice_id)
        assert got[(ids.heron, "T1110", OCT, date(2026, 10, 31))] == 1  # Owl's procedure
        assert not any(payer == ids.cardinal for payer, *_ in got)


@pytest.mark.mariadb
@pytest.mark.parametrize(
    ("extra", "env_password", "message"),
    [
        ((), "wrong-password", "The Open Dental server refused user"),
        (("--url", "mysql+pymysql://x:pw@127.0.0.1/od"), "od", "Leave the password out"),
        (("--provider", "9"), "od", "Open Dental has no provider 9"),
        (("--schedule", "5=abc"), "od", "'5=abc' is not FEESCHED=ID or FEESCHED=skip"),
        (("--carrier", "15=1"), "od", "Carrier 15 has no PPO fee schedule in use"),
    ],
)
def test_cli_errors_are_readable_and_write_nothing(app, od, extra, env_password, message):
    with database(app):
        ids = build_practice()
    result = run(app, od, "--practice", str(ids.practice_id), "--yes", *extra,
                 env_password=env_password)  # fmt: skip
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(ImportBatch.id))) == 0


@pytest.mark.mariadb
def test_cli_unknown_practice(app, od):
    result = run(app, od, "--practice", "999999", "--yes")
    assert result.exit_code == 1
    assert "There is no practice 999999." in result.output

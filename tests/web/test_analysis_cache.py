"""The cached analysis is never stale: every kind of input change shows on the next page.

Each test warms the cache with a page of Elm Street Dental (tests/web/test_analysis.py, where
every figure is worked out), changes one input the way the app or an import writes it (ORM
or Core statements, committed in another session, as another request or the scheduler
process would), and reads the page again. Expected figures are worked out by hand from the
Elm figures in the comments of test_analysis.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import Organization, Practice
from campaigns.benchmark.models import INPUT_TABLES, DataVersion
from campaigns.benchmark.service import analysis_cache, data_version
from campaigns.extensions import db
from campaigns.fees.models import CodeVolume, FeeLine, FeeSchedule, ProcedureCode, ScheduleKind
from campaigns.payers.models import Contract, Network, NetworkKind, Payer, PricingRoute
from tests.conftest import database, html_text, login, make_app
from tests.factories import (
    ContractFactory,
    FeeScheduleFactory,
    NetworkFactory,
    PayerFactory,
    PracticeFactory,
    PricingRouteFactory,
)
from tests.web import test_analysis
from tests.web.test_analysis import (
    MONTHS,
    ON,
    add_schedule,
    body_rows,
    month_end,
    q,
    tables,
)

# the Elm Street Dental fixtures: the data, and a client signed in as its manager
elm = test_analysis.elm
elm_manager = test_analysis.elm_manager


def scorecard(client, elm) -> dict[str, list[str]]:
    """Scorecard rows by contract name (and 'Total')."""
    return {r[1]: r for r in body_rows(tables(client.get(f"/analysis/?{q(elm)}"))[0])}


def opportunity(client, elm, name: str) -> str:
    return scorecard(client, elm)[name][5]


def contract_id(s, elm, network: str) -> int:
    return s.scalar(
        sa.select(Contract.id)
        .join(Network, Network.id == Contract.network_id)
        .where(Contract.practice_id == elm.practice_id, Network.name == network)
    )


def schedule_of(s, contract: int) -> int:
    return s.scalar(sa.select(FeeSchedule.id).where(FeeSchedule.contract_id == contract))


def payer(s, name: str) -> int:
    return s.scalar(sa.select(Payer.id).where(Payer.name == name))


# ---- one change of each kind -----------------------------------------------------------------
# Before any change: Acme $1,541.88, Crest $574.80, Bolt $0.00, total $2,116.68.


def change_fee_line(s, elm):
    # Acme T1110 70.00 -> 95.00: Acme's M 95 -> no gap; Bolt's M (95 + 100)/2 = 97.50 ->
    # 24 x 7.50 = 180.00; Crest's M (95 + 90)/2 = 92.50 < 100. Total 281.88 + 360.00 +
    # 180.00 + 574.80 = 1,396.68
    s.execute(
        sa.update(FeeLine)
        .where(FeeLine.schedule_id == schedule_of(s, elm.acme), FeeLine.code == "T1110")
        .values(amount_cents=9500)
    )


def change_office_fee(s, elm):
    # office T2391 200.00 -> 140.00: Bolt E = min(150, 140) = 140, Acme's M 140:
    # 12 x 20 = 240.00; Acme 281.88 + 900.00 + 240.00 = 1,421.88, total 1,996.68
    office = s.scalar(sa.select(FeeSchedule.id).where(FeeSchedule.kind == ScheduleKind.OFFICE))
    line = s.scalar(
        sa.select(FeeLine).where(FeeLine.schedule_id == office, FeeLine.code == "T2391")
    )
    line.amount_cents = 14000


def new_schedule_version(s, elm):
    # Crest from 2026-01-01: T0120 64.50, T1110 100.00. Crest T0120 M 64.50: no gap. Acme T0120
    # M (80 + 64.50)/2 = 72.25: 25 x 23.25 = 581.25; Acme 581.25 + 900 + 360 = 1,841.25;
    # Bolt T0120 M (49 + 64.50)/2 < 80. Total 1,841.25
    practice = s.get(Practice, elm.practice_id)
    crest = s.get(Contract, elm.crest)
    add_schedule(
        practice,
        ScheduleKind.CONTRACT,
        {"T0120": "64.50", "T1110": "100.00"},
        contract=crest,
        effective_from=date(2026, 1, 1),
    )


def schedule_deleted(s, elm):
    # undoing Crest's import: no Crest schedule. Acme T0120 M 80: 25 x 31 = 775.00; T1110 M 90:
    # 36 x 20 = 720.00; T2391 360.00 -> 1,855.00; Bolt T0120 M 49, T1110 70: no gap
    s.execute(sa.delete(FeeSchedule).where(FeeSchedule.contract_id == elm.crest))


def volumes_added(s, elm):
    # 12 more T2391 for Acme Dental in one row for Nov - Dec 2025: V 24 -> 24 x 30 = 720.00;
    # Acme 281.88 + 900.00 + 720.00 = 1,901.88, total 2,476.68
    s.execute(
        sa.insert(CodeVolume),
        [
            {
                "organization_id": elm.org_id,
                "practice_id": elm.practice_id,
                "payer_id": payer(s, "Acme Dental"),
                "code": "T2391",
                "period_start": MONTHS[0],
                "period_end": month_end(MONTHS[1]),
                "count": 12,
            }
        ],
    )


def volumes_removed(s, elm):
    # undoing a volume import (a Core delete, as the undo and Open Dental import do): no
    # T1110 billed to Acme Dental -> Acme 281.88 + 360.00 = 641.88, total 1,216.68
    s.execute(
        sa.delete(CodeVolume).where(
            CodeVolume.payer_id == payer(s, "Acme Dental"), CodeVolume.code == "T1110"
        )
    )


def route_removed(s, elm):
    # Cobalt no longer priced by Crest (no direct network): Crest T0120 V = 12 (Dune):
    # 12 x 23.95 = 287.40, total 1,541.88 + 287.40 = 1,829.28
    s.execute(sa.delete(PricingRoute).where(PricingRoute.payer_id == payer(s, "Cobalt Benefits")))


def contract_archived(s, elm):
    # without Bolt: Acme T0120 M 40.55 < 49; T1110 M 100: 36 x 30 = 1,080.00; T2391 no peer.
    # Crest T0120 M 49: 24 x 8.45 = 202.80. Total 1,282.80
    s.get(Contract, elm.bolt).archived_at = datetime(2026, 11, 1, tzinfo=UTC)


def contract_added(s, elm):
    # a new contract without a schedule: a row with no figures, the totals unchanged
    ContractFactory(
        practice=s.get(Practice, elm.practice_id),
        network=NetworkFactory(org=s.get(Organization, elm.org_id)),
    )


def practice_period_setting(s, elm):
    # 6-month period (May - Oct 2026, x 2): Acme T0120 2 x 5 + 3 = 13 -> V 26:
    # 26 x 11.275 = 293.15; Acme 293.15 + 900.00 + 360.00 = 1,553.15; Crest and Bolt as before
    s.get(Practice, elm.practice_id).analysis_period_months = 6


def network_renamed(s, elm):
    s.scalar(sa.select(Network).where(Network.name == "Acme PPO")).name = "Apex PPO"


def network_made_direct_for_orphan(s, elm):
    # Orphan Plan's volume now priced by Crest (its owner): Crest T0120 V 24 + 60 = 84:
    # 84 x 23.95 = 2,011.80, total 1,541.88 + 2,011.80 = 3,553.68
    orphan = payer(s, "Orphan Plan")
    crest = s.scalar(sa.select(Network).where(Network.name == "Crest Leased Network"))
    crest.kind = NetworkKind.DIRECT
    crest.owner_payer_id = orphan


CHANGES: list[tuple[Callable, str, str]] = [
    (change_fee_line, "Total", "$1,396.68"),
    (change_office_fee, "Total", "$1,996.68"),
    (new_schedule_version, "Total", "$1,841.25"),
    (schedule_deleted, "Acme PPO", "$1,855.00"),
    (volumes_added, "Total", "$2,476.68"),
    (volumes_removed, "Total", "$1,216.68"),
    (route_removed, "Total", "$1,829.28"),
    (contract_archived, "Total", "$1,282.80"),
    (practice_period_setting, "Acme PPO", "$1,553.15"),
    (network_made_direct_for_orphan, "Total", "$3,553.68"),
]


@pytest.mark.parametrize(
    ("change", "row", "expected"), CHANGES, ids=[c[0].__name__ for c in CHANGES]
)
def test_a_change_of_any_input_shows_on_the_next_scorecard(
    app, elm_manager, elm, change, row, expected
):
    assert opportunity(elm_manager, elm, "Total") == "$2,116.68"
    assert opportunity(elm_manager, elm, "Total") == "$2,116.68"  # from the cache

    with database(app) as s:
        change(s, elm)

    assert opportunity(elm_manager, elm, row) == expected


def test_the_cached_target_list_follows_a_change(app, elm_manager, elm):
    def code_rows():
        page = elm_manager.get(f"/analysis/targets?{q(elm)}")
        return [row[1:] for row in body_rows(tables(page)[1])]

    first = code_rows()
    assert code_rows() == first  # the second answer comes from the cache
    assert first[0] == ["Acme PPO", "T1110", "Adult cleaning", "$900.00", "42.5%"]

    with database(app) as s:
        change_fee_line(s, elm)

    # Acme T1110 at 95.00 has no gap any more; the total is 1,396.68 (change_fee_line), so
    # Crest T0120 574.80 leads with 41.15%, then Acme T2391 360.00 (1,296.68 of 1,396.68)
    rows = code_rows()
    assert rows[0] == ["Crest Leased Network", "T0120", "Recall exam", "$574.80", "41.2%"]
    assert ["Acme PPO", "T1110", "Adult cleaning", "$900.00", "42.5%"] not in rows
    assert rows[1][1:4] == ["T2391", "Back filling, one surface", "$360.00"]


def test_names_added_contracts_and_descriptions_show_on_the_next_page(app, elm_manager, elm):
    assert list(scorecard(elm_manager, elm))[:3] == ["Acme PPO", "Crest Leased Network", "Bolt PPO"]
    matrix = f"/analysis/matrix?{q(elm)}"
    assert body_rows(tables(elm_manager.get(matrix))[0])[0][:2] == ["T1110", "Adult cleaning"]
    flag = "volume of Orphan Plan is not counted"
    assert flag in html_text(elm_manager.get(f"/analysis/?{q(elm)}"))

    with database(app) as s:
        network_renamed(s, elm)
        contract_added(s, elm)
        s.scalar(
            sa.select(ProcedureCode).where(ProcedureCode.code == "T1110")
        ).description = "Grown-up cleaning"
        s.scalar(sa.select(Payer).where(Payer.name == "Orphan Plan")).name = "Lonely Plan"

    rows = scorecard(elm_manager, elm)
    assert rows["Apex PPO"][5] == "$1,541.88"
    assert len(rows) == 5  # four contracts and the total
    (new,) = [
        r
        for name, r in rows.items()
        if name not in {"Apex PPO", "Crest Leased Network"} and name not in {"Bolt PPO", "Total"}
    ]
    assert new[6] == "no schedule"
    assert body_rows(tables(elm_manager.get(matrix))[0])[0][:2] == ["T1110", "Grown-up cleaning"]
    assert "volume of Lonely Plan is not counted" in html_text(
        elm_manager.get(f"/analysis/?{q(elm)}")
    )


def test_a_practice_setting_changes_the_suggested_asks(app, elm_manager, elm):
    detail = f"/analysis/contracts/{elm.bolt}?on={ON}"
    rows = {r[1]: r for r in body_rows(tables(elm_manager.get(detail))[-1])}
    assert rows["T1110"][9] == "$94.50"  # min(120, max(90 x 1.05, 85))

    with database(app) as s:
        s.get(Practice, elm.practice_id).min_raise_bp = 2000

    rows = {r[1]: r for r in body_rows(tables(elm_manager.get(detail))[-1])}
    assert rows["T1110"][9] == "$108.00"  # min(120, max(90 x 1.20 = 108, 85))


def test_another_worker_with_its_own_cache_sees_a_change_made_through_the_first(
    app, elm_manager, elm, database_url
):
    """Two app instances in one process stand for two gunicorn workers (or hosts): each has
    its own cache; a change committed anywhere reaches both."""
    second = make_app(database_url)
    try:
        second.test_client_class = type(elm_manager)
        other = second.test_client()
        login(other, elm.manager)
        assert opportunity(elm_manager, elm, "Total") == "$2,116.68"
        assert opportunity(other, elm, "Total") == "$2,116.68"
        assert analysis_cache_of(second).size[0] > 0

        with database(app) as s:
            change_fee_line(s, elm)

        assert opportunity(other, elm, "Total") == "$1,396.68"
        assert opportunity(elm_manager, elm, "Total") == "$1,396.68"
    finally:
        with second.app_context():
            db.engine.dispose()


def analysis_cache_of(app):
    with app.app_context():
        return analysis_cache()


def test_a_cached_page_reads_no_fee_lines_or_volumes(app, elm_manager, elm):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    elm_manager.get(f"/analysis/?{q(elm)}")
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = elm_manager.get(f"/analysis/?{q(elm)}")
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    assert response.status_code == 200
    assert statements, "the request ran no SQL at all"
    assert not [s for s in statements if "fee_lines" in s or "code_volumes" in s]
    assert any("analysis_data_versions" in s for s in statements)


def spare_row(s, elm, table: str):
    """A new row of `table` that nothing refers to (so it can be deleted again)."""
    practice = s.get(Practice, elm.practice_id)
    org = s.get(Organization, elm.org_id)
    office = s.scalar(sa.select(FeeSchedule.id).where(FeeSchedule.kind == ScheduleKind.OFFICE))
    build = {
        "practices": lambda: PracticeFactory(org=org, name="Spare Dental"),
        "payers": lambda: PayerFactory(org=org, name="Spare Payer"),
        "networks": lambda: NetworkFactory(org=org, name="Spare Network"),
        "contracts": lambda: ContractFactory(
            practice=practice, network=NetworkFactory(org=org, name="Spare PPO")
        ),
        "pricing_routes": lambda: PricingRouteFactory(
            practice=practice,
            payer=PayerFactory(org=org, name="Spare Plan"),
            network=s.get(Contract, elm.crest).network,
        ),
        "procedure_codes": lambda: ProcedureCode(
            organization_id=org.id, code="T9990", description="Spare", category="Adjunctive"
        ),
        "fee_schedules": lambda: FeeScheduleFactory(
            practice=practice, kind=ScheduleKind.BENCHMARK, label="Spare P90"
        ),
        "fee_lines": lambda: FeeLine(schedule_id=office, code="T9990", amount_cents=100),
        "code_volumes": lambda: CodeVolume(
            organization_id=org.id,
            practice_id=practice.id,
            payer_id=payer(s, "Acme Dental"),
            code="T9990",
            period_start=MONTHS[0],
            period_end=month_end(MONTHS[0]),
            count=1,
        ),
    }[table]
    row = build()
    s.add(row)
    return row


@pytest.mark.parametrize("table", INPUT_TABLES)
def test_every_write_to_an_input_table_bumps_the_data_version(app, elm, table):
    """Insert, update and delete on each table the analysis reads move the version on (the
    update a Core statement that sets a column to itself); a migration that rebuilt a table
    and lost its triggers would fail here."""
    metadata_table = db.metadata.tables[table]
    with app.app_context():
        versions = [data_version()]
        with database(app) as s:
            row = spare_row(s, elm, table)
            s.flush()
            key = sa.inspect(row).identity
        versions.append(data_version())
        columns = list(metadata_table.primary_key.columns)
        where = sa.and_(*(c == v for c, v in zip(columns, key, strict=True)))
        some = next(c for c in metadata_table.columns if not c.primary_key)
        with db.engine.begin() as conn:
            assert (
                conn.execute(sa.update(metadata_table).where(where).values({some: some})).rowcount
                == 1
            )
        versions.append(data_version())
        with db.engine.begin() as conn:
            assert conn.execute(sa.delete(metadata_table).where(where)).rowcount == 1
        versions.append(data_version())
    assert versions == sorted(set(versions)), versions  # strictly increasing


def test_the_version_row_is_only_written_by_the_triggers(app, elm):
    with app.app_context():
        (row,) = db.session.scalars(sa.select(DataVersion)).all()
        assert row.scope == "analysis"
        assert row.version > 0

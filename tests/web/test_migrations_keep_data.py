"""Upgrading an existing database keeps its data: a schedule's lines survive every migration."""

from __future__ import annotations

import os
import secrets

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from tests.conftest import IS_SQLITE, TEST_DATABASE_URL, make_app


def _fresh_url(tmp_path) -> tuple[str, callable]:
    if IS_SQLITE:
        return f"sqlite:///{tmp_path / 'upgrade.db'}", lambda: None
    schema = f"upg_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    return f"{TEST_DATABASE_URL}{sep}options=-csearch_path%3D{schema}", drop


def test_upgrading_from_the_first_schema_keeps_schedules_lines_and_volumes(tmp_path):
    from campaigns.extensions import db

    url, drop = _fresh_url(tmp_path)
    app = make_app(url)
    try:
        with app.app_context():
            upgrade(revision="0001_initial")
            with db.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO organizations (id, name, created_at) VALUES (1, 'Org', "
                        "'2026-01-01 00:00:00')"
                    )
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO practices (id, organization_id, name, address, phone,"
                        " time_zone, tin, npi, re_review_months, follow_up_days, min_raise_bp,"
                        " analysis_period_months, leverage_share_bp, leverage_scarce_count,"
                        " leverage_max_providers, leverage_radius_miles, created_at) VALUES"
                        " (1, 1, 'P', '', '', 'UTC', '', '', 12, '30,60,90', 500, 12, 1500, 50, 3,"
                        " 10, '2026-01-01 00:00:00')"
                    )
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO fee_schedules (id, organization_id, practice_id, kind, label,"
                        " effective_from, source, created_at) VALUES (1, 1, 1, 'office', 'Office',"
                        " '2026-01-01', '', '2026-01-01 00:00:00')"
                    )
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO fee_lines (schedule_id, code, amount_cents) VALUES"
                        " (1, 'T0120', 5200), (1, 'T1110', 8150)"
                    )
                )
            upgrade()
            with db.engine.connect() as conn:
                lines = conn.execute(
                    sa.text("SELECT code, amount_cents FROM fee_lines ORDER BY code")
                ).all()
            assert [tuple(r) for r in lines] == [("T0120", 5200), ("T1110", 8150)]
            downgrade(revision="0001_initial")
            with db.engine.connect() as conn:
                count = conn.execute(sa.text("SELECT count(*) FROM fee_lines")).scalar()
            assert count == 2
            db.engine.dispose()
    finally:
        drop()

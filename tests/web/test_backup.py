"""`flask backup`: a consistent copy while the app writes, which restores to a working app.

A writer thread inserts procedure codes two at a time, each pair in one transaction, while the
backup runs: the copy must hold only whole pairs (one snapshot), at least the rows committed
before it started, and restore to a database the app opens at the current migration."""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from campaigns.accounts.models import Organization
from campaigns.extensions import db
from campaigns.fees.models import ProcedureCode
from tests.conftest import TEST_DATABASE_URL, database, make_app
from tests.factories import OrganizationFactory

INSERT = sa.text(
    "INSERT INTO procedure_codes (organization_id, code, description, category) "
    "VALUES (:org, :code, 'Fictional code', 'Other')"
)


def _head(app) -> str:
    with app.app_context():
        return ScriptDirectory.from_config(
            app.extensions["migrate"].migrate.get_config()  # the app's own, not a new Migrate
        ).get_current_head()


class PairWriter(threading.Thread):
    """Commits T-codes in pairs until stopped; `committed` counts the committed rows."""

    def __init__(self, url: str, org_id: int) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url)
        self.org_id = org_id
        self.stop = threading.Event()
        self.committed = 0
        self.started_writing = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set() and n < 4000:
                with self.engine.begin() as conn:
                    for _ in range(2):
                        conn.execute(INSERT, {"org": self.org_id, "code": f"T{n + 5000:04d}"})
                        n += 1
                self.committed = n
                self.started_writing.set()
        finally:
            self.engine.dispose()


def _run_backup_while_writing(app, database_url, target: Path) -> tuple[int, int, str]:
    with database(app):
        org_id = OrganizationFactory(name="Backed Up Dental").id
    writer = PairWriter(database_url, org_id)
    writer.start()
    assert writer.started_writing.wait(10)
    before = writer.committed
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    writer.stop.set()
    writer.join(30)
    return before, writer.committed, result.output


def _codes(conn) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(ProcedureCode.__table__)).scalar()


@pytest.mark.sqlite
def test_sqlite_backup_is_a_consistent_copy_that_restores(app, database_url, tmp_path):
    target = tmp_path / "copy.db"
    before, after, output = _run_backup_while_writing(app, database_url, target)
    assert output.startswith("Backed up ")
    assert str(target) in output
    assert not (tmp_path / "copy.db.partial").exists()

    raw = sqlite3.connect(target)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        (copied,) = raw.execute("SELECT count(*) FROM procedure_codes").fetchone()
    finally:
        raw.close()
    assert before <= copied <= after
    assert copied % 2 == 0  # whole transactions only: one snapshot

    restored = make_app(f"sqlite:///{target}")
    with restored.app_context():
        version = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == _head(restored)
        assert db.session.scalar(sa.select(Organization.name)) == "Backed Up Dental"
        assert _codes(db.session) == copied
        db.engine.dispose()


@pytest.mark.sqlite
def test_backup_never_overwrites_or_leaves_a_partial_file(app, tmp_path):
    target = tmp_path / "exists.db"
    target.write_bytes(b"an older backup")
    refused = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert refused.exit_code == 1
    assert "exists already; choose another name or pass --overwrite" in refused.output
    assert target.read_bytes() == b"an older backup"

    missing = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "no" / "x.db")])
    assert missing.exit_code == 1
    assert f"The folder {tmp_path / 'no'} does not exist." in missing.output

    replaced = app.test_cli_runner().invoke(args=["backup", str(target), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert target.read_bytes()[:16] == b"SQLite format 3\x00"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.db"]


@pytest.mark.postgres
def test_postgres_backup_restores_with_pg_restore(app, database_url, tmp_path):
    target = tmp_path / "copy.dump"
    before, after, output = _run_backup_while_writing(app, database_url, target)
    assert output.startswith("Backed up ")
    assert "tables" in output

    restore_db = f"restore_{secrets.token_hex(4)}"
    admin = sa.create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{restore_db}"'))
    try:
        url = sa.engine.make_url(TEST_DATABASE_URL).set(database=restore_db)
        subprocess.run(  # noqa: S603
            [  # noqa: S607
                "pg_restore",
                "--no-owner",
                f"--host={url.host}",
                f"--port={url.port or 5432}",
                f"--username={url.username}",
                f"--dbname={restore_db}",
                str(target),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        schema = database_url.rsplit("search_path%3D", 1)[1]
        restored = sa.create_engine(url)
        with restored.connect() as conn:
            conn.execute(sa.text(f'SET search_path TO "{schema}"'))
            copied = _codes(conn)
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        restored.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{restore_db}" WITH (FORCE)'))
        admin.dispose()
    assert before <= copied <= after
    assert copied % 2 == 0
    assert version == _head(app)

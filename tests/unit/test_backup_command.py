"""The pg_dump call `flask backup` makes for a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from campaigns.backup import pg_dump_command


def test_pg_dump_gets_the_schema_of_the_search_path_and_no_password_on_its_command_line():
    url = sa.engine.make_url(
        "postgresql+psycopg://app:s3cret@db.example:6543/fees?options=-csearch_path%3Dtenant_a"
    )
    command, env = pg_dump_command(url, Path("backups/x.dump"))
    assert command == [
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--file=backups/x.dump",
        "--host=db.example",
        "--port=6543",
        "--username=app",
        "--schema=tenant_a",
        "fees",
    ]
    assert env["PGPASSWORD"] == "s3cret"
    assert not any("s3cret" in part for part in command)

"""Analysis data version: a counter row bumped by triggers on every table the analysis reads.

Revision ID: 0005_analysis_version
Revises: 0004_campaigns
Create Date: 2026-11-30 09:00:00.000000

Written by hand (autogenerate knows no triggers). SQLite triggers are per row; PostgreSQL's
are per statement. A later batch migration that rebuilds one of these tables on SQLite drops
its triggers: re-create them there (tests/web/test_analysis_cache.py checks every table).
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005_analysis_version"
down_revision = "0004_campaigns"
branch_labels = None
depends_on = None

TABLES = (
    "practices",
    "payers",
    "networks",
    "contracts",
    "pricing_routes",
    "procedure_codes",
    "fee_schedules",
    "fee_lines",
    "code_volumes",
)
BUMP = (
    "INSERT INTO analysis_data_versions (scope, version) VALUES ('analysis', 1) "
    "ON CONFLICT (scope) DO UPDATE SET version = analysis_data_versions.version + 1"
)


def upgrade():
    op.create_table(
        "analysis_data_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_data_versions")),
        sa.UniqueConstraint("scope", name=op.f("uq_analysis_data_versions_scope")),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER analysis_version_{table}_{event.lower()} AFTER {event} "
                    f"ON {table} BEGIN {BUMP}; END"
                )
        return
    op.execute(
        "CREATE FUNCTION analysis_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER analysis_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION analysis_version_bump()"
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER analysis_version_{table}_{event}")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER analysis_version ON {table}")
        op.execute("DROP FUNCTION analysis_version_bump()")
    op.drop_table("analysis_data_versions")

"""The analysis' data version: one row that database triggers bump on every write to a table
the analysis reads, so a cached analysis can tell whether its inputs are still current."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

#: The tables the analysis reads; migration 0004 puts a trigger on each (a test checks).
INPUT_TABLES = (
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
SCOPE = "analysis"


class DataVersion(db.Model):
    """Bumped by triggers, never by the app. The id never repeats (AUTOINCREMENT on SQLite, a
    sequence on PostgreSQL), so a row deleted and created again starts a new series: the
    pair (id, version) names one state of the inputs."""

    __tablename__ = "analysis_data_versions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(20), unique=True)
    version: Mapped[int] = mapped_column(sa.BigInteger)

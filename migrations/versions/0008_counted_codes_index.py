"""A partial index of the campaign code rows that count (targets and answered codes).

Revision ID: 0008_counted_codes_index
Revises: 0007_reminders
Create Date: 2026-12-03 10:20:00

The board and the closed-campaign list read only these rows; without the index each
campaign's hundreds of baseline rows were scanned. A new index only: nothing is rebuilt.
"""

from alembic import op
import sqlalchemy as sa


revision = "0008_counted_codes_index"
down_revision = "0007_reminders"
branch_labels = None
depends_on = None

COUNTED = {
    "sqlite_where": sa.text("is_target IS 1 OR granted_cents IS NOT NULL"),
    "postgresql_where": sa.text("is_target IS true OR granted_cents IS NOT NULL"),
}


def upgrade():
    op.create_index("ix_campaign_codes_counted", "campaign_codes", ["campaign_id"], **COUNTED)


def downgrade():
    op.drop_index("ix_campaign_codes_counted", table_name="campaign_codes")

"""Scheduler lease: on SQLite, the row that lets one scheduler process work at a time.

Revision ID: 0003_scheduler_lease
Revises: 0002_imports_jobs
Create Date: 2026-11-28 05:00:26.664884

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_scheduler_lease'
down_revision = '0002_imports_jobs'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('scheduler_leases',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=False),
    sa.Column('acquired_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_leases'))
    )


def downgrade():

    op.drop_table('scheduler_leases')

"""Imports (batches awaiting confirm, mapping profiles, carrier aliases) and background jobs.

Revision ID: 0002_imports_jobs
Revises: 0001_initial
Create Date: 2026-11-28 04:43:29.779381

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_imports_jobs'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('mapping_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_mapping_profiles_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mapping_profiles')),
    sa.UniqueConstraint('organization_id', 'source', name=op.f('uq_mapping_profiles_organization_id_source'))
    )
    with op.batch_alter_table('mapping_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mapping_profiles_organization_id'), ['organization_id'], unique=False)

    op.create_table('carrier_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('payer_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_carrier_aliases_organization_id_organizations')),
    sa.ForeignKeyConstraint(['payer_id'], ['payers.id'], name=op.f('fk_carrier_aliases_payer_id_payers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carrier_aliases')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_carrier_aliases_organization_id_name'))
    )
    with op.batch_alter_table('carrier_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carrier_aliases_organization_id'), ['organization_id'], unique=False)

    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('contract', 'office', 'benchmark', 'volumes', name='import_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('status', sa.Enum('uploaded', 'confirmed', 'undone', 'cancelled', name='import_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_batches_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_import_batches_organization_id_organizations')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_import_batches_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batches_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_batches_practice_id'), ['practice_id'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='job_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_jobs_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_jobs_status_created', ['status', 'created_at'], unique=False)

    with op.batch_alter_table('code_volumes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_batch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_code_volumes_import_batch_id'), ['import_batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_code_volumes_import_batch_id_import_batches'), 'import_batches', ['import_batch_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('fee_schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_batch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_fee_schedules_import_batch_id'), ['import_batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_fee_schedules_import_batch_id_import_batches'), 'import_batches', ['import_batch_id'], ['id'], ondelete='SET NULL')




def downgrade():

    with op.batch_alter_table('fee_schedules', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_fee_schedules_import_batch_id_import_batches'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_fee_schedules_import_batch_id'))
        batch_op.drop_column('import_batch_id')

    with op.batch_alter_table('code_volumes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_code_volumes_import_batch_id_import_batches'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_code_volumes_import_batch_id'))
        batch_op.drop_column('import_batch_id')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status_created')
        batch_op.drop_index(batch_op.f('ix_jobs_organization_id'))

    op.drop_table('jobs')
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_batches_practice_id'))
        batch_op.drop_index(batch_op.f('ix_import_batches_organization_id'))

    op.drop_table('import_batches')
    with op.batch_alter_table('carrier_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carrier_aliases_organization_id'))

    op.drop_table('carrier_aliases')
    with op.batch_alter_table('mapping_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mapping_profiles_organization_id'))

    op.drop_table('mapping_profiles')


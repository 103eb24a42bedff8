"""Initial schema: organisations, practices, users, payers, networks, contracts,
pricing routes, contacts, procedure codes, fee schedules and lines, volumes, audit.

Revision ID: 0001_initial
Revises: 
Create Date: 2026-11-28 04:16:14.898868

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_address_at', ['address', 'at'], unique=False)
        batch_op.create_index('ix_login_attempts_email_at', ['email', 'at'], unique=False)

    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name'))
    )
    op.create_table('payers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('payer_id', sa.String(length=40), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_payers_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payers')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_payers_organization_id_name'))
    )
    with op.batch_alter_table('payers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payers_organization_id'), ['organization_id'], unique=False)

    op.create_table('practices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.Text(), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('tin', sa.String(length=20), nullable=False),
    sa.Column('npi', sa.String(length=20), nullable=False),
    sa.Column('re_review_months', sa.Integer(), nullable=False),
    sa.Column('follow_up_days', sa.String(length=60), nullable=False),
    sa.Column('min_raise_bp', sa.Integer(), nullable=False),
    sa.Column('analysis_period_months', sa.Integer(), nullable=False),
    sa.Column('leverage_share_bp', sa.Integer(), nullable=False),
    sa.Column('leverage_scarce_count', sa.Integer(), nullable=False),
    sa.Column('leverage_max_providers', sa.Integer(), nullable=False),
    sa.Column('leverage_radius_miles', sa.Integer(), nullable=False),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('analysis_period_months BETWEEN 1 AND 36', name=op.f('ck_practices_analysis_period')),
    sa.CheckConstraint('min_raise_bp BETWEEN 0 AND 10000', name=op.f('ck_practices_min_raise_bp')),
    sa.CheckConstraint('re_review_months BETWEEN 1 AND 60', name=op.f('ck_practices_re_review_months')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_practices_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practices')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_practices_organization_id_name'))
    )
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practices_organization_id'), ['organization_id'], unique=False)

    op.create_table('procedure_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_procedure_codes_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedure_codes')),
    sa.UniqueConstraint('organization_id', 'code', name=op.f('uq_procedure_codes_organization_id_code'))
    )
    with op.batch_alter_table('procedure_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedure_codes_organization_id'), ['organization_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('owner', 'manager', 'viewer', name='role', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), nullable=False),
    sa.Column('all_practices', sa.Boolean(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_users_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_organization_id'), ['organization_id'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_audit_events_organization_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_object', ['object_type', 'object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_organization_id'), ['organization_id'], unique=False)

    op.create_table('code_volumes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('payer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('count >= 0', name=op.f('ck_code_volumes_count_not_negative')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_code_volumes_period_order')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_code_volumes_organization_id_organizations')),
    sa.ForeignKeyConstraint(['payer_id'], ['payers.id'], name=op.f('fk_code_volumes_payer_id_payers')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_code_volumes_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_volumes')),
    sa.UniqueConstraint('practice_id', 'payer_id', 'code', 'period_start', 'period_end', name=op.f('uq_code_volumes_practice_id_payer_id_code_period_start_period_end'))
    )
    with op.batch_alter_table('code_volumes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_volumes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_code_volumes_practice_id'), ['practice_id'], unique=False)

    op.create_table('networks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('direct', 'leased', 'umbrella', name='network_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('owner_payer_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(kind = 'direct' AND owner_payer_id IS NOT NULL) OR (kind <> 'direct' AND owner_payer_id IS NULL)", name=op.f('ck_networks_direct_has_owner')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_networks_organization_id_organizations')),
    sa.ForeignKeyConstraint(['owner_payer_id'], ['payers.id'], name=op.f('fk_networks_owner_payer_id_payers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_networks')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_networks_organization_id_name'))
    )
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_networks_organization_id'), ['organization_id'], unique=False)

    op.create_table('user_practices',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_user_practices_practice_id_practices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_practices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'practice_id', name=op.f('pk_user_practices'))
    )
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_contacts_network_id_networks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_contacts_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_organization_id'), ['organization_id'], unique=False)

    op.create_table('contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('pr_address', sa.Text(), nullable=False),
    sa.Column('pr_email', sa.String(length=254), nullable=False),
    sa.Column('pr_phone', sa.String(length=40), nullable=False),
    sa.Column('portal_url', sa.String(length=500), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=True),
    sa.Column('renewal_date', sa.Date(), nullable=True),
    sa.Column('notice_days', sa.Integer(), nullable=True),
    sa.Column('auto_renew', sa.Boolean(), nullable=False),
    sa.Column('min_months_between_changes', sa.Integer(), nullable=True),
    sa.Column('mfn_clause', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('min_months_between_changes IS NULL OR min_months_between_changes >= 0', name=op.f('ck_contracts_min_months')),
    sa.CheckConstraint('notice_days IS NULL OR notice_days >= 0', name=op.f('ck_contracts_notice_days')),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_contracts_network_id_networks')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_contracts_organization_id_organizations')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_contracts_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('practice_id', 'network_id', name=op.f('uq_contracts_practice_id_network_id'))
    )
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contracts_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contracts_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contracts_practice_id'), ['practice_id'], unique=False)

    op.create_table('pricing_routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('payer_id', sa.Integer(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_pricing_routes_network_id_networks')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pricing_routes_organization_id_organizations')),
    sa.ForeignKeyConstraint(['payer_id'], ['payers.id'], name=op.f('fk_pricing_routes_payer_id_payers')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_pricing_routes_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pricing_routes')),
    sa.UniqueConstraint('practice_id', 'payer_id', name=op.f('uq_pricing_routes_practice_id_payer_id'))
    )
    with op.batch_alter_table('pricing_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pricing_routes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pricing_routes_practice_id'), ['practice_id'], unique=False)

    op.create_table('fee_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('office', 'contract', 'benchmark', name='schedule_kind', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(kind = 'contract') = (contract_id IS NOT NULL)", name=op.f('ck_fee_schedules_contract_kind')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_fee_schedules_contract_id_contracts')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_fee_schedules_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_fee_schedules_organization_id_organizations')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_fee_schedules_practice_id_practices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_schedules'))
    )
    with op.batch_alter_table('fee_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fee_schedules_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_fee_schedules_lookup', ['practice_id', 'kind', 'effective_from'], unique=False)
        batch_op.create_index(batch_op.f('ix_fee_schedules_organization_id'), ['organization_id'], unique=False)

    op.create_table('fee_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_fee_lines_amount_not_negative')),
    sa.ForeignKeyConstraint(['schedule_id'], ['fee_schedules.id'], name=op.f('fk_fee_lines_schedule_id_fee_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_lines')),
    sa.UniqueConstraint('schedule_id', 'code', name=op.f('uq_fee_lines_schedule_id_code'))
    )



def downgrade():

    op.drop_table('fee_lines')
    with op.batch_alter_table('fee_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fee_schedules_organization_id'))
        batch_op.drop_index('ix_fee_schedules_lookup')
        batch_op.drop_index(batch_op.f('ix_fee_schedules_contract_id'))

    op.drop_table('fee_schedules')
    with op.batch_alter_table('pricing_routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pricing_routes_practice_id'))
        batch_op.drop_index(batch_op.f('ix_pricing_routes_organization_id'))

    op.drop_table('pricing_routes')
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contracts_practice_id'))
        batch_op.drop_index(batch_op.f('ix_contracts_organization_id'))
        batch_op.drop_index(batch_op.f('ix_contracts_network_id'))

    op.drop_table('contracts')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_organization_id'))
        batch_op.drop_index(batch_op.f('ix_contacts_network_id'))

    op.drop_table('contacts')
    op.drop_table('user_practices')
    with op.batch_alter_table('networks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_networks_organization_id'))

    op.drop_table('networks')
    with op.batch_alter_table('code_volumes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_volumes_practice_id'))
        batch_op.drop_index(batch_op.f('ix_code_volumes_organization_id'))

    op.drop_table('code_volumes')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_organization_id'))
        batch_op.drop_index('ix_audit_events_object')

    op.drop_table('audit_events')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_organization_id'))

    op.drop_table('users')
    with op.batch_alter_table('procedure_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_procedure_codes_organization_id'))

    op.drop_table('procedure_codes')
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practices_organization_id'))

    op.drop_table('practices')
    with op.batch_alter_table('payers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payers_organization_id'))

    op.drop_table('payers')
    op.drop_table('organizations')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_email_at')
        batch_op.drop_index('ix_login_attempts_address_at')

    op.drop_table('login_attempts')


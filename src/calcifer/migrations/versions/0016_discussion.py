"""discussion (comments, edit history, watches) and per-person notifications (inbox); outbox cursors

Revision ID: 0016
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import calcifer.db

revision = '0016'
down_revision = '0020'
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # Hand-written; mirrors discussion.models, inbox.models and outbox.models.SubscriberCursor.
    op.create_table('domain_event_cursors',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_id', RowId, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_domain_event_cursors'))
    )
    op.create_table('discussion_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_key', sa.String(length=300), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('edited_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_discussion_comments_author_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_comments'))
    )
    with op.batch_alter_table('discussion_comments', schema=None) as batch_op:
        batch_op.create_index('ix_discussion_comments_target', ['target_kind', 'target_key', 'id'], unique=False)
    op.create_table('discussion_comment_edits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('edited_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('editor_name', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['discussion_comments.id'],
                            name=op.f('fk_discussion_comment_edits_comment_id_discussion_comments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_discussion_comment_edits'))
    )
    with op.batch_alter_table('discussion_comment_edits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_discussion_comment_edits_comment_id'), ['comment_id'], unique=False)
    op.create_table('discussion_watches',
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target_key', sa.String(length=300), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('watching', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_discussion_watches_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('target_kind', 'target_key', 'user_id', name=op.f('pk_discussion_watches'))
    )
    with op.batch_alter_table('discussion_watches', schema=None) as batch_op:
        batch_op.create_index('ix_discussion_watches_user', ['user_id'], unique=False)
    op.create_table('inbox_notifications',
    sa.Column('id', RowId, autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event_id', RowId, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('read', sa.Boolean(), nullable=False),
    sa.Column('in_app', sa.Boolean(), nullable=False),
    sa.Column('created_at', calcifer.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mail_state', sa.String(length=16), nullable=False),
    sa.Column('mail_claim', sa.String(length=32), nullable=True),
    sa.Column('push_pending', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inbox_notifications_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_notifications'))
    )
    with op.batch_alter_table('inbox_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_notifications_user', ['user_id', 'id'], unique=False)
        batch_op.create_index('uq_inbox_notifications_event_user', ['event_id', 'user_id', 'kind'], unique=True)
        batch_op.create_index('ix_inbox_notifications_mail', ['mail_state', 'user_id'], unique=False)
        batch_op.create_index('ix_inbox_notifications_push', ['push_pending'], unique=False)
    op.create_table('inbox_person_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('apprise_sealed', sa.Text(), nullable=False),
    sa.Column('preferences', sa.JSON(), nullable=False),
    sa.Column('last_mail_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inbox_person_settings_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_inbox_person_settings'))
    )
    op.create_table('inbox_smtp',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=16), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('password_sealed', sa.Text(), nullable=False),
    sa.Column('sender', sa.String(length=254), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=False),
    sa.Column('digest_minutes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_smtp'))
    )
    op.create_table('inbox_known_assignees',
    sa.Column('work_item_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('work_item_id', name=op.f('pk_inbox_known_assignees'))
    )
    # The inbox starts from now: events recorded before it existed notify nobody.
    op.execute("INSERT INTO domain_event_cursors (name, last_id) "
               "SELECT 'inbox', COALESCE(MAX(id), 0) FROM domain_events")


def downgrade() -> None:
    for table in ('inbox_known_assignees', 'inbox_smtp', 'inbox_person_settings', 'inbox_notifications',
                  'discussion_watches', 'discussion_comment_edits', 'discussion_comments', 'domain_event_cursors'):
        op.drop_table(table)

"""search index: search_documents and search_state; FTS5 on SQLite, tsvector + GIN on PostgreSQL

Written by hand (Alembic cannot autogenerate an FTS5 table or a GIN index over a column that the
models do not map). See ``calcifer.search.models`` for what each engine gets.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import calcifer.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# unicode61 without diacritics folding, like PostgreSQL's 'simple' configuration: both engines match
# the same words. Prefix indexes of 2 and 3 characters keep the as-you-type prefix queries quick.
# On SQLite a row's id carries its kind (search.engines gives ids by kind), so the kind filter and
# the counts by kind read FTS5's rowids alone, never a search_documents row per match.
FTS_CREATE = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='search_documents', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0', prefix='2 3')"
)
SQLITE_TRIGGERS = (
    """CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
  INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END""",
    """CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
  INSERT INTO search_fts(search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END""",
    """CREATE TRIGGER search_documents_au AFTER UPDATE OF title, body ON search_documents BEGIN
  INSERT INTO search_fts(search_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
  INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END""",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    columns: list[sa.schema.SchemaItem] = [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=1024), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('meta', sa.String(length=500), nullable=False),
        sa.Column('version', sa.String(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
    ]
    if dialect == 'postgresql':
        # tsv: title (weight A) and body (B), for matching and ranking; title_tsv: the title alone,
        # for the title bonus and the title-first pass of queries with very many matches.
        columns.append(sa.Column('tsv', postgresql.TSVECTOR(), nullable=False,
                                 server_default=sa.text("''::tsvector")))
        columns.append(sa.Column('title_tsv', postgresql.TSVECTOR(), nullable=False,
                                 server_default=sa.text("''::tsvector")))
    op.create_table(
        'search_documents', *columns,
        sa.PrimaryKeyConstraint('id', name=op.f('pk_search_documents')),
        sa.UniqueConstraint('kind', 'key', name=op.f('uq_search_documents_kind')),
    )
    if dialect == 'postgresql':
        op.create_index('ix_search_documents_tsv', 'search_documents', ['tsv'], unique=False,
                        postgresql_using='gin')
        op.create_index('ix_search_documents_title_tsv', 'search_documents', ['title_tsv'], unique=False,
                        postgresql_using='gin')
    elif dialect == 'sqlite':
        op.execute(FTS_CREATE)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)

    state = op.create_table(
        'search_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('main_commit', sa.String(length=64), nullable=True),
        sa.Column('changelog_blob', sa.String(length=64), nullable=True),
        sa.Column('catalog_commit', sa.String(length=64), nullable=True),
        sa.Column('refreshed_at', calcifer.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_search_state')),
    )
    # The single state row: refreshes lock it first, so concurrent refreshes run one after the other.
    op.bulk_insert(state, [{'id': 1, 'main_commit': None, 'changelog_blob': None, 'catalog_commit': None,
                            'refreshed_at': None, 'duration_ms': 0}])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table('search_state')
    if dialect == 'sqlite':
        for name in ('search_documents_au', 'search_documents_ad', 'search_documents_ai'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
        op.execute('DROP TABLE IF EXISTS search_fts')
    elif dialect == 'postgresql':
        op.drop_index('ix_search_documents_title_tsv', table_name='search_documents', postgresql_using='gin')
        op.drop_index('ix_search_documents_tsv', table_name='search_documents', postgresql_using='gin')
    op.drop_table('search_documents')

"""The migrations build exactly the tables the models describe (on the engine under test)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import calcifer.models
from calcifer.web.context import AppContext


def _ours(diff: object) -> bool:
    # The full-text parts are created by hand (FTS5 virtual tables, tsvector columns), not from models.
    text = repr(diff)
    return "search_fts" not in text and "TSVECTOR" not in text


def test_migrated_database_matches_the_models(ctx: AppContext) -> None:
    with ctx.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [diff for diff in compare_metadata(context, calcifer.models.metadata) if _ours(diff)]
    assert differences == [], "write a migration for these model changes"

"""Alembic environment: always run with a connection handed in by `calcifer.db.upgrade_database`."""

from __future__ import annotations

from alembic import context

from calcifer.models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - offline mode is not supported
    raise RuntimeError("run migrations through `calcifer db upgrade`")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()

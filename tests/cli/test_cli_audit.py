"""What an operator does with the `calcifer` command is audited with the command line as the actor."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from calcifer.app import prepare
from calcifer.audit.models import AuditEntry
from calcifer.config import Settings
from tests.conftest import TEST_DATABASE_URL, drop_schema, make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    value = make_settings(tmp_path / "data")
    yield value
    drop_schema(value)


def calcifer(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALCIFER_DATA_DIR": str(settings.data_dir)}
    if TEST_DATABASE_URL:
        env["CALCIFER_DATABASE_URL"] = TEST_DATABASE_URL
        env["CALCIFER_DATABASE_SCHEMA"] = str(settings.database_schema)
    return subprocess.run([sys.executable, "-m", "calcifer.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120)


def test_user_and_token_created_at_the_command_line_name_the_cli_as_actor(settings: Settings) -> None:
    assert calcifer(settings, "init").returncode == 0
    made = calcifer(settings, "user", "create", "--username", "ops", "--role", "editor", "--password-stdin",
                    stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    token = calcifer(settings, "token", "create", "--user", "ops", "--name", "ci")
    assert token.returncode == 0, token.stderr
    ctx = prepare(settings)
    try:
        with ctx.session_factory() as session:
            entries = {e.action: e for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.in_(["user.create", "token.create"])))}
    finally:
        ctx.engine.dispose()
    assert set(entries) == {"user.create", "token.create"}
    for entry in entries.values():
        assert entry.actor_name == "cli" and entry.actor_id is None, (entry.action, entry.actor_name)
    assert "ops" in entries["user.create"].summary and "for ops" in entries["token.create"].summary

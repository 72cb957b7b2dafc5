"""The `calcifer` command, run as a real subprocess against a temporary data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_DATABASE_URL, drop_schema, make_settings


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "data")
    values = {**os.environ, "CALCIFER_DATA_DIR": str(settings.data_dir)}
    if TEST_DATABASE_URL:
        values["CALCIFER_DATABASE_URL"] = TEST_DATABASE_URL
        values["CALCIFER_DATABASE_SCHEMA"] = str(settings.database_schema)
    yield values
    drop_schema(settings)


def calcifer(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calcifer.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120)


def test_init_user_token_and_work_commands(env: dict[str, str], tmp_path: Path) -> None:
    done = calcifer(env, "init")
    assert done.returncode == 0, done.stderr
    data = Path(env["CALCIFER_DATA_DIR"])
    assert (data / "repo.git" / "HEAD").is_file()
    assert oct((data / "secret_key").stat().st_mode & 0o777) == "0o600"

    made = calcifer(env, "user", "create", "--username", "ops", "--role", "editor", "--password-stdin",
                    stdin="a long password\n")
    assert made.returncode == 0, made.stderr
    short = calcifer(env, "user", "create", "--username", "x", "--password-stdin", stdin="short\n")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr

    token = calcifer(env, "token", "create", "--user", "ops", "--name", "ci")
    assert token.returncode == 0, token.stderr
    raw = token.stdout.strip().splitlines()[-1]
    assert raw.startswith("cal_") and " " not in raw

    new = calcifer(env, "work", "new", "--title", "Add grafana", "--category", "service", "--action", "new",
                   "--user", "ops")
    assert new.returncode == 0, new.stderr
    assert "service/new/1-add-grafana" in new.stdout
    listed = calcifer(env, "work", "list")
    assert "Add grafana" in listed.stdout
    shown = calcifer(env, "work", "show", "1")
    assert "Merge refused" in shown.stdout and "notes are empty" in shown.stdout


def test_init_from_adopts_an_existing_repository(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "existing"
    subprocess.run(["git", "init", "-q", "-b", "master", str(source)], check=True)
    (source / "README.md").write_text("hello\n")
    run = {"cwd": source, "check": True}
    subprocess.run(["git", "add", "README.md"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "first"], **run)  # type: ignore[call-overload]
    done = calcifer(env, "init", "--from", str(source))
    assert done.returncode == 0, done.stderr
    repo = Path(env["CALCIFER_DATA_DIR"]) / "repo.git"
    shown = subprocess.run(["git", "--git-dir", str(repo), "show", "main:README.md"], capture_output=True,
                           text=True, check=True)
    assert shown.stdout == "hello\n"


def test_init_from_a_url_keeps_it_as_the_remote(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "forge.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(source)], check=True)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(source), str(work)], check=True, capture_output=True)
    (work / "README.md").write_text("hello\n")
    git = ["git", "-C", str(work), "-c", "user.name=a", "-c", "user.email=a@b"]
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], check=True)
    done = calcifer(env, "init", "--from", source.as_uri())
    assert done.returncode == 0, done.stderr
    assert "as the remote" in done.stdout
    from calcifer.config import Settings
    from calcifer.instance import prepare
    from calcifer.remote import service as remote_service

    settings = Settings(_env_file=None, data_dir=Path(env["CALCIFER_DATA_DIR"]),  # type: ignore[call-arg]
                        database_url=env.get("CALCIFER_DATABASE_URL") or None,
                        database_schema=env.get("CALCIFER_DATABASE_SCHEMA") or None)
    ctx = prepare(settings, reconcile=False)
    with ctx.session_factory() as session:
        state = remote_service.state(session=session, repo_path=ctx.repo_path)
    ctx.engine.dispose()
    assert state is not None and state["url"] == source.as_uri()


def test_init_from_refuses_option_like_sources(env: dict[str, str]) -> None:
    done = calcifer(env, "init", "--from", "--upload-pack=touch /tmp/pwned")
    assert done.returncode != 0
    assert not Path("/tmp/pwned").exists()


def test_db_upgrade_reports_the_revision(env: dict[str, str]) -> None:
    done = calcifer(env, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "revision" in done.stdout

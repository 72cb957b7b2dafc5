"""The backup commands as a person runs them: `calcifer backup|restore|export|import|import-kuma` subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from calcifer.backup import export, service
from calcifer.config import Settings
from calcifer.web.context import AppContext
from tests.backup.helpers import ROOT, SAMPLES, build_rich_instance, env_for
from tests.conftest import Cast, drop_schema, make_settings


def calcifer(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "calcifer.cli", *args], env=env_for(settings, **env), cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_backup_and_restore_commands(ctx: AppContext, cast: Cast, tmp_path: Path) -> None:
    build_rich_instance(ctx, cast)
    made = calcifer(ctx.settings, "backup", "--to", str(tmp_path / "out"))
    assert made.returncode == 0, made.stderr
    assert "Backup written:" in made.stdout and "100%" in made.stderr  # the progress bar
    [archive_file] = service.list_backups(directory=tmp_path / "out")

    restored = make_settings(tmp_path / "restored")
    try:
        done = calcifer(restored, "restore", str(archive_file.path), "--data-dir", str(tmp_path / "restored"))
        assert done.returncode == 0, done.stderr
        assert "Restored" in done.stdout and "#2" in done.stdout  # the in-progress item's worktree
        again = calcifer(restored, "restore", str(archive_file.path), "--data-dir", str(tmp_path / "restored"))
        assert again.returncode == 1 and "not empty" in again.stderr and "--force" in again.stderr
        listed = calcifer(restored, "work", "list")
        assert "Tune grafana alerts" in listed.stdout
    finally:
        drop_schema(restored)


def test_restore_refuses_a_damaged_archive_with_a_clear_message(ctx: AppContext, tmp_path: Path) -> None:
    damaged = tmp_path / "calcifer-backup-20260101T000000000Z.tar.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00garbage")
    target = tmp_path / "empty"
    target.mkdir()
    result = calcifer(ctx.settings, "restore", str(damaged), "--data-dir", str(target))
    assert result.returncode == 1 and "damaged or truncated" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(target.iterdir()) == []


def test_export_and_import_commands_round_trip(ctx: AppContext, cast: Cast, tmp_path: Path) -> None:
    build_rich_instance(ctx, cast)
    first = tmp_path / "first.json"
    out = calcifer(ctx.settings, "export", "--format", "json", "--output", str(first))
    assert out.returncode == 0, out.stderr
    assert "without password or token hashes" in out.stderr
    assert calcifer(ctx.settings, "export", "--format", "xml").returncode == 1
    piped = calcifer(ctx.settings, "export", "--format", "json", "--include-secrets")
    assert json.loads(piped.stdout)["secrets_included"] is True

    fresh = make_settings(tmp_path / "fresh")
    try:
        calcifer(fresh, "init", CALCIFER_REPO_PATH=str(ctx.repo_path))
        loaded = calcifer(fresh, "import", str(first), CALCIFER_REPO_PATH=str(ctx.repo_path))
        assert loaded.returncode == 0, loaded.stderr
        assert "Imported" in loaded.stdout and "password" in loaded.stderr  # the warning about hashes
        second = tmp_path / "second.json"
        calcifer(fresh, "export", "--format", "json", "--output", str(second), CALCIFER_REPO_PATH=str(ctx.repo_path))
        assert export.comparable(json.loads(second.read_text())) == export.comparable(json.loads(first.read_text()))
        twice = calcifer(fresh, "import", str(first), CALCIFER_REPO_PATH=str(ctx.repo_path))
        assert twice.returncode == 1 and "empty instance" in twice.stderr
    finally:
        drop_schema(fresh)


def test_import_kuma_command(ctx: AppContext, cast: Cast) -> None:
    sample = str(SAMPLES / "uptime-kuma-backup.json")
    dry = calcifer(ctx.settings, "import-kuma", sample, "--user", "eddie", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would import 11 endpoint(s)" in dry.stdout and "Work item" not in dry.stdout
    denied = calcifer(ctx.settings, "import-kuma", sample, "--user", "vera")
    assert denied.returncode == 1 and "editor role" in denied.stderr
    done = calcifer(ctx.settings, "import-kuma", sample, "--user", "eddie")
    assert done.returncode == 0, done.stderr
    assert "Work item #1" in done.stdout and "Imported 11 endpoint(s)" in done.stdout
    assert "Jellyfin container (docker)" in done.stdout and "Mail (smtp)" in done.stdout
    assert "AbCdEf" not in done.stdout, "webhook tokens are never printed"

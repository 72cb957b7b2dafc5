"""Backups to an SFTP server: Debian's openssh-server, started by the tests as its own sshd on 127.0.0.1
with a generated host key and an authorized key (tests/backup/offsite.py). Upload, retention, restore
from an sftp:// location, a wrong host key refused, wrong credentials refused with a clear error."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from calcifer.auth.models import User
from calcifer.backup import service, targets
from calcifer.backup.choices import RunStatus, Trigger
from calcifer.backup.schemas import BackupTargetCreate
from calcifer.backup.stores import StoreError
from calcifer.web.context import AppContext
from tests.backup.helpers import ROOT, env_for
from tests.backup.offsite import SshServer
from tests.conftest import Cast, drop_schema, make_settings


def add_sftp_target(ctx: AppContext, ssh: SshServer, folder: str, **overrides: object) -> int:
    values: dict[str, object] = {"name": "nas", "kind": "sftp", "host": "127.0.0.1", "port": ssh.port,
                                 "username": ssh.user, "folder": folder, "private_key": ssh.client_key,
                                 "host_key_fingerprint": ssh.host_fingerprint}
    values.update(overrides)
    with ctx.session_factory() as session:
        actor = session.scalars(select(User).where(User.username == "alice")).one()
        return targets.create_target(session=session, actor=actor, secret_key=ctx.secret_key,
                                     data=BackupTargetCreate(**values)).id  # type: ignore[arg-type]


def test_a_backup_is_uploaded_to_the_sftp_folder_and_retention_applies_there(cast: Cast, ctx: AppContext,
                                                                             ssh_server: SshServer) -> None:
    folder = ssh_server.folder()
    add_sftp_target(ctx, ssh_server, folder)
    (Path(folder) / "readme.txt").write_text("not an archive\n")
    with ctx.session_factory() as session:
        actor = session.scalars(select(User).where(User.username == "alice")).one()
        service.set_schedule(session=session, actor=actor, cron="0 3 * * *", keep=2)
    results = [service.backup(ctx=ctx, trigger=Trigger.CLI) for _ in range(3)]
    first = results[-1]
    location = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}{folder}/{first.path.name}"
    assert first.uploaded == [location]
    remote = Path(folder) / first.path.name
    assert hashlib.sha256(remote.read_bytes()).hexdigest() == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert sorted(p.name for p in Path(folder).iterdir()) == sorted(
        [results[1].path.name, results[2].path.name, "readme.txt"])  # no .partial left, the oldest deleted
    listing = cast.admin.get("/api/v1/backups").json()
    assert listing["items"][0]["locations"] == ["local", location]


def test_trust_on_first_use_pins_the_host_key_and_shows_it(cast: Cast, ctx: AppContext, ssh_server: SshServer) -> None:
    target_id = add_sftp_target(ctx, ssh_server, ssh_server.folder(), host_key_fingerprint="")
    assert cast.admin.get(f"/api/v1/backups/targets/{target_id}").json()["host_key_fingerprint"] is None
    tested = cast.admin.post(f"/api/v1/backups/targets/{target_id}/test").json()
    assert tested["ok"] is True and tested["host_key_fingerprint"] == ssh_server.host_fingerprint
    shown = cast.admin.get(f"/api/v1/backups/targets/{target_id}").json()
    assert shown["host_key_fingerprint"] == ssh_server.host_fingerprint
    assert shown["host_key_trusted_on_first_use"] is True
    assert ssh_server.client_key.strip().splitlines()[1] not in str(shown)


def test_a_host_key_other_than_the_pinned_one_is_refused(cast: Cast, ctx: AppContext, ssh_server: SshServer) -> None:
    folder = ssh_server.folder()
    wrong = "SHA256:" + "A" * 43
    target_id = add_sftp_target(ctx, ssh_server, folder, host_key_fingerprint=wrong)
    tested = cast.admin.post(f"/api/v1/backups/targets/{target_id}/test").json()
    assert tested["ok"] is False and "not the pinned one" in tested["message"]
    with pytest.raises(StoreError) as raised:
        service.backup(ctx=ctx, trigger=Trigger.CLI)
    assert raised.value.code == "host_key_mismatch" and "refusing to connect" in raised.value.message
    assert list(Path(folder).iterdir()) == []
    [kept] = service.list_backups(directory=ctx.settings.resolved_backup_dir)
    with ctx.session_factory() as session:
        run = service.last_failure(session=session)
        assert run is not None and run.status == RunStatus.FAILED.value and kept.name in run.error


def test_wrong_credentials_give_a_clear_error(cast: Cast, ctx: AppContext, ssh_server: SshServer) -> None:
    by_key = add_sftp_target(ctx, ssh_server, ssh_server.folder(), name="wrong key", private_key=ssh_server.other_key)
    tested = cast.admin.post(f"/api/v1/backups/targets/{by_key}/test").json()
    assert tested["ok"] is False
    assert tested["message"] == (f"SFTP: {ssh_server.user}@127.0.0.1:{ssh_server.port} refused the login: check the "
                                 "user name and the private key.")
    by_password = add_sftp_target(ctx, ssh_server, ssh_server.folder(), name="wrong password", private_key="",
                                  password="not the password")
    tested = cast.admin.post(f"/api/v1/backups/targets/{by_password}/test").json()
    assert tested["ok"] is False and "refused the login" in tested["message"] and "password" in tested["message"]
    assert "not the password" not in str(cast.admin.get("/api/v1/backups/targets").json())
    page = cast.admin.get("/settings/backups/targets").text
    assert "refused the login" in page and "not the password" not in page


def test_restore_from_an_sftp_location(cast: Cast, ctx: AppContext, ssh_server: SshServer, tmp_path: Path) -> None:
    folder = ssh_server.folder()
    add_sftp_target(ctx, ssh_server, folder)
    result = service.backup(ctx=ctx, trigger=Trigger.CLI)
    location = f"sftp://{ssh_server.user}@127.0.0.1:{ssh_server.port}{folder}/{result.path.name}"
    restored = make_settings(tmp_path / "restored")
    try:
        if ctx.settings.database_url:  # --targets-from names a data directory; PostgreSQL schemas are per test
            dest = tmp_path / "download"
            dest.mkdir()
            path = service.download_archive(settings=ctx.settings, location=location, dest=dest)
            service.restore(archive_path=path, settings=restored)
        else:
            done = subprocess.run([sys.executable, "-m", "calcifer.cli", "restore", location, "--data-dir",
                                   str(restored.data_dir), "--targets-from", str(ctx.settings.data_dir)],
                                  env=env_for(restored), cwd=ROOT, capture_output=True, text=True, timeout=300,
                                  check=False)
            assert done.returncode == 0, done.stderr
            assert f"Restored {result.path.name}" in done.stdout
        key = (ctx.settings.data_dir / "secret_key").read_text()
        assert (restored.resolved_data_dir / "secret_key").read_text() == key
    finally:
        drop_schema(restored)

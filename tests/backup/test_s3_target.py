"""Backups to S3-compatible storage: upload (multipart too), checksum verified, retention in the bucket,
restore from an s3:// location; a failed upload keeps the local archive and records the failure.

The S3 server is moto in server mode on 127.0.0.1 (tests/backup/offsite.py): a stand-in for a real
S3-compatible service, at the one seam where Calcifer speaks S3 (boto3 over HTTP).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from calcifer.auth.models import User
from calcifer.backup import service, targets
from calcifer.backup.choices import RunStatus, Trigger
from calcifer.backup.schemas import BackupTargetCreate
from calcifer.backup.stores import S3Config, S3Store, StoreError
from calcifer.outbox import service as outbox
from calcifer.web.context import AppContext
from tests.backup.helpers import ROOT, env_for
from tests.backup.offsite import S3Server
from tests.conftest import Cast, drop_schema, make_settings


def admin(session: Session) -> User:
    from sqlalchemy import select

    return session.scalars(select(User).where(User.username == "alice")).one()


def add_s3_target(ctx: AppContext, s3: S3Server, *, bucket: str, prefix: str = "calcifer/nightly",
                  name: str = "offsite", enabled: bool = True) -> int:
    with ctx.session_factory() as session:
        data = BackupTargetCreate(name=name, kind="s3", enabled=enabled, endpoint_url=s3.endpoint_url,
                                  region="us-east-1", bucket=bucket, prefix=prefix, access_key_id="AKIDTEST",
                                  secret_access_key="s3cr3t-for-tests")
        target = targets.create_target(session=session, actor=admin(session), secret_key=ctx.secret_key, data=data)
        return target.id


def keys(s3: S3Server, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_backup_is_uploaded_verified_and_the_list_shows_where_it_lives(cast: Cast, ctx: AppContext,
                                                                          s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    target_id = add_s3_target(ctx, s3_server, bucket=bucket)
    result = service.backup(ctx=ctx, trigger=Trigger.CLI)
    key = f"calcifer/nightly/{result.path.name}"
    assert result.uploaded == [f"s3://{bucket}/{key}"]
    head = s3_server.client().head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert head["ContentLength"] == result.size

    listing = cast.admin.get("/api/v1/backups").json()
    assert listing["items"][0]["locations"] == ["local", f"s3://{bucket}/{key}"]
    target = cast.admin.get(f"/api/v1/backups/targets/{target_id}").json()
    assert target["location"] == f"s3://{bucket}/calcifer/nightly/" and target["last_error"] is None
    assert "s3cr3t-for-tests" not in str(target) and "AKIDTEST" not in str(target)
    page = cast.admin.get("/settings/backups").text
    assert f"s3://{bucket}/{key}" in page


def test_a_large_archive_goes_up_in_parts_and_its_etag_is_checked(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    store = S3Store(S3Config(endpoint_url=s3_server.endpoint_url, region="us-east-1", bucket=bucket, prefix="p/",
                             part_size_mb=5), access_key_id="a", secret_access_key="b")
    source = tmp_path / "calcifer-backup-20260101T000000000Z.tar.gz"
    source.write_bytes(os.urandom(11 * 1024 * 1024))  # three parts of at most 5 MiB
    uploaded = store.put(source=source, name=source.name)
    head = s3_server.client().head_object(Bucket=bucket, Key=f"p/{source.name}")
    assert head["ETag"].strip('"').endswith("-3")
    assert uploaded.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    back = tmp_path / "back"
    store.get(name=source.name, dest=back)
    assert back.read_bytes() == source.read_bytes()


def test_a_corrupted_object_is_detected_after_upload_and_at_restore(cast: Cast, ctx: AppContext, s3_server: S3Server,
                                                                   tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    add_s3_target(ctx, s3_server, bucket=bucket, prefix="")
    result = service.backup(ctx=ctx, trigger=Trigger.CLI)
    original = result.path.read_bytes()
    sha = hashlib.sha256(original).hexdigest()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    # The bytes change behind Calcifer's back; the metadata still claims the original checksum.
    s3_server.client().put_object(Bucket=bucket, Key=result.path.name, Body=bytes(damaged), Metadata={"sha256": sha})

    with ctx.session_factory() as session:
        [target] = targets.list_targets(session=session)
        store = targets.store_for(session=session, target=target, secret_key=ctx.secret_key)
    assert isinstance(store, S3Store)
    with pytest.raises(StoreError) as raised:
        store.verify(name=result.path.name, size=len(original), sha256=sha,
                     etag=hashlib.md5(original, usedforsecurity=False).hexdigest())
    assert raised.value.code == "checksum_mismatch" and "ETag" in raised.value.message

    dest = tmp_path / "download"
    dest.mkdir()
    with pytest.raises(StoreError) as refused:
        service.download_archive(settings=ctx.settings, location=f"s3://{bucket}/{result.path.name}", dest=dest)
    assert refused.value.code == "checksum_mismatch" and "nothing was restored" in refused.value.message
    assert list(dest.iterdir()) == []


def test_retention_deletes_the_oldest_archives_in_the_bucket(cast: Cast, ctx: AppContext, s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    add_s3_target(ctx, s3_server, bucket=bucket, prefix="keep2")
    s3_server.client().put_object(Bucket=bucket, Key="keep2/notes.txt", Body=b"not an archive")
    with ctx.session_factory() as session:
        service.set_schedule(session=session, actor=admin(session), cron="0 3 * * *", keep=2)
    names = [service.backup(ctx=ctx, trigger=Trigger.CLI).path.name for _ in range(3)]
    assert keys(s3_server, bucket) == sorted([f"keep2/{names[1]}", f"keep2/{names[2]}", "keep2/notes.txt"])
    listing = cast.admin.get("/api/v1/backups").json()
    assert [item["name"] for item in listing["items"]] == [names[2], names[1]]
    assert all(len(item["locations"]) == 2 for item in listing["items"])


def test_a_failed_upload_keeps_the_local_archive_and_records_a_failed_run(cast: Cast, ctx: AppContext,
                                                                          s3_server: S3Server) -> None:
    add_s3_target(ctx, s3_server, bucket="no-such-bucket-here")
    with pytest.raises(StoreError) as raised:
        service.backup(ctx=ctx, trigger=Trigger.CLI)
    assert "no bucket 'no-such-bucket-here'" in raised.value.message
    [kept] = service.list_backups(directory=ctx.settings.resolved_backup_dir)
    assert str(kept.path) in raised.value.message
    with ctx.session_factory() as session:
        run = service.last_failure(session=session)
        assert run is not None and run.status == RunStatus.FAILED.value and run.file_name == kept.name
        assert "offsite" in run.error and "kept in the local backup folder" in run.error
        events = [e for e in outbox.pending_events(session=session) if e.name == "backup.failed"]
    assert events and events[-1].data["backup"]["file_name"] == kept.name
    target = cast.admin.get("/api/v1/backups/targets").json()["items"][0]
    assert "no bucket" in target["last_error"]
    listing = cast.admin.get("/api/v1/backups").json()
    assert listing["items"][0]["locations"] == ["local"]
    assert listing["last_failure"]["error"] == run.error


def test_restore_from_an_s3_location(cast: Cast, ctx: AppContext, s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.new_bucket()
    add_s3_target(ctx, s3_server, bucket=bucket)
    result = service.backup(ctx=ctx, trigger=Trigger.CLI)
    location = f"s3://{bucket}/calcifer/nightly/{result.path.name}"
    restored = make_settings(tmp_path / "restored")
    try:
        dest = tmp_path / "download"
        dest.mkdir()
        downloaded = service.download_archive(settings=ctx.settings, location=location, dest=dest)
        outcome = service.restore(archive_path=downloaded, settings=restored)
        assert outcome.data_dir == restored.resolved_data_dir and (outcome.data_dir / "secret_key").is_file()

        with pytest.raises(Exception, match="No backup target configured here holds"):
            service.download_archive(settings=ctx.settings, location=f"s3://other-bucket/{result.path.name}",
                                     dest=dest)
    finally:
        drop_schema(restored)


def test_the_restore_command_takes_an_s3_location(cast: Cast, ctx: AppContext, s3_server: S3Server,
                                                  tmp_path: Path) -> None:
    if ctx.settings.database_url:
        pytest.skip("--targets-from names a data directory; the source's PostgreSQL schema is per test")
    bucket = s3_server.new_bucket()
    add_s3_target(ctx, s3_server, bucket=bucket)
    result = service.backup(ctx=ctx, trigger=Trigger.CLI)
    restored = make_settings(tmp_path / "restored")
    location = f"s3://{bucket}/calcifer/nightly/{result.path.name}"
    done = subprocess.run([sys.executable, "-m", "calcifer.cli", "restore", location, "--data-dir",
                           str(restored.data_dir), "--targets-from", str(ctx.settings.data_dir)],
                          env=env_for(restored), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert f"downloading {location}" in done.stderr and f"Restored {result.path.name}" in done.stdout
    unknown = subprocess.run([sys.executable, "-m", "calcifer.cli", "restore", f"s3://{bucket}/x/{result.path.name}",
                              "--data-dir", str(tmp_path / "other"), "--targets-from", str(ctx.settings.data_dir)],
                             env=env_for(restored), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert unknown.returncode == 1 and "No backup target configured here holds" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_scheduled_backups_go_to_the_enabled_targets_only(cast: Cast, ctx: AppContext, s3_server: S3Server) -> None:
    import datetime as dt

    from calcifer.backup import scheduler

    chosen, spare = s3_server.new_bucket(), s3_server.new_bucket()
    add_s3_target(ctx, s3_server, bucket=chosen, prefix="", name="chosen")
    add_s3_target(ctx, s3_server, bucket=spare, prefix="", name="spare", enabled=False)
    now = dt.datetime.now(dt.UTC)
    assert scheduler.run_due(ctx, last_seen=now - dt.timedelta(days=1, hours=1), now=now) is True
    with ctx.session_factory() as session:
        run = service.last_success(session=session)
        assert run is not None and run.trigger == Trigger.SCHEDULED.value
        name = run.file_name
    assert keys(s3_server, chosen) == [name] and keys(s3_server, spare) == []

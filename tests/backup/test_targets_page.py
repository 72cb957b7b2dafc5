"""Settings → Backups → Targets and /api/v1/backups/targets: admins only; add, test connection, remove;
credentials never shown back; bad input answered with what to fix."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from calcifer.auth.choices import Role
from calcifer.backup.models import BackupTarget
from calcifer.sealed import unseal
from calcifer.web.context import AppContext
from tests.backup.offsite import S3Server
from tests.conftest import Cast, browser_login, make_user


def test_only_admins_see_or_change_targets(cast: Cast) -> None:
    for client in (cast.viewer, cast.editor):
        assert client.get("/api/v1/backups/targets").status_code == 403
        assert client.post("/api/v1/backups/targets", json={"name": "x", "kind": "s3"}).status_code == 403
        assert client.get("/api/v1/backups/targets/1").status_code == 403
        assert client.delete("/api/v1/backups/targets/1").status_code == 403
        assert client.patch("/api/v1/backups/targets/1", json={"enabled": False}).status_code == 403
        assert client.post("/api/v1/backups/targets/1/test").status_code == 403
        assert client.get("/settings/backups/targets").status_code == 403
    assert cast.outsider.get("/api/v1/backups/targets").status_code == 401


def test_bad_targets_are_refused_with_every_field_to_fix(cast: Cast) -> None:
    refused = cast.admin.post("/api/v1/backups/targets", json={"name": "b", "kind": "s3", "bucket": "Not_A_Bucket"})
    assert refused.status_code == 422
    body = refused.json()["error"]
    assert {d["field"] for d in body["details"]} == {"bucket", "access_key_id", "secret_access_key"}
    assert body["message"].startswith("The S3 target is not complete:")
    sftp = cast.admin.post("/api/v1/backups/targets", json={"name": "n", "kind": "sftp", "host": "nas", "username": "u",
                                                           "folder": "backups", "password": "p"})
    assert sftp.status_code == 422 and "absolute path" in sftp.json()["error"]["message"]
    both = cast.admin.post("/api/v1/backups/targets", json={"name": "n", "kind": "sftp", "host": "nas", "username": "u",
                                                           "folder": "/b", "password": "p", "private_key": "k"})
    assert both.status_code == 422 and "either a password or a private key" in both.json()["error"]["message"]
    kind = cast.admin.post("/api/v1/backups/targets", json={"name": "n", "kind": "ftp"})
    assert kind.status_code == 422 and "s3, sftp" in kind.json()["error"]["message"]


def test_add_test_and_remove_a_target_on_the_page(app, ctx: AppContext,  # type: ignore[no-untyped-def]
                                                  s3_server: S3Server) -> None:
    make_user(ctx, "ada", Role.ADMIN)
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "ada")
    bucket = s3_server.new_bucket()
    added = browser.post("/settings/backups/targets", data={
        "csrf_token": token, "kind": "s3", "name": "Offsite", "endpoint_url": s3_server.endpoint_url,
        "region": "us-east-1", "bucket": bucket, "prefix": "/calcifer//", "part_size_mb": "5",
        "access_key_id": "AKIDPAGE", "secret_access_key": "page-secret-value", "enabled": "1"})
    assert added.status_code == 303
    page = browser.get("/settings/backups/targets").text
    assert f"s3://{bucket}/calcifer/" in page and "Offsite" in page
    assert "page-secret-value" not in page and "AKIDPAGE" not in page
    with ctx.session_factory() as session:
        target = session.scalars(select(BackupTarget)).one()
        assert "page-secret-value" not in target.secret_sealed and "page-secret-value" not in str(target.config)
        assert "page-secret-value" in unseal(ctx.secret_key, "backup-target-credentials", target.secret_sealed)
        target_id = target.id

    tested = browser.post(f"/settings/backups/targets/{target_id}/test", data={"csrf_token": token})
    assert tested.status_code == 303
    page = browser.get("/settings/backups/targets").text
    assert f"Connected: bucket {bucket} holds 0 archive(s)" in page

    again = browser.post("/settings/backups/targets", data={
        "csrf_token": token, "kind": "s3", "name": "Offsite", "bucket": bucket, "access_key_id": "a",
        "secret_access_key": "b"})
    assert again.status_code == 303
    assert "exists already" in browser.get("/settings/backups/targets").text

    paused = browser.post(f"/settings/backups/targets/{target_id}/enabled", data={"csrf_token": token, "enabled": "0"})
    assert paused.status_code == 303
    assert "not used" in browser.get("/settings/backups/targets").text
    with ctx.session_factory() as session:
        assert session.get(BackupTarget, target_id).enabled is False  # type: ignore[union-attr]

    removed = browser.post(f"/settings/backups/targets/{target_id}/delete", data={"csrf_token": token})
    assert removed.status_code == 303
    assert "No targets" in browser.get("/settings/backups/targets").text


def test_a_target_that_cannot_be_reached_fails_its_test_with_the_reason(cast: Cast) -> None:
    created = cast.admin.post("/api/v1/backups/targets", json={
        "name": "gone", "kind": "s3", "endpoint_url": "http://127.0.0.1:9", "bucket": "calcifer",
        "access_key_id": "a", "secret_access_key": "b"})
    assert created.status_code == 201, created.text
    target = created.json()
    assert target["location"] == "s3://calcifer/" and target["part_size_mb"] == 64
    assert "secret_access_key" not in target and "access_key_id" not in target
    tested = cast.admin.post(f"/api/v1/backups/targets/{target['id']}/test").json()
    assert tested["ok"] is False and "check the endpoint URL" in tested["message"]
    assert cast.admin.get(f"/api/v1/backups/targets/{target['id']}").json()["last_error"] == tested["message"]
    paused = cast.admin.patch(f"/api/v1/backups/targets/{target['id']}", json={"enabled": False})
    assert paused.status_code == 200 and paused.json()["enabled"] is False
    assert cast.admin.patch(f"/api/v1/backups/targets/{target['id']}", json={"enabled": "no"}).status_code == 422
    assert cast.admin.delete(f"/api/v1/backups/targets/{target['id']}").status_code == 204
    assert cast.admin.get(f"/api/v1/backups/targets/{target['id']}").status_code == 404

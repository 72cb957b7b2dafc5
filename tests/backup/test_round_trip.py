"""Backup → restore into a new directory gives the same instance; export → import → export is identical."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from calcifer.app import create_app, prepare
from calcifer.backup import export, service
from calcifer.config import Settings
from calcifer.web.context import AppContext
from tests.backup.helpers import build_rich_instance
from tests.conftest import Cast, api_client, drop_schema, make_settings, make_token

ROUTES = ["/api/v1/work-items?limit=100", "/api/v1/services", "/api/v1/endpoints", "/api/v1/changelog",
          "/api/v1/incidents", "/api/v1/monitoring/endpoints", "/api/v1/monitoring/endpoints/grafana-health/results",
          "/api/v1/audit?limit=200", "/api/v1/users"]


def refs(repo: Path) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), "for-each-ref", "--format=%(objectname) %(refname)"],
                          capture_output=True, text=True, check=True).stdout


def answers(app: Any, token: str, settings: Settings) -> dict[str, Any]:
    client = api_client(app, token)
    found = {}
    for route in ROUTES:
        response = client.get(route)
        # Absolute paths name the data directory: compare them relative to it.
        found[route] = (response.status_code,
                        response.text.replace(str(settings.resolved_data_dir), "<data>"))
    return found


def document(text: str) -> dict[str, Any]:
    return export.comparable(json.loads(text))


def test_backup_then_restore_into_a_new_directory_gives_the_same_instance(ctx: AppContext, cast: Cast, app: Any,
                                                                          tmp_path: Path) -> None:
    items = build_rich_instance(ctx, cast)
    token = make_token(ctx, "alice", name="compare")
    before_answers = answers(app, token, ctx.settings)
    assert {route: status for route, (status, _) in before_answers.items()} == dict.fromkeys(ROUTES, 200)
    assert "grafana-health" in before_answers["/api/v1/incidents"][1]
    before_export = export.export_text(engine=ctx.engine, include_secrets=True)
    result = service.backup(ctx=ctx, target_dir=tmp_path / "backups")
    assert result.path.name.startswith("calcifer-backup-") and result.path.name.endswith(".tar.gz")

    restored = make_settings(tmp_path / "restored")
    try:
        outcome = service.restore(archive_path=result.path, settings=restored)
        assert items["in_progress"]["id"] in outcome.worktrees_recreated
        ctx_b = prepare(restored)
        try:
            # The database: identical export (secrets included).
            # (work items' worktree paths name the data directory they live in)
            after_export = export.export_text(engine=ctx_b.engine, include_secrets=True)
            assert document(after_export.replace(str(restored.resolved_data_dir), "<data>")) == document(
                before_export.replace(str(ctx.settings.resolved_data_dir), "<data>"))
            # Git: the same refs and commits, as git itself lists them.
            assert refs(ctx_b.repo_path) == refs(ctx.repo_path)
            assert "refs/heads/service/new/" in refs(ctx_b.repo_path)
            # The in-progress work item has its worktree back, at the new place, with its committed file.
            from calcifer.work.models import WorkItem

            with ctx_b.session_factory() as session:
                worktree = Path(session.get(WorkItem, items["in_progress"]["id"]).worktree_path)
            assert worktree.parent == restored.worktrees_dir.resolve()
            assert (worktree / "docs/runbooks/alerts.md").read_text() == "# Alerts\n\nDraft.\n"
            assert ctx_b.secret_key == ctx.secret_key
            # The API answers the same (same token: its hash came along).
            assert answers(create_app(ctx=ctx_b), token, restored) == before_answers
        finally:
            ctx_b.engine.dispose()
    finally:
        drop_schema(restored)


def test_export_import_export_round_trip_is_identical(ctx: AppContext, cast: Cast, tmp_path: Path) -> None:
    build_rich_instance(ctx, cast)
    first = export.export_text(engine=ctx.engine)
    # A fresh database beside the same managed repository (import moves the database, not git).
    fresh = make_settings(tmp_path / "fresh", repo_path=ctx.repo_path)
    ctx_b = prepare(fresh)
    try:
        source = tmp_path / "export.json"
        source.write_text(first)
        result = service.import_export_file(ctx=ctx_b, path=source)
        assert result.rows["users"] == 3 and result.rows["monitor_results"] == 50
        second = export.export_text(engine=ctx_b.engine)
        assert document(second) == document(first)
        assert second.split("\n", 5)[5] == first.split("\n", 5)[5]  # byte-identical after the volatile header
        # New rows get fresh ids (PostgreSQL sequences were moved past the imported ones).
        with ctx_b.session_factory() as session:
            from calcifer.auth import service as auth_service
            from calcifer.auth.schemas import UserCreate

            user = auth_service.create_user(session=session, actor=None, data=UserCreate(
                username="newcomer", password="correct horse battery", role="viewer"))
            assert user.id == 4
    finally:
        ctx_b.engine.dispose()
        drop_schema(fresh)


def test_export_leaves_out_password_and_token_hashes_unless_asked(ctx: AppContext, cast: Cast) -> None:
    plain = json.loads(export.export_text(engine=ctx.engine))
    assert {u["password_hash"] for u in plain["tables"]["users"]} == {export.REDACTED}
    assert all(t["token_hash"].startswith(export.REDACTED) for t in plain["tables"]["api_tokens"])
    assert "login_sessions" not in plain["tables"]
    assert plain["secrets_included"] is False
    full = json.loads(export.export_text(engine=ctx.engine, include_secrets=True))
    assert all(u["password_hash"].startswith("$argon2") for u in full["tables"]["users"])
    assert "login_sessions" in full["tables"]


def test_import_refuses_an_instance_that_is_not_empty(ctx: AppContext, cast: Cast, tmp_path: Path) -> None:
    import pytest

    from calcifer.errors import Conflict

    source = tmp_path / "export.json"
    source.write_text(export.export_text(engine=ctx.engine))
    with pytest.raises(Conflict, match="empty instance"):
        service.import_export_file(ctx=ctx, path=source)


def test_an_archive_with_a_logical_database_export_restores_on_this_engine(ctx: AppContext, cast: Cast,
                                                                            tmp_path: Path) -> None:
    """PostgreSQL archives carry the JSON export: it restores onto SQLite as well as onto PostgreSQL."""
    import hashlib

    from calcifer.backup import archive
    from tests.backup.helpers import members_of, plain, write_tar

    build_rich_instance(ctx, cast)
    before = export.export_text(engine=ctx.engine, include_secrets=True)
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    members = {n: d for n, d in members_of(good).items() if not n.startswith("database/")}
    members["database/export.json"] = before.encode()
    manifest = json.loads(members.pop(archive.MANIFEST))
    manifest["engine"] = "postgresql"
    manifest["members"] = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                            "secret": n == "secret_key"} for n, d in members.items()]
    logical = write_tar(tmp_path / "logical.tar.gz", [(plain(archive.MANIFEST), json.dumps(manifest).encode()),
                                                      *[(plain(n), d) for n, d in members.items()]])
    restored = make_settings(tmp_path / "restored")
    try:
        service.restore(archive_path=logical, settings=restored)
        ctx_b = prepare(restored)
        try:
            after = export.export_text(engine=ctx_b.engine, include_secrets=True)
            assert document(after.replace(str(restored.resolved_data_dir), "<data>")) == document(
                before.replace(str(ctx.settings.resolved_data_dir), "<data>"))
            token = make_token(ctx_b, "alice", name="after restore")
            found = api_client(create_app(ctx=ctx_b), token).get("/api/v1/search?q=grafana")
            assert found.status_code == 200 and "runbooks/grafana" in found.text  # the search index was rebuilt
        finally:
            ctx_b.engine.dispose()
    finally:
        drop_schema(restored)


def test_an_export_file_is_read_row_by_row_and_any_json_of_its_shape_also_imports(ctx: AppContext, cast: Cast,
                                                                                tmp_path: Path) -> None:
    build_rich_instance(ctx, cast)
    text = export.export_text(engine=ctx.engine)
    written = tmp_path / "written.json"
    written.write_text(text)
    streamed = export.load_document(written)
    assert streamed.header["format"] == "calcifer-export" and "monitor_results" in streamed.tables
    assert sum(len(rows) for name, rows in streamed.batches() if name == "monitor_results") == 50
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(text), indent=2))
    whole = export.load_document(pretty)
    assert whole.tables == streamed.tables
    assert [(n, r) for n, r in whole.batches()] == [(n, r) for n, r in streamed.batches()]


def test_export_leaves_out_every_secret_calcifer_keeps_unless_asked(ctx: AppContext, cast: Cast) -> None:
    """A remote's token and webhook secret, a webhook's signing secret, a probe's token hash: none of them
    leaves in an export (not even sealed), so copying the file does not copy the credentials."""
    token, signing, hook_secret = "ghp_remote-token-not-to-leak", "forge-hook-not-to-leak", "signing-not-to-leak"
    assert cast.admin.put("/api/v1/repository/remote", json={
        "url": "https://127.0.0.1:9/infra.git", "auth": "token", "token": token,
        "webhook_secret": signing}).status_code == 200
    assert cast.admin.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "secret": hook_secret,
                                                     "events": ["work_item.merged"], "name": "Chat"}).status_code == 201
    assert cast.admin.post("/api/v1/probes", json={"name": "fra-vps", "location": "fra"}).status_code == 201

    plain = json.loads(export.export_text(engine=ctx.engine))
    tables = plain["tables"]
    assert {tables["remote_config"][0][column] for column in ("secret_sealed", "webhook_secret_sealed")} \
        == {export.REDACTED}
    assert tables["webhooks"][0]["secret_sealed"] == export.REDACTED
    assert tables["monitor_probes"][0]["token_hash"].startswith(export.REDACTED)
    assert {"remote_config.secret_sealed", "webhooks.secret_sealed", "monitor_probes.token_hash",
            "forge_config.token_sealed", "inbox_smtp.password_sealed"} <= set(plain["redacted"])

    full = json.loads(export.export_text(engine=ctx.engine, include_secrets=True))
    assert full["redacted"] == []
    with ctx.session_factory() as session:
        from calcifer.remote import service as remote_service
        from calcifer.sealed import unseal

        config = remote_service.require_config(session=session)
        kept = full["tables"]["remote_config"][0]["secret_sealed"]
        assert kept == config.secret_sealed
        assert unseal(ctx.secret_key, remote_service.SECRET_PURPOSE, kept) == token


def test_a_redacted_secret_says_to_enter_it_again() -> None:
    import pytest

    from calcifer.sealed import SealError, unseal

    with pytest.raises(SealError, match="left out of the export.*enter it again"):
        unseal("any instance key", "remote-token", export.REDACTED)

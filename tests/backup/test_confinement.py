"""Paths from archives, exports and the database never lead Calcifer outside its data directory, and an
archive may not unpack to more than the restore limits allow."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from calcifer.app import prepare
from calcifer.auth import service as auth_service
from calcifer.backup import archive, export, service
from calcifer.config import Settings
from calcifer.errors import Invalid
from calcifer.web.context import AppContext
from calcifer.work import service as work_service
from calcifer.work.models import WorkItem
from tests.backup.helpers import members_of, reseal, tree_listing
from tests.conftest import Cast, drop_schema, make_settings
from tests.work.helpers import make_work_item


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder of someone else's that no Calcifer path may touch."""
    folder = tmp_path / "victim" / "precious"
    folder.mkdir(parents=True)
    (folder / "data.txt").write_text("keep me\n")
    return folder


def _set_worktree_path(ctx: AppContext, item_id: int, path: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(WorkItem.__table__).where(WorkItem.__table__.c.id == item_id)
                     .values(worktree_path=path))


def _forge_archive(source: Path, target: Path, tmp_path: Path, worktree_path: str) -> Path:
    """The archive `source` with every work item's worktree path replaced (sizes and checksums resealed)."""
    members = members_of(source)
    if "database/calcifer.sqlite3" in members:
        copy = tmp_path / "forge.sqlite3"
        copy.write_bytes(members["database/calcifer.sqlite3"])
        with sqlite3.connect(copy) as conn:
            conn.execute("UPDATE work_items SET worktree_path = ?", (worktree_path,))
        replaced = {"database/calcifer.sqlite3": copy.read_bytes()}
    else:
        document = json.loads(members["database/export.json"])
        for row in document["tables"]["work_items"]:
            row["worktree_path"] = worktree_path
        replaced = {"database/export.json": json.dumps(document).encode()}
    return reseal(source, target, replace=replaced)


def test_a_restored_work_item_pointing_at_a_foreign_folder_gets_its_worktree_inside_the_data_directory(
        ctx: AppContext, cast: Cast, tmp_path: Path, victim: Path) -> None:
    item = make_work_item(cast.editor, title="Tune alerts")
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    forged = _forge_archive(good, tmp_path / "forged.tar.gz", tmp_path, str(victim))
    before = tree_listing(victim)
    restored = make_settings(tmp_path / "restored")
    try:
        result = service.restore(archive_path=forged, settings=restored)
        assert item["id"] in result.worktrees_recreated
        assert tree_listing(victim) == before, "the foreign folder must not become a worktree"
        ctx_b = prepare(restored, reconcile=False)
        try:
            with ctx_b.session_factory() as session:
                path = Path(session.get(WorkItem, item["id"]).worktree_path)  # type: ignore[union-attr]
            # Re-derived under the restored worktrees folder: the archive's folder name, never its location.
            assert path == restored.worktrees_dir / "precious"
            assert (path / ".git").is_file()
        finally:
            ctx_b.engine.dispose()
    finally:
        drop_schema(restored)


def test_an_archive_whose_worktree_path_cannot_name_a_folder_is_refused_and_nothing_is_restored(
        ctx: AppContext, cast: Cast, tmp_path: Path) -> None:
    make_work_item(cast.editor, title="Tune alerts")
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    forged = _forge_archive(good, tmp_path / "forged.tar.gz", tmp_path, "/srv/data/..")
    target = tmp_path / "arena" / "target"
    target.mkdir(parents=True)
    restored = make_settings(target)
    try:
        with pytest.raises(Invalid, match=r"[Ww]ork item #?\d+ of the (archive|export).*cannot name a worktree folder"):
            service.restore(archive_path=forged, settings=restored)
        assert list(target.iterdir()) == [], "nothing half-restored"
    finally:
        drop_schema(restored)


def test_an_export_holds_worktree_folder_names_and_an_import_puts_them_under_its_own_worktrees(
        ctx: AppContext, cast: Cast, tmp_path: Path, victim: Path) -> None:
    item = make_work_item(cast.editor, title="Tune alerts")
    document = json.loads(export.export_text(engine=ctx.engine))
    [row] = [r for r in document["tables"]["work_items"] if r["id"] == item["id"]]
    assert row["worktree_path"] == Path(item["worktree"]).name, "no absolute path of this installation"
    row["worktree_path"] = str(victim)
    source = tmp_path / "export.json"
    source.write_text(json.dumps(document))
    fresh = make_settings(tmp_path / "fresh")
    ctx_b = prepare(fresh)
    try:
        export.import_document(engine=ctx_b.engine, document=export.load_document(source),
                               worktrees_dir=fresh.worktrees_dir)
        with ctx_b.session_factory() as session:
            paths = {Path(p) for p in session.scalars(sa.select(WorkItem.worktree_path)) if p}
        assert paths and all(p.parent == fresh.worktrees_dir for p in paths)
        assert fresh.worktrees_dir / "precious" in paths
    finally:
        ctx_b.engine.dispose()
        drop_schema(fresh)


def test_cancelling_a_work_item_whose_stored_path_was_changed_never_deletes_that_folder(
        ctx: AppContext, cast: Cast, victim: Path) -> None:
    item = make_work_item(cast.editor, title="Tune alerts")
    _set_worktree_path(ctx, item["id"], str(victim))
    workspace = work_service.Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir)
    with ctx.session_factory() as session:
        actor = auth_service.get_user_by_username(session=session, username="eddie")
        work_service.cancel(session=session, actor=actor, item_id=item["id"], workspace=workspace, confirm=True)
    assert (victim / "data.txt").read_text() == "keep me\n"


def test_reconciliation_moves_a_stored_path_outside_the_worktrees_folder_back_inside(
        ctx: AppContext, cast: Cast, victim: Path) -> None:
    item = make_work_item(cast.editor, title="Tune alerts")
    _set_worktree_path(ctx, item["id"], str(victim))
    before = tree_listing(victim)
    with ctx.session_factory() as session:
        repairs = work_service.reconcile(session=session, repo_path=ctx.repo_path,
                                         worktrees_dir=ctx.settings.worktrees_dir)
        stored = Path(session.get(WorkItem, item["id"]).worktree_path)  # type: ignore[union-attr]
    assert tree_listing(victim) == before
    assert stored == ctx.settings.worktrees_dir / "precious" and (stored / ".git").is_file()
    assert any(f"#{item['id']}: worktree path {victim} moved to {stored}" in r for r in repairs)


# -- limits -------------------------------------------------------------------------------------------------------

def _refused(archive_path: Path, settings: Settings, limits: archive.Limits, match: str) -> None:
    arena = settings.data_dir.parent
    before = tree_listing(arena)
    with pytest.raises(Invalid, match=match):
        service.restore(archive_path=archive_path, settings=settings, limits=limits)
    assert tree_listing(arena) == before, "nothing may be written"


@pytest.fixture
def target(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "arena" / "target"
    folder.mkdir(parents=True)
    settings = make_settings(folder)
    yield settings
    drop_schema(settings)


def test_a_member_larger_than_the_limit_is_refused_before_anything_is_unpacked(
        ctx: AppContext, tmp_path: Path, target: Settings) -> None:
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    largest = max(m.size for m in archive.verify(good).members)
    _refused(good, target, archive.Limits(member_bytes=largest - 1),
             r"member '.+' is \d+ bytes, more than the \d+ bytes a restore accepts for one member")


def test_members_adding_up_to_more_than_the_total_limit_are_refused(
        ctx: AppContext, tmp_path: Path, target: Settings) -> None:
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    total = sum(m.size for m in archive.verify(good).members)
    _refused(good, target, archive.Limits(total_bytes=total - 1), r"unpack to \d+ bytes, more than the")


def test_a_manifest_claiming_a_huge_member_is_refused_by_the_default_limits(
        ctx: AppContext, tmp_path: Path, target: Settings) -> None:
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    manifest: dict[str, Any] = json.loads(members_of(good)[archive.MANIFEST])
    manifest["members"][0]["size"] = 1 << 50  # a petabyte
    from tests.backup.helpers import rebuild

    forged = rebuild(good, tmp_path / "forged.tar.gz", manifest=manifest)
    _refused(forged, target, archive.DEFAULT_LIMITS, r"more than the 64\.0 GiB a restore accepts for one member")


def test_an_archive_with_more_members_than_the_limit_is_refused(tmp_path: Path, target: Settings) -> None:
    import hashlib

    from tests.backup.helpers import plain, write_tar

    names = [f"m{i}" for i in range(40)]
    manifest = {"format": archive.ARCHIVE_FORMAT, "format_version": 1, "schema_revision": "x",
                "members": [{"name": n, "size": 1, "sha256": hashlib.sha256(b"x").hexdigest()} for n in names]}
    many = write_tar(tmp_path / "many.tar.gz", [(plain(archive.MANIFEST), json.dumps(manifest).encode()),
                                                *[(plain(n), b"x") for n in names]])
    _refused(many, target, archive.DEFAULT_LIMITS, "lists 40 members; a Calcifer backup has at most 31")
    # Counted from the archive's members too (before reading them), not only from what the manifest lists.
    more = write_tar(tmp_path / "more.tar.gz", [(plain(archive.MANIFEST), json.dumps(manifest).encode()),
                                                *[(plain(n), b"x") for n in [*names, "extra"]]])
    with pytest.raises(Invalid, match="more than 41 members"):
        archive.verify(more, limits=archive.Limits(members=41))


def test_an_archive_whose_database_is_not_one_is_refused_with_a_clear_error(
        ctx: AppContext, tmp_path: Path, target: Settings) -> None:
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    member = next(m.name for m in archive.verify(good).members if m.name.startswith("database/"))
    junk = b"SQLite format 3\x00" + b"\xff" * 4000 if member.endswith(".sqlite3") else b'{"format": 1}\n'
    forged = reseal(good, tmp_path / "forged.tar.gz", replace={member: junk})
    with pytest.raises(Invalid, match="The archive's database cannot be loaded|not a Calcifer JSON export"):
        service.restore(archive_path=forged, settings=target)
    assert list(target.data_dir.iterdir()) == [], "nothing half-restored"


def test_a_worktree_path_keeps_only_its_folder_name_and_names_or_links_that_escape_are_refused(
        tmp_path: Path) -> None:
    from calcifer.gitrepo import confine_worktree

    worktrees = tmp_path / "data" / "worktrees"
    worktrees.mkdir(parents=True)
    assert confine_worktree(worktrees_dir=worktrees, path="/srv/old/worktrees/7-grafana") == worktrees / "7-grafana"
    assert confine_worktree(worktrees_dir=worktrees, path="7-grafana/") == worktrees / "7-grafana"
    for bad in ["", "/", "..", "/srv/..", ".git", "/x/.GIT.", "a\nb", "a\\b", "x" * 201]:
        with pytest.raises(Invalid, match="cannot name a worktree folder"):
            confine_worktree(worktrees_dir=worktrees, path=bad)
    (tmp_path / "outside").mkdir()
    (worktrees / "7-grafana").symlink_to(tmp_path / "outside")
    with pytest.raises(Invalid, match="leads outside"):
        confine_worktree(worktrees_dir=worktrees, path="/anywhere/7-grafana")


def test_an_archive_whose_secret_key_is_not_text_is_refused_with_a_clear_error(
        ctx: AppContext, tmp_path: Path, target: Settings) -> None:
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    forged = reseal(good, tmp_path / "forged.tar.gz", replace={"secret_key": b"\xff\xfe\x00binary"})
    with pytest.raises(Invalid, match="secret key is not one line of text"):
        service.restore(archive_path=forged, settings=target)
    assert list(target.data_dir.iterdir()) == [], "nothing half-restored"

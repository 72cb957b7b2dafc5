"""A damaged, altered or hostile archive is refused before anything is written, inside or outside the target."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from calcifer.backup import archive, service
from calcifer.config import Settings
from calcifer.errors import Conflict, Invalid
from calcifer.web.context import AppContext
from tests.backup.helpers import members_of, plain, rebuild, tree_listing, write_tar
from tests.conftest import drop_schema, make_settings


@pytest.fixture
def good_archive(ctx: AppContext, tmp_path: Path) -> Path:
    return service.backup(ctx=ctx, target_dir=tmp_path / "backups").path


@pytest.fixture
def target(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "arena" / "target"
    folder.mkdir(parents=True)
    settings = make_settings(folder)
    yield settings
    drop_schema(settings)


def refused(archive_path: Path, settings: Settings, match: str) -> None:
    arena = settings.data_dir.parent
    before = tree_listing(arena.parent)
    with pytest.raises(Invalid, match=match):
        service.restore(archive_path=archive_path, settings=settings)
    assert list(settings.data_dir.iterdir()) == [], "the target must stay empty"
    assert tree_listing(arena.parent) == before, "nothing may be written anywhere"


def test_a_good_archive_verifies_and_lists_every_member_with_size_and_checksum(good_archive: Path) -> None:
    manifest = archive.verify(good_archive)
    names = {m.name for m in manifest.members}
    assert {"repo.bundle", "settings.json", "secret_key"} <= names
    assert names & {"database/calcifer.sqlite3", "database/export.json"}
    assert [m.name for m in manifest.members if m.secret] == ["secret_key"]
    assert manifest.schema_revision and manifest.calcifer_version and manifest.created_at
    assert all(len(m.sha256) == 64 and m.size > 0 for m in manifest.members)
    assert good_archive.stat().st_mode & 0o077 == 0, "the archive holds the secret key: owner only"


def test_one_byte_changed_in_the_compressed_file_is_refused(good_archive: Path, target: Settings,
                                                            tmp_path: Path) -> None:
    data = bytearray(good_archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(bytes(data))
    refused(damaged, target, "damaged|checksum|Refused")


def test_one_byte_changed_inside_a_member_is_refused_by_its_checksum(good_archive: Path, target: Settings,
                                                                     tmp_path: Path) -> None:
    bundle = bytearray(members_of(good_archive)["repo.bundle"])
    bundle[-10] ^= 0x01
    altered = rebuild(good_archive, tmp_path / "altered.tar.gz", replace={"repo.bundle": bytes(bundle)})
    refused(altered, target, "repo.bundle does not match its checksum")


def test_a_truncated_archive_is_refused(good_archive: Path, target: Settings, tmp_path: Path) -> None:
    data = good_archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    refused(truncated, target, "damaged or truncated|missing")


def test_a_missing_member_is_refused(good_archive: Path, target: Settings, tmp_path: Path) -> None:
    missing = rebuild(good_archive, tmp_path / "missing.tar.gz", drop={"secret_key"})
    refused(missing, target, "member secret_key is missing")


def test_a_member_that_climbs_out_with_dotdot_is_refused(good_archive: Path, target: Settings,
                                                         tmp_path: Path) -> None:
    hostile = rebuild(good_archive, tmp_path / "dotdot.tar.gz", extra=[(plain("../../x"), b"owned")])
    refused(hostile, target, r"outside the archive \(\.\.\)")
    assert not (target.data_dir.parent.parent / "x").exists()


def test_a_manifest_that_lists_a_dotdot_member_is_refused(good_archive: Path, target: Settings,
                                                          tmp_path: Path) -> None:
    members = members_of(good_archive)
    manifest = json.loads(members[archive.MANIFEST])
    manifest["members"].append({"name": "../../x", "size": 5, "sha256": "0" * 64})
    hostile = rebuild(good_archive, tmp_path / "listed.tar.gz", manifest=manifest)
    refused(hostile, target, "manifest is unsafe")


def test_an_absolute_member_path_is_refused(good_archive: Path, target: Settings, tmp_path: Path) -> None:
    hostile = rebuild(good_archive, tmp_path / "absolute.tar.gz",
                      extra=[(plain(str(tmp_path / "arena" / "evil")), b"owned")])
    refused(hostile, target, "absolute path")


def test_links_and_devices_are_refused(good_archive: Path, target: Settings, tmp_path: Path) -> None:
    link = plain("database/evil")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    refused(rebuild(good_archive, tmp_path / "symlink.tar.gz", extra=[(link, None)]), target, "is a link")
    hard = plain("evil")
    hard.type = tarfile.LNKTYPE
    hard.linkname = "secret_key"
    refused(rebuild(good_archive, tmp_path / "hardlink.tar.gz", extra=[(hard, None)]), target, "is a link")
    device = plain("device")
    device.type = tarfile.CHRTYPE
    refused(rebuild(good_archive, tmp_path / "device.tar.gz", extra=[(device, None)]), target, "not a plain file")


def test_an_unlisted_or_duplicated_member_is_refused(good_archive: Path, target: Settings, tmp_path: Path) -> None:
    refused(rebuild(good_archive, tmp_path / "extra.tar.gz", extra=[(plain("extra.txt"), b"hi")]), target,
            "not listed in the manifest")
    secret = members_of(good_archive)["secret_key"]
    refused(rebuild(good_archive, tmp_path / "twice.tar.gz", extra=[(plain("secret_key"), secret)]), target,
            "appears twice")


def test_something_that_is_not_an_archive_is_refused(target: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not an archive")
    refused(junk, target, "damaged or truncated")
    refused(tmp_path / "absent.tar.gz", target, "No archive")
    no_manifest = write_tar(tmp_path / "nomanifest.tar.gz", [(plain("secret_key"), b"x")])
    refused(no_manifest, target, "manifest")


def test_an_archive_from_a_newer_calcifer_is_refused(good_archive: Path, target: Settings, tmp_path: Path) -> None:
    manifest = json.loads(members_of(good_archive)[archive.MANIFEST])
    manifest["schema_revision"] = "9999"
    newer = rebuild(good_archive, tmp_path / "newer.tar.gz", manifest=manifest)
    refused(newer, target, "newer Calcifer")


def test_a_non_empty_target_is_refused_and_force_moves_it_aside(good_archive: Path, target: Settings) -> None:
    keep = target.data_dir / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(Conflict, match="not empty"):
        service.restore(archive_path=good_archive, settings=target)
    assert keep.read_text() == "mine"
    if target.database_url:  # PostgreSQL: the schema is per test; force only concerns the folder
        pass
    result = service.restore(archive_path=good_archive, settings=target, force=True)
    assert result.moved_aside is not None and (result.moved_aside / "notes.txt").read_text() == "mine"
    assert result.moved_aside.name.startswith(f"{target.data_dir.name}.old-")
    assert (target.data_dir / "repo.git").is_dir() and (target.data_dir / "secret_key").is_file()


def test_a_failure_after_the_checks_leaves_the_target_as_it_was(good_archive: Path, target: Settings,
                                                                tmp_path: Path) -> None:
    from tests.backup.helpers import reseal

    # Checksums fine, but the bundle is not a git bundle: git refuses it after extraction began.
    broken = reseal(good_archive, tmp_path / "broken.tar.gz", replace={"repo.bundle": b"not a bundle\n"})
    archive.verify(broken)
    with pytest.raises(Invalid, match="git"):
        service.restore(archive_path=broken, settings=target)
    assert list(target.data_dir.iterdir()) == []

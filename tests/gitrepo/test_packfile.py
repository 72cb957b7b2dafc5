"""The pack writer (gitrepo.packfile): what it writes the real git CLI reads back byte for byte, with the
successive versions of a file stored as deltas; an object whose content does not match its id is refused
and leaves nothing behind."""

from __future__ import annotations

import hashlib
import random
import subprocess
from pathlib import Path

import pytest

from calcifer.gitrepo import packfile
from tests.gitrepo.conftest import git


def _blob(data: bytes, base: bytes | None = None) -> packfile.PackObject:
    oid = hashlib.sha1(b"blob %d\x00" % len(data) + data).digest()
    return packfile.PackObject(oid, 3, data, base)


def test_versions_stored_as_deltas_read_back_exactly_with_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo.git"
    git("init", "-q", "--bare", str(repo))
    rnd = random.Random(7)
    # large enough that copies span several 64 KiB instructions; each version inserts, changes or cuts
    versions = [bytes(rnd.getrandbits(8) for _ in range(300_000))]
    for i in range(25):
        last = versions[-1]
        at = rnd.randrange(len(last))
        if i % 3 == 0:
            versions.append(last[:at] + b"inserted %d\n" % i + last[at:])
        elif i % 3 == 1:
            versions.append(last[:at] + b"X" * 300 + last[at + 300:])
        else:
            versions.append(last[:at] + last[at + 5000:])
    versions.append(b"nothing in common\n")  # shares less than half: written whole
    objects, previous = [], None
    for data in versions:
        obj = _blob(data, previous)
        objects.append(obj)
        previous = obj.oid

    index = packfile.write_pack(repo / "objects" / "pack", objects)

    listing = git("verify-pack", "-v", str(index))
    rows = [line.split() for line in listing.splitlines() if line[:40] in {o.oid.hex() for o in objects}]
    deltas = [row for row in rows if len(row) == 7]  # id, type, size, packed, offset, depth, base
    assert len(rows) == len(objects) and len(deltas) >= 20  # most versions are deltas
    assert max(int(row[5]) for row in deltas) == packfile.MAX_DEPTH  # chains are capped
    for obj, data in zip(objects, versions, strict=True):
        assert git("--git-dir", str(repo), "cat-file", "-s", obj.oid.hex()).strip() == str(len(data))
        assert hashlib.sha1(_cat(repo, obj.oid.hex())).digest() == hashlib.sha1(data).digest()
    git("--git-dir", str(repo), "fsck", "--full", "--no-dangling")


def _cat(repo: Path, oid: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(repo), "cat-file", "blob", oid], capture_output=True,
                          check=True).stdout


def test_an_object_that_does_not_match_its_id_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    folder.mkdir()
    good = _blob(b"fine\n")
    forged = packfile.PackObject(good.oid, 3, b"something else\n")
    with pytest.raises(packfile.PackError, match="does not match"):
        packfile.write_pack(folder, [good, forged])
    assert list(folder.iterdir()) == []

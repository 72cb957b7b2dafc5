"""Backup archives: a tar.gz whose first member, ``manifest.json``, lists every other member's size and
SHA-256. Reading verifies everything before a byte is written, and refuses paths that could escape
the target (``..``, absolute paths), links, devices, duplicates, members the manifest does not list,
and members larger (alone, or all together, or in number) than :class:`Limits` allow — judged from the
manifest and each member's header before its data is read, so a small archive that would unpack to
terabytes is refused at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calcifer.backup import jsonsafe
from calcifer.errors import Invalid

MANIFEST = "manifest.json"
ARCHIVE_FORMAT = "calcifer-backup"
ARCHIVE_FORMAT_VERSION = 1
CHUNK = 1 << 20
MANIFEST_MAX = 1 << 20
_MEMBER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")

Progress = Callable[[int, int], None]  # (bytes done, bytes total)

GIB = 1 << 30

# An archive's file (or object) name: the UTC time it was made, to the millisecond.
ARCHIVE_PREFIX = "calcifer-backup-"
ARCHIVE_SUFFIX = ".tar.gz"
ARCHIVE_NAME = re.compile(r"^calcifer-backup-(\d{8}T\d{6}\d{3}Z)(?:-(\d+))?\.tar\.gz$")


def archive_time(name: str) -> dt.datetime | None:
    """When the archive named ``name`` was made; None for a name that is not an archive's."""
    match = ARCHIVE_NAME.fullmatch(name)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1)[:-4], "%Y%m%dT%H%M%S").replace(
        tzinfo=dt.UTC, microsecond=int(match.group(1)[-4:-1]) * 1000)


@dataclass(frozen=True)
class Limits:
    """The most a restore unpacks. Calcifer writes five members (manifest, database, repo.bundle,
    settings, secret key); the database and the bundle are the large ones."""

    member_bytes: int = 64 * GIB
    total_bytes: int = 128 * GIB
    members: int = 32


DEFAULT_LIMITS = Limits()


def _size_text(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size} bytes"


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str
    secret: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "secret": self.secret}


@dataclass
class Manifest:
    calcifer_version: str
    schema_revision: str | None
    created_at: str
    engine: str
    members: list[Member] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"format": ARCHIVE_FORMAT, "format_version": ARCHIVE_FORMAT_VERSION,
                "calcifer_version": self.calcifer_version, "schema_revision": self.schema_revision,
                "created_at": self.created_at, "engine": self.engine,
                "members": [m.as_dict() for m in self.members], **self.extra}

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


def check_member_name(name: str) -> str | None:
    """Why `name` cannot be a member of a Calcifer archive, or None when it is fine."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return f"member {name!r} has an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return f"member {name!r} points outside the archive (..)"
    if not _MEMBER_NAME.fullmatch(name):
        return f"member {name!r} has a name Calcifer never writes"
    return None


def file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _Counting(io.RawIOBase):
    """Reads a file while reporting progress (tarfile pulls the member's data through this)."""

    def __init__(self, handle: Any, on_read: Callable[[int], None]) -> None:
        self._handle = handle
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._handle.read(size)
        self._on_read(len(data))
        return data


def write_archive(*, target: Path, manifest: Manifest, files: dict[str, Path],
                  progress: Progress | None = None, after_member: Callable[[str], None] | None = None) -> None:
    """Write `files` (member name -> path) and the manifest into the tar.gz `target`.

    The caller writes to a temporary name and renames when this returns (see service.backup)."""
    total = sum(m.size for m in manifest.members)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    manifest_bytes = json.dumps(manifest.as_dict(), indent=2, sort_keys=True).encode()
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tar:
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest_bytes)
        info.mode = 0o600
        info.mtime = 0
        tar.addfile(info, io.BytesIO(manifest_bytes))
        for member in manifest.members:
            path = files[member.name]
            info = tarfile.TarInfo(member.name)
            info.size = member.size
            info.mode = 0o600
            info.mtime = int(path.stat().st_mtime)
            with path.open("rb") as handle:
                tar.addfile(info, _Counting(handle, advance))  # type: ignore[arg-type]
            if after_member is not None:
                after_member(member.name)
    if progress is not None:
        progress(total, total)


def _parse_manifest(data: bytes, limits: Limits) -> Manifest:
    raw = jsonsafe.loads(data, what="The archive's manifest")
    if not isinstance(raw, dict) or raw.get("format") != ARCHIVE_FORMAT:
        raise Invalid("This is not a Calcifer backup archive (its manifest's format is not calcifer-backup).")
    if not isinstance(raw.get("format_version"), int) or raw["format_version"] > ARCHIVE_FORMAT_VERSION:
        raise Invalid(f"This archive uses format version {raw.get('format_version')!r}, newer than this "
                      "Calcifer reads: restore it with a newer Calcifer.")
    members = []
    try:
        entries = raw["members"]
        if not isinstance(entries, list):
            raise TypeError("members is not a list")
        if len(entries) + 1 > limits.members:
            raise Invalid(f"Refused: the archive lists {len(entries)} members; a Calcifer backup has at most "
                          f"{limits.members - 1}.")
        for entry in entries:
            name = str(entry["name"])
            problem = check_member_name(name)
            if problem:
                raise Invalid(f"The archive's manifest is unsafe: {problem}.")
            size = entry["size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError("a size is not a whole number")
            _check_size(name, size, limits)
            members.append(Member(name=name, size=size, sha256=str(entry["sha256"]),
                                  secret=bool(entry.get("secret", False))))
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid("The archive's manifest does not list its members properly: the archive is damaged.") from exc
    total = sum(m.size for m in members)
    if total > limits.total_bytes:
        raise Invalid(f"Refused: the archive would unpack to {_size_text(total)}, more than the "
                      f"{_size_text(limits.total_bytes)} a restore accepts.")
    revision = raw.get("schema_revision")
    known = {"format", "format_version", "calcifer_version", "schema_revision", "created_at", "engine", "members"}
    return Manifest(calcifer_version=str(raw.get("calcifer_version", "")),
                    schema_revision=revision if isinstance(revision, str) else None,
                    created_at=str(raw.get("created_at", "")),
                    engine=str(raw.get("engine", "")), members=members,
                    extra={k: v for k, v in raw.items() if k not in known})


def _check_size(name: str, size: int, limits: Limits) -> None:
    if size > limits.member_bytes:
        raise Invalid(f"Refused: member {name!r} is {_size_text(size)}, more than the "
                      f"{_size_text(limits.member_bytes)} a restore accepts for one member.")


def _check_tarinfo(info: tarfile.TarInfo, seen: set[str], limits: Limits) -> None:
    problem = check_member_name(info.name)
    if problem:
        raise Invalid(f"Refused: {problem}.")
    if info.issym() or info.islnk():
        raise Invalid(f"Refused: member {info.name!r} is a link; Calcifer archives hold plain files only.")
    if not info.isreg():
        raise Invalid(f"Refused: member {info.name!r} is not a plain file (device, folder or fifo).")
    if info.name in seen:
        raise Invalid(f"Refused: member {info.name!r} appears twice.")
    if len(seen) + 1 > limits.members:
        raise Invalid(f"Refused: the archive has more than {limits.members} members; a Calcifer backup has "
                      "five.")
    _check_size(info.name, info.size, limits)
    seen.add(info.name)


def _walk(path: Path, on_member: Callable[[tarfile.TarInfo, Any], None], limits: Limits) -> None:
    """Stream through the archive once, calling on_member(info, fileobj) for every member."""
    if not path.is_file():
        raise Invalid(f"No archive at {path}.")
    try:
        with tarfile.open(path, "r|gz") as tar:
            seen: set[str] = set()
            total = 0
            for info in tar:
                _check_tarinfo(info, seen, limits)
                total += info.size
                if total > limits.total_bytes:
                    raise Invalid(f"Refused: the archive's members add up to more than the "
                                  f"{_size_text(limits.total_bytes)} a restore accepts.")
                handle = tar.extractfile(info)
                if handle is None:  # pragma: no cover - isreg() above
                    raise Invalid(f"Refused: member {info.name!r} has no data.")
                on_member(info, handle)
    except Invalid:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise Invalid(f"The archive {path.name} is damaged or truncated ({exc}); nothing was restored.") from exc


def verify(path: Path, *, progress: Progress | None = None, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Check the whole archive without writing anything: a manifest first, every member it lists present
    with its size and SHA-256, nothing else. Returns the manifest; raises Invalid naming the problem."""
    found: dict[str, tuple[int, str]] = {}
    manifest: list[Manifest] = []
    total = path.stat().st_size if path.is_file() else 0

    def on_member(info: tarfile.TarInfo, handle: Any) -> None:
        if info.name == MANIFEST:
            if manifest or found:
                raise Invalid("Refused: the manifest must be the archive's first member.")
            if info.size > MANIFEST_MAX:
                raise Invalid("Refused: the manifest is implausibly large.")
            manifest.append(_parse_manifest(handle.read(), limits))
            return
        if not manifest:
            raise Invalid("Refused: the archive does not start with its manifest.")
        expected = manifest[0].member(info.name)
        if expected is None:
            raise Invalid(f"Refused: member {info.name!r} is not listed in the manifest.")
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(min(size, total), total)
        found[info.name] = (size, digest.hexdigest())

    _walk(path, on_member, limits)
    if not manifest:
        raise Invalid("Refused: the archive has no manifest.")
    problems = []
    for member in manifest[0].members:
        if member.name not in found:
            problems.append(f"member {member.name} is missing")
        elif found[member.name] != (member.size, member.sha256):
            problems.append(f"member {member.name} does not match its checksum (altered or damaged)")
    if problems:
        raise Invalid("Refused: " + "; ".join(problems) + ". Nothing was restored.")
    return manifest[0]


def extract(path: Path, *, manifest: Manifest, into: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, Path]:
    """Write the members of a VERIFIED archive under `into` (created, must be empty). Each member's
    checksum is checked again while writing, in case the file changed since `verify`."""
    into.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    root = into.resolve()

    def on_member(info: tarfile.TarInfo, handle: Any) -> None:
        if info.name == MANIFEST:
            return
        expected = manifest.member(info.name)
        if expected is None:
            raise Invalid(f"Refused: member {info.name!r} is not listed in the manifest.")
        target = (root / info.name).resolve()
        if root not in target.parents:
            raise Invalid(f"Refused: member {info.name!r} points outside the target.")
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with target.open("xb") as out:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        target.chmod(0o600)
        if digest.hexdigest() != expected.sha256:
            raise Invalid(f"Refused: member {info.name} changed since it was verified.")
        written[info.name] = target

    _walk(path, on_member, limits)
    return written

"""Off-site backup targets: admins' definitions (credentials sealed), test connection, uploading a new
archive to every enabled target with retention applied there, and finding the target that holds an
``s3://`` or ``sftp://`` location for a restore.

The local backup folder always keeps its copy; a target is an additional place. An upload is recorded
as a ``BackupCopy`` only after it was verified, so the archives list never names a place that does not
hold the archive as it was written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.backup.archive import ARCHIVE_NAME, archive_time
from calcifer.backup.choices import SftpAuth, TargetKind
from calcifer.backup.models import BackupCopy, BackupTarget
from calcifer.backup.schemas import BackupTargetCreate
from calcifer.backup.stores import S3Config, S3Store, SftpConfig, SftpStore, Store, StoreError, sha256_of
from calcifer.db import utcnow
from calcifer.errors import Conflict, Invalid, NotFound
from calcifer.sealed import SealError, seal, unseal
from calcifer.urls import url_problem

log = logging.getLogger("calcifer.backup")

SECRET_PURPOSE = "backup-target-credentials"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


def _field(field: str, message: str, hint: str) -> Invalid:
    return Invalid(message, details=[{"field": field, "message": hint}])


# -- validation ----------------------------------------------------------------------------------------------

def _clean_prefix(prefix: str) -> str:
    parts = [p for p in prefix.strip().strip("/").split("/") if p]
    if any(not _SAFE_SEGMENT.fullmatch(p) or p in (".", "..") for p in parts):
        raise _field("prefix", "The prefix: use letters, digits, '.', '_', '-' and '/' between folders "
                               "(e.g. calcifer/nightly/).", "not a key prefix")
    return "".join(f"{p}/" for p in parts)


def _clean_folder(folder: str) -> str:
    folder = folder.strip()
    if not folder.startswith("/"):
        raise _field("folder", "The remote folder: give an absolute path on the server, e.g. /backups "
                               "(it appears as is in sftp:// locations).", "not an absolute path")
    parts = [p for p in folder.split("/") if p]
    if any(not _SAFE_SEGMENT.fullmatch(p) or p in (".", "..") for p in parts):
        raise _field("folder", "The remote folder: use letters, digits, '.', '_' and '-' in its names.",
                     "not a plain path")
    return "/" + "/".join(parts)


def _clean(data: BackupTargetCreate) -> tuple[str, dict[str, Any], dict[str, str], str]:
    """(kind, config, credentials, host key) for a new target; Invalid naming every field to fix."""
    problems: list[dict[str, str]] = []

    def need(field: str, value: str, message: str) -> None:
        if not value.strip():
            problems.append({"field": field, "message": message})

    kind = data.kind.strip().lower()
    if not data.name.strip():
        problems.append({"field": "name", "message": "give the target a name"})
    if kind == TargetKind.S3.value:
        need("bucket", data.bucket, "give the bucket's name")
        need("access_key_id", data.access_key_id, "give the access key id")
        need("secret_access_key", data.secret_access_key, "give the secret access key")
        if data.bucket.strip() and not _BUCKET.fullmatch(data.bucket.strip()):
            problems.append({"field": "bucket", "message": "a bucket name is 3-63 lower-case letters, digits, '.' "
                                                           "and '-'"})
        if data.endpoint_url.strip():
            problem = url_problem(data.endpoint_url.strip())
            if problem:
                problems.append({"field": "endpoint_url", "message": problem})
        if problems:
            raise Invalid("The S3 target is not complete: " + "; ".join(f"{p['field']}: {p['message']}"
                                                                        for p in problems) + ".", details=problems)
        config = {"endpoint_url": data.endpoint_url.strip().rstrip("/"), "region": data.region.strip(),
                  "bucket": data.bucket.strip(), "prefix": _clean_prefix(data.prefix),
                  "part_size_mb": data.part_size_mb}
        secrets = {"access_key_id": data.access_key_id.strip(), "secret_access_key": data.secret_access_key.strip()}
        return kind, config, secrets, ""
    if kind == TargetKind.SFTP.value:
        need("host", data.host, "give the server's host name or address")
        need("username", data.username, "give the user to log in as")
        need("folder", data.folder, "give the absolute remote folder, e.g. /backups")
        if data.host.strip() and not _HOST.fullmatch(data.host.strip()):
            problems.append({"field": "host", "message": "a host is a name or an IP address"})
        if data.username.strip() and not _USER.fullmatch(data.username.strip()):
            problems.append({"field": "username", "message": "a user name is letters, digits, '.', '_' and '-'"})
        if bool(data.password) == bool(data.private_key.strip()):
            problems.append({"field": "password", "message": "give either a password or a private key"})
        fingerprint = data.host_key_fingerprint.strip()
        if fingerprint and not _FINGERPRINT.fullmatch(fingerprint):
            problems.append({"field": "host_key_fingerprint",
                             "message": "write it as ssh-keygen -lf prints it: SHA256: and 43 characters"})
        if problems:
            raise Invalid("The SFTP target is not complete: " + "; ".join(f"{p['field']}: {p['message']}"
                                                                          for p in problems) + ".", details=problems)
        auth = SftpAuth.PASSWORD if data.password else SftpAuth.PRIVATE_KEY
        config = {"host": data.host.strip().strip("[]").lower(), "port": data.port,
                  "username": data.username.strip(), "folder": _clean_folder(data.folder), "auth": auth.value}
        secret = data.password if auth is SftpAuth.PASSWORD else data.private_key.strip() + "\n"
        return kind, config, {"secret": secret}, fingerprint
    raise _field("kind", f"Choose the kind of target: {', '.join(k.value for k in TargetKind)}.", "unknown kind")


# -- targets ---------------------------------------------------------------------------------------------------

def create_target(*, session: Session, actor: User, secret_key: str, data: BackupTargetCreate) -> BackupTarget:
    """Validate and store a target (credentials sealed). Raises Invalid, or Conflict for a taken name."""
    kind, config, secrets, host_key = _clean(data)
    target = BackupTarget(name=data.name.strip(), kind=kind, enabled=data.enabled, config=config,
                          secret_sealed=seal(secret_key, SECRET_PURPOSE, json.dumps(secrets)),
                          host_key=host_key, host_key_tofu=False, last_error="", created_by_name=actor.username)
    session.add(target)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"A backup target named {data.name.strip()!r} exists already; choose another name.",
                       code="name_taken") from exc
    audit_service.record(session=session, actor=actor, action="backup.target.create", object_type="backup_target",
                         object_id=str(target.id), summary=f"added backup target {target.name} ({location(target)})")
    session.commit()
    return target


def list_targets(*, session: Session, limit: int = 100, after_id: int | None = None) -> list[BackupTarget]:
    query = select(BackupTarget).order_by(BackupTarget.id).limit(limit)
    if after_id is not None:
        query = query.where(BackupTarget.id > after_id)
    return list(session.scalars(query))


def get_target(*, session: Session, target_id: int) -> BackupTarget:
    target = session.get(BackupTarget, target_id)
    if target is None:
        raise NotFound(f"No backup target {target_id}.")
    return target


def set_enabled(*, session: Session, actor: User, target_id: int, enabled: bool) -> BackupTarget:
    """Choose whether every backup (manual or scheduled) is uploaded to the target."""
    target = get_target(session=session, target_id=target_id)
    if target.enabled != enabled:
        target.enabled = enabled
        audit_service.record(session=session, actor=actor, action="backup.target.update",
                             object_type="backup_target", object_id=str(target.id),
                             summary=f"{'enabled' if enabled else 'disabled'} backup target {target.name}")
        session.commit()
    return target


def delete_target(*, session: Session, actor: User, target_id: int) -> None:
    """Forget a target (and the record of its copies); nothing is deleted in the bucket or folder."""
    target = get_target(session=session, target_id=target_id)
    session.execute(delete(BackupCopy).where(BackupCopy.target_id == target.id))
    audit_service.record(session=session, actor=actor, action="backup.target.delete", object_type="backup_target",
                         object_id=str(target.id), summary=f"removed backup target {target.name}")
    session.delete(target)
    session.commit()


def location(target: BackupTarget, name: str = "") -> str:
    """Where the target keeps archives (``name`` empty: its folder, ending in /)."""
    c = target.config
    if target.kind == TargetKind.S3.value:
        return f"s3://{c['bucket']}/{c['prefix']}{name}"
    folder = c["folder"].rstrip("/")
    host = f"[{c['host']}]" if ":" in c["host"] else c["host"]  # an IPv6 address
    return f"sftp://{c['username']}@{host}:{c['port']}{folder}/{name}"


def public(target: BackupTarget) -> dict[str, Any]:
    """The API's view: never the credentials."""
    c = target.config
    common: dict[str, Any] = {"id": target.id, "name": target.name, "kind": target.kind, "enabled": target.enabled,
                              "location": location(target), "last_checked_at": target.last_checked_at,
                              "last_error": target.last_error or None, "created_at": target.created_at}
    if target.kind == TargetKind.S3.value:
        return {**common, "endpoint_url": c["endpoint_url"] or None, "region": c["region"] or None,
                "bucket": c["bucket"], "prefix": c["prefix"], "part_size_mb": c["part_size_mb"]}
    return {**common, "host": c["host"], "port": c["port"], "username": c["username"], "folder": c["folder"],
            "auth": c["auth"], "host_key_fingerprint": target.host_key or None,
            "host_key_trusted_on_first_use": target.host_key_tofu}


def _secrets(target: BackupTarget, secret_key: str) -> dict[str, str]:
    try:
        value = json.loads(unseal(secret_key, SECRET_PURPOSE, target.secret_sealed))
    except SealError as exc:
        raise StoreError(f"The credentials of backup target {target.name} cannot be decrypted with this instance's "
                         "secret key; remove the target and add it again.") from exc
    return {str(k): str(v) for k, v in value.items()}


def _s3(target: BackupTarget, secret_key: str) -> Store:
    c = target.config
    secrets = _secrets(target, secret_key)
    return S3Store(S3Config(endpoint_url=c["endpoint_url"], region=c["region"], bucket=c["bucket"],
                            prefix=c["prefix"], part_size_mb=int(c["part_size_mb"])),
                   access_key_id=secrets["access_key_id"], secret_access_key=secrets["secret_access_key"])


def _sftp_store(target: BackupTarget, secret_key: str) -> SftpStore:
    c = target.config
    config = SftpConfig(host=c["host"], port=int(c["port"]), username=c["username"], folder=c["folder"],
                        auth=c["auth"])
    return SftpStore(config, secret=_secrets(target, secret_key)["secret"], host_key=target.host_key)


def _sftp(target: BackupTarget, secret_key: str) -> Store:
    return _sftp_store(target, secret_key)


# The one table from a target's kind to its store (healthchecks' TRANSPORTS): nothing else branches on kind
# to reach a server.
STORES: dict[str, Callable[[BackupTarget, str], Store]] = {TargetKind.S3.value: _s3, TargetKind.SFTP.value: _sftp}


def _pin_host_key(session: Session, target: BackupTarget, secret_key: str) -> None:
    """Trust on first use: an SFTP target added without a fingerprint pins the key its server shows now."""
    if target.kind != TargetKind.SFTP.value or target.host_key:
        return
    target.host_key = _sftp_store(target, secret_key).fetch_host_key()
    target.host_key_tofu = True
    session.commit()
    log.info("backup target %s: pinned host key %s on first use", target.name, target.host_key)


def store_for(*, session: Session, target: BackupTarget, secret_key: str) -> Store:
    _pin_host_key(session, target, secret_key)
    return STORES[target.kind](target, secret_key)


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str
    host_key: str | None


def test_target(*, session: Session, secret_key: str, target_id: int) -> TestResult:
    """Connect with the stored credentials and list the place; the outcome is kept on the target."""
    target = get_target(session=session, target_id=target_id)
    try:
        message = store_for(session=session, target=target, secret_key=secret_key).check()
        ok = True
    except StoreError as exc:
        message, ok = exc.message, False
    target.last_checked_at = utcnow()
    target.last_error = "" if ok else message[:2000]
    session.commit()
    return TestResult(ok=ok, message=message, host_key=target.host_key or None)


# -- uploads and retention ---------------------------------------------------------------------------------

def apply_remote_retention(*, store: Store, keep: int) -> list[str]:
    """Delete the target's oldest archives beyond ``keep``; returns the names removed."""
    archives = [a for a in store.list() if ARCHIVE_NAME.fullmatch(a.name)]
    archives.sort(key=lambda a: (archive_time(a.name) or dt.datetime.min.replace(tzinfo=dt.UTC), a.name),
                  reverse=True)
    removed = []
    for old in archives[keep:]:
        store.delete(old.name)
        removed.append(old.name)
    return removed


def upload_everywhere(*, session_factory: Callable[[], Session], secret_key: str, source: Path, name: str,
                      keep: int) -> list[str]:
    """Upload ``source`` (the archive ``name``) to every enabled target, verify it there, record the copy
    and apply retention there. Returns the locations written. Every target is tried; when any failed,
    raises StoreError naming each failure (the verified copies stay recorded)."""
    written: list[str] = []
    failures: list[str] = []
    codes: set[str] = set()
    with session_factory() as session:
        for target in session.scalars(select(BackupTarget).where(BackupTarget.enabled.is_(True))
                                      .order_by(BackupTarget.id)):
            try:
                store = store_for(session=session, target=target, secret_key=secret_key)
                uploaded = store.put(source=source, name=name)
                session.add(BackupCopy(target_id=target.id, archive_name=name, location=uploaded.location,
                                       size_bytes=uploaded.size, sha256=uploaded.sha256))
                written.append(uploaded.location)
                target.last_error = ""
                session.commit()
                removed = apply_remote_retention(store=store, keep=keep)
                if removed:
                    session.execute(delete(BackupCopy).where(BackupCopy.target_id == target.id,
                                                             BackupCopy.archive_name.in_(removed)))
                    log.info("backup retention removed %s from %s", ", ".join(removed), target.name)
                target.last_checked_at = utcnow()
                session.commit()
            except StoreError as exc:
                session.rollback()
                failures.append(f"{target.name}: {exc.message}")
                codes.add(exc.code)
                target.last_error = exc.message[:2000]
                target.last_checked_at = utcnow()
                session.commit()
    if failures:
        raise StoreError("Upload to a backup target failed — " + " ".join(failures),
                         code=codes.pop() if len(codes) == 1 else None)
    return written


def copies_by_archive(*, session: Session) -> dict[str, list[str]]:
    """Archive name → locations of its verified off-site copies."""
    found: dict[str, list[str]] = {}
    for copy in session.scalars(select(BackupCopy).order_by(BackupCopy.target_id)):
        found.setdefault(copy.archive_name, []).append(copy.location)
    return found


def copy_sizes(*, session: Session) -> dict[str, int]:
    return {c.archive_name: c.size_bytes for c in session.scalars(select(BackupCopy))}


# -- restore locations ---------------------------------------------------------------------------------------

REMOTE_SCHEMES = ("s3://", "sftp://")


def is_remote(location_text: str) -> bool:
    return location_text.startswith(REMOTE_SCHEMES)


def find_target(*, session: Session, location_text: str) -> tuple[BackupTarget, str]:
    """The configured target whose place holds ``location_text`` and the archive's name there.
    Raises Invalid for a location that names no archive, NotFound when no target matches."""
    parts = urlsplit(location_text)
    path = PurePosixPath(unquote(parts.path))
    name = path.name
    if not ARCHIVE_NAME.fullmatch(name):
        raise Invalid(f"{location_text} does not name a Calcifer archive (calcifer-backup-<time>.tar.gz).")
    candidates = session.scalars(select(BackupTarget).where(BackupTarget.kind == parts.scheme)
                                 .order_by(BackupTarget.id))
    for target in candidates:
        c = target.config
        if parts.scheme == TargetKind.S3.value:
            key = f"{parts.path.lstrip('/')}"
            if parts.hostname == c["bucket"] and unquote(key) == f"{c['prefix']}{name}":
                return target, name
        else:
            try:
                port = parts.port or 22
            except ValueError:
                break
            if ((parts.hostname or "").lower() == c["host"] and port == int(c["port"])
                    and unquote(parts.username or "") == c["username"] and str(path.parent) == c["folder"]):
                return target, name
    raise NotFound(f"No backup target configured here holds {location_text}: restore takes the credentials from "
                   "the target whose bucket and prefix (S3) or user, host, port and folder (SFTP) match the location. "
                   "Add that target, or pass --targets-from with the data directory of an instance that has it.",
                   code="no_matching_target")


def download(*, session: Session, secret_key: str, location_text: str, dest: Path) -> Path:
    """Download the archive at ``location_text`` into the folder ``dest`` through the matching target;
    when this instance recorded the copy, its SHA-256 must match. Returns the downloaded file."""
    target, name = find_target(session=session, location_text=location_text)
    store = store_for(session=session, target=target, secret_key=secret_key)
    path = dest / name
    store.get(name=name, dest=path)
    recorded = session.scalar(select(BackupCopy.sha256).where(BackupCopy.target_id == target.id,
                                                               BackupCopy.archive_name == name))
    if recorded:
        if sha256_of(path) != recorded:
            path.unlink(missing_ok=True)
            raise StoreError(f"Checksum mismatch: {location_text} is not the archive that was uploaded (its SHA-256 "
                             "differs from the one recorded at upload); nothing was restored.",
                             code="checksum_mismatch")
    return path

"""Backups and restores: one archive holds the database snapshot, a git bundle of the managed repository
(every branch and tag), the non-secret settings, the secret key and a manifest of checksums.

An archive is written under a temporary name (``.calcifer-backup-*.partial``) and renamed when complete,
so a crash or a kill never leaves a file that looks like a backup; the next backup removes what such a
run left behind. A complete archive is then uploaded to every enabled off-site target (``targets.py``);
a failed upload keeps the local archive and fails the run with the reason. A restore verifies every
checksum before it writes anything; ``download_archive`` fetches an ``s3://`` or ``sftp://`` location
first, with the credentials of the configured target that holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer import __version__
from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.backup import archive, export, jsonsafe, snapshot, targets
from calcifer.backup.archive import ARCHIVE_NAME, ARCHIVE_PREFIX, ARCHIVE_SUFFIX, archive_time
from calcifer.backup.choices import LOCAL_LOCATION, RunStatus, Stage, Trigger
from calcifer.backup.models import BackupRun
from calcifer.backup.stores import StoreError
from calcifer.config import Settings
from calcifer.cron import cron_problem
from calcifer.db import current_revision, ensure_schema, make_engine, upgrade_database, utcnow
from calcifer.errors import Conflict, Invalid, NotFound
from calcifer.events import BackupFinished
from calcifer.instance import AppContext
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref

log = logging.getLogger("calcifer.backup")

TEMP_PREFIX = ".calcifer-backup-"   # .partial archives and .tmp staging folders of unfinished runs
LOCK_NAME = ".calcifer-backup.lock"
BUNDLE_MEMBER = "repo.bundle"
SETTINGS_MEMBER = "settings.json"
SECRET_KEY_MEMBER = "secret_key"
KEEP_MAX = 1000

Progress = Callable[[str, float], None]  # (stage, overall percent 0-100)
# Called at every progress step of every backup, after the run's own reporting. Tests use this seam to
# pause a backup process midway and kill it.
PROGRESS_HOOKS: list[Progress] = []



class FinishedHook(Protocol):
    """Called when a recorded backup run ends (succeeded or failed), in the transaction that records
    it (the domain-event outbox). Adds rows only: no commit, no network. Filled by ``calcifer.wiring``."""

    def __call__(self, *, session: Session, event: BackupFinished) -> None: ...


FINISHED_HOOKS: list[FinishedHook] = []

# Overall percent at which each stage starts.
_STAGE_SPAN = {Stage.PREPARING: (0, 2), Stage.DATABASE: (2, 30), Stage.REPOSITORY: (30, 40),
               Stage.ARCHIVE: (40, 90), Stage.UPLOAD: (90, 100)}


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"


# -- the backup folder ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BackupFile:
    name: str
    path: Path
    size: int
    created_at: dt.datetime


def list_backups(*, directory: Path) -> list[BackupFile]:
    """Complete archives in `directory`, newest first (temporary files never look like one)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        created = archive_time(path.name)
        if created is None or not path.is_file() or path.is_symlink():
            continue
        found.append(BackupFile(name=path.name, path=path, size=path.stat().st_size, created_at=created))
    found.sort(key=lambda f: (f.created_at, f.name), reverse=True)
    return found


@dataclass(frozen=True)
class ArchiveEntry:
    """An archive and every place it lives: ``local`` (the backup folder) and its off-site copies."""

    name: str
    size: int
    created_at: dt.datetime
    local: bool
    locations: list[str]


def list_archives(*, session: Session, directory: Path) -> list[ArchiveEntry]:
    """The archives in the backup folder and those whose verified copies a target holds, newest first."""
    local = {f.name: f for f in list_backups(directory=directory)}
    copies = targets.copies_by_archive(session=session)
    sizes = targets.copy_sizes(session=session)
    entries = []
    for name in set(local) | set(copies):
        created = archive_time(name)
        if created is None:
            continue
        entries.append(ArchiveEntry(name=name, size=local[name].size if name in local else sizes[name],
                                    created_at=created, local=name in local,
                                    locations=([LOCAL_LOCATION] if name in local else []) + copies.get(name, [])))
    entries.sort(key=lambda e: (e.created_at, e.name), reverse=True)
    return entries


def backup_file(*, directory: Path, name: str) -> BackupFile:
    """One archive by file name (never a path: anything else is NotFound)."""
    for found in list_backups(directory=directory):
        if found.name == name:
            return found
    raise NotFound(f"No backup named {name!r}.")


def apply_retention(*, directory: Path, keep: int) -> list[Path]:
    """Delete the oldest archives so that exactly `keep` remain (when there were more); returns the removed."""
    if keep < 1:
        raise Invalid("Keep at least one backup.")
    removed = []
    for old in list_backups(directory=directory)[keep:]:
        old.path.unlink(missing_ok=True)
        removed.append(old.path)
        log.info("backup retention removed %s", old.name)
    return removed


@contextlib.contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """The backup folder's lock: one backup at a time (released by the kernel if the process dies)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (directory / LOCK_NAME).open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict("A backup is already running into this folder; wait for it to finish.",
                           code="backup_running") from exc
        yield
    finally:
        handle.close()


def is_running(directory: Path) -> bool:
    try:
        with folder_lock(directory):
            return False
    except Conflict:
        return True


def clean_stale(directory: Path) -> list[str]:
    """Remove what killed runs left (called with the folder lock held, so none of it is in use)."""
    removed = []
    for path in directory.glob(f"{TEMP_PREFIX}*"):
        if path.name == LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


# -- runs (what the Settings page shows) -------------------------------------------------------------------

def start_run(*, session: Session, trigger: Trigger, actor: User | None = None) -> BackupRun:
    run = BackupRun(trigger=trigger.value, status=RunStatus.RUNNING.value, stage=Stage.PREPARING.value,
                    progress=0, actor_name=actor.username if actor else "", error="", file_name="")
    session.add(run)
    if actor is not None:
        audit_service.record(session=session, actor=actor, action="backup.start", object_type="backup",
                             summary=f"started a {trigger.value} backup")
    session.commit()
    return run


def get_run(*, session: Session, run_id: int) -> BackupRun:
    run = session.get(BackupRun, run_id)
    if run is None:
        raise NotFound(f"No backup run {run_id}.")
    return run


def recent_runs(*, session: Session, limit: int = 10) -> list[BackupRun]:
    return list(session.scalars(select(BackupRun).order_by(BackupRun.id.desc()).limit(limit)))


def current_run(*, session: Session) -> BackupRun | None:
    return session.scalar(select(BackupRun).where(BackupRun.status == RunStatus.RUNNING.value)
                          .order_by(BackupRun.id.desc()).limit(1))


def last_failure(*, session: Session) -> BackupRun | None:
    """The latest failed run when no run succeeded after it (the failure the page shows loudly)."""
    latest_ok = session.scalar(select(sa.func.max(BackupRun.id)).where(
        BackupRun.status == RunStatus.SUCCEEDED.value)) or 0
    return session.scalar(select(BackupRun).where(BackupRun.status == RunStatus.FAILED.value,
                                                  BackupRun.id > latest_ok)
                          .order_by(BackupRun.id.desc()).limit(1))


def last_success(*, session: Session) -> BackupRun | None:
    return session.scalar(select(BackupRun).where(BackupRun.status == RunStatus.SUCCEEDED.value)
                          .order_by(BackupRun.id.desc()).limit(1))


def _mark_interrupted(session: Session, keep_id: int | None) -> None:
    query = sa.update(BackupRun).where(BackupRun.status == RunStatus.RUNNING.value)
    if keep_id is not None:
        query = query.where(BackupRun.id != keep_id)
    session.execute(query.values(status=RunStatus.FAILED.value, finished_at=utcnow(),
                                 error="Interrupted: the process stopped before the archive was complete."))
    session.commit()


class _RunReporter:
    """Writes a run's stage and percent to its row (a few times a second at most) and calls the hooks."""

    def __init__(self, ctx: AppContext, run_id: int | None, extra: Progress | None) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.extra = extra
        self._saved: tuple[str, int] | None = None

    def __call__(self, stage: Stage, fraction: float) -> None:
        start, end = _STAGE_SPAN.get(stage, (100, 100))
        percent = start + (end - start) * max(0.0, min(1.0, fraction))
        if self.run_id is not None and self._saved != (stage.value, int(percent)):
            self._saved = (stage.value, int(percent))
            with self.ctx.session_factory() as session:
                session.execute(sa.update(BackupRun).where(BackupRun.id == self.run_id)
                                .values(stage=stage.value, progress=int(percent)))
                session.commit()
        if self.extra is not None:
            self.extra(stage.value, percent)
        for hook in list(PROGRESS_HOOKS):
            hook(stage.value, percent)


def _finish(ctx: AppContext, run_id: int | None, **values: Any) -> None:
    if run_id is None:
        return
    with ctx.session_factory() as session:
        now = utcnow()
        session.execute(sa.update(BackupRun).where(BackupRun.id == run_id).values(finished_at=now, **values))
        if FINISHED_HOOKS:
            trigger = session.scalar(sa.select(BackupRun.trigger).where(BackupRun.id == run_id)) or ""
            event = BackupFinished(run_id=run_id, ok=values.get("status") == RunStatus.SUCCEEDED.value,
                                   trigger=trigger, at=now, file_name=values.get("file_name"),
                                   size_bytes=values.get("size_bytes"), error=str(values.get("error") or ""))
            for hook in list(FINISHED_HOOKS):
                hook(session=session, event=event)
        session.commit()


def _public_settings(settings: Settings) -> dict[str, Any]:
    values = settings.model_dump(mode="json")
    if settings.database_url:
        from sqlalchemy.engine import make_url

        values["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    return values


def _git(*args: str) -> None:
    """Run the git binary with a fixed argument list (paths are Calcifer's own, never user text)."""
    git = shutil.which("git")
    if git is None:
        raise Invalid("The git program is needed to bundle the repository; install git.")
    result = subprocess.run([git, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Invalid(f"git {args[2] if len(args) > 2 else ''} failed: {result.stderr.strip()[:500]}")


def bundle_repository(*, repo_path: Path, target: Path) -> None:
    """`git bundle create` with every ref (branches, tags, work-item branches, archive tags)."""
    _git("--git-dir", str(repo_path.resolve()), "bundle", "create", str(target.resolve()), "--all")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: archive.Manifest
    run_id: int | None
    removed_by_retention: list[Path] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # locations of the verified off-site copies


def backup(*, ctx: AppContext, target_dir: Path | None = None, trigger: Trigger = Trigger.CLI,
           actor: User | None = None, run_id: int | None = None, progress: Progress | None = None,
           record: bool = True) -> BackupResult:
    """Write one archive `calcifer-backup-<UTC timestamp>.tar.gz` into `target_dir` (default the configured
    backup folder) and apply retention there. Raises Conflict when another backup holds the folder;
    on any failure nothing that looks like a backup is left and the run is marked failed."""
    settings = ctx.settings
    directory = (target_dir or settings.resolved_backup_dir).expanduser().resolve()
    with folder_lock(directory):
        for name in clean_stale(directory):
            log.warning("removed %s left by an interrupted backup", name)
        if record:
            with ctx.session_factory() as session:
                _mark_interrupted(session, run_id)
                if run_id is None:
                    run_id = start_run(session=session, trigger=trigger, actor=actor).id
        report = _RunReporter(ctx, run_id if record else None, progress)
        now = dt.datetime.now(dt.UTC)
        stamp = _stamp(now)
        name = f"{ARCHIVE_PREFIX}{stamp}{ARCHIVE_SUFFIX}"
        suffix = 1
        while (directory / name).exists():
            suffix += 1
            name = f"{ARCHIVE_PREFIX}{stamp}-{suffix}{ARCHIVE_SUFFIX}"
        staging = directory / f"{TEMP_PREFIX}{stamp}.tmp"
        partial = directory / f"{TEMP_PREFIX}{stamp}.tar.gz.partial"
        final = directory / name
        try:
            staging.mkdir(mode=0o700)
            report(Stage.PREPARING, 0)
            revision = current_revision(ctx.engine)
            report(Stage.DATABASE, 0)
            db_member, db_file = snapshot.take(engine=ctx.engine, staging=staging,
                                               progress=lambda done, total: report(Stage.DATABASE, done / (total or 1)))
            report(Stage.REPOSITORY, 0)
            bundle = staging / BUNDLE_MEMBER
            bundle_repository(repo_path=ctx.repo_path, target=bundle)
            (staging / SETTINGS_MEMBER).write_text(json.dumps(_public_settings(settings), indent=2, sort_keys=True))
            (staging / SECRET_KEY_MEMBER).write_text(ctx.secret_key + "\n")
            (staging / SECRET_KEY_MEMBER).chmod(0o600)
            report(Stage.REPOSITORY, 1)
            files = {db_member: db_file, BUNDLE_MEMBER: bundle, SETTINGS_MEMBER: staging / SETTINGS_MEMBER,
                     SECRET_KEY_MEMBER: staging / SECRET_KEY_MEMBER}
            members = []
            for member_name, path in files.items():
                size, digest = archive.file_digest(path)
                members.append(archive.Member(member_name, size, digest, secret=member_name == SECRET_KEY_MEMBER))
            manifest = archive.Manifest(
                calcifer_version=__version__, schema_revision=revision, created_at=now.isoformat(),
                engine=ctx.engine.dialect.name, members=members,
                extra={"run_id": run_id, "archive_name": name,
                       "source": {"data_dir": str(settings.resolved_data_dir),
                                  "worktrees_dir": str(settings.worktrees_dir.resolve()),
                                  "repo_path": str(ctx.repo_path.resolve())}})
            report(Stage.ARCHIVE, 0)
            partial.touch(mode=0o600)  # the archive holds the secret key: readable by its owner only
            archive.write_archive(target=partial, manifest=manifest, files=files,
                                  progress=lambda done, total: report(Stage.ARCHIVE, done / (total or 1)))
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, final)
            _fsync_dir(directory)
            size = final.stat().st_size
        except BaseException as exc:
            partial.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                _finish(ctx, run_id if record else None, status=RunStatus.FAILED.value, error=str(message)[:2000])
            raise
        shutil.rmtree(staging, ignore_errors=True)
        removed: list[Path] = []
        with ctx.session_factory() as session:
            keep = retention(session=session)
        if directory == settings.resolved_backup_dir.resolve():
            removed = apply_retention(directory=directory, keep=keep)
        report(Stage.UPLOAD, 0)
        try:
            uploaded = targets.upload_everywhere(session_factory=ctx.session_factory, secret_key=ctx.secret_key,
                                                 source=final, name=name, keep=keep)
        except StoreError as exc:
            # The archive stays in the local folder: the run fails with the reason, and backup.failed fires.
            log.error("backup %s written locally, upload failed: %s", name, exc.message)
            with contextlib.suppress(Exception):
                _finish(ctx, run_id if record else None, status=RunStatus.FAILED.value, file_name=name,
                        size_bytes=size, error=(f"{exc.message} The archive is kept in the local backup folder "
                                                f"as {name}.")[:2000])
            raise StoreError(f"{exc.message} The archive is kept in the local backup folder as {final}.",
                             code=exc.code) from exc
        _finish(ctx, run_id if record else None, status=RunStatus.SUCCEEDED.value, stage=Stage.DONE.value,
                progress=100, file_name=name, size_bytes=size, error="")
        report(Stage.DONE, 1)
        log.info("backup written: %s (%s bytes)%s", final, size,
                 f", uploaded to {', '.join(uploaded)}" if uploaded else "")
        return BackupResult(path=final, size=size, manifest=manifest, run_id=run_id if record else None,
                            removed_by_retention=removed, uploaded=uploaded)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- schedule and retention (preferences admins change on the page) ---------------------------------------

def schedule(*, session: Session) -> str:
    return str(prefs.get(session=session, key=Pref.BACKUP_SCHEDULE))


def retention(*, session: Session) -> int:
    try:
        value = int(prefs.get(session=session, key=Pref.BACKUP_KEEP))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        value = 14
    return max(1, min(KEEP_MAX, value))


def check_cron(expression: str) -> str:
    expression = " ".join((expression or "").split())
    problem = cron_problem(expression, example="0 3 * * * for daily at 03:00 UTC") if expression else \
        "give a cron expression of five fields (minute hour day month weekday), e.g. 0 3 * * *"
    if problem is not None:
        raise Invalid(f"The backup schedule: {problem}.",
                      details=[{"field": "schedule", "message": problem}])
    return expression


def set_schedule(*, session: Session, actor: User, cron: str, keep: int) -> tuple[str, int]:
    """Validate and store the schedule (cron, UTC) and how many archives to keep (1-1000)."""
    cron = check_cron(cron)
    if not isinstance(keep, int) or not 1 <= keep <= KEEP_MAX:
        raise Invalid(f"Keep between 1 and {KEEP_MAX} backups.",
                      details=[{"field": "keep", "message": "out of range"}])
    if cron != schedule(session=session):
        prefs.set_pref(session=session, actor=actor, key=Pref.BACKUP_SCHEDULE, value=cron)
    if keep != retention(session=session):
        prefs.set_pref(session=session, actor=actor, key=Pref.BACKUP_KEEP, value=keep)
    return cron, keep


def next_run(cron: str, after: dt.datetime) -> dt.datetime | None:
    try:
        value: dt.datetime = croniter(check_cron(cron), after).get_next(dt.datetime)
    except Invalid:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# -- restore ----------------------------------------------------------------------------------------------

@dataclass
class RestoreResult:
    data_dir: Path
    moved_aside: Path | None
    schema_from: str | None
    schema_to: str | None
    worktrees_recreated: list[int]
    manifest: archive.Manifest
    repairs: list[str] = field(default_factory=list)


def _is_empty(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _database_is_empty(settings: Settings) -> bool:
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    try:
        ensure_schema(engine, settings.database_schema)
        with engine.connect() as conn:
            return not sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def _restore_database(settings: Settings, manifest: archive.Manifest, files: dict[str, Path]) -> None:
    target_sqlite = snapshot.sqlite_path(settings.resolved_database_url)
    if snapshot.SQLITE_MEMBER in files:
        source = files[snapshot.SQLITE_MEMBER]
        if target_sqlite is not None:
            target_sqlite.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target_sqlite)
            target_sqlite.chmod(0o600)
            return
        # SQLite archive into PostgreSQL: bring the copy to head, export it, import that.
        source_engine = make_engine(f"sqlite:///{source}")
        try:
            upgrade_database(source_engine)
            document_path = source.with_suffix(".json")
            export.export_to_path(engine=source_engine, path=document_path, include_secrets=True)
        finally:
            source_engine.dispose()
        engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
        try:
            ensure_schema(engine, settings.database_schema)
            upgrade_database(engine)
            export.import_document(engine=engine, document=export.load_document(document_path),
                                   worktrees_dir=settings.worktrees_dir)
        finally:
            engine.dispose()
        return
    document = export.load_document(files[snapshot.EXPORT_MEMBER])
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    try:
        ensure_schema(engine, settings.database_schema)
        # Load the rows at the revision they were exported from; prepare() migrates them to head.
        snapshot.upgrade_to(engine, str(document.header.get("schema_revision")))
        export.import_document(engine=engine, document=document, worktrees_dir=settings.worktrees_dir)
    finally:
        engine.dispose()


def _restore_repository(bundle: Path, repo_path: Path) -> None:
    from calcifer import gitrepo

    repo_path.parent.mkdir(parents=True, exist_ok=True)
    gitrepo.init_empty_bare(path=repo_path)
    _git("--git-dir", str(repo_path.resolve()), "fetch", "--quiet", "--no-tags", str(bundle.resolve()),
         "+refs/*:refs/*")
    gitrepo.point_head_at_main(repo_path=repo_path)


def _secret_key_text(member: Path) -> str:
    """The archive's secret key as the file Calcifer reads (one line of printable text)."""
    try:
        key = member.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        key = ""
    if not key or not key.isprintable() or len(key) > 1024:
        raise Invalid("The archive's secret key is not one line of text (at most 1024 characters): the "
                      "archive was not written by Calcifer; nothing was restored.")
    return key + "\n"


def restore(*, archive_path: Path, settings: Settings, force: bool = False,
            progress: Callable[[str], None] | None = None,
            limits: archive.Limits = archive.DEFAULT_LIMITS) -> RestoreResult:
    """Restore an archive into the data directory of `settings` (and its database).

    Every check happens before anything is written: the archive's checksums and paths, its schema
    (newer than this Calcifer: refused), an empty target (else Conflict, unless `force`, which moves the
    old data directory aside to `<dir>.old-<timestamp>` — never deletes it). Afterwards the database is
    migrated, work items' worktree paths are re-derived under this worktrees folder (an archive naming
    one that cannot be is refused, nothing restored) and in-progress work items have their worktrees
    recreated from the bundled branches. `limits` caps what the archive may unpack to."""
    from calcifer import gitrepo as git
    from calcifer.instance import prepare
    from calcifer.work import service as work_service

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    archive_path = archive_path.expanduser().resolve()
    say("verifying checksums")
    manifest = archive.verify(archive_path, limits=limits)
    known = snapshot.known_revisions()
    if manifest.schema_revision not in known:
        raise Invalid(f"This archive comes from a newer Calcifer (database schema {manifest.schema_revision!r}, "
                      f"Calcifer {manifest.calcifer_version}); this is Calcifer {__version__}. Upgrade Calcifer "
                      "first, then restore.", code="newer_archive")
    names = {m.name for m in manifest.members}
    required = {BUNDLE_MEMBER, SECRET_KEY_MEMBER}
    if not required <= names or not ({snapshot.SQLITE_MEMBER, snapshot.EXPORT_MEMBER} & names):
        raise Invalid("This archive lacks members every Calcifer backup has (database, repo.bundle, "
                      "secret_key); nothing was restored.")
    data_dir = settings.resolved_data_dir
    repo_path = settings.resolved_repo_path
    external_db = settings.database_url is not None
    problems = []
    if not _is_empty(data_dir) and not force:
        problems.append(f"the data directory {data_dir} is not empty (use --force to move it aside to "
                        f"{data_dir.name}.old-<timestamp>; nothing is deleted)")
    if data_dir not in repo_path.parents and not _is_empty(repo_path):
        problems.append(f"the repository path {repo_path} is not empty")
    if external_db and not _database_is_empty(settings):
        problems.append("the configured database already has tables: point CALCIFER_DATABASE_URL (and "
                        "CALCIFER_DATABASE_SCHEMA) at an empty one")
    if data_dir.exists() and not data_dir.is_dir():
        problems.append(f"{data_dir} is not a folder")
    if problems:
        raise Conflict("Restore refused: " + "; ".join(problems) + ".", code="target_not_empty")

    moved: Path | None = None
    if not _is_empty(data_dir):
        moved = data_dir.with_name(f"{data_dir.name}.old-{_stamp(dt.datetime.now(dt.UTC))}")
        say(f"moving the old data directory aside to {moved}")
        data_dir.rename(moved)
        if data_dir in archive_path.parents:
            archive_path = moved / archive_path.relative_to(data_dir)
    created_dir = not data_dir.exists()
    created_repo = data_dir not in repo_path.parents and not repo_path.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = data_dir / ".restore"
    try:
        staging.mkdir(mode=0o700)
        say("extracting")
        files = archive.extract(archive_path, manifest=manifest, into=staging, limits=limits)
        secret = data_dir / "secret_key"
        secret.write_text(_secret_key_text(files[SECRET_KEY_MEMBER]))
        secret.chmod(0o600)
        say("restoring the repository")
        _restore_repository(files[BUNDLE_MEMBER], repo_path)
        say("restoring the database")
        try:
            _restore_database(settings, manifest, files)
            say("migrating the database")
            ctx = prepare(settings, reconcile=False)
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            # Checksums only prove the archive is as its writer made it, not that its writer was Calcifer.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
            raise Invalid(f"The archive's database cannot be loaded ({reason}); nothing was restored.") from exc
        try:
            schema_to = current_revision(ctx.engine)
            recreated: list[int] = []
            with ctx.session_factory() as session:
                # The archive's paths are another installation's (or forged): re-derived under this
                # worktrees folder before any worktree is made; a name that cannot be one refuses all.
                try:
                    work_service.confine_worktree_paths(session=session, worktrees_dir=settings.worktrees_dir,
                                                        origin="the archive")
                except Invalid as exc:
                    raise Invalid(f"Refused: {exc.message}; nothing was restored.") from exc
                run_id = manifest.extra.get("run_id")
                if isinstance(run_id, int) and not isinstance(run_id, bool) and 0 < run_id <= jsonsafe.INT_MAX:
                    run = session.get(BackupRun, run_id)
                    if run is not None and run.status == RunStatus.RUNNING.value:
                        # The run that wrote this archive was still running when its snapshot was taken.
                        run.status = RunStatus.SUCCEEDED.value
                        run.stage = Stage.DONE.value
                        run.progress = 100
                        named = str(manifest.extra.get("archive_name") or "")
                        run.file_name = named if ARCHIVE_NAME.fullmatch(named) else archive_path.name
                        run.finished_at = utcnow()
                session.commit()
                say("recreating worktrees of open work items")
                for item in work_service.open_work_items(session=session, limit=100_000):
                    if not item.branch:
                        continue
                    try:
                        if git.ensure_worktree(
                                repo_path=ctx.repo_path, branch=item.branch, worktree_name=item.worktree_name,
                                worktree_path=Path(item.worktree_path)):
                            recreated.append(item.id)
                    except NotFound:
                        continue  # reconciliation below cancels an item whose branch is gone
                repairs = work_service.reconcile(session=session, repo_path=ctx.repo_path,
                                                 worktrees_dir=settings.worktrees_dir)
                if snapshot.SQLITE_MEMBER not in files or snapshot.sqlite_path(settings.resolved_database_url) is None:
                    _rebuild_search(session, ctx.repo_path)
                work_service.notify_main_changed(session=session, repo_path=ctx.repo_path)
        finally:
            ctx.engine.dispose()
    except BaseException:
        # Leave the target as it was: remove what this restore wrote (the moved-aside folder stays).
        shutil.rmtree(staging, ignore_errors=True)
        if created_dir or moved is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:  # it was there and empty: empty it again
            for child in data_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        if created_repo and repo_path.exists():
            shutil.rmtree(repo_path, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(data_dir=data_dir, moved_aside=moved, schema_from=manifest.schema_revision,
                         schema_to=schema_to, worktrees_recreated=recreated, manifest=manifest, repairs=repairs)


def download_archive(*, settings: Settings, location: str, dest: Path) -> Path:
    """Download the archive at an ``s3://`` or ``sftp://`` location into the folder ``dest`` with the
    credentials of the matching backup target of the instance of ``settings`` (its database and secret
    key; nothing is created there). Raises NotFound when that instance or a matching target is missing,
    StoreError when the download fails or its checksum differs."""
    data_dir = settings.resolved_data_dir
    sqlite_file = snapshot.sqlite_path(settings.resolved_database_url)
    if not (data_dir / "secret_key").is_file() or (sqlite_file is not None and not sqlite_file.is_file()):
        raise NotFound(f"No Calcifer instance at {data_dir} to take the credentials of a backup target from: "
                       "pass --targets-from with the data directory of the instance whose target holds "
                       f"{location}, or download the archive yourself and restore the file.",
                       code="no_matching_target")
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    try:
        with Session(engine) as session:
            try:
                return targets.download(session=session, secret_key=settings.secret_key, location_text=location,
                                        dest=dest)
            except sa.exc.SQLAlchemyError as exc:
                raise NotFound(f"The instance at {data_dir} has no backup targets (start that Calcifer once to "
                               "upgrade its database, then add the target).", code="no_matching_target") from exc
    finally:
        engine.dispose()


def _rebuild_search(session: Session, repo_path: Path) -> None:
    from calcifer.search import index_sync as search

    try:
        search.refresh(session=session, repo_path=repo_path, force=True)
    except Exception:  # noqa: BLE001 - the index is rebuilt at the next start or merge anyway
        session.rollback()
        log.exception("search index rebuild after restore failed")


def import_export_file(*, ctx: AppContext, path: Path) -> export.ImportResult:
    """`calcifer import FILE`: load a JSON export into this (empty) instance, then rebuild the search index."""
    document = export.load_document(path)
    result = export.import_document(engine=ctx.engine, document=document, worktrees_dir=ctx.settings.worktrees_dir)
    from calcifer import gitrepo as git
    from calcifer.work import queries as work_queries

    with ctx.session_factory() as session:
        branches = set(git.list_branches(repo_path=ctx.repo_path))
        missing = [item for item in work_queries.open_branches(session=session)
                   if item.branch and item.branch not in branches]
        if missing:
            result.warnings.append(
                "These open work items have no branch in this instance's repository; the next start "
                "cancels them unless the repository is restored first: "
                + ", ".join(f"#{item.id} {item.branch}" for item in missing[:20]))
        _rebuild_search(session, ctx.repo_path)
    return result


def write_export_file(*, ctx: AppContext, out: IO[str], include_secrets: bool) -> dict[str, int]:
    return export.write_export(engine=ctx.engine, out=out, include_secrets=include_secrets)


def export_to_file(*, ctx: AppContext, output: Path, include_secrets: bool) -> dict[str, int]:
    """`calcifer export --output FILE`: written under a temporary name, renamed when complete.

    The file is its owner's only (0600) from its first byte, and folders made for it are 0700: even
    without --include-secrets an export holds every user, work item and audit entry."""
    missing = [folder for folder in [output.parent, *output.parent.parents] if not folder.exists()]
    for folder in reversed(missing):  # mkdir(parents=True) would give the parents the umask's mode
        folder.mkdir(mode=0o700, exist_ok=True)
    temporary = output.with_name(f".{output.name}.partial")
    temporary.unlink(missing_ok=True)  # a killed run's leftover; O_EXCL below refuses to reuse it
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            counts = write_export_file(ctx=ctx, out=handle, include_secrets=include_secrets)
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return counts

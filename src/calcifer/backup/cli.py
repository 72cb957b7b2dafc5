"""`calcifer backup`, `restore`, `export`, `import` and `import-kuma`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from calcifer.config import Settings

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _context():  # type: ignore[no-untyped-def]
    from calcifer.wiring import prepare

    return prepare(Settings(), reconcile=False)


def _size(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def backup_command(
    to: Annotated[Path | None, typer.Option("--to", help="Folder to write the archive into (default "
                                            "CALCIFER_BACKUP_DIR or <data dir>/backups).")] = None,
) -> None:
    """Write a backup archive: database snapshot, git bundle, settings, secret key, manifest."""
    from calcifer.backup import service
    from calcifer.errors import DomainError

    ctx = _context()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                      console=err, transient=False) as bar:
            task = bar.add_task("backup", total=100)

            def report(stage: str, percent: float) -> None:
                bar.update(task, completed=percent, description=stage)

            result = service.backup(ctx=ctx, target_dir=to, progress=report)
    except DomainError as exc:
        _fail(exc.message)
        return
    finally:
        ctx.engine.dispose()
    console.print(f"Backup written: {result.path} ({_size(result.size)})")
    for where in result.uploaded:
        console.print(f"Uploaded and verified: {where}")
    for removed in result.removed_by_retention:
        console.print(f"Retention removed {removed.name}")


def restore_command(
    archive: Annotated[str, typer.Argument(help="The calcifer-backup-*.tar.gz to restore: a file, or an "
                                           "s3://bucket/key or sftp://user@host:port/path location of a "
                                           "configured backup target.")],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory to restore into "
                                                  "(default CALCIFER_DATA_DIR).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Restore over a non-empty data directory: it is "
                                        "moved aside to <dir>.old-<timestamp> first, never deleted.")] = False,
    targets_from: Annotated[Path | None, typer.Option(
        "--targets-from", help="For an s3:// or sftp:// location: the data directory of the instance whose "
        "backup target (and secret key) give the credentials (default CALCIFER_DATA_DIR).")] = None,
) -> None:
    """Restore a backup archive into an empty data directory (checksums are verified first)."""
    import tempfile

    from calcifer.backup import service, targets
    from calcifer.errors import DomainError
    from calcifer.wiring import wire

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    wire()  # the restored instance's indexes catch up through the after-merge steps
    with tempfile.TemporaryDirectory(prefix="calcifer-restore-") as temporary:
        try:
            if targets.is_remote(archive):
                source = Settings(data_dir=targets_from) if targets_from is not None else Settings()
                err.print(f"restore: downloading {archive}")
                path = service.download_archive(settings=source, location=archive, dest=Path(temporary))
            else:
                path = Path(archive)
            result = service.restore(archive_path=path, settings=settings, force=force,
                                     progress=lambda message: err.print(f"restore: {message}"))
        except DomainError as exc:
            _fail(exc.message)
            return
    if result.moved_aside:
        console.print(f"The old data directory was moved aside to {result.moved_aside}")
    console.print(f"Restored {path.name} into {result.data_dir} (schema {result.schema_from} → "
                  f"{result.schema_to}; worktrees recreated for work items "
                  f"{', '.join(f'#{i}' for i in result.worktrees_recreated) or 'none'})")
    for repair in result.repairs:
        console.print(f"reconciliation: {repair}")


def export_command(
    format_: Annotated[str, typer.Option("--format", help="Export format: json.")] = "json",
    include_secrets: Annotated[bool, typer.Option("--include-secrets", help="Include password hashes, API "
                                                  "token hashes and login sessions.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard "
                                                "output).")] = None,
) -> None:
    """Export every database entity as versioned JSON (see docs/backup.md)."""
    from calcifer.backup import service

    if format_ != "json":
        _fail(f"Unknown format {format_!r}: the export format is json.")
    ctx = _context()
    try:
        if output is None:
            service.write_export_file(ctx=ctx, out=sys.stdout, include_secrets=include_secrets)
            return
        try:
            counts = service.export_to_file(ctx=ctx, output=output, include_secrets=include_secrets)
        except OSError as exc:
            _fail(f"Cannot write {output}: {exc.strerror or exc}.")
            return
    finally:
        ctx.engine.dispose()
    err.print(f"Exported {sum(counts.values())} rows from {len(counts)} tables to {output}"
              + (" (with secrets)" if include_secrets else " (without password or token hashes)"))


def import_command(
    file: Annotated[Path, typer.Argument(help="A JSON export written by `calcifer export`.")],
) -> None:
    """Load a JSON export into this instance (its database must be empty)."""
    from calcifer.backup import service
    from calcifer.errors import DomainError

    ctx = _context()
    try:
        result = service.import_export_file(ctx=ctx, path=file)
    except DomainError as exc:
        _fail(exc.message)
        return
    finally:
        ctx.engine.dispose()
    console.print(f"Imported {sum(result.rows.values())} rows into {len(result.rows)} tables.")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")


def import_kuma_command(
    backup_file: Annotated[Path, typer.Argument(help="The JSON backup file Uptime Kuma 1.x exports, or Uptime "
                                                 "Kuma 2.x's data directory (or its kuma.db).")],
    user: Annotated[str, typer.Option(help="Username acting (an editor or admin).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be imported.")] = False,
) -> None:
    """Import Uptime Kuma monitors as endpoints on a new work item (and notifications as channels)."""
    from calcifer.auth import service as auth_service
    from calcifer.auth.choices import Role
    from calcifer.backup import kuma
    from calcifer.errors import DomainError
    from calcifer.work import service as work_service

    ctx = _context()
    try:
        data = kuma.read_source(backup_file)
        with ctx.session_factory() as session:
            actor = auth_service.get_user_by_username(session=session, username=user)
            if not auth_service.has_role(actor, Role.EDITOR):
                _fail(f"{user} is a {actor.role}; importing needs the editor role.")
            if dry_run:
                report = kuma.plan_for(session=session, repo_path=ctx.repo_path, data=data)
            else:
                report = kuma.import_kuma(
                    session=session, actor=actor, data=data, categories=ctx.settings.work_categories,
                    workspace=work_service.Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir))
    except DomainError as exc:
        _fail(exc.message)
        return
    finally:
        ctx.engine.dispose()
    if report.work_item_id is not None:
        console.print(f"Work item #{report.work_item_id} on branch {report.branch}: review it, then merge.")
    console.print(f"{'Would import' if dry_run else 'Imported'} {len(report.endpoints)} endpoint(s):")
    for e in report.endpoints:
        extra = f"  tags: {', '.join(e.tags)}" if e.tags else ""
        updated = "  (updates the endpoint an earlier import made)" if e.updates else ""
        console.print(f"  {e.slug}  ({e.kuma_type} → {e.spec['type']}){extra}{updated}")
        for note in e.notes:
            console.print(f"      changed or not carried over: {note}")
    if report.unchanged:
        console.print(f"Imported before, unchanged ({len(report.unchanged)}): "
                      + ", ".join(e.slug for e in report.unchanged))
        if not report.endpoints and not dry_run:
            console.print("Nothing to write: no work item was created.")
    if report.skipped:
        console.print(f"Not imported ({len(report.skipped)} monitor(s)):")
        for s in report.skipped:
            console.print(f"  {s.name} ({s.kind}): {s.reason}")
    if report.channels_created:
        console.print("Notification channels created, disabled until you enable them after the merge "
                      "(Settings → Notifications): " + ", ".join(report.channels_created))
    if report.channels_existing:
        console.print("Notification channels an earlier import created, left as they are: "
                      + ", ".join(report.channels_existing))
    pending = [c for c in report.channels if c.name not in report.channels_created]
    if pending:
        console.print("Notifications mapped to apprise URLs (create the channels under Settings → "
                      "Notifications):")
        for c in pending:
            console.print(f"  {c.name} ({c.kind}): {kuma.mask_url(c.url)}")
    if report.channels_skipped:
        console.print(f"Notifications not mapped ({len(report.channels_skipped)}):")
        for s in report.channels_skipped:
            console.print(f"  {s.name} ({s.kind}): {s.reason}")
    for g in report.groups:
        console.print(f"Group {g.name} → service {g.slug}"
                      + (" (already in the catalog)" if g.existing else " (new, on the work item)"))
    for t in report.tags:
        console.print(f"Tag {t.name} → {', '.join(t.tags)} on {', '.join(t.endpoints)}")
    for s in report.tags_skipped:
        console.print(f"Tag {s.name} not imported: {s.reason}")
    for w in report.maintenance:
        state = ("created" if w.title in report.maintenance_created else "already there"
                 if w.title in report.maintenance_existing else "would be created")
        console.print(f"Maintenance window {w.title} ({state}): {kuma.window_text(w)}")
    for s in report.maintenance_skipped:
        console.print(f"Maintenance window {s.name} not imported: {s.reason}")


def register(app: typer.Typer) -> None:
    """Add this slice's commands to the `calcifer` command."""
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.command("export")(export_command)
    app.command("import")(import_command)
    app.command("import-kuma")(import_kuma_command)

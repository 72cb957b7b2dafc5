"""The `calcifer` command: serve, init, db, user, token, work."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from calcifer.config import Settings

app = typer.Typer(help="Calcifer: no change without a work item, no completion without documentation, "
                       "everything in git.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
work_app = typer.Typer(help="Work items.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(work_app, name="work")

console = Console(soft_wrap=True)
err = Console(stderr=True)
# Who the audit log names for what an operator does at the server's shell (no user logged in there).
CLI_ACTOR = "cli"


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _context(*, reconcile: bool = False):  # type: ignore[no-untyped-def]
    from calcifer.wiring import prepare

    return prepare(Settings(), reconcile=reconcile)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default CALCIFER_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default CALCIFER_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the web app (initialising the data directory on first run)."""
    import uvicorn

    from calcifer.logging import configure
    from calcifer.wiring import prepare

    settings = Settings()
    configure(fmt=settings.log_format.value, level=settings.log_level)
    prepare(settings)  # migrate, create the repository and reconcile once, before workers start
    console.print(f"Calcifer serving on http://{host or settings.host}:{port or settings.port} "
                  f"(data: {settings.resolved_data_dir})")
    uvicorn.run("calcifer.asgi:app", host=host or settings.host, port=port or settings.port,
                workers=workers, log_config=None, proxy_headers=True)


@app.command()
def init(
    from_: Annotated[str | None, typer.Option("--from", help="Adopt an existing repository (path or URL) "
                                              "by cloning it bare.")] = None,
) -> None:
    """Initialise the data directory: database, secret key and managed repository."""
    from calcifer import gitrepo as git
    from calcifer.errors import DomainError

    settings = Settings()
    if from_:
        try:
            git.adopt_repository(source=from_, path=settings.resolved_repo_path)
        except DomainError as exc:
            _fail(exc.message)
        console.print(f"Adopted {from_} as {settings.resolved_repo_path}")
    ctx = _context(reconcile=True)
    if from_:
        from calcifer.remote import service as remote_service

        with ctx.session_factory() as session:
            kept = remote_service.keep_adopted_remote(session=session, source=from_)
        if kept:
            console.print(f"Kept {kept} as the remote (credentials: Settings → Repository)")
    console.print(f"Data directory ready: {settings.resolved_data_dir}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest."""
    from calcifer.db import current_revision, ensure_schema, make_engine, upgrade_database

    settings = Settings()
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    ensure_schema(engine, settings.database_schema)
    upgrade_database(engine)
    console.print(f"Database at revision {current_revision(engine)}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, editor or viewer.")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from "
                                                 "standard input.")] = False,
) -> None:
    """Create a user (the password is prompted for, or read from stdin)."""
    from pydantic import ValidationError

    from calcifer.auth import service
    from calcifer.auth.schemas import UserCreate
    from calcifer.errors import DomainError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = UserCreate(username=username, password=password, role=role)  # type: ignore[arg-type]
    except ValidationError as exc:
        _fail("; ".join(f"{e['loc'][0]}: {str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()))
        return
    ctx = _context()
    with ctx.session_factory() as session:
        try:
            user = service.create_user(session=session, actor=None, data=data, actor_name=CLI_ACTOR)
        except DomainError as exc:
            _fail(exc.message)
            return
    console.print(f"Created {user.username} ({user.role})")


@user_app.command("list")
def user_list() -> None:
    """List users."""
    from calcifer.auth import service

    ctx = _context()
    table = Table("id", "username", "role", "active")
    with ctx.session_factory() as session:
        for user in service.list_users(session=session, limit=1000):
            table.add_row(str(user.id), user.username, user.role, "yes" if user.is_active else "no")
    console.print(table)


@user_app.command("unlock")
def user_unlock(username: Annotated[str, typer.Argument(help="The user whose failed logins to forget.")]) -> None:
    """Lift a user's login back-off, from every address (the failed logins are forgotten)."""
    from calcifer.auth import service
    from calcifer.errors import DomainError

    ctx = _context()
    with ctx.session_factory() as session:
        try:
            cleared = service.unlock_user(session=session, username=username)
        except DomainError as exc:
            _fail(exc.message)
            return
    console.print(f"Unlocked {username} ({cleared} throttle record{'' if cleared == 1 else 's'} cleared)")


@user_app.command("reset-two-factor")
def user_reset_two_factor(username: Annotated[str, typer.Argument(help="The user whose second factor to remove.")],
                          ) -> None:
    """Turn off a user's two-factor login (a lost phone and lost recovery codes); they log in with the password
    alone, and set it up again at once if their role requires it."""
    from calcifer.auth import service, totp
    from calcifer.errors import DomainError

    ctx = _context()
    with ctx.session_factory() as session:
        try:
            user = service.get_user_by_username(session=session, username=username)
            totp.disable(session=session, actor=None, user_id=user.id, actor_name=CLI_ACTOR)
        except DomainError as exc:
            _fail(exc.message)
            return
    console.print(f"Two-factor login of {username} is off")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="Username the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scope: Annotated[list[str] | None, typer.Option(
        help="read, write or admin (each includes those before it); repeatable. Default: all the user's "
             "role allows.")] = None,
    expires: Annotated[str | None, typer.Option(
        help="When the token stops working: a duration (30d, 12h, 90m) or a time (2027-01-31 or "
             "2027-01-31T18:00:00Z). Default: never.")] = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from calcifer.auth import service
    from calcifer.errors import DomainError

    ctx = _context()
    with ctx.session_factory() as session:
        try:
            expires_at = service.parse_expiry(expires) if expires else None
            owner = service.get_user_by_username(session=session, username=user)
            token, raw = service.create_token(session=session, actor=owner, owner=owner, name=name,
                                              actor_name=CLI_ACTOR, scopes=scope or None, expires_at=expires_at)
        except DomainError as exc:
            _fail(exc.message)
            return
    until = f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
    err.print(f"Token {token.name!r} for {owner.username}, scopes {token.scopes}{until} (shown once; store it now):")
    sys.stdout.write(raw + "\n")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from calcifer.auth import service
    from calcifer.auth.models import ApiToken
    from calcifer.errors import DomainError

    ctx = _context()
    with ctx.session_factory() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            _fail(f"No token with id {token_id}.")
            return
        try:
            service.revoke_token(session=session, actor=token.user, token_id=token_id)
        except DomainError as exc:
            _fail(exc.message)
    console.print(f"Revoked token {token_id}")


@work_app.command("list")
def work_list(
    status: Annotated[str | None, typer.Option(help="planning, in_progress, complete, cancelled or open.")] = None,
    limit: int = 50,
) -> None:
    """List work items, newest first."""
    from calcifer.work import service

    ctx = _context()
    table = Table("id", "status", "title", "branch")
    with ctx.session_factory() as session:
        for item in service.list_work_items(session=session, filters=service.WorkFilter(status=status),
                                            limit=limit):
            table.add_row(str(item.id), item.status, item.title, item.branch)
    console.print(table)


@work_app.command("new")
def work_new(
    title: Annotated[str, typer.Option(help="What the change is.")],
    category: Annotated[str, typer.Option(help="One of the configured categories.")],
    action: Annotated[str, typer.Option(help="new, change, fix or remove.")],
    user: Annotated[str, typer.Option(help="Username acting (an editor or admin).")],
    description: str = "",
    service_slug: Annotated[str | None, typer.Option("--service", help="Linked service slug.")] = None,
) -> None:
    """Create a work item: its branch and worktree."""
    from pydantic import ValidationError

    from calcifer.auth import service as auth_service
    from calcifer.auth.choices import Role
    from calcifer.errors import DomainError
    from calcifer.work import service
    from calcifer.work.schemas import WorkItemCreate

    ctx = _context()
    with ctx.session_factory() as session:
        try:
            actor = auth_service.get_user_by_username(session=session, username=user)
            if not auth_service.has_role(actor, Role.EDITOR):
                _fail(f"{user} is a {actor.role}; creating work items needs the editor role.")
            data = WorkItemCreate(title=title, category=category, action=action,  # type: ignore[arg-type]
                                  description=description, service=service_slug)
            item = service.create_work_item(
                session=session, actor=actor, data=data, categories=ctx.settings.work_categories,
                workspace=service.Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir))
        except ValidationError as exc:
            _fail("; ".join(f"{e['loc'][0]}: {str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()))
            return
        except DomainError as exc:
            _fail(exc.message)
            return
    console.print(f"Created work item #{item.id} on branch {item.branch}")
    console.print(f"Worktree: {item.worktree_path}")


@work_app.command("show")
def work_show(item_id: int) -> None:
    """Show a work item, its checklist and whether it can merge."""
    from calcifer.errors import DomainError
    from calcifer.work import service

    ctx = _context()
    workspace = service.Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir)
    with ctx.session_factory() as session:
        try:
            item = service.get_work_item(session=session, item_id=item_id)
        except DomainError as exc:
            _fail(exc.message)
            return
        console.print(f"[bold]#{item.id} {item.title}[/bold]  ({item.status})")
        console.print(f"{item.category}/{item.action}  branch {item.branch}")
        console.print(f"worktree {item.worktree_path}")
        for entry in item.checklist:
            console.print(f"  [{'x' if entry.done else ' '}] {entry.text}")
        if item.status in ("planning", "in_progress"):
            problems = service.merge_problems(session=session, item=item, workspace=workspace)
            if problems:
                console.print("Merge refused:")
                for problem in problems:
                    console.print(f"  - {problem.message}")
            else:
                console.print("Ready to merge.")
        elif item.merge_commit:
            console.print(f"merged as {item.merge_commit}")


# Slices that bring their own commands (monitoring: worker; backup: backup, restore, export, import).
def _register_slice_commands() -> None:
    from calcifer.backup import cli as backup_cli
    from calcifer.monitoring import cli as monitoring_cli

    monitoring_cli.register(app)
    monitoring_cli.register_probe(app)
    backup_cli.register(app)


_register_slice_commands()


def add_plugin_commands(target: typer.Typer) -> None:
    """Add the commands plugins registered (``Wiring.add_command``). Each checks, when it runs, that its
    plugin is enabled (Settings → Integrations) and refuses to run otherwise."""
    import functools

    from calcifer.plugins import registry
    from calcifer.wiring import wire

    wire()
    taken = {info.name for info in target.registered_commands if info.name} | {
        info.name for info in target.registered_groups if info.name}
    for command in registry.COMMANDS:
        if command.name in taken:
            err.print(f"[yellow]warning:[/yellow] plugin {command.plugin} adds a command {command.name!r}, which "
                      "Calcifer has already; left out")
            continue
        taken.add(command.name)

        def guarded(*args: object, _command: registry.Command = command, **kwargs: object) -> object:
            _context()  # reads the toggles admins set (and migrates, like every command)
            if not registry.enabled(_command.plugin):
                _fail(f"the plugin {_command.plugin} is disabled (Settings → Integrations); enable it to use "
                      f"`calcifer {_command.name}`")
            return _command.callback(*args, **kwargs)

        target.command(name=command.name, help=command.help or None)(functools.wraps(command.callback)(guarded))


def main() -> None:
    add_plugin_commands(app)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()



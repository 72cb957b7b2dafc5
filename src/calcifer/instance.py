"""An instance of Calcifer: its data directory prepared (database migrated, managed repository, work
items reconciled) and the context every route, CLI command and background service receives.

Kept apart from the web app so the CLIs and backup/restore prepare an instance without importing
FastAPI's app. Preparing does not wire the extension points: an entry point calls
``calcifer.wiring.prepare`` (wire, then this), so reconciliation runs the after-merge steps.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from calcifer import gitrepo
from calcifer.config import Settings
from calcifer.db import ensure_schema, make_engine, make_session_factory, upgrade_database
from calcifer.work import service as work_service

log = logging.getLogger("calcifer")


class RequestGauge:
    """How many requests this process is answering (counted by the web middleware). A background service
    whose work competes with them (for the interpreter: threads of one process share it; and for
    SQLite's one writer) waits for a moment with none before a unit of that work, a bounded time
    (``wait_quiet``), so a request is not slowed by the fan-out it caused."""

    def __init__(self) -> None:
        self._count = 0
        self._quiet = threading.Condition()

    def enter(self) -> None:
        with self._quiet:
            self._count += 1

    def leave(self) -> None:
        with self._quiet:
            self._count -= 1
            if self._count <= 0:
                self._quiet.notify_all()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no request is being answered, at most ``timeout`` seconds; False if still busy."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._count <= 0, timeout)


@dataclass
class AppContext:
    """What the running instance holds: settings, database, repository. Stored on `app.state.ctx`."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    repo_path: Path
    secret_key: str
    # How this process was wired (``calcifer.wiring.wire``): a child process it starts (the result
    # writer) calls it too, so it runs the same hooks. None: nothing to wire (tests of one slice).
    wire: Callable[[], object] | None = None
    # The requests this process is answering (web.middleware counts them; background services yield).
    requests: RequestGauge = field(default_factory=RequestGauge)


def prepare(settings: Settings, *, reconcile: bool = True, wire: Callable[[], object] | None = None) -> AppContext:
    """Initialise the data directory: secret key, database (migrated), managed repository.

    Safe to run any number of times; existing data is never overwritten. With ``reconcile``, repairs
    interrupted work and runs the after-merge steps so main's indexes catch up.
    """
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    gitrepo.skip_rehashing_on_read()
    gitrepo.use_ssh_home(data_dir / "ssh")
    if settings.remote_ca_file is not None:
        if not settings.remote_ca_file.is_file():
            raise ValueError(f"CALCIFER_REMOTE_CA_FILE: {settings.remote_ca_file} is not a file; give the PEM "
                             "file of the CA that signed the remote's certificate, or unset it.")
        gitrepo.trust_ca_file(settings.remote_ca_file)
    settings.worktrees_dir.mkdir(parents=True, exist_ok=True)
    secret_key = settings.secret_key
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    ensure_schema(engine, settings.database_schema)
    upgrade_database(engine)
    ctx = AppContext(settings=settings, engine=engine, session_factory=make_session_factory(engine),
                     repo_path=settings.resolved_repo_path, secret_key=secret_key, wire=wire)
    if work_service.ensure_repository(repo_path=ctx.repo_path):
        log.info("created the managed repository at %s", ctx.repo_path)
    if reconcile:
        with ctx.session_factory() as session:
            for repair in work_service.reconcile(session=session, repo_path=ctx.repo_path,
                                                 worktrees_dir=settings.worktrees_dir):
                log.warning("reconciliation: %s", repair)
            # The indexes of main (catalog, docs, search) catch up with it through the same steps a
            # merge runs; each is a no-op when already at main's commit.
            work_service.notify_main_changed(session=session, repo_path=ctx.repo_path)
    # What start-up loaded (indexes, caches, modules) lives as long as the process: moving it out of the
    # collector's generations keeps full collections short (see bench/README.md).
    gc.freeze()
    return ctx

"""The remote's background service (``calcifer.background``): pushes when a merge asked for it or main
has commits the remote lacks (waiting out the backoff of a failed push), and fetches on a schedule.

It wakes at once when a merge sets ``service.push_wanted``, else every ``TICK_SECONDS``. With several web
workers each runs this loop: pushes are idempotent and a fetch integrates under the merge lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from calcifer.errors import DomainError
from calcifer.instance import AppContext
from calcifer.remote import service

log = logging.getLogger("calcifer.remote")

TICK_SECONDS = 5.0
FETCH_EVERY_SECONDS = 300.0


def run_once(ctx: AppContext, *, fetch: bool, wanted: bool) -> None:
    """One round: push if due (``wanted``: a merge asked), then fetch if asked (errors are recorded on
    the remote's state)."""
    with ctx.session_factory() as session:
        if service.get_config(session=session) is None:
            return
        if service.push_due(session=session, repo_path=ctx.repo_path, wanted=wanted):
            service.push_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key)
        if fetch:
            service.fetch_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key,
                              worktrees_dir=ctx.settings.worktrees_dir)


def start(ctx: AppContext) -> Callable[[], None]:
    stopping = threading.Event()

    def loop() -> None:
        next_fetch = time.monotonic() + FETCH_EVERY_SECONDS
        while not stopping.is_set():
            wanted = service.push_wanted.wait(TICK_SECONDS)
            service.push_wanted.clear()
            if stopping.is_set():
                break
            now = time.monotonic()
            fetch = now >= next_fetch
            if fetch:
                next_fetch = now + FETCH_EVERY_SECONDS
            try:
                run_once(ctx, fetch=fetch, wanted=wanted)
            except DomainError as exc:
                log.warning("remote sync: %s", exc.message)
            except Exception:  # noqa: BLE001 - the loop must survive; the next round tries again
                log.exception("remote sync failed")
                stopping.wait(TICK_SECONDS)

    thread = threading.Thread(target=loop, name="calcifer-remote-sync", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        service.push_wanted.set()  # wake it
        thread.join(timeout=30)
        service.push_wanted.clear()

    return stop

"""Work that runs beside the web app (scheduler, notifier, scheduled backups): one list, filled by
``calcifer.wiring``.

Each service is ``start(ctx) -> stop``: it starts its own thread (or task) and returns a function that
stops it and waits. The app's lifespan starts them all and stops them in reverse order; a start that
fails is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI

from calcifer.instance import AppContext

log = logging.getLogger("calcifer")

Stop = Callable[[], None]


class Start(Protocol):
    """Start a service for the instance ``ctx``; return its stop function (None: it did not start)."""

    def __call__(self, ctx: AppContext, /) -> Stop | None: ...


# name -> start, in start order; filled by ``calcifer.wiring`` (empty until it runs).
SERVICES: dict[str, Start] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    stops: list[tuple[str, Stop]] = []
    for name, start in SERVICES.items():
        try:
            stop = start(ctx)
        except Exception:
            log.exception("background service %s did not start", name)
            continue
        if stop is not None:
            stops.append((name, stop))
    try:
        yield
    finally:
        for name, stop in reversed(stops):
            try:
                stop()
            except Exception:
                log.exception("background service %s did not stop cleanly", name)

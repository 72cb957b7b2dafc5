"""The scheduler inside the web app: a background service with a thread and an event loop of its own.

The web app's requests never share a loop (or a GIL-heavy task queue) with the checks: the scheduler
runs on a uvloop loop in the thread ``calcifer-scheduler``. With several web workers, each starts this
service and waits for the scheduler lock; one runs the scheduler, the others take over if it dies.
Off when ``CALCIFER_MONITOR_IN_WEB=false`` (then run ``calcifer worker``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from calcifer import background
from calcifer.instance import AppContext
from calcifer.monitoring import checks

log = logging.getLogger("calcifer.monitoring")

THREAD_NAME = "calcifer-scheduler"


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; fall back to asyncio's loop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class SchedulerThread:
    """Runs ``scheduler.serve`` (wait for the lock, schedule, release) until ``stop()``."""

    def __init__(self, app: AppContext, **options: Any) -> None:
        self.app = app
        self.options = options
        self.loop = new_loop()
        self.scheduler: Any = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)

    def _main(self) -> None:
        from calcifer.monitoring.scheduler import serve

        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            self._ready.set()

            def keep(scheduler: Any) -> None:
                self.scheduler = scheduler

            await serve(self.app, self._stop, on_scheduler=keep, **self.options)

        try:
            self.loop.run_until_complete(main())
        except Exception:
            log.exception("the monitoring scheduler stopped with an error")
        finally:
            self._ready.set()
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def start(self) -> SchedulerThread:
        checks.load()
        self.thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._stop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.error("the monitoring scheduler did not stop within %g s", timeout)


def start(ctx: AppContext) -> background.Stop | None:
    if not ctx.settings.monitor_in_web:
        return None
    return SchedulerThread(ctx).start().stop

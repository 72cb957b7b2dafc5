"""Helpers for the scheduler, store and worker tests: loopback targets and endpoints in the index.

``put_endpoints`` writes endpoints straight into the catalog index (as a sync from git would) and moves
the index's commit, so a running scheduler sees the change at its next poll; the merge test goes
through git instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, func, select, update

from calcifer.catalog.models import CatalogEndpoint, CatalogState
from calcifer.monitoring.models.checks import MonitorEvent, MonitorResult, MonitorState
from calcifer.web.context import AppContext


def endpoint_row(slug: str, *, port: int | None = None, type: str = "tcp", target: str | None = "127.0.0.1",
                 interval: int = 1, timeout: float = 1.0, retries: int = 0, enabled: bool = True,
                 options: dict[str, Any] | None = None, service: str | None = None) -> dict[str, Any]:
    spec = {"name": slug, "slug": slug, "type": type, "target": target, "port": port, "interval": interval,
            "timeout": timeout, "retries": retries, "options": options or {}, "enabled": enabled}
    return {"slug": slug, "name": slug, "service": service, "type": type, "target": target, "port": port,
            "interval": interval, "timeout": timeout, "retries": retries, "enabled": enabled,
            "options": options or {}, "spec": spec, "file": f"catalog/endpoints/{slug}.yaml", "line": 1,
            "nested": False, "blob_id": uuid.uuid4().hex, "commit_id": uuid.uuid4().hex,
            "updated_at": dt.datetime.now(dt.UTC)}


def _bump(session: Any) -> None:
    count = session.execute(select(func.count()).select_from(CatalogEndpoint)).scalar_one()
    state = session.get(CatalogState, 1)
    if state is None:
        session.add(CatalogState(id=1, synced_commit=uuid.uuid4().hex, endpoints=count))
    else:
        state.synced_commit = uuid.uuid4().hex
        state.endpoints = count


def put_endpoints(ctx: AppContext, rows: list[dict[str, Any]]) -> None:
    """Insert or replace endpoints in the catalog index, as if main had them."""
    with ctx.session_factory() as session:
        slugs = [row["slug"] for row in rows]
        session.execute(delete(CatalogEndpoint).where(CatalogEndpoint.slug.in_(slugs)))
        for row in rows:
            session.add(CatalogEndpoint(**row))
        session.flush()
        _bump(session)
        session.commit()


def remove_endpoints(ctx: AppContext, slugs: list[str]) -> None:
    with ctx.session_factory() as session:
        session.execute(delete(CatalogEndpoint).where(CatalogEndpoint.slug.in_(slugs)))
        _bump(session)
        session.commit()


def state_of(ctx: AppContext, slug: str) -> MonitorState | None:
    with ctx.session_factory() as session:
        return session.execute(select(MonitorState).where(MonitorState.slug == slug)).scalar_one_or_none()


def results_of(ctx: AppContext, slug: str) -> list[MonitorResult]:
    with ctx.session_factory() as session:
        eid = session.execute(select(MonitorState.id).where(MonitorState.slug == slug)).scalar()
        if eid is None:
            return []
        return list(session.execute(select(MonitorResult).where(MonitorResult.endpoint_id == eid)
                                    .order_by(MonitorResult.checked_at_ms)).scalars())


def events_of(ctx: AppContext, slug: str) -> list[MonitorEvent]:
    with ctx.session_factory() as session:
        eid = session.execute(select(MonitorState.id).where(MonitorState.slug == slug)).scalar()
        if eid is None:
            return []
        return list(session.execute(select(MonitorEvent).where(MonitorEvent.endpoint_id == eid)
                                    .order_by(MonitorEvent.id)).scalars())


def set_paused(ctx: AppContext, slug: str, paused: bool) -> None:
    with ctx.session_factory() as session:
        session.execute(update(MonitorState).where(MonitorState.slug == slug).values(paused=paused))
        session.commit()


def wait_until(condition: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (generous deadline, no timing assert)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Targets:
    """Loopback TCP listeners in a thread of their own: ``banner()`` answers at once with a banner,
    ``hung()`` accepts and never says anything; ``close(port)`` stops one (connections refused)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers: dict[int, asyncio.base_events.Server] = {}
        self.connections = 0
        self._held: list[asyncio.StreamWriter] = []

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _start(self, handler: Any) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        self.servers[port] = server
        return port

    def banner(self, text: bytes = b"HELLO calcifer\r\n") -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.write(text)
            await writer.drain()
            writer.close()

        return int(self._call(self._start(handle)))

    def slow_banner(self, delay: float, text: bytes = b"HELLO slowly\r\n") -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await asyncio.sleep(delay)
            writer.write(text)
            await writer.drain()
            writer.close()

        return int(self._call(self._start(handle)))

    def hung(self) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self._held.append(writer)  # never answer, never close

        return int(self._call(self._start(handle)))

    def close(self, port: int) -> None:
        async def stop() -> None:
            server = self.servers.pop(port)
            server.close()

        self._call(stop())

    def shutdown(self) -> None:
        async def stop_all() -> None:
            for server in self.servers.values():
                server.close()
            for writer in self._held:
                writer.close()

        self._call(stop_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@contextmanager
def targets() -> Iterator[Targets]:
    value = Targets()
    try:
        yield value
    finally:
        value.shutdown()


class Running:
    """A scheduler running in a thread with its own event loop (as the web app runs it)."""

    def __init__(self, ctx: AppContext, **options: Any) -> None:
        from calcifer.monitoring.scheduler import Scheduler

        self.loop = asyncio.new_event_loop()
        self.scheduler = Scheduler(app=ctx, **{"poll_seconds": 0.3, "batch_seconds": 0.1, "status_seconds": 0.5,
                                              "maintenance_seconds": 0.3, "push_seconds": 0.3,
                                              # in-process writer: tests see their monkeypatched hooks
                                              "writer": "thread", **options})
        self.stop_event: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self._started = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            self._started.set()
            await self.scheduler.run(self.stop_event)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self._started.set()
            self.loop.close()

    def start(self) -> Running:
        self.thread.start()
        self._started.wait(10)
        wait_until(lambda: self.scheduler.ready.is_set() or self.error, timeout=30, what="scheduler ready")
        return self

    def stop(self) -> None:
        if self.stop_event is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)
        assert not self.thread.is_alive(), "the scheduler did not stop"
        if self.error is not None:
            raise self.error


@contextmanager
def running(ctx: AppContext, **options: Any) -> Iterator[Any]:
    runner = Running(ctx, **options).start()
    try:
        yield runner.scheduler
    finally:
        runner.stop()

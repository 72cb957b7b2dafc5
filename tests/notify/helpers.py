"""Helpers for the incident, maintenance and notification tests.

- Catalog rows written straight into the index (services with their dependency edges, endpoints) and
  a ``MonitorState`` per endpoint for its id: no git, no scheduler.
- ``change``/``fire`` drive the status-change hooks the way the result writer does.
- ``Receiver``: a JSON webhook on 127.0.0.1 that records what apprise posts to it (``json://`` URLs).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.orm import Session

from calcifer.auth.models import User
from calcifer.catalog.models import CatalogEdge, CatalogEndpoint, CatalogService, CatalogState, CatalogTag
from calcifer.db import utcnow
from calcifer.monitoring import hooks
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models import MonitorState
from calcifer.web.context import AppContext


def add_service(session: Session, slug: str, *, depends_on: list[str] | None = None, host: str | None = None,
                tags: list[str] | None = None) -> None:
    session.add(CatalogService(slug=slug, name=slug.title(), kind="container", host=host, status="active",
                               description="", owner=None, tags=list(tags or []), depends_on=list(depends_on or []),
                               spec={"slug": slug, "name": slug.title(), "kind": "container"},
                               file=f"catalog/services/{slug}.yaml", line=1, blob_id="0" * 40,
                               commit_id="0" * 40))
    for tag in tags or []:
        session.add(CatalogTag(service_slug=slug, tag=tag))
    for target in depends_on or []:
        session.add(CatalogEdge(from_slug=slug, to_slug=target, kind="depends_on"))
    if host:
        session.add(CatalogEdge(from_slug=slug, to_slug=host, kind="host"))
    _restamp(session)


def add_endpoint(session: Session, slug: str, *, service: str | None = None) -> int:
    """A catalog endpoint and its monitor state; returns the endpoint id (the state's id)."""
    session.add(CatalogEndpoint(slug=slug, name=slug, service=service, type="tcp", target="127.0.0.1", port=9,
                                interval=60, timeout=5.0, retries=0, enabled=True, options={},
                                spec={"slug": slug, "name": slug, "type": "tcp"},
                                file=f"catalog/endpoints/{slug}.yaml", line=1, nested=False, blob_id="0" * 40,
                                commit_id="0" * 40))
    state = MonitorState(slug=slug, status=Status.UP.value, message="", updated_at=utcnow())
    session.add(state)
    session.flush()
    _restamp(session)
    return state.id


def _restamp(session: Session) -> None:
    # The catalog graph is cached per index stamp; rows written by hand must not hit a stale graph.
    state = session.get(CatalogState, 1)
    if state is not None:
        state.synced_at = utcnow()
    session.flush()


def change(endpoint_id: int, slug: str, old: Status, new: Status, at: dt.datetime, *, service: str | None = None,
           message: str = "", in_maintenance: bool = False) -> hooks.StatusChange:
    return hooks.StatusChange(endpoint_id=endpoint_id, slug=slug, service=service, old=old, new=new, at=at,
                              message=message, in_maintenance=in_maintenance)


def fire(ctx: AppContext, *changes: hooks.StatusChange) -> None:
    """Run the status-change hooks in one transaction, as the result writer does, and commit."""
    with ctx.session_factory() as session:
        hooks.status_changed(session=session, changes=list(changes))
        session.commit()


def user(session: Session, username: str) -> User:
    from calcifer.auth import service as auth_service

    return auth_service.get_user_by_username(session=session, username=username)


class Receiver:
    """A JSON webhook on 127.0.0.1: records every POST; answers with `status` (settable)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.status
                if status < 300:
                    receiver.received.append(json.loads(body or b"{}"))
                    receiver.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "hook/s3cr3t-t0ken") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()

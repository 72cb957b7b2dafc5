"""Helpers for the webhook tests: a receiver on 127.0.0.1 that verifies every signature, the delivery
schema (docs/webhooks.schema.json) and a deliverer with short back-offs."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema_rs
from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from calcifer.webhooks.deliverer import Deliverer

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "webhooks.schema.json"
SCHEMA = jsonschema_rs.validator_for(json.loads(SCHEMA_PATH.read_text()), validate_formats=True)
SECRET = "s3cr3t-signing-k3y-🔑"


@dataclass(frozen=True)
class Received:
    event: str
    delivery: str
    timestamp: int
    body: dict[str, Any]
    raw: bytes
    signature_ok: bool


class Receiver:
    """Records every POST after checking its signature with ``secret`` (as a receiver should: HMAC-SHA256
    over ``timestamp.body``, compared in constant time). ``fail_next`` answers that many requests with
    500; ``hold`` (when set up) keeps each request waiting until it is set."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.refused = 0
        self.fail_next = 0
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                stamp = self.headers.get("X-Calcifer-Timestamp", "")
                expected = "sha256=" + hmac.new(receiver.secret.encode(), stamp.encode() + b"." + raw,
                                                hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(expected, self.headers.get("X-Calcifer-Signature", ""))
                with receiver._lock:
                    status = 200
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        receiver.refused += 1
                        status = 500
                    else:
                        receiver.received.append(Received(
                            event=self.headers.get("X-Calcifer-Event", ""),
                            delivery=self.headers.get("X-Calcifer-Delivery", ""),
                            timestamp=int(stamp or 0), body=json.loads(raw), raw=raw, signature_ok=ok))
                self.send_response(status if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[str]:
        with self._lock:
            return [r.event for r in self.received]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                seen = list(self.received)
            if predicate(seen):
                return seen
            time.sleep(0.02)
        raise AssertionError(f"the receiver did not get what was expected in {timeout} s; got "
                             f"{[r.event for r in seen]}")

    def wait_for_event(self, event: str, timeout: float = 30.0) -> Received:
        seen = self.wait_for(lambda got: any(r.event == event for r in got), timeout)
        return next(r for r in seen if r.event == event)


@contextmanager
def receiver(secret: str = SECRET) -> Iterator[Receiver]:
    r = Receiver(secret)
    r.thread.start()
    try:
        yield r
    finally:
        if r.hold is not None:
            r.hold.set()
        r.server.shutdown()
        r.server.server_close()


@contextmanager
def deliverer(ctx: AppContext, **options: Any) -> Iterator[Deliverer]:
    """A running deliverer with short waits (poll 50 ms, retries after 0.2 s, 0.4 s...)."""
    values: dict[str, Any] = {"poll": 0.05, "backoff": 0.2, "backoff_cap": 1.0, "timeout": 5.0}
    values.update(options)
    running = Deliverer(ctx, **values).start()
    try:
        yield running
    finally:
        running.stop()


def assert_valid(received: Received, *, event: str | None = None) -> dict[str, Any]:
    """A delivery as a careful receiver checks it: signature, header matching the body, schema."""
    assert received.signature_ok, "the signature did not verify"
    assert received.event == received.body["event"]
    if event is not None:
        assert received.event == event
    assert abs(time.time() - received.timestamp) < 600
    errors = [str(error) for error in SCHEMA.iter_errors(received.body)]
    assert errors == [], errors
    return received.body


def add_webhook(admin: TestClient, url: str, events: list[str], *, secret: str = SECRET,
                **extra: Any) -> dict[str, Any]:
    response = admin.post("/api/v1/webhooks", json={"url": url, "events": events, "secret": secret, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_for_deliveries(admin: TestClient, webhook_id: int, done: Callable[[list[dict[str, Any]]], bool],
                        timeout: float = 30.0) -> list[dict[str, Any]]:
    """The webhook's delivery log once ``done`` holds for it (the deliverer records outcomes in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        items = list(admin.get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()["items"])
        if done(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.05)

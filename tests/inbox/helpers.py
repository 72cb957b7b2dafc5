"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it is handed, and inbox helpers."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from calcifer.inbox.consumer import Consumer
from calcifer.web.context import AppContext


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


class Smtp:
    def __init__(self, controller: Controller, handler: _Handler) -> None:
        self.controller = controller
        self.handler = handler

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, predicate: Callable[[list[EmailMessage]], bool], timeout: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.messages):
                return self.messages
            time.sleep(0.02)
        raise AssertionError(f"mails not as expected: {[m['Subject'] for m in self.messages]}")


@contextmanager
def smtp_server() -> Iterator[Smtp]:
    handler = _Handler()
    with socket.socket() as probe:  # a free port (aiosmtpd's controller connects to the port it was given)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(controller, handler)
    finally:
        controller.stop()


def configure_smtp(admin: TestClient, port: int, *, digest_minutes: int = 10) -> None:
    response = admin.put("/api/v1/settings/smtp", json={
        "host": "127.0.0.1", "port": port, "sender": "calcifer@example.org",
        "base_url": "http://calcifer.test", "digest_minutes": digest_minutes})
    assert response.status_code == 200, response.text


def run_inbox(ctx: AppContext) -> None:
    """One round of the inbox's background service, now (the test's stand-in for its thread)."""
    Consumer(ctx).round()


def body_text(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]

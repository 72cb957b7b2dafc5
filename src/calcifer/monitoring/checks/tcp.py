"""``tcp``: connect to host:port, and optionally wait for the banner the server sends first."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status

# A banner is the server's first words (SSH, SMTP, FTP...): 1 KiB is plenty, and bounds what we read.
BANNER_LIMIT = 1024
# Silence after the first bytes of a banner that means the server has said all it will say for now.
QUIET = 0.5


class TcpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expect_banner: str | None = Field(
        default=None, min_length=1, max_length=BANNER_LIMIT,
        description="Text the server must send first (e.g. SSH-2.0); read up to 1 KiB within the timeout.")


def _reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"name not resolved ({exc.strerror})"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


async def read_banner(reader: asyncio.StreamReader, expected: bytes, timeout: float) -> tuple[bool, bytes]:
    """Read until ``expected`` shows up, 1 KiB came, the peer closes or goes quiet, or ``timeout`` passes.

    Once the server has started talking, a pause of ``QUIET`` seconds ends the banner: a wrong banner is
    reported then rather than after the whole timeout.
    """
    received = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while expected not in received and len(received) < BANNER_LIMIT:
        wait = deadline - loop.time()
        if received:
            wait = min(wait, QUIET)
        if wait <= 0:
            break
        try:
            async with asyncio.timeout(wait):
                chunk = await reader.read(BANNER_LIMIT - len(received))
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return expected in received, received


class TcpCheck(CheckType):
    kind: ClassVar[str] = "tcp"
    Options: ClassVar[type[BaseModel]] = TcpOptions
    summary: ClassVar[str] = "Connects to a TCP port; optionally expects the banner the server sends first."

    async def check(self, target: Target, options: TcpOptions, ctx: CheckContext) -> Outcome:
        if not target.target or target.port is None:
            return Outcome(Status.DOWN, "a tcp endpoint needs a target host and a port", permanent=True)
        where = f"{target.target}:{target.port}"
        started = time.perf_counter()
        try:
            # No timeout of its own: the scheduler applies the endpoint's hard timeout to every check
            # (a timer per connect cost more than the connect at thousands of checks a second).
            reader, writer = await asyncio.open_connection(target.target, target.port)
        except OSError as exc:
            return Outcome(Status.DOWN, f"cannot connect to {where}: {_reason(exc)}")
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            if options.expect_banner is None:
                return Outcome(Status.UP, "", latency_ms=latency_ms)
            remaining = max(target.timeout - latency_ms / 1000, 0.05)
            try:
                found, received = await read_banner(reader, options.expect_banner.encode(), remaining)
            except OSError as exc:
                return Outcome(Status.DOWN, f"connected to {where}, then {_reason(exc)} while reading the banner",
                               latency_ms=latency_ms)
            if found:
                return Outcome(Status.UP, "banner matched", latency_ms=latency_ms)
            if not received:
                return Outcome(Status.DOWN, f"expected banner {options.expect_banner!r}, got nothing within "
                               f"{remaining:.3g} s", latency_ms=latency_ms)
            # What the server said is not quoted: a check's message is shown to every viewer.
            return Outcome(Status.DOWN, f"expected banner {options.expect_banner!r}, the server's banner did "
                           f"not match ({len(received)} bytes received)", latency_ms=latency_ms)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

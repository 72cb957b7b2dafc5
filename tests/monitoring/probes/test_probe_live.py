"""`calcifer probe` as a subprocess against a live Calcifer on 127.0.0.1 (uvicorn in a thread).

Assignments arrive, results land with the probe's location; the server stopped and started again: the
probe's buffered results arrive, none twice (counted by sequence numbers); the probe killed: shown
offline, one event, its endpoint not declared down. Real sockets, a real TCP target, a real process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import func, select

from calcifer.app import create_app, prepare
from calcifer.monitoring import probes
from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.models.probes import LocationResult, MonitorProbe, ProbeEvent
from calcifer.outbox.models import DomainEvent
from calcifer.web.context import AppContext
from tests.conftest import drop_schema, make_settings
from tests.monitoring.probes.helpers import add_endpoint, add_probe

SRC = Path(__file__).resolve().parents[3] / "src"


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


class Server:
    """Calcifer under uvicorn on a fixed port, stoppable and startable again."""

    def __init__(self, ctx: AppContext, port: int) -> None:
        self.ctx, self.port = ctx, port
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(create_app(ctx=self.ctx), host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        wait_for("the server starts", lambda: self.server is not None and self.server.started, 20)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[AppContext, Server]]:
    settings = make_settings(tmp_path / "data", probe_offline_seconds=3)
    ctx = prepare(settings)
    with socket.socket() as probe_port:
        probe_port.bind(("127.0.0.1", 0))
        port = probe_port.getsockname()[1]
    server = Server(ctx, port)
    server.start()
    try:
        yield ctx, server
    finally:
        if server.thread is not None and server.thread.is_alive():
            server.stop()
        ctx.engine.dispose()
        drop_schema(settings)


@pytest.fixture
def target_port() -> Iterator[int]:
    """A TCP listener the probe's tcp check connects to (accepts and closes)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


def _seqs(ctx: AppContext) -> list[int]:
    with ctx.session_factory() as session:
        return [int(s) for s in session.execute(select(LocationResult.seq).where(
            LocationResult.location == "fra-vps")).scalars()]


def test_a_probe_process_checks_buffers_catches_up_and_goes_offline(live: tuple[AppContext, Server], target_port: int,
                                                                     tmp_path: Path) -> None:
    ctx, server = live

    def offline() -> bool:
        with ctx.session_factory() as session:
            return not session.execute(select(MonitorProbe.online)).scalar_one()

    def count_offline() -> int:
        with ctx.session_factory() as session:
            return int(session.execute(select(func.count()).select_from(ProbeEvent).where(
                ProbeEvent.kind == "offline")).scalar_one())

    def outbox(name: str) -> list[dict[str, Any]]:
        with ctx.session_factory() as session:
            return [dict(data) for data in session.execute(select(DomainEvent.data).where(
                DomainEvent.name == name).order_by(DomainEvent.id)).scalars()]

    add_endpoint(ctx, "db", ["fra-vps"], interval=1, port=target_port)
    add_endpoint(ctx, "local-only", ["local"], interval=1, port=target_port)  # never given to the probe
    token = add_probe(ctx, "fra-1", "fra-vps")
    data_dir = tmp_path / "probe"
    process = subprocess.Popen(
        [sys.executable, "-m", "calcifer.cli", "probe", "--server", f"http://127.0.0.1:{server.port}",
         "--token", token, "--data-dir", str(data_dir), "--batch-seconds", "0.2", "--poll-seconds", "1",
         "--heartbeat-seconds", "0.5"],
        env={**os.environ, "PYTHONPATH": str(SRC)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # assignments arrive; results land with the probe's location
        wait_for("results from the probe", lambda: len(_seqs(ctx)) >= 2)
        with ctx.session_factory() as session:
            state = session.execute(select(MonitorState).where(MonitorState.slug == "db")).scalar_one()
            assert state.status == "up" and "up from fra-vps" in state.message
            probe = session.execute(select(MonitorProbe)).scalar_one()
            assert probe.online and probe.version
            locations = set(session.execute(select(LocationResult.location)).scalars())
        assert locations == {"fra-vps"}
        # the server goes away; the probe keeps checking and buffers on disk
        server.stop()
        before = len(_seqs(ctx))
        wait_for("results buffered on disk", lambda: sum(
            len(p.read_text().splitlines()) for p in (data_dir / "buffer").glob("*.jsonl")) >= 3)
        server.start()
        # the backlog arrives; none twice; no hole in the sequence numbers
        wait_for("the backlog uploaded", lambda: not list((data_dir / "buffer").glob("*.jsonl"))
                 and len(_seqs(ctx)) >= before + 3)
        seqs = _seqs(ctx)
        assert len(seqs) == len(set(seqs)), "a result was stored twice"
        assert sorted(seqs) == list(range(1, max(seqs) + 1)), "a result was lost"
        wait_for("the probe back online", lambda: not offline(), 10)
        offline_events = count_offline()
        offline_outbox = len(outbox("probe.offline"))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    # killed: offline, one event, its endpoint not declared down
    wait_for("the probe shown offline", offline, 20)
    with ctx.session_factory() as session:  # later sweeps add nothing
        assert probes.sweep_offline(session, offline_after=3) == []
        status = session.execute(select(MonitorState.status).where(MonitorState.slug == "db")).scalar_one()
    assert count_offline() == offline_events + 1
    # one probe.offline domain event for the kill (webhooks subscribe to it), naming the probe
    events = outbox("probe.offline")
    assert len(events) == offline_outbox + 1
    assert events[-1]["probe"]["name"] == "fra-1" and events[-1]["probe"]["location"] == "fra-vps"
    assert outbox("probe.online"), "the probe's first call and its return are probe.online events"
    assert status == "up"

"""A probe reaches a server whose certificate comes from a private CA (``--ca-file``), and refuses it
without the CA. Real TLS on 127.0.0.1 (uvicorn with a certificate from trustme)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import uvicorn

from calcifer.app import create_app, prepare
from calcifer.monitoring.probe_agent import ProbeScheduler, Uploader, ssl_context
from calcifer.web.context import AppContext
from tests.conftest import drop_schema, make_settings
from tests.monitoring.probes.helpers import add_endpoint, add_probe


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[AppContext, str, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    settings = make_settings(tmp_path / "data")
    ctx = prepare(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ctx=ctx), host="127.0.0.1", port=port, log_level="warning",
                                           ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield ctx, f"https://127.0.0.1:{port}", ca_file
    finally:
        server.should_exit = True
        thread.join(10)
        ctx.engine.dispose()
        drop_schema(settings)


async def _assignments(url: str, token: str, ca_file: Path | None, data_dir: Path) -> tuple[bool, list[str]]:
    import aiohttp

    connector = aiohttp.TCPConnector(ssl=ssl_context(str(ca_file) if ca_file else None))
    async with aiohttp.ClientSession(connector=connector) as session:
        uploader = Uploader(server=url, token=token, data_dir=data_dir, session=session)
        scheduler = ProbeScheduler(uploader=uploader)
        scheduler._loop = asyncio.get_running_loop()
        await scheduler.refresh(force=True, initial=True)
        return uploader.reachable, sorted(scheduler.jobs)


def test_a_private_ca_is_trusted_with_ca_file_and_only_then(tls_server: tuple[AppContext, str, Path],
                                                            tmp_path: Path) -> None:
    ctx, url, ca_file = tls_server
    add_endpoint(ctx, "db", ["fra-vps"])
    token = add_probe(ctx, "fra-1", "fra-vps")
    assert asyncio.run(_assignments(url, token, ca_file, tmp_path / "a")) == (True, ["db"])
    assert asyncio.run(_assignments(url, token, None, tmp_path / "b")) == (False, [])

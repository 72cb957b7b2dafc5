"""Real listeners on 127.0.0.1 for the check-type tests: TCP, HTTP(S) and DNS, each on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from calcifer.monitoring.checks.base import Target

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    """A port nothing listens on: bound, read and closed again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def target(where: str | None, port: int | None = None, *, timeout: float = 5, interval: int = 60,
           slug: str = "probe") -> Target:
    return Target(slug=slug, target=where, port=port, timeout=timeout, interval=interval)


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    """A TCP listener on 127.0.0.1 running ``handler`` per connection; yields its port."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):  # handlers that wait forever
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


# -- HTTP -------------------------------------------------------------------------------------------------

@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpServer:
    port: int
    scheme: str = "http"
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


DOCUMENT = {"data": {"state": "green", "healthy": True, "count": 3,
                     "items": [{"state": "red", "name": "db"}, {"state": "green", "name": "cache"}],
                     "version": "1.24.3"}}


def _app(server: HttpServer) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="all systems ok")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status page")

    async def document(request: web.Request) -> web.Response:
        return web.json_response(DOCUMENT)

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>", content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(text="slow but fine")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(text="never")

    async def echo(request: web.Request) -> web.Response:
        server.received.append(Received(request.method, request.path, dict(request.headers),
                                        await request.read()))
        return web.Response(text="received")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/json", document)
    app.router.add_get("/html", not_json)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hang", hang)
    app.router.add_route("*", "/echo", echo)
    return app


@contextlib.asynccontextmanager
async def http_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[HttpServer]:
    server = HttpServer(port=0, scheme="https" if ssl_context else "http")
    runner = web.AppRunner(_app(server), handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


def server_tls(ca: trustme.CA, *, not_before: dt.datetime | None = None,
               not_after: dt.datetime | None = None) -> ssl.SSLContext:
    """A server SSL context with a certificate for 127.0.0.1 issued by ``ca`` (unknown to the system)."""
    cert = ca.issue_cert("127.0.0.1", "localhost", common_name="calcifer-test", not_before=not_before,
                         not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def self_signed_tls(tmp_dir: Path, *, days: float) -> ssl.SSLContext:
    """A server SSL context with a truly self-signed certificate for 127.0.0.1 valid ``days`` more."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_dir / "cert.pem", tmp_dir / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


# -- DNS --------------------------------------------------------------------------------------------------

class DnsServer(asyncio.DatagramProtocol):
    """Answers from ``records`` ({(name, type): [values]}); NXDOMAIN for names it does not know."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = {(name.lower().rstrip("."), kind): values for (name, kind), values in records.items()}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        kind = dns.rdatatype.to_text(question.rdtype)
        values = self.records.get((name, kind))
        if values:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", kind, *values))
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


@contextlib.asynccontextmanager
async def dns_server(records: dict[tuple[str, str], list[str]]) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: DnsServer(records), local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()

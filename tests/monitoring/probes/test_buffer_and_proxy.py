"""The probe's disk buffer keeps within its bounds (oldest dropped first, counted), and its requests go
through the HTTP proxy the usual environment variables name."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession, web

from calcifer.monitoring.probe_agent import SEGMENT_RESULTS, Buffer, Uploader


def _items(first: int, count: int, at: float) -> list[dict[str, Any]]:
    return [{"seq": first + i, "slug": "web", "checked_at": at, "status": "up", "message": "x" * 50}
            for i in range(count)]


def test_the_buffer_drops_its_oldest_segments_beyond_its_size_and_counts_them(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "buffer", max_bytes=400_000, max_age=3600)
    now = time.time()
    for k in range(4):
        buffer.add(_items(1 + k * SEGMENT_RESULTS, SEGMENT_RESULTS, now))  # ~150 kB a segment
    assert buffer.dropped > 0 and buffer.dropped % SEGMENT_RESULTS == 0
    assert sum(s.size for s in buffer.segments) <= 400_000
    kept = buffer.oldest()
    assert kept is not None and kept[1][0]["seq"] == 1 + buffer.dropped  # the oldest went first
    assert Buffer(tmp_path / "buffer", max_bytes=400_000, max_age=3600).count == buffer.count  # survives a restart


def test_the_buffer_drops_results_older_than_its_age_bound(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "buffer", max_bytes=10**9, max_age=3600)
    now = time.time()
    buffer.add(_items(1, SEGMENT_RESULTS, now - 7200))
    assert buffer.dropped == SEGMENT_RESULTS and buffer.count == 0
    buffer.add(_items(SEGMENT_RESULTS + 1, 10, now))
    assert buffer.count == 10


class _Proxy:
    """A forward HTTP proxy on 127.0.0.1 that records the URLs it carried."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.seen.append(self.path)
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
                connection.request(self.command, url.path + (f"?{url.query}" if url.query else ""), body=body or None,
                                   headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    running = _Proxy()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_uploads_go_through_the_proxy_the_environment_names(tmp_path: Path, proxy: _Proxy,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    stored: list[int] = []

    async def results(request: web.Request) -> web.Response:
        stored.extend(item["seq"] for item in json.loads(await request.read())["results"])
        return web.json_response({"accepted": 1})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/probes/results", results)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with ClientSession(trust_env=True) as session:  # as `calcifer probe` opens it
                uploader = Uploader(server=f"http://127.0.0.1:{port}", token="t", data_dir=tmp_path, session=session)
                uploader.add({"slug": "web", "checked_at": 1.0, "status": "up"})
                await uploader.round()
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert stored == [1]
    assert [urlsplit(url).path for url in proxy.seen] == ["/api/v1/probes/results"]

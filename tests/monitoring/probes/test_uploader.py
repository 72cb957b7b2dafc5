"""The probe's uploader against a server that finds a batch too large: it sends halves, nothing is lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from calcifer.monitoring.probe_agent import Uploader


def test_a_batch_refused_as_too_large_is_sent_in_halves(tmp_path: Path) -> None:
    received: list[list[int]] = []

    async def results(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        if len(body["results"]) > 3:
            return web.json_response({"error": {"message": "too large"}}, status=413)
        received.append([item["seq"] for item in body["results"]])
        return web.json_response({"accepted": len(body["results"])})

    async def main() -> Any:
        app = web.Application()
        app.router.add_post("/api/v1/probes/results", results)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with ClientSession() as session:
                uploader = Uploader(server=f"http://127.0.0.1:{port}", token="t", data_dir=tmp_path, session=session)
                for _ in range(10):
                    uploader.add({"slug": "web", "checked_at": 1.0, "status": "up"})
                await uploader.round()
                return uploader
        finally:
            await runner.cleanup()

    uploader = asyncio.run(main())
    assert sorted(seq for batch in received for seq in batch) == list(range(1, 11))
    assert all(len(batch) <= 3 for batch in received)
    assert uploader.reachable and uploader.buffer.count == 0 and uploader.buffer.dropped == 0

"""A person's own apprise URL: stored sealed, and each notification is pushed to it (here apprise's
json:// plugin posting to a receiver on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.inbox.helpers import run_inbox
from tests.work.helpers import make_work_item


def test_notifications_reach_the_persons_own_apprise_url(cast: Cast, ctx: AppContext) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"json://127.0.0.1:{server.server_address[1]}/hook"
        saved = cast.editor.put("/api/v1/me/notification-preferences", json={"apprise_url": url})
        assert saved.status_code == 200, saved.text
        assert saved.json()["apprise_url_set"] is True
        make_work_item(cast.admin, title="Patch the router", assignee="eddie")
        run_inbox(ctx)
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert received and "Patch the router is assigned to you" in received[0]["message"]
        bad = cast.editor.put("/api/v1/me/notification-preferences", json={"apprise_url": "nonsense"})
        assert bad.status_code in (400, 422)
        assert "nonsense" not in bad.text  # the message never repeats the URL
    finally:
        server.shutdown()
        server.server_close()

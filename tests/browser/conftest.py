"""Browser tests: a live Calcifer per test, driven by Debian's Chromium through Playwright (sync API).

- One Playwright and one Chromium per xdist worker (session scope), a new browser context per test.
- Each test gets its own live server: its own data directory, database (or PostgreSQL schema) and a
  free port on 127.0.0.1 chosen by the kernel, so parallel workers never collide.
- Every page records console errors and uncaught exceptions; a test fails if any appear, unless it
  declares the ones it provokes on purpose with `console.expect(...)`.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from calcifer.app import create_app, prepare
from calcifer.config import Settings
from calcifer.web.context import AppContext
from tests.conftest import PASSWORD, drop_schema, make_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS_DIR = Path(os.environ.get("CALCIFER_SHOTS_DIR", "/tmp/calcifer-shots"))
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


# ----------------------------------------------------------------------------------------- browser

# Module scope, not session: Playwright's sync API keeps an asyncio loop marked running in the main
# thread while it is started, and other tests on the same xdist worker call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. Run `make test` as "
                    "root (it installs it), or `sudo apt-get install -y chromium`.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ------------------------------------------------------------------------------------- live server

@dataclass
class LiveServer:
    url: str
    ctx: AppContext
    settings: Settings

    def __call__(self, path: str = "/") -> str:
        return self.url + path


def _wait_healthy(url: str, thread: threading.Thread, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the live server thread stopped while starting")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
                last = response.status
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"the live server at {url} did not answer /healthz within {timeout}s: {last!r}")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh Calcifer (no users yet) served by uvicorn on 127.0.0.1 and a port the kernel picked."""
    settings = make_settings(tmp_path / "data")
    ctx = prepare(settings)
    app = create_app(ctx=ctx)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"calcifer-{port}",
                              daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, thread)
        yield LiveServer(url=url, ctx=ctx, settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        ctx.engine.dispose()
        drop_schema(settings)
        if thread.is_alive():
            raise RuntimeError("the live server did not stop within 15 s")


# ---------------------------------------------------------------------------------- console errors

@dataclass
class Console:
    """Console errors and uncaught page exceptions seen by every page of a test's browser context."""

    errors: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)
    checked: int = 0  # errors before this index were already reported by assert_clean()

    def expect(self, pattern: str) -> None:
        """Allow console errors matching `pattern` (e.g. the one Chromium logs for a deliberate 4xx)."""
        self.expected.append(re.compile(pattern))

    def watch(self, page: Any) -> None:
        page.on("console", lambda msg: self.errors.append(f"console.error: {msg.text} ({msg.location})")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]

    def clear(self) -> None:
        self.errors.clear()

    def assert_clean(self) -> None:
        problems = [e for e in self.errors[self.checked:] if not any(p.search(e) for p in self.expected)]
        self.checked = len(self.errors)
        assert not problems, "console errors:\n" + "\n".join(problems)


@pytest.fixture
def console() -> Console:
    return Console()


def _new_context(browser: Any, console: Console, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, color_scheme="light", locale="en-GB")
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(20_000)
    context.on("page", console.watch)
    return context


@pytest.fixture
def context(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh browser context (cookies, localStorage) at desktop size, light system colour scheme."""
    ctx = _new_context(browser, console, DESKTOP)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any, console: Console) -> Iterator[Any]:
    """A page whose console must stay free of errors for the whole test."""
    new_page = context.new_page()
    yield new_page
    console.assert_clean()


@pytest.fixture
def new_context(browser: Any, console: Console) -> Iterator[Any]:
    """Factory for extra contexts (e.g. phone width); all closed at the end, all console-checked."""
    made: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Any:
        ctx = _new_context(browser, console, viewport)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


# -------------------------------------------------------------------------------------------- helpers

def login(page: Any, server: LiveServer, username: str, password: str = PASSWORD) -> None:
    """Log in through the /login form and land on the dashboard."""
    page.goto(server("/login"))
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert page.url == server("/"), page.url
    assert page.locator(".user-menu .user-name").inner_text().strip() == username


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SHOTS_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

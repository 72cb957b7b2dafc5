"""A real OpenID Provider for the tests: the certified ``oidc-provider`` package (npm) under node, from
tests/servers/oidc/ (package.json, package-lock.json, provider.mjs).

CI starts from a clean clone, so the first use installs the locked packages with ``npm ci`` into a cache
folder named by the lock file's hash (``~/.cache/calcifer-tests/``, or ``CALCIFER_TEST_CACHE``), under a
file lock so parallel workers install once; later runs reuse it. A ``node_modules`` folder next to the
package (a developer's ``npm ci``) is used as it is.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

PACKAGE = Path(__file__).resolve().parents[1] / "servers" / "oidc"
CACHE = Path(os.environ.get("CALCIFER_TEST_CACHE", Path.home() / ".cache" / "calcifer-tests"))
FILES = ("package.json", "package-lock.json", "provider.mjs")


def _installed_package() -> Path:
    """A folder holding the package files and its installed node_modules."""
    if (PACKAGE / "node_modules" / "oidc-provider").is_dir():
        return PACKAGE
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: the OpenID Connect tests run the oidc-provider package under node "
                        "(Debian's nodejs and npm).", pytrace=False)
    digest = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()[:16]
    target = CACHE / f"oidc-provider-{digest}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"oidc-provider-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "node_modules" / "oidc-provider").is_dir():
            staging = CACHE / f"oidc-provider-{digest}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            for name in FILES:
                shutil.copy2(PACKAGE / name, staging / name)
            result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=staging,
                                    capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                pytest.fail(f"npm ci for the test OpenID provider failed:\n{result.stderr[-3000:]}", pytrace=False)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
    # The script may have changed since the install (its dependencies did not: same lock file).
    for name in FILES:
        shutil.copy2(PACKAGE / name, target / name)
    return target


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    log: Path | None = None  # its stderr: a line "request METHOD PATH" for each request it received

    def requests_to(self, path: str) -> int:
        """How many requests for ``path`` (no query) the provider has received so far."""
        assert self.log is not None
        return sum(1 for line in self.log.read_text(errors="replace").splitlines()
                   if line.startswith("request ") and line.split(" ", 2)[2:] == [path])


@contextmanager
def running_provider(folder: Path, *, redirect_uri: str, accounts: dict[str, dict[str, object]]) -> Iterator[Provider]:
    """The provider on 127.0.0.1 (a port the kernel picked) with one confidential client for
    ``redirect_uri``; ``accounts`` gives each login name its claims (``groups``, ``email``, ``name``)."""
    package = _installed_package()
    provider = Provider(issuer="", client_id="calcifer-test", client_secret="test-client-secret-" + os.urandom(6).hex())
    config = folder / "provider.json"
    config.write_text(json.dumps({"client_id": provider.client_id, "client_secret": provider.client_secret,
                                  "redirect_uri": redirect_uri, "accounts": accounts}))
    log = (folder / "provider.log").open("wb")
    process = subprocess.Popen(["node", str(package / "provider.mjs"), str(config)], cwd=package,
                               stdout=subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        line = b""
        while b"\n" not in line and time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.2):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        if b"\n" not in line:
            raise RuntimeError("the OpenID provider did not start: " + (folder / "provider.log").read_text()[-2000:])
        issuer = json.loads(line.split(b"\n", 1)[0])["issuer"]
        yield Provider(issuer=issuer, client_id=provider.client_id, client_secret=provider.client_secret,
                       log=folder / "provider.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


_FORM = re.compile(r'<form[^>]*\baction="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def sign_in_at_provider(authorization_url: str, *, login: str, redirect_uri: str) -> str:
    """The provider's development login (any password) and consent pages, played with ``requests``
    instead of a browser: the URL the provider sends the browser back to (``redirect_uri?code=...``),
    not requested."""
    browser = requests.Session()
    response = browser.get(authorization_url, allow_redirects=False, timeout=10)
    for _ in range(20):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["location"])
            if location.startswith(redirect_uri):
                return location
            response = browser.get(location, allow_redirects=False, timeout=10)
            continue
        form = _FORM.search(response.text)
        assert response.status_code == 200 and form, (response.status_code, response.text[-2000:])
        data = dict(_HIDDEN.findall(form.group(2)))
        if 'name="login"' in form.group(2):
            data.update(login=login, password="anything the provider accepts")
        response = browser.post(urljoin(response.url, form.group(1)), data=data, allow_redirects=False, timeout=10)
    raise AssertionError("the provider did not send the browser back")

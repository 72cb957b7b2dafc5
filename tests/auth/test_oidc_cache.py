"""What a Calcifer process keeps of an OpenID provider: the discovery document for a while, the signing keys
until an ID token names a key they lack (a key rotation), then fetched once more. Against a small HTTP
server on 127.0.0.1 that serves both and counts the requests; time is passed in, never waited for."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from calcifer.auth import oidc
from calcifer.errors import Invalid, Unavailable

CLIENT_ID = "calcifer"
DISCOVERY = "/.well-known/openid-configuration"


@dataclass
class FakeProvider:
    issuer: str = ""
    keys: list[RSAKey] = field(default_factory=list)  # what /jwks serves
    hits: Counter[str] = field(default_factory=Counter)
    fail_discovery: int = 0  # answer the next N discovery requests with a 500

    def metadata(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/auth",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "id_token_signing_alg_values_supported": ["RS256"]}

    def token(self, key: RSAKey, *, nonce: str = "n-1", kid: str = "") -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "olivia", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce}
        return {"id_token": jwt.encode({"alg": "RS256", "kid": kid or key.kid}, claims, key)}


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


@pytest.fixture(scope="module")
def rsa_keys() -> dict[str, RSAKey]:
    return {kid: _key(kid) for kid in ("k1", "k2", "rogue")}


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    state = FakeProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.hits[self.path] += 1
            if self.path == DISCOVERY and state.fail_discovery:
                state.fail_discovery -= 1
                body, status = b"{}", 500
            elif self.path == DISCOVERY:
                body, status = json.dumps(state.metadata()).encode(), 200
            elif self.path == "/jwks":
                body, status = json.dumps(KeySet(list(state.keys)).as_dict(private=False)).encode(), 200
            else:
                body, status = b"{}", 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    oidc.forget()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        oidc.forget()


def test_the_discovery_document_is_read_once_per_ten_minutes_and_again_when_forgotten(provider: FakeProvider) -> None:
    start = 5000.0
    for moment in (start, start + 1, start + oidc.DISCOVERY_TTL_SECONDS - 1):
        assert oidc.discover(provider.issuer, now=moment)["jwks_uri"] == provider.issuer + "/jwks"
    assert provider.hits[DISCOVERY] == 1
    oidc.discover(provider.issuer + "/", now=start + oidc.DISCOVERY_TTL_SECONDS)  # stale: read again
    assert provider.hits[DISCOVERY] == 2
    oidc.discover(provider.issuer, now=start + oidc.DISCOVERY_TTL_SECONDS + 1)
    assert provider.hits[DISCOVERY] == 2
    oidc.forget([provider.issuer])  # the settings changed
    oidc.discover(provider.issuer, now=start + oidc.DISCOVERY_TTL_SECONDS + 2)
    assert provider.hits[DISCOVERY] == 3


def test_a_failed_discovery_is_not_kept(provider: FakeProvider) -> None:
    provider.fail_discovery = 1
    with pytest.raises(Unavailable, match="discovery document"):
        oidc.discover(provider.issuer, now=100.0)
    assert oidc.discover(provider.issuer, now=101.0)["issuer"] == provider.issuer
    oidc.discover(provider.issuer, now=102.0)
    assert provider.hits[DISCOVERY] == 2


def _claims(provider: FakeProvider, token: dict[str, Any]) -> dict[str, Any]:
    return oidc.id_token_claims(issuer=provider.issuer, metadata=provider.metadata(), token=token,
                                client_id=CLIENT_ID, nonce="n-1")


def test_the_signing_keys_are_kept_until_a_token_names_another_key(provider: FakeProvider,
                                                                   rsa_keys: dict[str, RSAKey]) -> None:
    provider.keys = [rsa_keys["k1"]]
    for _ in range(3):
        assert _claims(provider, provider.token(rsa_keys["k1"]))["sub"] == "olivia"
    assert provider.hits["/jwks"] == 1
    # The provider rotates its keys: the first token signed with the new one fetches them again, once.
    provider.keys = [rsa_keys["k2"]]
    for _ in range(2):
        assert _claims(provider, provider.token(rsa_keys["k2"]))["sub"] == "olivia"
    assert provider.hits["/jwks"] == 2
    # A key the provider no longer publishes: fetched again once, still absent, refused.
    with pytest.raises(Invalid, match="ID token was refused"):
        _claims(provider, provider.token(rsa_keys["k1"]))
    assert provider.hits["/jwks"] == 3
    # A known key id with another key's signature: no fetch, refused.
    with pytest.raises(Invalid, match="ID token was refused"):
        _claims(provider, provider.token(rsa_keys["rogue"], kid="k2"))
    assert provider.hits["/jwks"] == 3
    # The nonce is still checked with kept keys.
    with pytest.raises(Invalid, match="nonce"):
        _claims(provider, provider.token(rsa_keys["k2"], nonce="another"))
    # The settings changed: the keys are fetched again.
    oidc.forget([provider.issuer])
    _claims(provider, provider.token(rsa_keys["k2"]))
    assert provider.hits["/jwks"] == 4

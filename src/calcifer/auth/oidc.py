"""OpenID Connect login (authlib): discovery, the authorization code flow with PKCE, the ID token checked.

``start`` reads the issuer's ``/.well-known/openid-configuration``, makes a fresh ``state``, ``nonce`` and
PKCE verifier, and returns the provider's authorization URL and a sealed value for a short-lived cookie
that remembers them (this browser's sign-in). ``finish`` takes the provider's answer at the callback:
the ``state`` must be the cookie's (else the answer belongs to another browser or was altered), the code
is exchanged with the verifier (a code used once is refused by the provider), and the ID token's
signature is checked against the provider's JWKS, with its issuer, audience, expiry and ``nonce`` (the
cookie's). No FastAPI here.

What the provider publishes is kept in this process, per issuer: the discovery document for
``DISCOVERY_TTL_SECONDS``, the signing keys (JWKS) until an ID token names a key id (``kid``) they lack,
then fetched again once (the provider rotated its keys). ``forget`` drops both when the settings change.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry, extract_compact

from calcifer.auth.schemas import OidcConfig
from calcifer.errors import Invalid, NotAuthenticated, Unavailable
from calcifer.sealed import SealError, seal, unseal

PENDING_PURPOSE = "oidc-pending-login"
PENDING_MINUTES = 10
TIMEOUT_SECONDS = 10
LEEWAY_SECONDS = 60


DISCOVERY_TTL_SECONDS = 600


@dataclass(frozen=True)
class _Discovered:
    metadata: dict[str, Any]
    fetched_at: float  # time.monotonic()


@dataclass(frozen=True)
class _Keys:
    jwks_uri: str
    keys: KeySet


_lock = threading.Lock()
_discovered: dict[str, _Discovered] = {}  # issuer (no trailing slash) -> its discovery document
_signing_keys: dict[str, _Keys] = {}      # issuer -> its JWKS


def forget(issuers: Collection[str] | None = None) -> None:
    """Drop what this process keeps of ``issuers`` (of every issuer when None): the next sign-in reads
    their discovery document and keys again. Called when the single sign-on settings change."""
    with _lock:
        if issuers is None:
            _discovered.clear()
            _signing_keys.clear()
        for issuer in issuers or ():
            _discovered.pop(issuer.rstrip("/"), None)
            _signing_keys.pop(issuer.rstrip("/"), None)


def _fetch_discovery(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, allow_redirects=False)
        response.raise_for_status()
        metadata: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(f"The identity provider's discovery document ({url}) cannot be read: {exc}.") from exc
    if not isinstance(metadata, dict):
        raise Invalid(f"The discovery document of {issuer} is not a JSON object.", code="oidc_metadata")
    if str(metadata.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise Invalid(f"The discovery document names the issuer {metadata.get('issuer')!r}, not {issuer!r}: an "
                      "admin corrects the issuer URL.", code="oidc_issuer_mismatch")
    missing = [key for key in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not metadata.get(key)]
    if missing:
        raise Invalid(f"The discovery document of {issuer} lacks {', '.join(missing)}.", code="oidc_metadata")
    return metadata


def discover(issuer: str, *, now: float | None = None) -> dict[str, Any]:
    """The provider's metadata, read at most once per ``DISCOVERY_TTL_SECONDS`` (``now``: a
    ``time.monotonic()`` reading, for tests). Raises Unavailable when it cannot be read, Invalid when it
    names another issuer (OpenID Connect Discovery 1.0, section 4.3); neither is kept."""
    key = issuer.rstrip("/")
    moment = time.monotonic() if now is None else now
    with _lock:
        known = _discovered.get(key)
    if known is not None and 0 <= moment - known.fetched_at < DISCOVERY_TTL_SECONDS:
        return dict(known.metadata)
    metadata = _fetch_discovery(issuer)
    with _lock:
        _discovered[key] = _Discovered(metadata=metadata, fetched_at=moment)
    return dict(metadata)


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def signing_keys(*, issuer: str, jwks_uri: str, kid: str | None) -> KeySet:
    """The provider's signing keys: kept per issuer, fetched again (once) when ``kid``, the key id an ID
    token names, is not among them, as after the provider rotated its keys. Raises Unavailable when they
    cannot be read."""
    key = issuer.rstrip("/")
    with _lock:
        known = _signing_keys.get(key)
    if known is not None and known.jwks_uri == jwks_uri and (kid is None or _has_kid(known.keys, kid)):
        return known.keys
    try:
        response = requests.get(jwks_uri, timeout=TIMEOUT_SECONDS, allow_redirects=False)
        response.raise_for_status()
        keys = KeySet.import_key_set(response.json())
    except (requests.RequestException, ValueError, TypeError, JoseError) as exc:
        raise Unavailable(f"The provider's signing keys ({jwks_uri}) cannot be read: {exc}.") from exc
    with _lock:
        _signing_keys[key] = _Keys(jwks_uri=jwks_uri, keys=keys)
    return keys


def _kid_of(id_token: str) -> str | None:
    try:
        kid = extract_compact(id_token.encode()).headers().get("kid")
    except (JoseError, ValueError):
        return None  # not a JWS: jwt.decode below says why
    return kid if isinstance(kid, str) else None


def _client(config: OidcConfig, client_secret: str, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(client_id=config.client_id, client_secret=client_secret, scope=config.scopes,
                         redirect_uri=redirect_uri, code_challenge_method="S256", default_timeout=TIMEOUT_SECONDS)


@dataclass(frozen=True)
class Started:
    url: str       # send the browser there
    pending: str   # keep in a cookie until the callback


def start(*, config: OidcConfig, client_secret: str, redirect_uri: str, next_url: str, secret_key: str) -> Started:
    metadata = discover(config.issuer)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with _client(config, client_secret, redirect_uri) as client:
        url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state, nonce=nonce,
                                                 code_verifier=verifier)
    payload = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_url, "iss": config.issuer,
               "exp": int(time.time()) + PENDING_MINUTES * 60}
    return Started(url=url, pending=seal(secret_key, PENDING_PURPOSE, json.dumps(payload)))


@dataclass(frozen=True)
class Pending:
    state: str
    nonce: str
    verifier: str
    next_url: str
    issuer: str


def read_pending(*, secret_key: str, value: str | None) -> Pending:
    """The sign-in this browser started; NotAuthenticated when none (another browser, too old)."""
    again = "Start signing in again."
    if not value:
        raise NotAuthenticated(f"This browser did not start a sign-in (or its cookie is gone). {again}")
    try:
        payload = json.loads(unseal(secret_key, PENDING_PURPOSE, value))
    except (SealError, ValueError) as exc:
        raise NotAuthenticated(f"This browser's sign-in cannot be read. {again}") from exc
    if int(payload.get("exp", 0)) < time.time():
        raise NotAuthenticated(f"The sign-in was not finished within {PENDING_MINUTES} minutes. {again}")
    return Pending(state=str(payload["state"]), nonce=str(payload["nonce"]), verifier=str(payload["verifier"]),
                   next_url=str(payload.get("next") or "/"), issuer=str(payload.get("iss", "")))


def seal_pending(*, secret_key: str, pending: Pending) -> str:
    """``pending`` sealed as ``start`` seals it (used by tests to play a sign-in with another nonce)."""
    return seal(secret_key, PENDING_PURPOSE, json.dumps({
        "state": pending.state, "nonce": pending.nonce, "verifier": pending.verifier, "next": pending.next_url,
        "iss": pending.issuer, "exp": int(time.time()) + PENDING_MINUTES * 60}))


def id_token_claims(*, issuer: str, metadata: dict[str, Any], token: dict[str, Any], client_id: str,
                    nonce: str) -> dict[str, Any]:
    """The claims of the ID token in ``token`` (the token endpoint's answer), once its signature (the
    provider's keys, ``signing_keys``), issuer, audience, expiry and ``nonce`` check out. Raises Invalid
    when it does not verify, Unavailable when the keys cannot be read."""
    if not isinstance(token.get("id_token"), str):
        raise Invalid("The provider answered without an ID token: an admin checks that the scopes include openid.",
                      code="oidc_no_id_token")
    id_token: str = token["id_token"]
    keys = signing_keys(issuer=issuer, jwks_uri=str(metadata["jwks_uri"]), kid=_kid_of(id_token))
    algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    try:
        decoded = jwt.decode(id_token, key=keys,
                             registry=JWSRegistry(algorithms=algorithms, strict_check_header=False))
        claims = CodeIDToken(decoded.claims, decoded.header,
                             {"iss": {"essential": True, "values": [metadata["issuer"]]}},
                             {"nonce": nonce, "client_id": client_id, "access_token": token.get("access_token")})
        claims.validate(leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError) as exc:
        what = getattr(exc, "description", "") or str(exc)
        raise Invalid(f"The provider's ID token was refused ({what}). Start signing in again.",
                      code="oidc_bad_id_token") from exc
    return dict(claims)


def finish(*, config: OidcConfig, client_secret: str, redirect_uri: str, pending: Pending,
           params: dict[str, str]) -> dict[str, Any]:
    """The ID token's claims of the sign-in ``pending`` started, from the provider's answer ``params``
    (the callback's query). Raises Invalid when the answer is refused (an error from the provider, another
    state, a code refused, an ID token that does not verify), Unavailable when the provider cannot be
    reached."""
    if params.get("error"):
        description = params.get("error_description", "")[:200]
        raise Invalid(f"The identity provider did not sign you in ({params['error'][:60]}"
                      + (f": {description}" if description else "") + ").", code="oidc_error")
    state = params.get("state", "")
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise Invalid("This sign-in answer does not belong to the sign-in this browser started (the state "
                      "differs). Start signing in again.", code="oidc_state_mismatch")
    if pending.issuer != config.issuer:
        raise Invalid("The single sign-on settings changed during the sign-in. Start signing in again.",
                      code="oidc_settings_changed")
    if params.get("iss") and params["iss"].rstrip("/") != config.issuer:  # RFC 9207: the answer names its issuer
        raise Invalid("This sign-in answer comes from another issuer. Start signing in again.",
                      code="oidc_issuer_mismatch")
    code = params.get("code", "")
    if not code:
        raise Invalid("The provider's answer has no code. Start signing in again.", code="oidc_no_code")
    metadata = discover(config.issuer)
    with _client(config, client_secret, redirect_uri) as client:
        try:
            token = client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=pending.verifier)
        except OAuthError as exc:
            raise Invalid(f"The identity provider refused the sign-in code ({exc.error}"
                          + (f": {exc.description}" if exc.description else "") + "); a code works once. "
                          "Start signing in again.", code="oidc_code_refused") from exc
        except requests.RequestException as exc:
            raise Unavailable(f"The identity provider cannot be reached: {exc}.") from exc
    return id_token_claims(issuer=config.issuer, metadata=metadata, token=dict(token), client_id=config.client_id,
                           nonce=pending.nonce)


def groups_of(claims: dict[str, Any], claim: str) -> tuple[str, ...]:
    """The groups named by the claim ``claim`` (a list, or one string), as strings."""
    value = claims.get(claim)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(item) for item in value if isinstance(item, str | int))
    return ()

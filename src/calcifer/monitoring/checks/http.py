"""``http``: one request to an http:// or https:// URL, judged by status, body, JSON, speed and certificate.

All HTTP checks share one ``aiohttp.ClientSession`` that the scheduler builds with ``make_http_session()``
and lends through ``CheckContext.http``: a client per check would cost ~35 ms of CPU for its TLS setup.
The two SSL contexts (verifying and not) are built once per process for the same reason.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import time
from typing import Any, ClassVar, Literal

import aiohttp
from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcifer import __version__
from calcifer.monitoring.checks.base import CertInfo, CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status

USER_AGENT = f"Calcifer/{__version__} (monitoring)"
# Enough for any health page; a keyword further down a huge page is not what a health check is for.
BODY_LIMIT = 1024 * 1024
_STATUS_RANGE = re.compile(r"^\s*([1-5]\d\d)\s*(?:-\s*([1-5]\d\d)\s*)?$")
_PATH_PART = re.compile(r"\[(-?\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]|\.?([^.\[\]]+)")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


# -- the shared client -------------------------------------------------------------------------------

@functools.cache
def ssl_context(verify: bool) -> ssl.SSLContext:
    """The process's SSL context that verifies certificates (``True``) or accepts any (``False``)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def make_http_session(*, limit: int = 1000, limit_per_host: int = 0,
                      dns_cache_seconds: int = 300) -> aiohttp.ClientSession:
    """The one client session every HTTP check shares. Call it inside the running event loop.

    ``limit`` bounds open connections overall; keep it at or above the scheduler's concurrency, or checks
    queue for a connection and that wait eats into their timeout. ``limit_per_host`` (0 = none) can cap
    sockets to one server when many endpoints sit behind it. Names are resolved once per
    ``dns_cache_seconds``. No cookie jar: a check must not carry state from the previous one. The caller
    closes it (``await session.close()``).
    """
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=dns_cache_seconds,
                                     ssl=ssl_context(True))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 headers={"User-Agent": USER_AGENT}, raise_for_status=False,
                                 trust_env=False)


@functools.cache
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


# -- options -----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def _json_path_parts(path: str) -> tuple[str | int, ...]:
    return tuple(parse_json_path(path))


def parse_json_path(path: str) -> list[str | int]:
    """``data.items[0].state`` (an optional ``$.`` prefix) → ``["data", "items", 0, "state"]``."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _PATH_PART.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read the JSON path {path!r} at {text[position:]!r}: write it like "
                             "data.items[0].state")
        index, double, single, name = match.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(next(part for part in (double, single, name) if part is not None))
        position = match.end()
    return parts


def _status_entry(value: int | str) -> int | str:
    if isinstance(value, bool):
        raise ValueError("write a status code like 200 or a range like \"200-299\"")
    if isinstance(value, int):
        if not 100 <= value <= 599:
            raise ValueError(f"{value} is not an HTTP status code (100-599)")
        return value
    match = _STATUS_RANGE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a status code or range: write e.g. 200, 404 or \"200-299\"")
    low, high = match.group(1), match.group(2)
    if high is None:
        return int(low)
    if int(low) > int(high):
        raise ValueError(f"the range {value!r} ends before it starts")
    return f"{low}-{high}"


class HttpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method = Field(default="GET", description="HTTP method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.")
    headers: dict[str, str] = Field(default_factory=dict, max_length=50, description="Request headers to send.")
    body: str | None = Field(default=None, max_length=65_536, description="Request body (e.g. for POST).")
    accepted_status: list[int | str] = Field(
        default_factory=lambda: list[int | str](["200-299"]), min_length=1, max_length=50,
        description="Status codes that count as up: codes (200) and ranges (\"200-299\").")
    keyword: str | None = Field(default=None, min_length=1, max_length=1000,
                                description="Text the response body must contain.")
    keyword_absent: str | None = Field(default=None, min_length=1, max_length=1000,
                                       description="Text the response body must not contain.")
    json_path: str | None = Field(default=None, min_length=1, max_length=500,
                                  description="Dotted path into a JSON body, like data.items[0].state "
                                  "($. prefix allowed); alone it must exist.")
    json_equals: Any = Field(default=None, description="With json_path: the value must equal this.")
    json_contains: str | None = Field(default=None, min_length=1, max_length=1000,
                                      description="With json_path: the value's text must contain this.")
    max_response_ms: int | None = Field(default=None, ge=1, le=300_000,
                                        description="Slower than this (milliseconds) counts as degraded.")
    follow_redirects: bool = Field(default=True, description="Follow redirects (up to 10).")
    verify_tls: bool = Field(default=True, description="Verify the TLS certificate (chain and host name).")
    cert_warn_days: int | None = Field(
        default=None, ge=0, le=365,
        description="Degraded when the certificate expires within this many days (default "
        "CALCIFER_MONITOR_CERT_WARN_DAYS); expired is down.")

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("accepted_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | str) else value

    @field_validator("accepted_status")
    @classmethod
    def _statuses(cls, value: list[int | str]) -> list[int | str]:
        errors = []
        for entry in value:
            try:
                _status_entry(entry)
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("; ".join(errors))
        return [_status_entry(entry) for entry in value]

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if any(ch in text for ch in "\r\n\x00"):
                raise ValueError(f"the value of header {name!r} must be one line")
        return value

    @field_validator("json_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpOptions:
        if self.json_path is None and ("json_equals" in self.model_fields_set or self.json_contains is not None):
            raise ValueError("json_equals and json_contains need a json_path saying which value to compare")
        return self

    def status_ranges(self) -> list[tuple[int, int]]:
        ranges = []
        for entry in self.accepted_status:
            if isinstance(entry, int):
                ranges.append((entry, entry))
            else:
                low, _, high = entry.partition("-")
                ranges.append((int(low), int(high or low)))
        return ranges


# -- the certificate -----------------------------------------------------------------------------------

def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()


@functools.lru_cache(maxsize=4096)
def cert_info(der: bytes) -> CertInfo:
    """Parse a DER certificate (cached: the same certificate comes back on every check)."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(str(v) for v in san.get_values_for_type(x509.DNSName)) + tuple(
            str(v) for v in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        sans = ()
    return CertInfo(subject=_name(cert.subject), issuer=_name(cert.issuer),
                    not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                    serial=format(cert.serial_number, "x"), sans=sans)


def _transport(response: aiohttp.ClientResponse) -> Any:
    connection = response.connection
    if connection is not None and connection.transport is not None:
        return connection.transport
    # aiohttp hands a connection whose response arrived whole back to the pool before we see the
    # response; the protocol kept on the response still holds the transport. Private, so the TLS tests
    # cover it (a new and a reused connection).
    protocol = getattr(response, "_protocol", None)
    return getattr(protocol, "transport", None)


def _peer_cert(response: aiohttp.ClientResponse) -> CertInfo | None:
    transport = _transport(response)
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    # binary_form works even when verification is off (the parsed form would then be empty).
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return cert_info(der)
    except ValueError:
        return None


# -- judging a response ----------------------------------------------------------------------------------

class _Missing(Exception):
    pass


def _walk(document: Any, parts: tuple[str | int, ...]) -> Any:
    value = document
    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                raise _Missing(f"no item [{part}]")
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                raise _Missing(f"no key {part!r}")
            value = value[part]
    return value


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _same(left: Any, right: Any) -> bool:
    # JSON's true is not 1: compare types where Python would not.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)


def _expected_statuses(options: HttpOptions) -> str:
    return ", ".join(str(entry) for entry in options.accepted_status)


def _judge_body(options: HttpOptions, text: str) -> str | None:
    """What is wrong with the body (a message), or None. The message names what was expected and never
    quotes what the target sent: a check's message is shown to every viewer, and a JSON path or a body can
    hold what only the target should know."""
    if options.keyword is not None and options.keyword not in text:
        return f"keyword {_shown(options.keyword)} not found"
    if options.keyword_absent is not None and options.keyword_absent in text:
        return f"keyword {_shown(options.keyword_absent)} found, expected it absent"
    if options.json_path is not None:
        try:
            document = json.loads(text)
        except ValueError:
            return f"the response is not JSON (needed for JSON path {options.json_path})"
        try:
            value = _walk(document, _json_path_parts(options.json_path))
        except _Missing as missing:
            return f"JSON path {options.json_path} not found ({missing})"
        if "json_equals" in options.model_fields_set and not _same(value, options.json_equals):
            return f"JSON path {options.json_path} does not equal the expected value"
        if options.json_contains is not None:
            value_text = value if isinstance(value, str) else json.dumps(value)
            if options.json_contains not in value_text:
                return f"JSON path {options.json_path} does not contain the expected text"
    return None


def _needs_body(options: HttpOptions) -> bool:
    return options.keyword is not None or options.keyword_absent is not None or options.json_path is not None


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    chunks = []
    size = 0
    while size < BODY_LIMIT:
        chunk = await response.content.read(BODY_LIMIT - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _error_message(exc: Exception, target: Target) -> tuple[str, bool]:
    """A readable reason for a failed request, and whether retrying cannot help. aiohttp's own texts for a
    malformed answer quote the bytes the server sent (a status line, a header, a redirect's Location), so
    those are named by kind only."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
        return f"TLS certificate verification failed: {reason}", False
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS error: {exc}", False
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            reason = "connection refused"
        else:
            reason = (os_error.strerror or str(os_error)).lower()
        return f"cannot connect to {exc.host}:{exc.port}: {reason}", False
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects (more than 10)", False
    if isinstance(exc, aiohttp.InvalidUrlRedirectClientError):
        return "the server redirected to a location that is not a valid URL", False
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL {target.target!r}", True
    if isinstance(exc, TimeoutError):
        return f"no response within {target.timeout:g} s", False
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering", False
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut short or malformed", False
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the answer is not valid HTTP (malformed status line or headers)", False
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection failed: {exc.strerror.lower()}", False
    return f"request failed ({type(exc).__name__})", False


class HttpCheck(CheckType):
    kind: ClassVar[str] = "http"
    Options: ClassVar[type[BaseModel]] = HttpOptions
    summary: ClassVar[str] = ("Sends one HTTP(S) request; checks status, keywords, a JSON value, response "
                              "time and the TLS certificate's expiry.")

    def uses_tls(self, target: str | None) -> bool:
        return (target or "").strip().lower().startswith("https://")

    async def check(self, target: Target, options: HttpOptions, ctx: CheckContext) -> Outcome:
        if not target.target:
            return Outcome(Status.DOWN, "an http endpoint needs a target URL", permanent=True)
        session = ctx.http
        if session is None:
            # Only for a one-off check outside the scheduler (which always lends its shared session).
            async with make_http_session(limit=10) as own:
                return await self._request(own, target, options, ctx)
        return await self._request(session, target, options, ctx)

    async def _request(self, session: aiohttp.ClientSession, target: Target, options: HttpOptions,
                       ctx: CheckContext) -> Outcome:
        url = target.target
        assert url is not None
        started = time.perf_counter()
        cert: CertInfo | None = None
        try:
            async with session.request(
                options.method, url, headers=options.headers or None,
                data=options.body.encode() if options.body is not None else None,
                allow_redirects=options.follow_redirects, max_redirects=10,
                ssl=ssl_context(options.verify_tls), timeout=_timeout(target.timeout),
            ) as response:
                # The connection goes back to the pool once the body is read: take the certificate first.
                cert = _peer_cert(response)
                body = await _read_body(response) if _needs_body(options) else b""
                status = response.status
                charset = response.charset or "utf-8"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            message, permanent = _error_message(exc, target)
            return Outcome(Status.DOWN, message, latency_ms=None, permanent=permanent)
        latency_ms = (time.perf_counter() - started) * 1000

        if not any(low <= status <= high for low, high in options.status_ranges()):
            return Outcome(Status.DOWN, f"expected status {_expected_statuses(options)}, got {status}",
                           latency_ms=latency_ms, cert=cert)
        if _needs_body(options):
            try:
                text = body.decode(charset, errors="replace")
            except LookupError:  # an unknown charset name
                text = body.decode("utf-8", errors="replace")
            problem = _judge_body(options, text)
            if problem is not None:
                return Outcome(Status.DOWN, problem, latency_ms=latency_ms, cert=cert)

        notes: list[str] = []
        status_now = Status.UP
        if cert is not None:
            days = cert.days_left(ctx.now())
            warn_days = options.cert_warn_days if options.cert_warn_days is not None else ctx.cert_warn_days
            expires = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
            if days <= 0:
                return Outcome(Status.DOWN, f"certificate expired {_days(-days)} ago ({expires})",
                               latency_ms=latency_ms, cert=cert)
            if days < warn_days:
                status_now = Status.DEGRADED
                notes.append(f"certificate expires in {_days(days)} ({expires}; warning below {warn_days} days)")
        if options.max_response_ms is not None and latency_ms > options.max_response_ms:
            status_now = Status.DEGRADED
            notes.append(f"slow: {latency_ms:.0f} ms, expected under {options.max_response_ms} ms")
        return Outcome(status_now, "; ".join(notes) or f"status {status}", latency_ms=latency_ms, cert=cert)


def _days(days: float) -> str:
    if days < 1:
        hours = max(days * 24, 0)
        return f"{hours:.0f} hours" if round(hours) != 1 else "1 hour"
    whole = round(days)
    return f"{whole} day" if whole == 1 else f"{whole} days"

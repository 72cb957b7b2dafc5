"""Limits on JSON request bodies, enforced while the body is read, before any parser sees it.

A body the API would parse as JSON (``Content-Type: application/json``, ``…+json``, or none at all,
which FastAPI also reads as JSON) may hold at most ``MAX_JSON_BYTES``: a larger ``Content-Length``
is answered 413 without reading, and a streamed body (no length) is cut off with 413 as soon as it
passes the cap, so a client can never make the server hold more than the cap per request. The
largest legitimate body is a 1 MiB doc or file sent as a JSON string, with room for its escaping.

Nesting deeper than ``MAX_JSON_DEPTH`` is refused with 400 before ``json.loads`` runs: Python's
decoder stops at the recursion limit, but what it builds (a thousand levels) would still recurse
through validation and serialisation further on. The brackets outside strings are collected by
jumping from quote to quote (a 1 MB doc body costs well under a millisecond), or for a body dense in
strings by a few passes of byte operations over it, and their depth measured.

Installed from ``app.create_app`` with ``install(app)``. Answers use the house error body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI

from calcifer.web.errors import error_body

MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_JSON_DEPTH = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_NOT_OPENER = bytes(byte for byte in range(256) if byte not in b"[{")
_NOT_BRACKET = bytes(byte for byte in range(256) if byte not in b"[]{}")
_NOT_BRACKET_OR_QUOTE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_INNERMOST = re.compile(rb"\[\]|\{\}")
# Up to this many quotes the brackets outside strings are collected by jumping from quote to quote
# (memchr speed, a Python step per string); with more, a bracket count bounds the depth first and the
# strings are cut out by whole-body byte operations (``_brackets_of_dense``).
_WALK_QUOTES = 10_000
# A step of the walk costs about as much as the byte operations on 30 bytes: a body denser in strings
# than one quote per 30 bytes (a batch of short records) goes straight to them.
_BYTES_PER_QUOTE_TO_WALK = 30


def _brackets_outside_strings(body: bytes) -> bytes | None:
    """The brackets of ``body`` outside its strings, or None past ``_WALK_QUOTES`` strings."""
    pieces: list[bytes] = []
    pos = 0
    while (start := body.find(b'"', pos)) >= 0:
        if len(pieces) > _WALK_QUOTES:
            return None
        pieces.append(body[pos:start].translate(None, _NOT_BRACKET))
        end = start
        while True:
            end = body.find(b'"', end + 1)
            if end < 0:  # an unterminated string: the parser reports it
                return b"".join(pieces)
            escapes = 0
            while body[end - 1 - escapes] == 0x5C:  # backslashes right before the quote
                escapes += 1
            if escapes % 2 == 0:
                break
        pos = end + 1
    pieces.append(body[pos:].translate(None, _NOT_BRACKET))
    return b"".join(pieces)


def _brackets_of_dense(body: bytes) -> bytes:
    """The brackets of ``body`` outside its strings, by passes over the whole body (no Python step per string).

    Escapes go first: every backslash escapes the next character, so removing escaped backslashes (pairs,
    from the left, as a parser reads them) and then escaped quotes leaves the quotes that open and close
    strings. Of brackets and those quotes, two adjacent quotes can go (an empty string, or one string's end
    and the next one's start: no character changes sides); the few strings still holding brackets are cut
    out by splitting at the quotes (every other piece lies outside a string)."""
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = text.translate(None, _NOT_BRACKET_OR_QUOTE).replace(b'""', b"")
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    return text


def json_depth_over(body: bytes, limit: int) -> bool:
    """True when the JSON text ``body`` nests arrays and objects deeper than ``limit``.

    Brackets inside strings do not count. Malformed text may answer either way; the parser that
    runs afterwards reports it.
    """
    dense = body.count(b'"') * _BYTES_PER_QUOTE_TO_WALK > len(body)
    brackets = None if dense else _brackets_outside_strings(body)
    if brackets is None:
        if len(body.translate(None, _NOT_OPENER)) <= limit:
            return False
        brackets = _brackets_of_dense(body)
    if len(brackets) <= limit:
        return False
    # Each pass removes every innermost pair: the number of passes until nothing is left is the depth.
    for _ in range(limit):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not brackets or not removed:
            return False
    return bool(brackets)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (media.startswith("application/") and media.endswith("+json"))


class JsonBodyLimits:
    """ASGI middleware: 413 for a JSON body over ``max_bytes``, 400 for one nested deeper than ``max_depth``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not _is_json(headers.get(b"content-type", b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if json_depth_over(body, self.max_depth):
            await _answer(send, 400, "json_too_deep",
                          f"The JSON body nests arrays and objects more than {self.max_depth} levels deep; "
                          "flatten it.", {"max_depth": self.max_depth}, close=False)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, send: Send) -> None:
        await _answer(send, 413, "body_too_large",
                      f"The JSON body is larger than {self.max_bytes:,} bytes; send less at once "
                      "(a doc or file is at most 1 MiB).", {"max_bytes": self.max_bytes})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # later reads wait for the client's disconnect, as without us
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _answer(send: Send, status: int, code: str, message: str, details: Any, *, close: bool = True) -> None:
    payload = json.dumps(error_body(code, message, details)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if close:  # the rest of the body was never read: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def install(app: FastAPI, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Add the JSON body limits to ``app``. Call it before the other middleware is added: it then sits
    inside them (its answers get the request id and security headers) and before every route."""
    app.add_middleware(JsonBodyLimits, max_bytes=max_bytes, max_depth=max_depth)

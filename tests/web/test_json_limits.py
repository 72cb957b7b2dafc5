"""JSON request bodies are capped while they are read: 413 past the size limit (declared or streamed), 400
past the nesting limit, in the house error format; everything under the limits works as before."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcifer.web import limits
from calcifer.web.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH, json_depth_over
from tests.conftest import Cast

PREVIEW = "/api/v1/docs/preview"


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json()["error"])


def test_a_body_declared_larger_than_the_cap_is_answered_413(cast: Cast) -> None:
    body = json.dumps({"markdown": "x" * MAX_JSON_BYTES})

    error = error_of(cast.viewer.post(PREVIEW, content=body, headers={"content-type": "application/json"}), 413)

    assert error["code"] == "body_too_large"
    assert f"larger than {MAX_JSON_BYTES:,} bytes" in error["message"]


def test_a_streamed_body_without_length_is_cut_off_at_the_cap(cast: Cast) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"markdown": "'
        for _ in range(MAX_JSON_BYTES // 65_536 + 1):
            yield b"x" * 65_536
        yield b'"}'

    response = cast.viewer.post(PREVIEW, content=chunks(), headers={"content-type": "application/json"})

    assert error_of(response, 413)["code"] == "body_too_large"


def test_a_body_without_content_type_is_capped_too_as_fastapi_reads_it_as_json(cast: Cast) -> None:
    body = json.dumps({"markdown": "x" * MAX_JSON_BYTES}).encode()

    assert error_of(cast.viewer.post(PREVIEW, content=body, headers={"content-type": ""}), 413)


def test_a_body_just_under_the_cap_is_served(cast: Cast) -> None:
    # The largest real body: a 1 MiB doc or file sent as a JSON string.
    body = json.dumps({"markdown": "# Big\n\n" + "word " * (1024 * 1024 // 5 - 10)})
    assert len(body) < MAX_JSON_BYTES

    response = cast.viewer.post(PREVIEW, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 200, response.text[:300]


def test_nesting_past_the_depth_cap_is_a_400_that_says_so(cast: Cast) -> None:
    depth = 100_000
    body = '{"markdown": "x", "path": "", "extra": ' + "[" * depth + "]" * depth + "}"

    error = error_of(cast.viewer.post(PREVIEW, content=body, headers={"content-type": "application/json"}), 400)

    assert error["code"] == "json_too_deep"
    assert f"more than {MAX_JSON_DEPTH} levels" in error["message"]


def test_limits_apply_only_after_authentication(cast: Cast) -> None:
    body = json.dumps({"markdown": "x" * MAX_JSON_BYTES})

    response = cast.outsider.post(PREVIEW, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 401


# -- a real server: the cap holds while the body is still arriving -----------------------------------------


@pytest.fixture
def tiny_server() -> Iterator[int]:
    """A bare app behind the limits, served by uvicorn on 127.0.0.1 (the socket listens before it starts)."""
    app = FastAPI()

    @app.post("/echo")
    def echo(data: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(data)}

    limits.install(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_cap_without_waiting_for_its_end(
        tiny_server: int) -> None:
    with socket.create_connection(("127.0.0.1", tiny_server), timeout=30) as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65_536
        for _ in range(MAX_JSON_BYTES // len(chunk) + 2):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # The body never ends (no last chunk): only a server that counts while reading can answer now.
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = conn.recv(65_536)
            assert data, "the server closed the connection without an answer"
            answer += data

    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_small_body_is_served_by_the_real_server(tiny_server: int) -> None:
    payload = json.dumps({"a": [1, {"b": "[[[["}]}).encode()
    with socket.create_connection(("127.0.0.1", tiny_server), timeout=30) as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(payload), payload))
        answer = b""
        while data := conn.recv(65_536):
            answer += data

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b'{"keys":1}')


# -- generated bodies ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab:,', max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner,
                                                                max_size=3),
    max_leaves=30)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


def wrapped(value: Any, levels: int, kinds: list[bool]) -> tuple[str, int]:
    """``value`` as JSON inside ``levels`` more arrays or objects (``kinds``, cycled), and its depth."""
    text = json.dumps(value)
    for index in range(levels):
        text = f"[{text}]" if kinds[index % len(kinds)] else f'{{"k]": {text}}}'
    return text, depth_of(value) + levels


@settings(max_examples=50, deadline=None)
@given(JSON_VALUES, st.integers(0, 200), st.lists(st.booleans(), min_size=1, max_size=5), st.integers(1, 80))
def test_the_depth_check_agrees_with_the_parsed_depth(value: Any, extra: int, kinds: list[bool], limit: int) -> None:
    text, depth = wrapped(value, extra, kinds)

    assert json_depth_over(text.encode(), limit) == (depth > limit)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON_VALUES, st.integers(0, 3_000), st.lists(st.booleans(), min_size=1, max_size=5),
       st.text(alphabet='[]{}",:\\ 1a', max_size=200))
def test_generated_bodies_get_an_answer_never_a_server_error(
        cast: Cast, value: Any, extra: int, kinds: list[bool], soup: str) -> None:
    inner, depth = wrapped(value, extra, kinds)
    nested = '{"markdown": "x", "path": "", "extra": ' + inner + "}"
    for body in (soup, '{"markdown": ' + soup + "}", nested):
        response = cast.viewer.post(PREVIEW, content=body, headers={"content-type": "application/json"})
        assert response.status_code in (200, 400, 422), (response.status_code, response.text[:200])
        assert response.status_code == 200 or set(response.json()) == {"error"}
    # The last answer is the nested body's: refused for its depth exactly when it is too deep.
    too_deep = depth + 1 > MAX_JSON_DEPTH
    assert (response.status_code == 400 and response.json()["error"]["code"] == "json_too_deep") == too_deep


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1])
def test_the_depth_check_holds_for_bodies_of_many_strings_too(depth: int) -> None:
    strings = json.dumps([{"k": '[{"\\'} for _ in range(12_000)])
    body = ("[" * (depth - 2) + strings + "]" * (depth - 2)).encode()

    assert json_depth_over(body, MAX_JSON_DEPTH) == (depth > MAX_JSON_DEPTH)

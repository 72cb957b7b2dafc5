"""Text with a lone surrogate and integers beyond 64 bits answer 422 with a message, on every route."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from tests.conftest import Cast, browser_login, make_user

TOO_BIG = str(2**63)  # one past the largest id SQLite and PostgreSQL store
JSON = {"content-type": "application/json"}


def _refused(response, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message


@pytest.mark.parametrize(("who", "method", "path", "body", "field"), [
    ("editor", "POST", "/api/v1/work-items", '{"title": "fix \\ud800 dns", "category": "service", '
     '"action": "new"}', "title"),
    ("editor", "POST", "/api/v1/maintenance-windows", '{"title": "\\ud800", "starts_at": "2030-01-01T00:00:00", '
     '"ends_at": "2030-01-01T01:00:00"}', "title"),
    ("admin", "POST", "/api/v1/users", '{"username": "newbie", "password": "long enough", "role": "viewer", '
     '"display_name": "\\ud83d"}', "display_name"),
])
def test_a_lone_surrogate_in_a_json_field_is_refused_naming_the_field(
        cast: Cast, who: str, method: str, path: str, body: str, field: str) -> None:
    client = getattr(cast, who)
    _refused(client.request(method, path, content=body.encode(), headers=JSON), field, "surrogate")


def test_a_refused_title_leaves_nothing_behind(cast: Cast) -> None:
    body = b'{"title": "\\udfff", "category": "service", "action": "new"}'
    _refused(cast.editor.post("/api/v1/work-items", content=body, headers=JSON), "title")
    assert cast.editor.get("/api/v1/work-items").json()["items"] == []


@pytest.mark.parametrize(("who", "method", "path"), [
    ("admin", "GET", f"/api/v1/users/{TOO_BIG}"),
    ("viewer", "GET", f"/api/v1/work-items/{TOO_BIG}"),
    ("editor", "DELETE", f"/api/v1/tokens/{TOO_BIG}"),
    ("viewer", "GET", f"/api/v1/work-items/-{TOO_BIG}1"),
])
def test_an_id_beyond_what_is_stored_in_a_path_names_nothing(cast: Cast, who: str, method: str, path: str) -> None:
    # No row can have such an id: the address names nothing (404), never a 500 from the driver.
    response = getattr(cast, who).request(method, path)
    assert response.status_code == 404, response.text
    assert "nothing at this address" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", [f"/maintenance?before_id={TOO_BIG}", f"/work?cursor={TOO_BIG}"])
def test_an_integer_beyond_64_bits_in_a_query_is_refused(cast: Cast, path: str) -> None:
    response = cast.viewer.get(path)
    assert response.status_code == 422, response.text
    assert "out of range" in response.text and "Traceback" not in response.text


def test_an_integer_beyond_64_bits_in_a_json_body_is_refused(cast: Cast) -> None:
    body = ('{"title": "db upgrade", "kind": "one_off", "starts_at": "2030-01-01T00:00:00", '
            '"ends_at": "2030-01-01T01:00:00", "work_item_id": ' + TOO_BIG + "}").encode()
    _refused(cast.editor.post("/api/v1/maintenance-windows", content=body, headers=JSON), "work_item_id",
             "out of range")
    assert cast.editor.get("/api/v1/maintenance-windows").json()["items"] == []


def test_a_form_post_with_a_huge_id_gets_a_page_not_a_traceback(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    token = browser_login(client, "alice")
    response = client.post(f"/settings/users/{TOO_BIG}/delete", data={"csrf_token": token})
    assert response.status_code == 404
    assert "nothing at this address" in response.text and "Traceback" not in response.text

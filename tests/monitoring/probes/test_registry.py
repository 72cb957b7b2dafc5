"""Admins register probes; each gets its token once (stored hashed), revocable and rotatable."""

from __future__ import annotations

from sqlalchemy import select

from calcifer.monitoring.models.probes import MonitorProbe
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.probes.helpers import headers


def test_register_list_get_patch_delete(cast: Cast, ctx: AppContext) -> None:
    created = cast.admin.post("/api/v1/probes", json={"name": "fra-1", "location": "fra-vps",
                                                      "description": "Hetzner"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("cpr_") and created.json()["location"] == "fra-vps"
    with ctx.session_factory() as session:
        row = session.execute(select(MonitorProbe)).scalar_one()
        assert row.token_hash != token and token not in (row.token_hash or "")  # hashed, never stored as is
    # shown once: no later answer holds it
    assert "token" not in cast.admin.get("/api/v1/probes/fra-1").json()
    for index in range(3):
        assert cast.admin.post("/api/v1/probes", json={"name": f"p{index}", "location": "home"}).status_code == 201
    first = cast.admin.get("/api/v1/probes", params={"limit": 2}).json()
    second = cast.admin.get("/api/v1/probes", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [p["name"] for p in first["items"] + second["items"]] == ["fra-1", "p0", "p1", "p2"]
    assert second["next_cursor"] is None
    patched = cast.admin.patch("/api/v1/probes/p0", json={"location": "home-2"})
    assert patched.status_code == 200 and patched.json()["location"] == "home-2"
    assert cast.admin.delete("/api/v1/probes/p0").json() == {"deleted": "p0"}
    assert cast.admin.get("/api/v1/probes/p0").status_code == 404


def test_bad_names_and_duplicates_are_refused_with_a_sentence(cast: Cast) -> None:
    for body, code in (({"name": "Bad Name", "location": "x"}, "bad_name"),
                       ({"name": "ok", "location": "local"}, "bad_location"),
                       ({"name": "results", "location": "x"}, "bad_name")):
        response = cast.admin.post("/api/v1/probes", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert cast.admin.post("/api/v1/probes", json={"name": "a", "location": "x"}).status_code == 201
    again = cast.admin.post("/api/v1/probes", json={"name": "a", "location": "y"})
    assert again.status_code == 409 and "exists" in again.json()["error"]["message"]


def test_only_admins_manage_probes(cast: Cast) -> None:
    assert cast.editor.post("/api/v1/probes", json={"name": "a", "location": "x"}).status_code == 403
    assert cast.viewer.get("/api/v1/probes").status_code == 403
    assert cast.outsider.get("/api/v1/probes").status_code == 401


def test_rotate_and_revoke(cast: Cast) -> None:
    old = cast.admin.post("/api/v1/probes", json={"name": "a", "location": "x"}).json()["token"]
    assert cast.outsider.get("/api/v1/probes/assignments", headers=headers(old)).status_code == 200
    new = cast.admin.post("/api/v1/probes/a/token").json()["token"]
    refused = cast.outsider.get("/api/v1/probes/assignments", headers=headers(old))
    assert refused.status_code == 401 and "rotate" in refused.json()["error"]["message"]
    assert cast.outsider.get("/api/v1/probes/assignments", headers=headers(new)).status_code == 200
    revoked = cast.admin.delete("/api/v1/probes/a/token")
    assert revoked.json()["has_token"] is False
    assert cast.outsider.get("/api/v1/probes/assignments", headers=headers(new)).status_code == 401


def test_a_user_token_is_not_a_probe_token(cast: Cast) -> None:
    # the admin's own bearer token opens the registry, never the probe-facing API
    response = cast.admin.get("/api/v1/probes/assignments")
    assert response.status_code == 401
    assert "Probe <token>" in response.json()["error"]["message"]

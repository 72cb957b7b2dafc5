"""Probes upload results: idempotent by sequence number; every bad upload refused with nothing stored."""

from __future__ import annotations

from sqlalchemy import select

from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.models.probes import LocationResult, LocationState, MonitorProbe
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.probes.helpers import add_endpoint, add_probe, headers, result, stored


def _setup(ctx: AppContext) -> tuple[str, str]:
    add_endpoint(ctx, "web", ["local", "fra-vps"])
    add_endpoint(ctx, "home-only", ["local", "home"])
    return add_probe(ctx, "fra-1", "fra-vps"), add_probe(ctx, "home-1", "home")


def test_assignments_are_the_endpoints_of_the_probes_location_and_cost_nothing_when_unchanged(
        cast: Cast, ctx: AppContext) -> None:
    fra, _home = _setup(ctx)
    first = cast.outsider.get("/api/v1/probes/assignments", headers=headers(fra))
    assert first.status_code == 200, first.text
    assert [e["slug"] for e in first.json()["endpoints"]] == ["web"]
    assert first.json()["location"] == "fra-vps"
    etag = first.headers["etag"]
    again = cast.outsider.get("/api/v1/probes/assignments", headers={**headers(fra), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    add_endpoint(ctx, "api", ["fra-vps"])
    changed = cast.outsider.get("/api/v1/probes/assignments", headers={**headers(fra), "If-None-Match": etag})
    assert changed.status_code == 200 and [e["slug"] for e in changed.json()["endpoints"]] == ["api", "web"]


def test_results_land_with_the_probes_location_and_a_replayed_batch_is_stored_once(cast: Cast, ctx: AppContext) -> None:
    fra, _home = _setup(ctx)
    batch = {"version": "1.2.3", "queue_length": 7, "results": [result(1, "web"), result(2, "web")]}
    first = cast.outsider.post("/api/v1/probes/results", json=batch, headers=headers(fra))
    assert first.status_code == 200, first.text
    assert first.json()["stored"] == 2 and first.json()["duplicates"] == 0
    replay = cast.outsider.post("/api/v1/probes/results", json=batch, headers=headers(fra))
    assert replay.status_code == 200 and replay.json() == {"accepted": 2, "stored": 0, "duplicates": 2, "changes": 0}
    assert stored(ctx) == 2 and stored(ctx, location="fra-vps") == 2
    with ctx.session_factory() as session:
        probe = session.execute(select(MonitorProbe).where(MonitorProbe.name == "fra-1")).scalar_one()
        assert probe is not None and probe.online and probe.version == "1.2.3" and probe.queue_length == 7
        state = session.execute(select(LocationState)).scalar_one()
        assert (state.location, state.status) == ("fra-vps", "up")


def test_bad_uploads_are_refused_and_nothing_is_stored(cast: Cast, ctx: AppContext) -> None:
    fra, home = _setup(ctx)
    with ctx.session_factory() as session:
        _ = session  # the revoked probe
    revoked = add_probe(ctx, "old", "fra-vps")
    cast.admin.delete("/api/v1/probes/old/token")
    cases = [
        # another probe's token: home-1 cannot report for fra-vps
        ("other probe", headers(home), {"location": "fra-vps", "results": [result(1, "web")]}, 403, "wrong_location"),
        ("revoked token", headers(revoked), {"results": [result(1, "web")]}, 401, "not_authenticated"),
        ("no token", {}, {"results": [result(1, "web")]}, 401, "not_authenticated"),
        ("a user's token", {"Authorization": "Bearer nope"}, {"results": [result(1, "web")]}, 401, "not_authenticated"),
        ("forged location", headers(fra), {"location": "home", "results": [result(1, "home-only")]}, 403,
         "wrong_location"),
        ("forged location in a result", headers(fra), {"results": [result(1, "web", location="home")]}, 403,
         "wrong_location"),
        ("not assigned", headers(fra), {"results": [result(1, "web"), result(2, "home-only")]}, 422, "bad_results"),
        ("unknown endpoint", headers(fra), {"results": [result(1, "nope")]}, 422, "bad_results"),
        ("huge batch", headers(fra), {"results": [result(i, "web") for i in range(5001)]}, 413, "batch_too_large"),
        ("bad status", headers(fra), {"results": [result(1, "web", status="sideways")]}, 422, None),
    ]
    for name, hdrs, body, status, code in cases:
        response = cast.outsider.post("/api/v1/probes/results", json=body, headers=hdrs)
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert error["message"], name
        if code is not None:
            assert error["code"] == code, (name, error)
    assert stored(ctx) == 0
    unassigned = cast.outsider.post("/api/v1/probes/results", headers=headers(fra),
                                    json={"results": [result(1, "home-only")]}).json()["error"]
    assert "not assigned" in unassigned["message"] and unassigned["details"][0]["slug"] == "home-only"


def test_a_probe_reporting_down_moves_the_verdict_and_names_the_locations(cast: Cast, ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["fra-vps"], retries=0)
    fra = add_probe(ctx, "fra-1", "fra-vps")
    assert cast.outsider.post("/api/v1/probes/results", headers=headers(fra),
                              json={"results": [result(1, "web", "down")]}).status_code == 200
    with ctx.session_factory() as session:
        state = session.execute(select(MonitorState).where(MonitorState.slug == "web")).scalar_one()
        assert state.status == "down" and "down from fra-vps" in state.message
    detail = cast.viewer.get("/api/v1/monitoring/endpoints/web/locations").json()
    rows = [(row["location"], row["status"], row["counts"]) for row in detail["locations"]]
    assert rows == [("fra-vps", "down", True)]


def test_a_backlog_result_older_than_the_state_does_not_move_it(cast: Cast, ctx: AppContext) -> None:
    import time

    add_endpoint(ctx, "web", ["fra-vps"])
    fra = add_probe(ctx, "fra-1", "fra-vps")
    now = time.time()
    cast.outsider.post("/api/v1/probes/results", headers=headers(fra),
                       json={"results": [result(10, "web", "up", checked_at=now)]})
    cast.outsider.post("/api/v1/probes/results", headers=headers(fra),
                       json={"results": [result(3, "web", "down", checked_at=now - 1800)]})
    assert stored(ctx) == 2
    with ctx.session_factory() as session:
        assert session.execute(select(LocationState.status)).scalar_one() == "up"
        assert session.execute(select(MonitorState.status).where(MonitorState.slug == "web")).scalar_one() == "up"


def test_metrics_carry_a_location_label(cast: Cast, ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["local", "fra-vps"])
    fra = add_probe(ctx, "fra-1", "fra-vps")
    cast.outsider.post("/api/v1/probes/results", headers=headers(fra), json={"results": [result(1, "web", "down")]})
    text = cast.viewer.get("/metrics").text
    assert 'calcifer_endpoint_location_up{endpoint="web",location="fra-vps",service=""} 0.0' in text
    assert 'calcifer_probe_online{location="fra-vps",probe="fra-1"} 1.0' in text


def test_the_endpoint_page_has_a_row_per_location_and_the_list_says_how_many_agree(cast: Cast, ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["fra-vps", "home"])
    fra, home = add_probe(ctx, "fra-1", "fra-vps"), add_probe(ctx, "home-1", "home")
    cast.outsider.post("/api/v1/probes/results", headers=headers(fra), json={"results": [result(1, "web", "up")]})
    cast.outsider.post("/api/v1/probes/results", headers=headers(home), json={"results": [result(1, "web", "down")]})
    page = cast.viewer.get("/monitoring/endpoints/web")
    assert page.status_code == 200, page.text
    assert 'id="endpoint-locations"' in page.text and "fra-vps" in page.text and "home" in page.text
    listing = cast.viewer.get("/monitoring").text
    assert "1/2 down" in listing


def test_more_bad_uploads_are_refused_with_a_sentence_and_nothing_is_stored(cast: Cast, ctx: AppContext) -> None:
    import time

    fra, _home = _setup(ctx)
    future = time.time() + 3 * 86400
    cases = [
        ("a sequence number twice", {"results": [result(1, "web"), result(1, "web")]}, 422, "appears twice"),
        ("a clock days ahead", {"results": [result(1, "web", checked_at=future)]}, 422, "check the probe's clock"),
        ("an unknown field", {"results": [result(1, "web", colour="red")]}, 422, None),
        ("a message too long", {"results": [result(1, "web", "down", message="x" * 2001)]}, 422, None),
        ("a negative sequence number", {"results": [result(-1, "web")]}, 422, None),
        ("a body over the size limit", {"results": [result(i, "web", "down", message="x" * 1900)
                                                    for i in range(1200)]}, 413, None),
    ]
    for name, body, status, words in cases:
        response = cast.outsider.post("/api/v1/probes/results", json=body, headers=headers(fra))
        assert response.status_code == status, (name, response.text[:300])
        message = response.json()["error"]["message"]
        assert message, name
        if words is not None:
            assert words in message, (name, message)
    assert stored(ctx) == 0


def test_a_partly_replayed_batch_stores_only_the_new_results(cast: Cast, ctx: AppContext) -> None:
    fra, _home = _setup(ctx)
    cast.outsider.post("/api/v1/probes/results", headers=headers(fra), json={"results": [result(1, "web"),
                                                                                         result(2, "web")]})
    again = cast.outsider.post("/api/v1/probes/results", headers=headers(fra), json={"results": [
        result(2, "web"), result(3, "web"), result(4, "web")]})
    assert again.json() == {"accepted": 3, "stored": 2, "duplicates": 1, "changes": 0}
    with ctx.session_factory() as session:
        seqs = sorted(session.execute(select(LocationResult.seq)).scalars())
    assert seqs == [1, 2, 3, 4]


def test_sequence_numbers_are_each_probes_own(cast: Cast, ctx: AppContext) -> None:
    # two probes of one location both number from 1: neither hides the other's results
    add_endpoint(ctx, "web", ["fra-vps"])
    first, second = add_probe(ctx, "fra-1", "fra-vps"), add_probe(ctx, "fra-2", "fra-vps")
    for token in (first, second):
        answer = cast.outsider.post("/api/v1/probes/results", headers=headers(token),
                                    json={"results": [result(1, "web")]})
        assert answer.json()["stored"] == 1
    assert stored(ctx) == 2

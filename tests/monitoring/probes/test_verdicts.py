"""Locations that disagree: the endpoint's status follows the file's rule; an offline location never counts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from calcifer.catalog.schemas import EndpointSpec
from calcifer.monitoring import locations, probes
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models.checks import MonitorEvent, MonitorState
from calcifer.monitoring.models.probes import MonitorProbe, ProbeEvent
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.probes.helpers import add_endpoint, add_probe, headers, result


def _status(ctx: AppContext, slug: str) -> tuple[str, str]:
    with ctx.session_factory() as session:
        state = session.execute(select(MonitorState).where(MonitorState.slug == slug)).scalar_one()
        return state.status, state.message


def _report(cast: Cast, token: str, seq: int, slug: str, status: str) -> None:
    response = cast.outsider.post("/api/v1/probes/results", headers=headers(token),
                                  json={"results": [result(seq, slug, status)]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("rule", "expected"), [("half", "down"), ("any", "down"), ("all", "degraded"),
                                                ("majority", "degraded")])
def test_two_locations_disagreeing_follow_the_rule(cast: Cast, ctx: AppContext, rule: str, expected: str) -> None:
    add_endpoint(ctx, "web", ["fra-vps", "home"], verdict=rule)
    fra, home = add_probe(ctx, "fra-1", "fra-vps"), add_probe(ctx, "home-1", "home")
    _report(cast, fra, 1, "web", "up")
    _report(cast, home, 1, "web", "down")
    status, message = _status(ctx, "web")
    assert status == expected
    assert "down from home" in message and "up from fra-vps" in message


def test_one_of_three_down_is_not_down_by_default(cast: Cast, ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["a", "b", "c"])
    tokens = [add_probe(ctx, f"p-{x}", x) for x in "abc"]
    for token, status in zip(tokens, ("up", "up", "down"), strict=True):
        _report(cast, token, 1, "web", status)
    assert _status(ctx, "web")[0] == "degraded"
    _report(cast, tokens[1], 2, "web", "down")  # now two of three
    assert _status(ctx, "web")[0] == "down"
    with ctx.session_factory() as session:
        change = session.execute(select(MonitorEvent).where(MonitorEvent.new_status == "down")).scalar_one()
        assert "down from b, c" in change.message and "up from a" in change.message


def test_an_offline_location_does_not_count_and_its_endpoints_are_not_declared_down(cast: Cast,
                                                                                    ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["fra-vps", "home"])
    add_endpoint(ctx, "only-home", ["home"])
    fra, home = add_probe(ctx, "fra-1", "fra-vps"), add_probe(ctx, "home-1", "home")
    _report(cast, fra, 1, "web", "up")
    _report(cast, home, 1, "web", "down")
    _report(cast, home, 2, "only-home", "up")
    assert _status(ctx, "web")[0] == "down"  # one of two: half
    with ctx.session_factory() as session:  # home-1 falls silent: last heard from 5 minutes ago
        session.execute(update(MonitorProbe).where(MonitorProbe.name == "home-1").values(
            last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
        session.commit()
        assert probes.sweep_offline(session, offline_after=60) == ["home-1"]
        assert probes.sweep_offline(session, offline_after=60) == []  # once
    status, message = _status(ctx, "web")
    assert status == "up" and "home" not in message  # the offline location no longer counts
    assert _status(ctx, "only-home")[0] == "up"  # never declared down for lack of news
    with ctx.session_factory() as session:
        offline = list(session.execute(select(ProbeEvent).where(ProbeEvent.kind == "offline")).scalars())
    assert len(offline) == 1 and "home-1" in offline[0].message  # one event, not one per sweep
    page = cast.admin.get("/api/v1/probes/home-1").json()
    assert page["online"] is False


def test_the_verdict_rule_without_a_database() -> None:
    assert locations.verdict("half", []) is None
    assert locations.verdict("half", [Status.UP, Status.DOWN]) is Status.DOWN
    assert locations.verdict("majority", [Status.UP, Status.DOWN]) is Status.DEGRADED
    assert locations.verdict("all", [Status.DOWN, Status.DOWN]) is Status.DOWN
    assert locations.verdict("any", [Status.UP, Status.UP]) is Status.UP


def test_endpoint_files_name_locations_and_a_wrong_shape_is_a_clear_problem() -> None:
    spec = EndpointSpec.model_validate({"name": "Web", "slug": "web", "type": "tcp", "target": "db:5432",
                                        "locations": ["local", "fra-vps"], "verdict": "any"})
    assert spec.locations == ["local", "fra-vps"] and spec.verdict == "any"
    plain = EndpointSpec.model_validate({"name": "W", "slug": "w", "type": "tcp", "target": "db:1"})
    assert plain.locations == ["local"]
    for bad, words in (({"locations": "fra-vps"}, "list"), ({"locations": []}, "at least 1"),
                       ({"locations": ["Fra VPS"]}, "locations"), ({"locations": ["a", "a"]}, "listed twice"),
                       ({"verdict": "sometimes"}, "verdict")):
        with pytest.raises(ValueError) as caught:
            EndpointSpec.model_validate({"name": "W", "slug": "w", "type": "tcp", "target": "db:1", **bad})
        assert words in str(caught.value), (bad, str(caught.value))

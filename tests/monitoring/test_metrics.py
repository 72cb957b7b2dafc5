"""/metrics: Prometheus text for any API token (or anyone when metrics_public); figures from the DB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from calcifer import __version__
from calcifer.app import create_app, prepare
from calcifer.monitoring import metrics
from calcifer.web.context import AppContext
from tests.conftest import Cast, drop_schema, make_settings
from tests.monitoring.factories import fill_hours, make_endpoint, make_monitored, make_scheduler, now


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    metrics.clear_cache()
    yield
    metrics.clear_cache()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _labels(slug: str, service: str = "", type: str = "tcp", **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"endpoint": slug, "service": service, "type": type, **extra}.items()))


def test_any_api_token_may_scrape_and_anonymous_gets_401(cast: Cast) -> None:
    for client in (cast.viewer, cast.editor, cast.admin):
        response = client.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    anonymous = cast.outsider.get("/metrics", headers={"accept": "text/plain"})
    assert anonymous.status_code == 401
    assert cast.outsider.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401


def test_metrics_are_public_by_setting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", metrics_public=True)
    ctx = prepare(settings)
    try:
        with TestClient(create_app(ctx=ctx)) as client:
            response = client.get("/metrics")
            assert response.status_code == 200 and "calcifer_info" in response.text
    finally:
        ctx.engine.dispose()
        drop_schema(settings)


def test_the_figures_match_the_database(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        up = make_monitored(session, "web", service="shop", type="http", target="https://x.test/", latency_ms=250.0,
                            cert_days_left=12.5)
        make_monitored(session, "db", service="shop", status="down", latency_ms=None)
        make_monitored(session, "slow", status="degraded", latency_ms=1500.0)
        make_monitored(session, "held", status="up", paused=True)
        make_endpoint(session, "fresh")
        fill_hours(session, up.id, end=now(), hours=24, checks=100, failures=10)
        make_scheduler(session, lag_p50_ms=2.0, lag_p99_ms=40.0, queue=7, checks_total=5000, in_flight=3)
        session.commit()
    samples = _samples(cast.viewer.get("/metrics").text)
    assert samples[("calcifer_info", (("version", __version__),))] == 1
    assert samples[("calcifer_endpoint_up", _labels("web", "shop", "http"))] == 1
    assert samples[("calcifer_endpoint_up", _labels("db", "shop"))] == 0
    assert samples[("calcifer_endpoint_up", _labels("slow"))] == 1
    assert ("calcifer_endpoint_up", _labels("held")) not in samples
    assert ("calcifer_endpoint_up", _labels("fresh")) not in samples
    assert samples[("calcifer_endpoint_status", _labels("held", status="paused"))] == 1
    assert samples[("calcifer_endpoint_latency_seconds", _labels("web", "shop", "http"))] == 0.25
    assert samples[("calcifer_endpoint_certificate_days_left", _labels("web", "shop", "http"))] == 12.5
    for window in ("24h", "7d", "30d"):
        assert samples[("calcifer_endpoint_uptime_ratio", _labels("web", "shop", "http", window=window))] \
            == pytest.approx(0.9)
    assert ("calcifer_endpoint_uptime_ratio", _labels("db", "shop", window="24h")) not in samples
    assert samples[("calcifer_endpoints", (("status", "paused"),))] == 1
    assert samples[("calcifer_endpoints", (("status", "up"),))] == 1
    assert samples[("calcifer_scheduler_lag_p99_seconds", ())] == 0.04
    assert samples[("calcifer_scheduler_queue", ())] == 7
    assert samples[("calcifer_scheduler_checks_total", ())] == 5000
    assert samples[("calcifer_scheduler_running", ())] == 1


def test_without_a_scheduler_row_the_scheduler_is_reported_not_running(cast: Cast) -> None:
    samples = _samples(cast.viewer.get("/metrics").text)
    assert samples[("calcifer_scheduler_running", ())] == 0
    assert ("calcifer_scheduler_queue", ()) not in samples

"""``/metrics``: Prometheus text format, built fresh from the database on every scrape.

A new ``CollectorRegistry`` per scrape holds one custom collector reading the database, so the figures
are always what the database says (several web workers answer alike) and nothing lingers in the
process. Labels: ``endpoint`` (slug), ``service``, ``type``.

Uptime ratios for the 7 and 30 day windows scan ``monitor_hourly`` (one row per endpoint and hour);
they are kept for ``UPTIME_CACHE_SECONDS`` so frequent scrapes of a large installation stay cheap; the
24 hour ratio is computed on every scrape.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calcifer import __version__
from calcifer.monitoring import location_metrics, service
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models import SchedulerStatus

UPTIME_CACHE_SECONDS = 300.0
WINDOWS = ["24h", "7d", "30d"]
_LABELS = ["endpoint", "service", "type"]

_cache_lock = threading.Lock()
# Per database (engine): tests and tools may hold several at once.
_uptime_cache: weakref.WeakKeyDictionary[Engine, tuple[float, dict[int, dict[str, service.Uptime]]]] = (
    weakref.WeakKeyDictionary())


def _uptimes(session: Session, endpoint_ids: list[int]) -> dict[int, dict[str, service.Uptime]]:
    """24 h fresh on every scrape (a walk of the primary key per endpoint); 7 d and 30 d (a scan of a
    month of aggregates) reused for ``UPTIME_CACHE_SECONDS``: they move slowly."""
    key = session.get_bind().engine
    now = time.monotonic()
    with _cache_lock:
        cached = _uptime_cache.get(key)
    if cached is None or now - cached[0] >= UPTIME_CACHE_SECONDS:
        cached = (now, service.all_uptime_windows(session=session, windows=["7d", "30d"]))
        with _cache_lock:
            _uptime_cache[key] = cached
    day = service.all_uptime_windows(session=session, windows=["24h"], endpoint_ids=endpoint_ids)
    merged: dict[int, dict[str, service.Uptime]] = {}
    for endpoint_id in set(day) | set(cached[1]):
        merged[endpoint_id] = {**day.get(endpoint_id, {}), **cached[1].get(endpoint_id, {})}
    return merged


def clear_cache() -> None:
    with _cache_lock:
        _uptime_cache.clear()


class MonitoringCollector(Collector):
    """Reads every figure from the database when collected."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[Any]:
        info = InfoMetricFamily("calcifer", "Calcifer build information.")
        info.add_metric([], {"version": __version__})
        yield info

        rows = service.metric_rows(session=self.session)
        up = GaugeMetricFamily("calcifer_endpoint_up", "1 when the endpoint answers (up or degraded), 0 when "
                               "down; absent while paused or not checked yet.", labels=_LABELS)
        status = GaugeMetricFamily("calcifer_endpoint_status", "1 for the endpoint's current status.",
                                   labels=[*_LABELS, "status"])
        latency = GaugeMetricFamily("calcifer_endpoint_latency_seconds", "Latency of the last check.",
                                    labels=_LABELS)
        last = GaugeMetricFamily("calcifer_endpoint_last_check_timestamp_seconds",
                                 "When the endpoint was last checked (Unix time).", labels=_LABELS)
        cert = GaugeMetricFamily("calcifer_endpoint_certificate_days_left",
                                 "Days until the certificate the endpoint presented expires.", labels=_LABELS)
        ratio = GaugeMetricFamily("calcifer_endpoint_uptime_ratio", "Share of checks up (0..1) over the window, "
                                  "checks during maintenance left out.", labels=[*_LABELS, "window"])
        counts: dict[str, int] = {s.value: 0 for s in Status}
        figures = _uptimes(self.session, [r.state_id for r in rows if r.state_id is not None])
        for row in rows:
            labels = [row.slug, row.service, row.type]
            counts[row.status] = counts.get(row.status, 0) + 1
            status.add_metric([*labels, row.status], 1)
            if row.status in (Status.UP, Status.DEGRADED):
                up.add_metric(labels, 1)
            elif row.status == Status.DOWN:
                up.add_metric(labels, 0)
            if row.latency_ms is not None:
                latency.add_metric(labels, row.latency_ms / 1000)
            if row.last_checked_at is not None:
                last.add_metric(labels, row.last_checked_at.timestamp())
            if row.cert_days_left is not None:
                cert.add_metric(labels, row.cert_days_left)
            if row.state_id is not None:
                for window, figure in figures.get(row.state_id, {}).items():
                    if figure.ratio is not None:
                        ratio.add_metric([*labels, window], figure.ratio)
        yield from (up, status, latency, last, cert, ratio)

        per_status = GaugeMetricFamily("calcifer_endpoints", "Endpoints per status.", labels=["status"])
        for name, count in counts.items():
            per_status.add_metric([name], count)
        yield per_status

        yield from location_metrics.families(self.session)  # per location, and remote probes
        yield from self._scheduler()

    def _scheduler(self) -> Iterator[Any]:
        row = self.session.get(SchedulerStatus, 1)
        running = GaugeMetricFamily("calcifer_scheduler_running", "1 when a scheduler's heartbeat is fresh.")
        now = service.utcnow()
        age = (now - row.heartbeat_at).total_seconds() if row is not None and row.heartbeat_at else None
        running.add_metric([], 1 if age is not None and age <= 60 else 0)
        yield running
        if row is None:
            return
        if age is not None:
            yield GaugeMetricFamily("calcifer_scheduler_heartbeat_age_seconds",
                                    "Seconds since the scheduler's last heartbeat.", value=age)
        yield GaugeMetricFamily("calcifer_scheduler_lag_p50_seconds", "Scheduling lag, median.",
                                value=row.lag_p50_ms / 1000)
        yield GaugeMetricFamily("calcifer_scheduler_lag_p99_seconds", "Scheduling lag, 99th percentile.",
                                value=row.lag_p99_ms / 1000)
        yield GaugeMetricFamily("calcifer_scheduler_queue", "Checks due and waiting for a slot.", value=row.queue)
        yield GaugeMetricFamily("calcifer_scheduler_in_flight", "Checks running now.", value=row.in_flight)
        yield GaugeMetricFamily("calcifer_scheduler_endpoints", "Endpoints scheduled.", value=row.endpoints)
        yield CounterMetricFamily("calcifer_scheduler_checks", "Checks run since the scheduler started.",
                                  value=row.checks_total)


def render(*, session: Session) -> bytes:
    """The metrics page: a fresh registry with the monitoring collector, in Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitoringCollector(session))
    return generate_latest(registry)

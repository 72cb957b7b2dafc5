"""``/metrics`` families of multi-location endpoints and remote probes (a ``location`` label each)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.monitoring import locations
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models.probes import LocationState, MonitorProbe

_LABELS = ["endpoint", "service", "location"]


def families(session: Session) -> Iterator[Any]:
    plan = locations.current_plan(session)
    up = GaugeMetricFamily("calcifer_endpoint_location_up", "1 when the location sees the endpoint answer (up or "
                           "degraded), 0 when down; endpoints checked from several locations only.", labels=_LABELS)
    latency = GaugeMetricFamily("calcifer_endpoint_location_latency_seconds",
                                "Latency of the location's last check.", labels=_LABELS)
    last = GaugeMetricFamily("calcifer_endpoint_location_last_check_timestamp_seconds",
                             "When the location last checked the endpoint (Unix time).", labels=_LABELS)
    if plan.by_id:
        for row in session.execute(select(LocationState)).scalars():
            planned = plan.by_id.get(row.endpoint_id)
            if planned is None or row.location not in planned.locations:
                continue
            labels = [planned.slug, planned.service or "", row.location]
            if row.status in (Status.UP.value, Status.DEGRADED.value):
                up.add_metric(labels, 1)
            elif row.status == Status.DOWN.value:
                up.add_metric(labels, 0)
            if row.latency_ms is not None:
                latency.add_metric(labels, row.latency_ms / 1000)
            if row.last_checked_at is not None:
                last.add_metric(labels, row.last_checked_at.timestamp())
    yield from (up, latency, last)
    online = GaugeMetricFamily("calcifer_probe_online", "1 while the remote probe reports.",
                               labels=["probe", "location"])
    queue = GaugeMetricFamily("calcifer_probe_queue", "Results buffered on the probe, waiting to be uploaded.",
                              labels=["probe", "location"])
    for probe in session.execute(select(MonitorProbe).order_by(MonitorProbe.name)).scalars():
        online.add_metric([probe.name, probe.location], 1 if probe.online else 0)
        queue.add_metric([probe.name, probe.location], probe.queue_length)
    yield from (online, queue)

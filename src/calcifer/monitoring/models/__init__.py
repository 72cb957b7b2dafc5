"""Monitoring tables, split by subdomain: checks (state, results, aggregates, events) and incidents."""

from __future__ import annotations

from calcifer.monitoring.models.checks import (
    MonitorEvent,
    MonitorHourly,
    MonitorResult,
    MonitorState,
    PushHeartbeat,
    SchedulerStatus,
)
from calcifer.monitoring.models.incidents import Incident, IncidentEvent, MaintenanceWindow
from calcifer.monitoring.models.probes import LocationHourly, LocationResult, LocationState, MonitorProbe, ProbeEvent

__all__ = ["Incident", "IncidentEvent", "LocationHourly", "LocationResult", "LocationState", "MaintenanceWindow",
           "MonitorProbe", "ProbeEvent", "MonitorEvent", "MonitorHourly", "MonitorResult",
           "MonitorState", "PushHeartbeat", "SchedulerStatus"]

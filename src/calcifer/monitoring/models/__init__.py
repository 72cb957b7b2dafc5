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

__all__ = ["Incident", "IncidentEvent", "MaintenanceWindow", "MonitorEvent", "MonitorHourly", "MonitorResult",
           "MonitorState", "PushHeartbeat", "SchedulerStatus"]

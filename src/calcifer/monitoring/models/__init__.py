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

__all__ = ["MonitorEvent", "MonitorHourly", "MonitorResult", "MonitorState", "PushHeartbeat",
           "SchedulerStatus"]

"""Monitoring: check types (checks/), the scheduler, results and uptime, incidents, status page."""

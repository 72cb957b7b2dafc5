"""The Grafana dashboard shipped in contrib/grafana/ reads, and charts only metrics Calcifer exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from calcifer.monitoring import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "calcifer.json"
SOURCE = Path(metrics.__file__).read_text(encoding="utf-8")


def _exported() -> set[str]:
    """Every series name /metrics can carry, from the metric families metrics.py builds."""
    names: set[str] = set()
    for family, name in re.findall(r'(\w+)MetricFamily\(\s*"([a-z0-9_]+)"', SOURCE):
        names.add({"Counter": f"{name}_total", "Info": f"{name}_info"}.get(family, name))
    return names


def _expressions(dashboard: dict) -> list[str]:  # type: ignore[type-arg]
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return found


def test_the_dashboard_parses_and_every_metric_it_charts_exists() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "calcifer" and len(dashboard["panels"]) >= 8
    used = {name for expr in _expressions(dashboard) for name in re.findall(r"\bcalcifer_[a-z0-9_]+", expr)}
    exported = _exported()
    assert "calcifer_endpoint_up" in exported and "calcifer_scheduler_checks_total" in exported
    assert used and used <= exported, f"not exported: {sorted(used - exported)}"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_exported_names_are_what_metrics_really_serves(client: TestClient, cast) -> None:  # type: ignore[no-untyped-def]
    text = cast.admin.get("/metrics").text
    served = set(re.findall(r"^# TYPE (calcifer_[a-z0-9_]+) ", text, re.MULTILINE))
    # Counters are announced without _total, info metrics without _info in TYPE lines.
    served |= {f"{n}_total" for n in served} | {f"{n}_info" for n in served}
    always = {"calcifer_info", "calcifer_endpoint_up", "calcifer_endpoints"}
    assert always <= served

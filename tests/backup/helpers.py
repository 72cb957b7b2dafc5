"""A rich Calcifer instance to back up, and tools to take archives apart and put them back together."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from calcifer.backup import archive
from calcifer.config import Settings
from calcifer.monitoring.models import MonitorHourly, MonitorResult, MonitorState
from calcifer.web.context import AppContext
from tests.catalog.helpers import finish_documentation, land_files, make_work_item, merge, write_and_commit
from tests.conftest import Cast

SAMPLES = Path(__file__).parent / "samples"
ROOT = Path(__file__).resolve().parents[2]

GRAFANA = """name: Grafana
slug: grafana
kind: container
description: Dashboards.
"""
GRAFANA_HEALTH = """name: Grafana health
slug: grafana-health
service: grafana
type: http
target: https://grafana.example.org/api/health
interval: 30
"""


def build_rich_instance(ctx: AppContext, cast: Cast) -> dict[str, Any]:
    """Users (the cast), a completed work item that landed a service, an endpoint and a doc; one work item
    in progress with a commit on its branch; one still planning; monitoring history; an incident."""
    admin = cast.admin
    done = land_files(admin, {"catalog/services/grafana.yaml": GRAFANA,
                              "catalog/endpoints/grafana-health.yaml": GRAFANA_HEALTH,
                              "docs/runbooks/grafana.md": "# Grafana runbook\n\nRestart the container.\n"},
                      title="Add grafana", entry="Added grafana with its health endpoint and runbook")
    in_progress = make_work_item(cast.editor, title="Tune grafana alerts")
    write_and_commit(cast.editor, in_progress, "docs/runbooks/alerts.md", "# Alerts\n\nDraft.\n",
                     entry="Added the alerts runbook")
    planning = make_work_item(cast.editor, title="Plan loki", category="platform")
    second = make_work_item(admin, title="Document backups", category="documentation")
    write_and_commit(admin, second, "docs/backups.md", "# Backups\n\nNightly.\n", entry="Documented backups")
    finish_documentation(admin, second)
    merge(admin, second)
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    with ctx.session_factory() as session:
        state = MonitorState(slug="grafana-health", status="up", status_since=now, last_checked_at=now,
                             latency_ms=12.5, message="", consecutive_failures=0)
        session.add(state)
        session.flush()
        start_ms = int(now.timestamp() * 1000)
        for i in range(50):
            session.add(MonitorResult(endpoint_id=state.id, checked_at_ms=start_ms + i * 30_000,
                                      status=0 if i % 10 else 2, latency_ms=10.0 + i / 4,
                                      message="" if i % 10 else "HTTP 503"))
        for hour in range(3):
            session.add(MonitorHourly(endpoint_id=state.id, hour=now - dt.timedelta(hours=hour), checks=120,
                                      failures=hour, degraded=0, maintenance_checks=0, maintenance_failures=0,
                                      latency_min=8.0, latency_avg=12.25, latency_p95=20.0, latency_max=40.5))
        try:
            from calcifer.monitoring.models.incidents import Incident, IncidentEvent
        except ImportError:  # pragma: no cover - the incidents slice not present
            pass
        else:
            incident = Incident(endpoint_id=state.id, endpoint_slug="grafana-health", service="grafana",
                                status="resolved", started_at=now - dt.timedelta(minutes=30),
                                ended_at=now - dt.timedelta(minutes=20), duration_seconds=600,
                                message="HTTP 503", affected_services=["grafana"], related_work=[])
            session.add(incident)
            session.flush()
            session.add(IncidentEvent(incident_id=incident.id, at=now - dt.timedelta(minutes=25), kind="note",
                                      text="Restarted the container."))
        session.commit()
    return {"done": done, "in_progress": in_progress, "planning": planning, "second": second}


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a `calcifer` subprocess acting on the instance of `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALCIFER_")}
    env.update(CALCIFER_DATA_DIR=str(settings.data_dir), CALCIFER_MONITOR_IN_WEB="false")
    if settings.database_url:
        env["CALCIFER_DATABASE_URL"] = settings.database_url
    if settings.database_schema:
        env["CALCIFER_DATABASE_SCHEMA"] = settings.database_schema
    env.update(extra)
    return env


def members_of(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {info.name: tar.extractfile(info).read() for info in tar if info.isreg()}  # type: ignore[union-attr]


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def plain(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o600
    return info


def rebuild(source: Path, target: Path, *, manifest: dict[str, Any] | None = None, drop: set[str] = frozenset(),
            replace: dict[str, bytes] | None = None, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> Path:
    """Write `source`'s members again into `target`, changed as asked (the manifest kept unless given)."""
    members = members_of(source)
    document = manifest if manifest is not None else json.loads(members[archive.MANIFEST])
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = [(plain(archive.MANIFEST), json.dumps(document).encode())]
    for name, data in members.items():
        if name == archive.MANIFEST or name in drop:
            continue
        entries.append((plain(name), (replace or {}).get(name, data)))
    entries += list(extra)
    return write_tar(target, entries)


def tree_listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def reseal(source: Path, target: Path, *, replace: dict[str, bytes],
           manifest_update: dict[str, Any] | None = None) -> Path:
    """Like `rebuild`, with the manifest's sizes and checksums recomputed (an archive that verifies)."""
    import hashlib

    members = members_of(source)
    members.update(replace)
    document = json.loads(members[archive.MANIFEST])
    document.update(manifest_update or {})
    document["members"] = [{**entry, "size": len(members[entry["name"]]),
                            "sha256": hashlib.sha256(members[entry["name"]]).hexdigest()}
                           for entry in document["members"]]
    entries = [(plain(archive.MANIFEST), json.dumps(document).encode())]
    entries += [(plain(n), d) for n, d in members.items() if n != archive.MANIFEST]
    return write_tar(target, entries)

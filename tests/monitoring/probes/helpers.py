"""Shared pieces of the probe tests: multi-location endpoints in the catalog index, probes, result bodies."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from calcifer.instance import AppContext
from calcifer.monitoring import probes
from calcifer.monitoring.models.probes import LocationResult
from tests.monitoring.factories import make_endpoint


def add_endpoint(ctx: AppContext, slug: str, locations: list[str], *, verdict: str = "half", interval: int = 60,
                 target: str = "127.0.0.1", port: int = 9, retries: int = 0) -> None:
    """A tcp endpoint in main's catalog index whose file names ``locations`` (and the verdict rule)."""
    with ctx.session_factory() as session:
        row = make_endpoint(session, slug, target=target, port=port, interval=interval)
        row.retries = retries
        row.spec = {**row.spec, "locations": locations, "verdict": verdict, "port": port}
        session.commit()


def add_probe(ctx: AppContext, name: str, location: str) -> str:
    with ctx.session_factory() as session:
        _, token = probes.create_probe(session, name=name, location=location)
    return token


def result(seq: int, slug: str, status: str = "up", *, checked_at: float | None = None,
           latency_ms: float = 12.5, **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "slug": slug, "checked_at": checked_at if checked_at is not None else time.time(),
            "status": status, "latency_ms": latency_ms, "message": "" if status == "up" else "refused", **extra}


def stored(ctx: AppContext, **where: Any) -> int:
    with ctx.session_factory() as session:
        query = select(func.count()).select_from(LocationResult)
        for key, value in where.items():
            query = query.where(getattr(LocationResult, key) == value)
        return int(session.execute(query).scalar_one())


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Probe {token}"}

"""Monitoring pages and JSON API (read side and the editors' actions: check now, pause, resume).

Pages: ``/monitoring`` (every endpoint, live by htmx polling of ``/monitoring/rows``),
``/monitoring/endpoints/{slug}`` (chart, 90-day bar, uptime, events, certificate), ``/settings/monitoring``.
API under ``/api/v1/monitoring/``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from calcifer.auth.choices import Role
from calcifer.auth.roles import has_role
from calcifer.catalog import grafana
from calcifer.catalog import index as catalog_index
from calcifer.catalog.yamlio import dump_yaml
from calcifer.config import Settings
from calcifer.deps import CtxDep, CurrentUser, RemoteAddr, RequireAdmin, RequireEditor, SessionDep, SettingsDep
from calcifer.errors import Conflict, Invalid
from calcifer.instance import AppContext
from calcifer.monitoring import charts, checks, kuma_live, locations, push, service
from calcifer.monitoring.choices import ResultCode, Status
from calcifer.monitoring.schemas import (
    EndpointDetailPublic,
    EndpointListPublic,
    EventListPublic,
    EventPublic,
    ResultListPublic,
    ResultPublic,
    SeriesPublic,
    SummaryPublic,
    UptimeReportPublic,
)
from calcifer.plugins import panels
from calcifer.plugins.choices import PanelPage
from calcifer.web.headers import grafana_frames
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment

log = logging.getLogger(__name__)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["monitoring"])

POLL_SECONDS = 10
# A scheduler whose heartbeat is older than this is reported as not running.
STALE_HEARTBEAT = dt.timedelta(seconds=60)


# -- seams to the other monitoring modules (written alongside; absent pieces degrade, never crash) ---------

def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


async def _check_now(ctx: AppContext, slug: str) -> None:
    check_now = _optional("calcifer.monitoring.scheduler", "check_now")
    if check_now is None:
        raise Conflict("Check now is not available: this build has no monitoring scheduler.",
                       code="scheduler_missing")
    await check_now(ctx=ctx, slug=slug)


def _push_url(request: Request, endpoint: service.EndpointRow) -> str | None:
    """The heartbeat URL of a push endpoint (it holds its secret: shown to editors only)."""
    if endpoint.type != "push":
        return None
    ctx: AppContext = request.app.state.ctx
    return push.push_url(ctx.secret_key, endpoint.slug, str(request.base_url).rstrip("/"))


def _open_incidents(session: Session, *, slug: str | None = None, limit: int = 50) -> list[Any]:
    open_incidents = _optional("calcifer.monitoring.incidents", "open_incidents")
    if open_incidents is None:
        return []
    items = list(open_incidents(session=session, limit=limit))
    if slug is not None:
        items = [i for i in items if getattr(i, "endpoint_slug", None) == slug]
    return items


def scheduler_status(session: Session) -> Any:
    reader = _optional("calcifer.monitoring.states", "scheduler_status")
    if reader is not None:
        return reader(session=session)
    from calcifer.monitoring.models import SchedulerStatus

    return session.get(SchedulerStatus, 1)


def scheduler_view(session: Session, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the settings page and the dashboard say about the scheduler: running or loudly not."""
    now = now or service.utcnow()
    status = scheduler_status(session)
    age = (now - status.heartbeat_at).total_seconds() if status is not None and status.heartbeat_at else None
    running = age is not None and age <= STALE_HEARTBEAT.total_seconds()
    return {"status": status, "heartbeat_age": age, "running": running}


# =============================== JSON API ===============================

def _endpoint_id(session: Session, slug: str) -> tuple[service.EndpointRow, int | None]:
    row = service.get_row(session=session, slug=slug)
    return row, row.state_id


@api.get("/monitoring/endpoints", response_model=EndpointListPublic)
def api_endpoints(
    session: SessionDep, user: CurrentUser, service_slug: Annotated[str | None, Query(alias="service")] = None,
    tag: str | None = None, status: str | None = None, q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = service.PAGE_SIZE, cursor: str | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """Endpoints with status, latency and uptime (24 h, 30 d), by slug; filters combine. ``cursor`` pages
    forward (``next_cursor``), ``before`` backward (``prev_cursor``)."""
    page = service.list_endpoints(session=session, service=service_slug or None, tag=tag or None,
                                  status=status or None, q=q or None, limit=limit, cursor=cursor or None,
                                  before=before or None)
    return {"items": [r.as_dict() for r in page.rows], "next_cursor": page.next_cursor,
            "prev_cursor": page.prev_cursor, "counts": page.counts, "total": page.total}


@api.get("/monitoring/endpoints/{slug}", response_model=EndpointDetailPublic)
def api_endpoint(request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep,
                 slug: str) -> dict[str, Any]:
    row = service.get_row(session=session, slug=slug)
    if row.state_id is not None:
        row.uptime = service.uptime_windows(session=session, endpoint_ids=[row.state_id],
                                            windows=list(service.UPTIME_WINDOWS))[row.state_id]
    else:
        row.uptime = {w: service.Uptime() for w in service.UPTIME_WINDOWS}
    cert = service.certificate(service.get_state(session=session, slug=slug))
    push_link = _push_url(request, row) if has_role(user, Role.EDITOR) else None
    return {**row.as_dict(), "certificate": cert.as_dict() if cert else None, "push_url": push_link}


@api.get("/monitoring/endpoints/{slug}/uptime", response_model=UptimeReportPublic)
def api_uptime(session: SessionDep, user: CurrentUser, slug: str,
               days: Annotated[int, Query(ge=1, le=366)] = service.BAR_DAYS) -> dict[str, Any]:
    """Uptime over 24 h, 7 d, 30 d and 365 d, and one entry per day (the 90-day bar)."""
    _, endpoint_id = _endpoint_id(session, slug)
    ids = [endpoint_id] if endpoint_id is not None else []
    windows = service.uptime_windows(session=session, endpoint_ids=ids, windows=list(service.UPTIME_WINDOWS))
    bars = service.daily_bars(session=session, endpoint_ids=ids, days=days)
    figures = windows.get(endpoint_id, {}) if endpoint_id is not None else {}
    day_list = bars.get(endpoint_id, []) if endpoint_id is not None else service.combine_days([], days=days)
    return {"slug": slug, "windows": {w: figures.get(w, service.Uptime()).as_dict() for w in service.UPTIME_WINDOWS},
            "days": [d.as_dict() for d in day_list]}


@api.get("/monitoring/endpoints/{slug}/series", response_model=SeriesPublic)
def api_series(session: SessionDep, user: CurrentUser, slug: str, range: str = "24h") -> dict[str, Any]:
    """Response time over 1h, 24h (raw results, bucketed), 7d or 30d (hourly aggregates)."""
    _, endpoint_id = _endpoint_id(session, slug)
    return service.response_times(session=session, endpoint_id=endpoint_id, range_key=range).as_dict()


def _parse_time(value: str | None, default: dt.datetime, name: str) -> dt.datetime:
    if not value:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"{name} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z.", code="bad_time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@api.get("/monitoring/endpoints/{slug}/results", response_model=ResultListPublic)
def api_results(session: SessionDep, user: CurrentUser, slug: str, since: str | None = None,
                until: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                cursor: str | None = None) -> dict[str, Any]:
    """Raw results (kept ``monitor_raw_retention_hours``), newest first; default: the last hour."""
    _, endpoint_id = _endpoint_id(session, slug)
    now = service.utcnow()
    start = _parse_time(since, now - dt.timedelta(hours=1), "since")
    end = _parse_time(until, now, "until")
    if end < start:
        raise Invalid("until must not be before since.", code="bad_range")
    rows, next_cursor = service.raw_results(session=session, endpoint_id=endpoint_id, since=start, until=end,
                                            limit=limit, cursor=cursor or None)
    items = [ResultPublic(at=dt.datetime.fromtimestamp(r.checked_at_ms / 1000, dt.UTC),
                          status=ResultCode(r.status).status.value, latency_ms=r.latency_ms, message=r.message,
                          in_maintenance=bool(r.in_maintenance)) for r in rows]
    return {"items": items, "next_cursor": next_cursor}


@api.get("/monitoring/endpoints/{slug}/events", response_model=EventListPublic)
def api_events(session: SessionDep, user: CurrentUser, slug: str, limit: Annotated[int, Query(ge=1, le=500)] = 50,
               cursor: str | None = None) -> dict[str, Any]:
    """Status changes and failures, newest first, a page at a time."""
    _, endpoint_id = _endpoint_id(session, slug)
    rows, next_cursor = service.recent_events(session=session, endpoint_id=endpoint_id, limit=limit,
                                              cursor=cursor or None)
    return {"items": [EventPublic.model_validate(r) for r in rows], "next_cursor": next_cursor}


@api.post("/monitoring/endpoints/{slug}/check", response_model=EndpointDetailPublic)
async def api_check(request: Request, user: RequireEditor, ctx: CtxDep, slug: str) -> dict[str, Any]:
    """Run one check now (recorded like a scheduled one); returns the refreshed endpoint."""
    await _check_now(ctx, slug)
    with ctx.session_factory() as session:
        return api_endpoint(request, session, user, ctx.settings, slug)


@api.post("/monitoring/endpoints/{slug}/pause", response_model=EndpointDetailPublic)
def api_pause(request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep,
              addr: RemoteAddr, slug: str) -> dict[str, Any]:
    """Stop checking until resumed (audited)."""
    service.set_paused(session=session, actor=user, slug=slug, paused=True, remote_addr=addr)
    return api_endpoint(request, session, user, settings, slug)


@api.post("/monitoring/endpoints/{slug}/resume", response_model=EndpointDetailPublic)
def api_resume(request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep,
               addr: RemoteAddr, slug: str) -> dict[str, Any]:
    """Check again (the next check is due at once; audited)."""
    service.set_paused(session=session, actor=user, slug=slug, paused=False, remote_addr=addr)
    return api_endpoint(request, session, user, settings, slug)


@api.get("/monitoring/summary", response_model=SummaryPublic)
def api_summary(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Endpoints per status, and whether a scheduler is running."""
    view = scheduler_view(session)
    return {"counts": service.count_by_status(session=session), "scheduler_running": view["running"],
            "heartbeat_age_seconds": view["heartbeat_age"]}


# =============================== pages ===============================

def _list_context(session: Session, *, service_slug: str | None, tag: str | None, status: str | None,
                  q: str | None, cursor: str | None, before: str | None = None) -> dict[str, Any]:
    page = service.list_endpoints(session=session, service=service_slug or None, tag=tag or None,
                                  status=status or None, q=q or None, cursor=cursor or None, before=before or None,
                                  heartbeats=service.HEARTBEATS)
    filters = {k: v for k, v in {"q": q, "service": service_slug, "tag": tag, "status": status}.items() if v}
    next_url = prev_url = None
    if page.next_cursor:
        next_url = "/monitoring?" + urlencode({**filters, "cursor": page.next_cursor})
    if page.prev_cursor:
        prev_url = "/monitoring?" + urlencode({**filters, "before": page.prev_cursor})
    position = {"cursor": cursor} if cursor else {"before": before} if before else {}
    rows_url = "/monitoring/rows?" + urlencode({**filters, **position})
    return {"page": page, "rows": page.rows, "filters": filters, "next_url": next_url, "prev_url": prev_url,
            "rows_url": rows_url, "now": service.utcnow(), "poll_seconds": POLL_SECONDS,
            "statuses": service.STATUS_ORDER,
            "agreement": locations.agreement(session, [r.slug for r in page.rows])}  # multi-location rows


@pages.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request, session: SessionDep, user: CurrentUser,
                    service_slug: Annotated[str | None, Query(alias="service")] = None, tag: str | None = None,
                    status: str | None = None, q: str | None = None, cursor: str | None = None,
                    before: str | None = None) -> Response:
    context = _list_context(session, service_slug=service_slug, tag=tag, status=status, q=q, cursor=cursor,
                            before=before)
    context.update({"services": service.service_slugs_with_endpoints(session=session),
                    "tags": service.all_tags(session=session), "scheduler": scheduler_view(session),
                    "catalog_empty": context["page"].total == 0 and not context["filters"]})
    return render(request, "monitoring/endpoints.html", context, nav="monitoring")


@pages.get("/monitoring/rows", response_class=HTMLResponse)
def monitoring_rows(request: Request, session: SessionDep, user: CurrentUser,
                    service_slug: Annotated[str | None, Query(alias="service")] = None, tag: str | None = None,
                    status: str | None = None, q: str | None = None, cursor: str | None = None,
                    before: str | None = None) -> Response:
    """The live part of ``/monitoring`` (counts and table), re-fetched by htmx every few seconds."""
    context = _list_context(session, service_slug=service_slug, tag=tag, status=status, q=q, cursor=cursor,
                            before=before)
    return render_fragment(request, "monitoring/_live.html", context)


def _detail_context(request: Request, session: Session, settings: Settings, user: Any, slug: str,
                    range_key: str | None) -> dict[str, Any]:
    row = service.get_row(session=session, slug=slug)
    range_key = (service.check_range(range_key) if range_key
                 else service.fitting_range(session=session, endpoint_id=row.state_id))
    state = service.get_state(session=session, slug=slug)
    ids = [row.state_id] if row.state_id is not None else []
    figures = service.uptime_windows(session=session, endpoint_ids=ids, windows=list(service.UPTIME_WINDOWS))
    row.uptime = figures.get(row.state_id, {}) if row.state_id is not None else {}
    row.uptime = {w: row.uptime.get(w, service.Uptime()) for w in service.UPTIME_WINDOWS}
    bars = service.daily_bars(session=session, endpoint_ids=ids)
    days = bars.get(row.state_id, []) if row.state_id is not None else service.combine_days([])
    series = service.response_times(session=session, endpoint_id=row.state_id, range_key=range_key)
    declared = catalog_index.get_endpoint(session=session, slug=slug)
    cert = service.certificate(state)
    kind = checks.get(row.type)
    located = locations.location_status(session, slug=slug)  # a row per location (several only)
    return {
        "declared": declared, "yaml": dump_yaml(declared.spec),
        "ep": row, "state": state, "cert": cert, "days": days,
        # A certificate card for TLS checks only (or when one was seen: the target may have changed since).
        "shows_cert": cert is not None or (kind is not None and kind.uses_tls(row.target)),
        "events": service.recent_events(session=session, endpoint_id=row.state_id, limit=20)[0],
        "series": series, "chart": charts.latency_chart(series, interval_seconds=row.interval),
        "range": range_key,
        "ranges": list(service.CHART_RANGES), "now": service.utcnow(),
        "push_url": _push_url(request, row) if has_role(user, Role.EDITOR) else None,
        "incidents": _open_incidents(session, slug=slug), "poll_seconds": POLL_SECONDS,
        "warn_days": settings.monitor_cert_warn_days,
        "locations": located,
        "sparklines": {loc["location"]: spark for loc in located if (spark := charts.sparkline(loc["sparkline"]))},
        "plugin_panels": panels.render_panels(session=session, page=PanelPage.ENDPOINT, subject=slug),
        "dashboards": grafana.embeds(declared.spec, settings.grafana_origins),
        "kuma": kuma_live.link(declared.spec),
    }


@pages.get("/monitoring/endpoints/{slug}/kuma", response_class=HTMLResponse)
def kuma_fragment(request: Request, session: SessionDep, user: CurrentUser, slug: str) -> Response:
    """The endpoint's status in Uptime Kuma (its ``kuma:`` link), loaded by the page after it rendered."""
    kuma = kuma_live.link(catalog_index.get_endpoint(session=session, slug=slug).spec)
    return render_fragment(request, "monitoring/_kuma.html",
                           {"kuma": kuma, "kuma_status": kuma_live.status(kuma) if kuma else None})


@pages.get("/monitoring/endpoints/{slug}", response_class=HTMLResponse)
def endpoint_page(request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep, slug: str,
                  range: str | None = None) -> Response:
    context = _detail_context(request, session, settings, user, slug, range)
    response = render(request, "monitoring/endpoint.html", context, nav="monitoring")
    return grafana_frames(response, context["dashboards"], settings.grafana_origins)


@pages.get("/monitoring/endpoints/{slug}/chart", response_class=HTMLResponse)
def endpoint_chart(request: Request, session: SessionDep, user: CurrentUser, slug: str,
                   range: str = "24h") -> Response:
    """The chart card for another range (htmx swaps it in; the links work without JavaScript too)."""
    range_key = service.check_range(range)
    row = service.get_row(session=session, slug=slug)
    series = service.response_times(session=session, endpoint_id=row.state_id, range_key=range_key)
    return render_fragment(request, "monitoring/_chart.html", {
        "ep": row, "series": series, "chart": charts.latency_chart(series, interval_seconds=row.interval),
        "range": range_key,
        "ranges": list(service.CHART_RANGES)})


@pages.get("/monitoring/endpoints/{slug}/state", response_class=HTMLResponse)
def endpoint_state(request: Request, session: SessionDep, user: CurrentUser, slug: str) -> Response:
    """The status card of the endpoint page, polled by htmx."""
    row = service.get_row(session=session, slug=slug)
    return render_fragment(request, "monitoring/_state.html", {
        "ep": row, "state": service.get_state(session=session, slug=slug), "now": service.utcnow(),
        "poll_seconds": POLL_SECONDS})


@pages.post("/monitoring/endpoints/{slug}/check")
async def check_page(request: Request, user: RequireEditor, ctx: CtxDep, slug: str) -> Response:
    await _check_now(ctx, slug)
    with ctx.session_factory() as session:
        row = service.get_row(session=session, slug=slug)
    flash(request, "success" if row.status in (Status.UP, Status.DEGRADED) else "warning",
          f"Checked {slug} now: {row.status}{' — ' + row.message if row.message else ''}.")
    return RedirectResponse(f"/monitoring/endpoints/{slug}", status_code=303)


@pages.post("/monitoring/endpoints/{slug}/pause")
def pause_page(request: Request, session: SessionDep, user: RequireEditor, addr: RemoteAddr, slug: str) -> Response:
    service.set_paused(session=session, actor=user, slug=slug, paused=True, remote_addr=addr)
    flash(request, "success", f"Paused {slug}: no checks until it is resumed.")
    return RedirectResponse(f"/monitoring/endpoints/{slug}", status_code=303)


@pages.post("/monitoring/endpoints/{slug}/resume")
def resume_page(request: Request, session: SessionDep, user: RequireEditor, addr: RemoteAddr, slug: str) -> Response:
    service.set_paused(session=session, actor=user, slug=slug, paused=False, remote_addr=addr)
    flash(request, "success", f"Resumed {slug}: it is checked again at once.")
    return RedirectResponse(f"/monitoring/endpoints/{slug}", status_code=303)


@pages.get("/settings/monitoring", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, user: RequireAdmin, settings: SettingsDep) -> Response:
    report_fn = _optional("calcifer.monitoring.retention", "storage_report")
    report = report_fn(session=session, settings=settings) if report_fn is not None else None
    retention = [  # (what, value, the environment variable that sets it)
        ("Raw results kept", f"{settings.monitor_raw_retention_hours} hours", "CALCIFER_MONITOR_RAW_RETENTION_HOURS"),
        ("Hourly aggregates and events kept", f"{settings.monitor_aggregate_retention_days} days",
         "CALCIFER_MONITOR_AGGREGATE_RETENTION_DAYS"),
        ("Certificate warning", f"{settings.monitor_cert_warn_days} days before expiry",
         "CALCIFER_MONITOR_CERT_WARN_DAYS"),
        ("Checks in flight at most", str(settings.monitor_concurrency), "CALCIFER_MONITOR_CONCURRENCY"),
        ("Scheduler in the web app", "yes" if settings.monitor_in_web else "no: run `calcifer worker`",
         "CALCIFER_MONITOR_IN_WEB"),
        ("/metrics", "public" if settings.metrics_public else "any API token as a bearer",
         "CALCIFER_METRICS_PUBLIC"),
        ("/status", "public" if settings.status_page_public else "logged-in users", "CALCIFER_STATUS_PAGE_PUBLIC"),
    ]
    return render(request, "monitoring/settings.html", {
        "scheduler": scheduler_view(session), "retention": retention, "report": report,
        "counts": service.count_by_status(session=session),
    }, nav="settings")

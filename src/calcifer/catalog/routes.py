"""Catalog pages and JSON API: services, endpoints, problems, graph, schema, changes, standard changes
(editing pages and the validation API are in edit_routes)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.catalog import grafana, graph, index, service
from calcifer.catalog.choices import EndpointType, ServiceKind, ServiceStatus, Severity
from calcifer.catalog.schemas import (
    CatalogChangePublic,
    CatalogWrite,
    EndpointListPublic,
    EndpointPublic,
    GraphHealth,
    GraphPublic,
    ImpactPublic,
    ProblemListPublic,
    ProblemPublic,
    ServiceDetailPublic,
    ServiceListPublic,
    ServicePublic,
    ServiceSummary,
    StandardChange,
    SyncPublic,
    endpoint_json_schema,
    known_endpoint_type,
    service_json_schema,
)
from calcifer.deps import CtxDep, CurrentUser, RequireEditor, SessionDep, SettingsDep
from calcifer.monitoring import queries as monitoring
from calcifer.plugins import panels
from calcifer.plugins.choices import PanelPage
from calcifer.web.headers import grafana_frames
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.work.routes import WorkspaceDep
from calcifer.work.routes import public as work_public
from calcifer.work.schemas import WorkItemPublic

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["catalog"])
# The JSON Schemas are public so editors and CI can validate catalog files without a token.
schema_api = APIRouter(prefix="/api/v1/schema", tags=["catalog"])


def _summary(row: Any) -> dict[str, Any]:
    return ServiceSummary.model_validate(row).model_dump(mode="json")


def _with_live(session: SessionDep, rows: list[Any]) -> list[EndpointPublic]:
    """Endpoint rows with monitoring's live fields (one query for the whole list)."""
    live = monitoring.live_status(session=session, slugs=[r.slug for r in rows])
    return [EndpointPublic.model_validate(r).model_copy(update=_live_fields(live[r.slug])) for r in rows]


def _live_fields(live: monitoring.EndpointLive) -> dict[str, Any]:
    return {"status": live.status, "status_since": live.status_since, "last_checked_at": live.last_checked_at,
            "latency_ms": live.latency_ms, "uptime_24h": live.uptime_24h.ratio if live.uptime_24h else None}


# =============================== JSON API ===============================

@schema_api.get("/service")
def schema_service() -> dict[str, Any]:
    return service_json_schema()


@schema_api.get("/endpoint")
def schema_endpoint() -> dict[str, Any]:
    return endpoint_json_schema()


@api.get("/services", response_model=ServiceListPublic)
def api_services(
    session: SessionDep, user: CurrentUser, q: str | None = None, kind: ServiceKind | None = None,
    host: str | None = None, tag: str | None = None, status: ServiceStatus | None = None, sort: str = "name",
    limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None,
) -> dict[str, Any]:
    rows, next_cursor = index.list_services(session=session, q=q, kind=kind, host=host, tag=tag, status=status,
                                            sort=sort, limit=limit, cursor=cursor)
    return {"items": [_summary(r) for r in rows], "next_cursor": next_cursor}


@api.get("/services/{slug}", response_model=ServiceDetailPublic)
def api_service(session: SessionDep, user: CurrentUser, slug: str) -> dict[str, Any]:
    row = index.get_service(session=session, slug=slug)
    endpoints, _ = index.list_endpoints(session=session, service=slug, limit=500)
    return {**ServicePublic.model_validate(row).model_dump(mode="json"),
            "host_chain": graph.host_chain(session, slug), "upstream": graph.upstream(session, slug),
            "downstream": graph.downstream(session, slug),
            "endpoints": [e.model_dump(mode="json") for e in _with_live(session, endpoints)]}


@api.get("/services/{slug}/impact", response_model=ImpactPublic)
def api_impact(session: SessionDep, user: CurrentUser, slug: str) -> dict[str, Any]:
    index.get_service(session=session, slug=slug)
    return {"slug": slug, **graph.impact(session, slug)}


@api.get("/endpoints", response_model=EndpointListPublic)
def api_endpoints(
    session: SessionDep, user: CurrentUser, service_slug: Annotated[str | None, Query(alias="service")] = None,
    type: Annotated[str | None, Query(description="an endpoint type: icmp, tcp, http, dns, push or a plugin's")]
    = None, q: str | None = None, enabled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None,
) -> dict[str, Any]:
    if type is not None:
        known_endpoint_type(type)
    rows, next_cursor = index.list_endpoints(session=session, service=service_slug, type=type, q=q,
                                             enabled=enabled, limit=limit, cursor=cursor)
    return {"items": [e.model_dump(mode="json") for e in _with_live(session, rows)], "next_cursor": next_cursor}


@api.get("/endpoints/{slug}", response_model=EndpointPublic)
def api_endpoint(session: SessionDep, user: CurrentUser, slug: str) -> EndpointPublic:
    return _with_live(session, [index.get_endpoint(session=session, slug=slug)])[0]


@api.get("/catalog/problems", response_model=ProblemListPublic)
def api_problems(
    session: SessionDep, user: CurrentUser, severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Problems of the last sync: errors first, then by file and line."""
    rows = index.list_problems(session=session, severity=severity, limit=limit, cursor=cursor)
    return {"items": [ProblemPublic.model_validate(r).model_dump(mode="json") for r in rows],
            "next_cursor": index.problem_cursor(rows[-1]) if len(rows) == limit else None}


@api.get("/catalog/graph", response_model=GraphPublic)
def api_graph(session: SessionDep, user: CurrentUser, center: str | None = None,
              depth: Annotated[int, Query(ge=1, le=10)] = 2, tag: str | None = None, host: str | None = None,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> Response:
    # Serialised once per catalog sync and arguments (thousands of nodes through FastAPI's encoder
    # cost more than the walk); the same JSON as returning the dict.
    return Response(graph.graph_json(session=session, center=center or None, depth=depth, tag=tag or None,
                                     host=host or None, limit=limit), media_type="application/json")


@api.get("/catalog/graph/health", response_model=GraphHealth)
def api_graph_health(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The worst live status of each service's endpoints, by service slug (services without endpoints
    are left out): what the graph colours its nodes by. Apart from the graph so that stays cached."""
    return {"services": monitoring.service_health(session=session)}


@api.post("/catalog/sync", response_model=SyncPublic)
def api_sync(session: SessionDep, user: RequireEditor, ctx: CtxDep) -> dict[str, Any]:
    result = index.sync_from_git(session=session, repo_path=ctx.repo_path, force=True)
    return {"commit": result.commit, "services": result.services, "endpoints": result.endpoints,
            "problems": result.problems, "duration_ms": result.duration_ms}


# The spec itself as the body (what these routes took before they matched standard changes) is still read.
CatalogBody = Annotated[CatalogWrite | dict[str, Any], Body(description='`{"spec": {...}}`, like a standard '
                                                                         "change; the bare spec is still read.")]


def _spec(body: CatalogWrite | dict[str, Any]) -> dict[str, Any]:
    return body.spec if isinstance(body, CatalogWrite) else body


def _change(result: service.ChangeResult) -> dict[str, Any]:
    return {"work_item_id": result.work_item_id, "commit": result.commit, "path": result.path,
            "operation": result.operation}


@api.put("/work-items/{item_id}/services/{slug}", status_code=200, response_model=CatalogChangePublic,
         responses={201: {"model": CatalogChangePublic, "description": "The service file was created."}})
def api_put_service(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int, slug: str,
                    body: CatalogBody, response: Response) -> dict[str, Any]:
    """Write the service spec into the work item's branch and commit it with a changelog entry."""
    result = service.put_service(session=session, actor=user, item_id=item_id, slug=slug, spec=_spec(body),
                                 workspace=workspace)
    response.status_code = 201 if result.operation == "created" else 200
    return _change(result)


@api.delete("/work-items/{item_id}/services/{slug}", response_model=CatalogChangePublic)
def api_delete_service(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int,
                       slug: str) -> dict[str, Any]:
    return _change(service.delete_service(session=session, actor=user, item_id=item_id, slug=slug,
                                          workspace=workspace))


@api.put("/work-items/{item_id}/endpoints/{slug}", response_model=CatalogChangePublic,
         responses={201: {"model": CatalogChangePublic, "description": "The endpoint file was created."}})
def api_put_endpoint(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int, slug: str,
                     body: CatalogBody, response: Response) -> dict[str, Any]:
    """Write the endpoint spec into the work item's branch and commit it with a changelog entry."""
    result = service.put_endpoint(session=session, actor=user, item_id=item_id, slug=slug, spec=_spec(body),
                                  workspace=workspace)
    response.status_code = 201 if result.operation == "created" else 200
    return _change(result)


@api.delete("/work-items/{item_id}/endpoints/{slug}", response_model=CatalogChangePublic)
def api_delete_endpoint(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int,
                        slug: str) -> dict[str, Any]:
    return _change(service.delete_endpoint(session=session, actor=user, item_id=item_id, slug=slug,
                                           workspace=workspace))


@api.post("/standard-changes", status_code=201, response_model=WorkItemPublic)
def api_standard_change(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, settings: SettingsDep,
                        data: StandardChange) -> WorkItemPublic:
    item = service.apply_standard_change(session=session, actor=user, operation=data.operation, kind=data.kind,
                                         slug=data.slug, spec=data.spec, summary=data.summary,
                                         workspace=workspace, categories=settings.work_categories)
    return work_public(item, viewer=user)


# =============================== pages ===============================

@pages.get("/services", response_class=HTMLResponse)
def services_page(
    request: Request, session: SessionDep, user: CurrentUser, q: str | None = None, kind: str | None = None,
    host: str | None = None, tag: str | None = None, status: str | None = None, sort: str = "name",
    cursor: str | None = None,
) -> Response:
    rows, next_cursor = index.list_services(session=session, q=q or None, kind=kind or None, host=host or None,
                                            tag=tag or None, status=status or None, sort=sort or "name",
                                            limit=50, cursor=cursor or None)
    filters = {k: v for k, v in {"q": q, "kind": kind, "host": host, "tag": tag, "status": status,
                                 "sort": sort if sort != "name" else None}.items() if v}
    return render(request, "catalog/services.html", {
        "rows": rows, "filters": filters, "next_cursor": next_cursor, "kinds": [k.value for k in ServiceKind],
        "statuses": [s.value for s in ServiceStatus], "state": index.get_state(session=session),
        "problems": index.list_problems(session=session, limit=200),
        "total": index.count_services(session=session),
    }, nav="services")


@pages.post("/catalog/sync")
def sync_page(request: Request, session: SessionDep, user: RequireEditor, ctx: CtxDep) -> Response:
    result = index.sync_from_git(session=session, repo_path=ctx.repo_path, force=True)
    flash(request, "success" if not result.problems else "warning",
          f"Catalog synced from main at {result.commit[:10]}: {result.services} services, {result.endpoints} "
          f"endpoints, {result.problems} problem(s), {result.duration_ms} ms.")
    return RedirectResponse("/services", status_code=303)


@pages.get("/services/{slug}", response_class=HTMLResponse)
def service_page(request: Request, session: SessionDep, user: CurrentUser, slug: str, ctx: CtxDep,
                 workspace: WorkspaceDep) -> Response:
    row = index.get_service(session=session, slug=slug)
    endpoints, _ = index.list_endpoints(session=session, service=slug, limit=500)
    dashboards = grafana.embeds(row.spec, ctx.settings.grafana_origins)
    response = render(request, "catalog/service.html", {
        "svc": row, "endpoints": endpoints, "now": monitoring.utcnow(),
        "live": monitoring.live_status(session=session, slugs=[e.slug for e in endpoints]),
        "host_chain": graph.host_chain(session, slug),
        "upstream": graph.upstream(session, slug), "downstream": graph.downstream(session, slug),
        "impact": graph.impact(session, slug),
        "pending": service.pending_changes(session=session, workspace=workspace, slug=slug),
        "history": service.service_history(session=session, repo_path=ctx.repo_path, slug=slug),
        "yaml": index.read_service_text(repo_path=ctx.repo_path, slug=slug) or "",
        "stale_errors": index.stale_errors(session=session, file=row.file),
        "plugin_panels": panels.render_panels(session=session, page=PanelPage.SERVICE, subject=slug),
        "dashboards": dashboards,
    }, nav="services")
    return grafana_frames(response, dashboards, ctx.settings.grafana_origins)


@pages.get("/endpoints", response_class=HTMLResponse)
def endpoints_page(request: Request, session: SessionDep, user: CurrentUser, q: str | None = None,
                   service_slug: Annotated[str | None, Query(alias="service")] = None, type: str | None = None,
                   cursor: str | None = None) -> Response:
    rows, next_cursor = index.list_endpoints(session=session, q=q or None, service=service_slug or None,
                                             type=type or None, limit=50, cursor=cursor or None)
    filters = {k: v for k, v in {"q": q, "service": service_slug, "type": type}.items() if v}
    return render(request, "catalog/endpoints.html", {
        "rows": rows, "filters": filters, "next_cursor": next_cursor, "types": [t.value for t in EndpointType],
        "live": monitoring.live_status(session=session, slugs=[r.slug for r in rows]),
        "now": monitoring.utcnow(),
    }, nav="endpoints")


@pages.get("/endpoints/{slug}")
def endpoint_page(session: SessionDep, user: CurrentUser, slug: str) -> Response:
    """One endpoint has one page (declaration and monitoring together), under /monitoring."""
    index.get_endpoint(session=session, slug=slug)
    return RedirectResponse(f"/monitoring/endpoints/{quote(slug, safe='')}", status_code=307)


@pages.get("/catalog/graph", response_class=HTMLResponse)
def graph_page(request: Request, user: CurrentUser, center: str | None = None, tag: str | None = None,
               host: str | None = None, depth: int = 2) -> Response:
    return render(request, "catalog/graph.html", {"center": center or "", "tag": tag or "", "host": host or "",
                                                   "depth": depth}, nav="services")

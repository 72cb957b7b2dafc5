"""Catalog pages and JSON API: services, endpoints, problems, graph, schema, changes, standard changes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.catalog import graph, index, service
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
from calcifer.catalog.yamlio import dump_yaml, load_plain
from calcifer.deps import CtxDep, CurrentUser, RequireEditor, SessionDep, SettingsDep
from calcifer.errors import DomainError, Invalid
from calcifer.monitoring import queries as monitoring
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.work import service as work_service
from calcifer.work.choices import WorkAction
from calcifer.work.routes import WorkspaceDep
from calcifer.work.routes import public as work_public
from calcifer.work.schemas import WorkItemCreate, WorkItemPublic

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
    return render(request, "catalog/service.html", {
        "svc": row, "endpoints": endpoints, "now": monitoring.utcnow(),
        "live": monitoring.live_status(session=session, slugs=[e.slug for e in endpoints]),
        "host_chain": graph.host_chain(session, slug),
        "upstream": graph.upstream(session, slug), "downstream": graph.downstream(session, slug),
        "impact": graph.impact(session, slug),
        "pending": service.pending_changes(session=session, workspace=workspace, slug=slug),
        "history": service.service_history(session=session, repo_path=ctx.repo_path, slug=slug),
        "yaml": index.read_service_text(repo_path=ctx.repo_path, slug=slug) or "",
        "stale_errors": index.stale_errors(session=session, file=row.file),
    }, nav="services")


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


# -- editing (a YAML form, written through a work item or a standard change) ------------------------------------

def _edit_context(session: SessionDep, kind: str, slug: str, text: str, error: str = "",
                  details: Any = None, target: str = "new", summary: str = "") -> dict[str, Any]:
    return {"kind": kind, "slug": slug, "text": text, "error": error, "details": details or [],
            "target": target, "summary": summary,
            "items": work_service.open_work_items(session=session),
            "standard_enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED)}


def _template_spec(kind: str, slug: str) -> str:
    if kind == "service":
        return (f"name: {slug or 'My service'}\nslug: {slug or 'my-service'}\nkind: container\n"
                "description: What it does and who uses it.\nhost: \nstatus: active\nports:\n"
                "  - number: 80\n    protocol: tcp\n    purpose: web\ntags: []\ndepends_on: []\n")
    return (f"name: {slug or 'My endpoint'}\nslug: {slug or 'my-endpoint'}\nservice: \ntype: http\n"
            "target: https://example.internal/health\ninterval: 60\ntimeout: 10\n")


@pages.get("/catalog/edit/{kind}", response_class=HTMLResponse)
def edit_page(request: Request, session: SessionDep, user: RequireEditor, ctx: CtxDep, kind: str,
              slug: str = "", target: str = "") -> Response:
    if kind not in ("service", "endpoint"):
        raise Invalid("Edit a service or an endpoint.")
    reader = index.read_service_text if kind == "service" else index.read_endpoint_text
    text = (reader(repo_path=ctx.repo_path, slug=slug) if slug else None)
    if text is None and slug and kind == "endpoint":
        text = dump_yaml(index.get_endpoint(session=session, slug=slug).spec)
    return render(request, "catalog/edit.html",
                  _edit_context(session, kind, slug, text or _template_spec(kind, slug),
                                target="standard" if target == "standard" else "new"), nav="services")


@pages.post("/catalog/edit/{kind}", response_class=HTMLResponse)
def edit_submit(
    request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
    kind: str, text: Annotated[str, Form()] = "", target: Annotated[str, Form()] = "new",
    summary: Annotated[str, Form()] = "", operation: Annotated[str, Form()] = "save",
    original_slug: Annotated[str, Form()] = "",
) -> Response:
    if kind not in ("service", "endpoint"):
        raise Invalid("Edit a service or an endpoint.")
    text = text.replace("\r\n", "\n")
    try:
        spec = load_plain(text) if operation != "delete" else {}
        if operation != "delete" and not isinstance(spec, dict):
            raise Invalid("The YAML must be a mapping of fields (name: ..., slug: ...).")
        slug = str((spec or {}).get("slug") or original_slug or "").strip()
        if not slug:
            raise Invalid("Give the spec a slug (lowercase letters, digits and dashes).")
        if operation != "delete":  # validate before any work item is started: nothing half-done
            (service.validate_service if kind == "service" else service.validate_endpoint)(slug=slug, spec=spec)
        if target == "standard":
            exists = bool(original_slug)
            op = "delete" if operation == "delete" else ("update" if exists else "create")
            item = service.apply_standard_change(session=session, actor=user, operation=op, kind=kind, slug=slug,
                                                 spec=spec, summary=summary, workspace=workspace,
                                                 categories=settings.work_categories)
            flash(request, "success", f"Standard change applied: work item #{item.id} merged as "
                                      f"{(item.merge_commit or '')[:10]}.")
            return RedirectResponse(f"/{'services' if kind == 'service' else 'endpoints'}/{slug}"
                                    if op != "delete" else f"/work/{item.id}", status_code=303)
        if target == "new":
            action = WorkAction.REMOVE if operation == "delete" else (
                WorkAction.CHANGE if original_slug else WorkAction.NEW)
            title = summary.strip() or f"{action.value.capitalize()} {kind} {slug}"
            new_item = work_service.create_work_item(
                session=session, actor=user, workspace=workspace, categories=settings.work_categories,
                data=WorkItemCreate(title=title[:200], category="service" if "service" in settings.work_categories
                                    else settings.work_categories[0], action=action,
                                    service=slug if kind == "service" else None))
            item_id = new_item.id
        else:
            item_id = int(target)
        if operation == "delete":
            remover = service.delete_service if kind == "service" else service.delete_endpoint
            remover(session=session, actor=user, item_id=item_id, slug=slug, workspace=workspace)
        else:
            writer = service.put_service if kind == "service" else service.put_endpoint
            writer(session=session, actor=user, item_id=item_id, slug=slug, spec=spec, workspace=workspace,
                   text=text if text.endswith("\n") else text + "\n")
    except (DomainError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else "Choose a work item."
        details = exc.details if isinstance(exc, DomainError) else None
        return render(request, "catalog/edit.html",
                      _edit_context(session, kind, original_slug, text, message,
                                    details if isinstance(details, list) else None, target, summary),
                      status_code=getattr(exc, "status_code", 422), nav="services")
    flash(request, "success", f"Committed to work item #{item_id}; it goes live when the work item merges.")
    return RedirectResponse(f"/work/{item_id}", status_code=303)

"""Probes: the registry (admins: API and Settings → Probes) and the probe-facing API (probe tokens).

The probe-facing paths (``/api/v1/probes/assignments``, ``/results``, ``/heartbeat``) are reached without a
user: the middleware lets them through and each route authenticates the probe's own token, sent as
``Authorization: Probe <token>``.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.deps import CtxDep, RequireAdmin, RequireViewer, SessionDep
from calcifer.errors import DomainError
from calcifer.listing import MAX_LIMIT
from calcifer.monitoring import locations, probes
from calcifer.monitoring.models.probes import MonitorProbe
from calcifer.monitoring.probe_schemas import (
    AssignmentsPublic,
    EndpointLocationsPublic,
    IngestPublic,
    ProbeAckPublic,
    ProbeBatchIn,
    ProbeCreate,
    ProbeDeletedPublic,
    ProbeListPublic,
    ProbePublic,
    ProbeStatusIn,
    ProbeUpdate,
    ProbeWithTokenPublic,
)
from calcifer.web.security import flash
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["probes"])
# The probe-facing routes: registered before ``/probes/{name}`` so their words never read as a name.
probe_api = APIRouter(prefix="/api/v1", tags=["probes"])
PROBE_PATHS = ("/api/v1/probes/assignments", "/api/v1/probes/results", "/api/v1/probes/heartbeat")


def _public(probe: MonitorProbe, token: str | None = None) -> dict[str, Any]:
    data = ProbePublic(name=probe.name, location=probe.location, description=probe.description,
                       online=probe.online, has_token=probe.token_hash is not None, created_at=probe.created_at,
                       last_seen_at=probe.last_seen_at, version=probe.version, clock_offset_ms=probe.clock_offset_ms,
                       queue_length=probe.queue_length, checks_per_second=probe.checks_per_second,
                       dropped=probe.dropped, results_total=probe.results_total).model_dump(mode="json")
    if token is not None:
        data["token"] = token
    return data


def _probe_token(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == "probe" and value.strip() else None


def _beat(body: ProbeStatusIn) -> probes.Heartbeat:
    return probes.Heartbeat(version=body.version, clock=body.clock, queue_length=body.queue_length,
                            checks_per_second=body.checks_per_second, dropped=body.dropped)


AuthHeader = Annotated[str | None, Header(description="Probe <token>")]


def current_probe(session: SessionDep, authorization: AuthHeader = None) -> MonitorProbe:
    """The probe whose token the request carries (a dependency: refused before the body is looked at)."""
    return probes.authenticate(session, _probe_token(authorization))


ProbeDep = Annotated[MonitorProbe, Depends(current_probe)]


# -- probe-facing -------------------------------------------------------------------------------------


@probe_api.get("/probes/assignments", response_model=AssignmentsPublic,
               responses={304: {"description": "The schedule is unchanged (If-None-Match)."}})
def get_assignments(session: SessionDep, probe: ProbeDep,
                    if_none_match: Annotated[str | None, Header()] = None) -> Any:
    """The endpoints this probe checks (those whose `locations` include its location). Send the ETag back as
    `If-None-Match`: an unchanged schedule answers 304 with no body."""
    probes.seen(session, probe, probes.Heartbeat())
    session.commit()
    etag, items = probes.assignments(session, probe)
    quoted = f'"{etag}"'
    if if_none_match is not None and quoted in [part.strip() for part in if_none_match.split(",")]:
        return Response(status_code=304, headers={"ETag": quoted})
    body = AssignmentsPublic(probe=probe.name, location=probe.location, etag=etag, endpoints=items)  # type: ignore[arg-type]
    return Response(content=body.model_dump_json(), media_type="application/json", headers={"ETag": quoted})


@probe_api.post("/probes/results", response_model=IngestPublic)
def post_results(batch: ProbeBatchIn, session: SessionDep, probe: ProbeDep) -> dict[str, int]:
    """A batch of this probe's results (at most 5,000). Results whose sequence number is stored already are
    acknowledged and skipped (`duplicates`); a result for an endpoint not assigned to this probe, or naming
    another location, refuses the whole batch (nothing stored)."""
    outcome = probes.ingest(session, probe, results=cast(list[dict[str, Any]], batch.results), location=batch.location,
                            beat=_beat(batch), pending=locations.pending_for(session))
    return {"accepted": outcome.accepted, "stored": outcome.stored, "duplicates": outcome.duplicates,
            "changes": outcome.changes}


@probe_api.post("/probes/heartbeat", response_model=ProbeAckPublic)
def post_heartbeat(body: ProbeStatusIn, session: SessionDep, probe: ProbeDep) -> dict[str, bool]:
    """The probe is alive (and how it is doing) even when it has no result to send."""
    probes.seen(session, probe, _beat(body))
    session.commit()
    return {"ok": True}


# -- the registry (admins) ----------------------------------------------------------------------------


@api.post("/probes", response_model=ProbeWithTokenPublic, status_code=201)
def create(body: ProbeCreate, session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    """Register a probe; the answer holds its `token`, shown this once."""
    probe, token = probes.create_probe(session, name=body.name, location=body.location, description=body.description)
    return _public(probe, token)


@api.get("/probes", response_model=ProbeListPublic)
def list_all(session: SessionDep, user: RequireAdmin,
             limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
             cursor: Annotated[str | None, Query(max_length=500)] = None) -> dict[str, Any]:
    rows, next_cursor = probes.list_probes(session, limit=limit, cursor=cursor)
    return {"items": [_public(p) for p in rows], "next_cursor": next_cursor}


@api.get("/probes/{name}", response_model=ProbePublic)
def get_one(name: str, session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    return _public(probes.get_probe(session, name=name))


@api.patch("/probes/{name}", response_model=ProbePublic)
def patch(name: str, body: ProbeUpdate, session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    return _public(probes.update_probe(session, name=name, location=body.location, description=body.description))


@api.delete("/probes/{name}", response_model=ProbeDeletedPublic)
def remove(name: str, session: SessionDep, user: RequireAdmin) -> dict[str, str]:
    probes.delete_probe(session, name=name)
    return {"deleted": name}


@api.post("/probes/{name}/token", response_model=ProbeWithTokenPublic)
def rotate(name: str, session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    """A new token (the old one stops working at once); shown this once."""
    probe, token = probes.rotate_token(session, name=name)
    return _public(probe, token)


@api.delete("/probes/{name}/token", response_model=ProbePublic)
def revoke(name: str, session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    """Revoke the probe's token: its calls are refused until a new one is given (rotate)."""
    return _public(probes.revoke_token(session, name=name))


@api.get("/monitoring/endpoints/{slug}/locations", response_model=EndpointLocationsPublic)
def endpoint_locations(slug: str, session: SessionDep, user: RequireViewer) -> dict[str, Any]:
    """A row per location the endpoint's file names: status, latency, last check, whether it counts in the
    verdict now. An endpoint checked by the server alone answers no rows."""
    plan = locations.current_plan(session)
    planned = plan.endpoints.get(slug)
    return {"slug": slug, "rule": planned.rule if planned else None,
            "locations": locations.location_status(session, slug=slug)}


# -- Settings → Probes --------------------------------------------------------------------------------


def _page(request: Request, session: Any, ctx: Any, *, token: tuple[str, str] | None = None,
          error: str | None = None, status_code: int = 200) -> Response:
    rows, _ = probes.list_probes(session, limit=MAX_LIMIT)
    response = render(request, "monitoring/probes.html", {
        "probes": rows, "events": probes.recent_events(session, limit=20), "new_token": token, "error": error,
        "offline_after": ctx.settings.probe_offline_seconds, "server_url": str(request.base_url).rstrip("/"),
    }, nav="settings")
    response.status_code = status_code
    return response


@pages.get("/settings/probes", response_class=HTMLResponse)
def probes_page(request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin) -> Response:
    return _page(request, session, ctx)


@pages.post("/settings/probes", response_class=HTMLResponse)
def probes_create(request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin,
                  name: Annotated[str, Form(max_length=63)] = "",
                  location: Annotated[str, Form(max_length=63)] = "",
                  description: Annotated[str, Form(max_length=500)] = "") -> Response:
    try:
        probe, token = probes.create_probe(session, name=name, location=location, description=description)
    except DomainError as exc:
        return _page(request, session, ctx, error=exc.message, status_code=exc.status_code)
    return _page(request, session, ctx, token=(probe.name, token))


@pages.post("/settings/probes/{name}/rotate", response_class=HTMLResponse)
def probes_rotate(name: str, request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin) -> Response:
    probe, token = probes.rotate_token(session, name=name)
    return _page(request, session, ctx, token=(probe.name, token))


@pages.post("/settings/probes/{name}/revoke")
def probes_revoke(name: str, request: Request, session: SessionDep, user: RequireAdmin) -> Response:
    probes.revoke_token(session, name=name)
    response = RedirectResponse("/settings/probes", status_code=303)
    flash(request, "success", f"The token of probe {name} is revoked.")
    return response


@pages.post("/settings/probes/{name}/delete")
def probes_delete(name: str, request: Request, session: SessionDep, user: RequireAdmin) -> Response:
    probes.delete_probe(session, name=name)
    response = RedirectResponse("/settings/probes", status_code=303)
    flash(request, "success", f"Probe {name} is deleted.")
    return response

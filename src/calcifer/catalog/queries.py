"""The catalog index as other slices read it: typed records, never the ``catalog_*`` rows themselves.

A declared read model (docs/architecture.md, "Reading another slice's data"): search builds its rows
of services and endpoints from here, the docs index finds services' links to doc pages, the Uptime
Kuma import and the dashboard's getting-started list ask what exists. Each function is one query
however many rows it is asked about; callers that work on thousands of rows ask in chunks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from calcifer.catalog.choices import ServiceKind
from calcifer.catalog.models import CatalogEndpoint, CatalogService

# Catalog entries of these kinds are machines other services run on (a service's ``host:`` names one).
HOST_KINDS = (ServiceKind.VM.value, ServiceKind.LXC.value, ServiceKind.BARE_METAL.value)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The file an indexed service or endpoint was read from, and its blob id on main: the two change
    exactly when what the index holds of that entry can."""

    blob_id: str
    file: str


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    slug: str
    name: str
    kind: str
    host: str | None
    status: str
    description: str
    owner: str | None
    tags: tuple[str, ...]
    depends_on: tuple[str, ...]
    spec: dict[str, Any]  # the file's mapping as validated (plain JSON values)
    file: str


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    slug: str
    name: str
    service: str | None
    type: str
    target: str | None
    port: int | None
    file: str


@dataclass(frozen=True, slots=True)
class Inventory:
    """Whether the catalog holds any host, other service and endpoint yet."""

    has_host: bool
    has_service: bool
    has_endpoint: bool


def _model(endpoints: bool) -> Any:
    return CatalogEndpoint if endpoints else CatalogService


def source_files(*, session: Session, endpoints: bool = False,
                 slugs: Collection[str] | None = None) -> dict[str, SourceFile]:
    """``{slug: SourceFile}`` of every indexed service (``endpoints``: endpoint), or of those among
    ``slugs`` that are indexed."""
    model = _model(endpoints)
    query = select(model.slug, model.blob_id, model.file)
    if slugs is not None:
        if not slugs:
            return {}
        query = query.where(model.slug.in_(sorted(slugs)))
    return {str(slug): SourceFile(str(blob_id), str(file)) for slug, blob_id, file in session.execute(query)}


def service_records(*, session: Session, slugs: Collection[str]) -> list[ServiceRecord]:
    """The indexed services among ``slugs`` (unknown slugs are left out), in no particular order."""
    if not slugs:
        return []
    rows = session.scalars(select(CatalogService).where(CatalogService.slug.in_(sorted(slugs))))
    return [ServiceRecord(slug=s.slug, name=s.name, kind=s.kind, host=s.host, status=s.status,
                          description=s.description, owner=s.owner, tags=tuple(s.tags or ()),
                          depends_on=tuple(s.depends_on or ()), spec=s.spec if isinstance(s.spec, dict) else {},
                          file=s.file)
            for s in rows]


def endpoint_records(*, session: Session, slugs: Collection[str]) -> list[EndpointRecord]:
    """The indexed endpoints among ``slugs`` (unknown slugs are left out), in no particular order."""
    if not slugs:
        return []
    rows = session.execute(select(CatalogEndpoint.slug, CatalogEndpoint.name, CatalogEndpoint.service,
                                  CatalogEndpoint.type, CatalogEndpoint.target, CatalogEndpoint.port,
                                  CatalogEndpoint.file).where(CatalogEndpoint.slug.in_(sorted(slugs))))
    return [EndpointRecord(*row) for row in rows]


def endpoint_slugs(*, session: Session, endpoint_type: str | None = None, enabled: bool | None = None) -> set[str]:
    """The slugs of every indexed endpoint, or of those of ``endpoint_type`` and/or ``enabled`` as asked."""
    query = select(CatalogEndpoint.slug)
    if endpoint_type is not None:
        query = query.where(CatalogEndpoint.type == endpoint_type)
    if enabled is not None:
        query = query.where(CatalogEndpoint.enabled.is_(enabled))
    return set(session.scalars(query))


def specs_mentioning(*, session: Session, fragment: str) -> list[tuple[str, dict[str, Any]]]:
    """``(slug, spec)`` of the services whose spec holds ``fragment`` somewhere in its text: one scan
    of the index, reading only the services that can matter (the docs index asks for ``/docs/view/``)."""
    mentions = cast(CatalogService.spec, String).contains(fragment, autoescape=True)
    return [(str(slug), spec if isinstance(spec, dict) else {})
            for slug, spec in session.execute(select(CatalogService.slug, CatalogService.spec).where(mentions))]


def endpoints_from_kuma(*, session: Session) -> dict[int, tuple[str, dict[str, Any]]]:
    """``{Kuma monitor id: (slug, spec)}`` of the indexed endpoints whose file names an Uptime Kuma monitor
    (``kuma: {monitor: ...}``, written by the Kuma import): what a second import updates."""
    linked = cast(CatalogEndpoint.spec, String).contains('"kuma"', autoescape=True)
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for slug, spec in session.execute(select(CatalogEndpoint.slug, CatalogEndpoint.spec).where(linked)):
        link = spec.get("kuma") if isinstance(spec, dict) else None
        if isinstance(link, dict) and isinstance(link.get("monitor"), int):
            found[link["monitor"]] = (str(slug), spec)
    return found


def inventory(*, session: Session) -> Inventory:
    """What the catalog holds yet, in one query of three EXISTS."""
    has_host = select(CatalogService.id).where(CatalogService.kind.in_(HOST_KINDS)).exists()
    has_service = select(CatalogService.id).where(CatalogService.kind.not_in(HOST_KINDS)).exists()
    has_endpoint = select(CatalogEndpoint.slug).exists()
    host, service, endpoint = session.execute(select(has_host, has_service, has_endpoint)).one()
    return Inventory(bool(host), bool(service), bool(endpoint))

"""The dashboard's getting-started list: what an empty instance still needs, each step ticking itself
once the thing it asks for exists (read from the catalog, docs and users tables in one query)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calcifer.auth.models import User
from calcifer.catalog.choices import ServiceKind
from calcifer.catalog.models import CatalogEndpoint, CatalogService
from calcifer.docs.models import DocPage

# Catalog entries of these kinds are machines other services run on (a service's ``host:`` names one).
HOST_KINDS = (ServiceKind.VM.value, ServiceKind.LXC.value, ServiceKind.BARE_METAL.value)


@dataclass(frozen=True, slots=True)
class Step:
    """One getting-started item: ``key`` names it in the page (``data-step``), ``done`` ticks it."""

    key: str
    title: str
    hint: str
    href: str
    action: str
    done: bool


def checklist(*, session: Session) -> list[Step]:
    """The getting-started steps in the order a new instance takes them, each with whether it is done.
    One query: a handful of EXISTS/COUNT sub-selects, so the dashboard's cost does not grow with it."""
    has_host = select(CatalogService.id).where(CatalogService.kind.in_(HOST_KINDS)).exists()
    has_service = select(CatalogService.id).where(CatalogService.kind.not_in(HOST_KINDS)).exists()
    has_endpoint = select(CatalogEndpoint.slug).exists()
    has_doc = select(DocPage.path).where(DocPage.is_template.is_(False)).exists()
    users = select(func.count()).select_from(User).where(User.is_active.is_(True)).scalar_subquery()
    host, service, endpoint, doc, active_users = session.execute(
        select(has_host, has_service, has_endpoint, has_doc, users)).one()
    return [
        Step("host", "Add a host", "The machine your services run on: a catalog entry of kind vm, lxc or bare_metal.",
             "/catalog/edit/service", "Add a host", bool(host)),
        Step("service", "Add a service",
             "Write one by hand, or discover them from docker compose files: Calcifer reads the compose files "
             "on main and those in the folders of the compose_dirs setting (Settings → Preferences).",
             "/catalog/discovery", "Discover from compose files", bool(service)),
        Step("endpoint", "Add an endpoint", "A URL or port monitoring checks, so the dashboard can say when "
             "it is down.", "/catalog/edit/endpoint", "Add an endpoint", bool(endpoint)),
        Step("doc", "Write a first doc", "A runbook or a how-to, kept as markdown in the repository.",
             "/docs/new", "Write a doc", bool(doc)),
        Step("user", "Invite a user", "Give your team an account: viewers read, editors change things.",
             "/settings/users", "Invite a user", int(active_users or 0) > 1),
    ]

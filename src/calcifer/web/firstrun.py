"""The dashboard's getting-started list: what an empty instance still needs, each step ticking itself
once the thing it asks for exists (asked of the catalog, docs and auth slices: three small queries)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from calcifer.auth import service as auth_service
from calcifer.catalog import queries as catalog_queries
from calcifer.docs import views as docs_views


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
    Each answer is an EXISTS or a COUNT, so the dashboard's cost does not grow with the instance."""
    catalog = catalog_queries.inventory(session=session)
    host, service, endpoint = catalog.has_host, catalog.has_service, catalog.has_endpoint
    doc = docs_views.has_docs(session=session)
    active_users = auth_service.count_active_users(session=session)
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

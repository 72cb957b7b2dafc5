"""An empty instance's dashboard is a getting-started list whose steps tick themselves when done."""

from __future__ import annotations

import re

from sqlalchemy import select

from calcifer.auth.choices import Role
from calcifer.catalog.models import CatalogService
from calcifer.docs.models import DocPage
from calcifer.web.context import AppContext
from tests.conftest import api_client, make_token, make_user
from tests.monitoring.factories import make_endpoint, make_service


def _steps(page: str) -> dict[str, bool]:
    return {key: done == "true" for key, done in re.findall(r'data-step="(\w+)" data-done="(true|false)"', page)}


def test_a_fresh_instance_shows_every_getting_started_step_undone_with_a_way_to_do_it(app, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    page = api_client(app, make_token(ctx, "alice")).get("/").text
    assert 'id="getting-started"' in page and "0 of 5 done" in page
    assert _steps(page) == {"host": False, "service": False, "endpoint": False, "doc": False, "user": False}
    for href in ("/catalog/discovery", "/catalog/edit/endpoint", "/docs/new", "/settings/users"):
        assert f'href="{href}"' in page
    assert "compose_dirs" in page   # the discovery step says where compose files are read from


def test_each_step_ticks_itself_when_done_and_the_list_goes_once_all_are(app, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    admin = api_client(app, make_token(ctx, "alice"))
    with ctx.session_factory() as session:
        make_endpoint(session, "shop-web")
        session.commit()
    assert _steps(admin.get("/").text) == {"host": False, "service": False, "endpoint": True, "doc": False,
                                           "user": False}
    with ctx.session_factory() as session:
        make_service(session, "shop")   # a container: a service, not a host
        session.add(DocPage(path="docs/runbook.md", title="Runbook", blob_id="0" * 40, is_template=False))
        session.commit()
    make_user(ctx, "eddie", Role.EDITOR)
    page = admin.get("/").text
    assert _steps(page) == {"host": False, "service": True, "endpoint": True, "doc": True, "user": True}
    assert "4 of 5 done" in page
    with ctx.session_factory() as session:
        host = make_service(session, "pve-1")
        session.get(CatalogService, host.id).kind = "vm"  # type: ignore[union-attr]
        session.commit()
    page = admin.get("/").text   # every step done: the list makes way for the dashboard
    assert 'id="getting-started"' not in page and "Work in progress" in page


def test_the_seeded_doc_templates_do_not_count_as_a_first_doc(app, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    page = api_client(app, make_token(ctx, "alice")).get("/").text
    with ctx.session_factory() as session:
        templates = session.scalars(select(DocPage.path).where(DocPage.is_template.is_(True))).all()
    assert templates and _steps(page)["doc"] is False

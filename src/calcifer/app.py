"""FastAPI app factory: prepares the data directory and mounts each slice's routers."""

from __future__ import annotations

import gc
import logging

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

import calcifer.monitoring.runner  # noqa: F401
from calcifer import __version__, background
from calcifer.audit import routes as audit_routes
from calcifer.auth import routes as auth_routes
from calcifer.backup import routes as backup_routes
from calcifer.catalog import discovery_routes
from calcifer.catalog import routes as catalog_routes
from calcifer.config import Settings
from calcifer.db import ensure_schema, make_engine, make_session_factory, upgrade_database
from calcifer.deps import bounded_path_ids, verify_csrf
from calcifer.docs import edit_routes as docs_edit_routes
from calcifer.docs import routes as docs_routes
from calcifer.monitoring import incident_routes, push_routes, status_routes
from calcifer.monitoring import routes as monitoring_routes
from calcifer.notify import routes as notify_routes
from calcifer.prefs import routes as prefs_routes
from calcifer.search import routes as search_routes
from calcifer.web import errors as web_errors
from calcifer.web import middleware
from calcifer.web import routes as web_routes
from calcifer.web.api import ERROR_RESPONSES
from calcifer.web.apidocs import install as install_api_docs
from calcifer.web.context import AppContext
from calcifer.web.templating import STATIC_DIR
from calcifer.work import review_routes
from calcifer.work import routes as work_routes
from calcifer.work import service as work_service

log = logging.getLogger("calcifer")

# Every slice's routers, in mounting order (tests enumerate their routes from here).
ROUTERS = (web_routes.pages, web_routes.api, auth_routes.pages, auth_routes.api, audit_routes.pages,
           audit_routes.api, prefs_routes.pages, prefs_routes.api, work_routes.pages, work_routes.api,
           catalog_routes.pages, catalog_routes.api, catalog_routes.schema_api, discovery_routes.pages,
           discovery_routes.api, docs_routes.pages, docs_routes.api,
           docs_edit_routes.pages, docs_edit_routes.api, search_routes.pages, search_routes.api,
           review_routes.pages, review_routes.api, monitoring_routes.pages, monitoring_routes.api,
           status_routes.pages, status_routes.api, push_routes.pages, push_routes.api, incident_routes.pages,
           incident_routes.api, notify_routes.pages, notify_routes.api, backup_routes.pages, backup_routes.api)


def prepare(settings: Settings, *, reconcile: bool = True) -> AppContext:
    """Initialise the data directory: secret key, database (migrated), managed repository.

    Safe to run any number of times; existing data is never overwritten.
    """
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    settings.worktrees_dir.mkdir(parents=True, exist_ok=True)
    secret_key = settings.secret_key
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    ensure_schema(engine, settings.database_schema)
    upgrade_database(engine)
    ctx = AppContext(settings=settings, engine=engine, session_factory=make_session_factory(engine),
                     repo_path=settings.resolved_repo_path, secret_key=secret_key)
    if work_service.ensure_repository(repo_path=ctx.repo_path):
        log.info("created the managed repository at %s", ctx.repo_path)
    if reconcile:
        with ctx.session_factory() as session:
            for repair in work_service.reconcile(session=session, repo_path=ctx.repo_path,
                                                 worktrees_dir=settings.worktrees_dir):
                log.warning("reconciliation: %s", repair)
            # The indexes of main (catalog, docs, search) catch up with it through the same hooks a
            # merge runs; each is a no-op when already at main's commit.
            work_service.notify_main_changed(session=session, repo_path=ctx.repo_path)
    # What start-up loaded (indexes, caches, modules) lives as long as the process: moving it out of the
    # collector's generations keeps full collections (50-290 ms pauses measured in a merge) short.
    gc.freeze()
    return ctx


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    if ctx is None:
        ctx = prepare(settings or Settings())
    app = FastAPI(
        title="Calcifer",
        version=__version__,
        description="Work items bound to git, service catalog, docs and monitoring. "
                    "Authenticate with `Authorization: Bearer <token>` (create one under Settings → API "
                    "tokens, or `calcifer token create`).",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
        dependencies=[Depends(verify_csrf), Depends(bounded_path_ids)],
        lifespan=background.lifespan,  # scheduler, notifier, scheduled backups
    )
    app.state.ctx = ctx
    middleware.install(app)
    web_errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_api_docs(app)
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    return app

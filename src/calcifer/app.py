"""FastAPI app factory: wires the process, prepares the instance (``calcifer.wiring.prepare``) and mounts
each slice's routers."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from calcifer import __version__, background
from calcifer.audit import routes as audit_routes
from calcifer.auth import account as account_routes
from calcifer.auth import routes as auth_routes
from calcifer.auth import sso_routes
from calcifer.backup import routes as backup_routes
from calcifer.catalog import discovery_routes, edit_routes
from calcifer.catalog import routes as catalog_routes
from calcifer.changelog import routes as changelog_routes
from calcifer.config import Settings
from calcifer.deps import bounded_path_ids, reject_unstorable_json, verify_csrf
from calcifer.discussion import routes as discussion_routes
from calcifer.docs import edit_routes as docs_edit_routes
from calcifer.docs import routes as docs_routes
from calcifer.history import routes as history_routes
from calcifer.inbox import routes as inbox_routes
from calcifer.instance import AppContext
from calcifer.monitoring import incident_routes, probe_routes, push_routes, status_routes
from calcifer.monitoring import routes as monitoring_routes
from calcifer.notify import routes as notify_routes
from calcifer.plugins import routes as plugin_routes
from calcifer.prefs import routes as prefs_routes
from calcifer.pulls import routes as pull_routes
from calcifer.remote import routes as remote_routes
from calcifer.search import routes as search_routes
from calcifer.web import errors as web_errors
from calcifer.web import headers as web_headers
from calcifer.web import limits, middleware
from calcifer.web import routes as web_routes
from calcifer.web.api import ERROR_RESPONSES
from calcifer.web.apidocs import install as install_api_docs
from calcifer.web.templating import STATIC_DIR
from calcifer.webhooks import routes as webhook_routes
from calcifer.wiring import prepare, wire
from calcifer.work import conflict_routes, review_routes
from calcifer.work import routes as work_routes

log = logging.getLogger("calcifer")

__all__ = ["ROUTERS", "create_app", "prepare"]

# Every slice's routers, in mounting order (tests enumerate their routes from here).
ROUTERS = (web_routes.pages, web_routes.api, auth_routes.pages, auth_routes.api, sso_routes.pages, sso_routes.api,
           account_routes.pages,
           audit_routes.pages, audit_routes.api, prefs_routes.pages, prefs_routes.api, work_routes.pages,
           work_routes.api, catalog_routes.pages, catalog_routes.api, catalog_routes.schema_api,
           edit_routes.pages, edit_routes.api, discovery_routes.pages,
           discovery_routes.api, discussion_routes.pages, discussion_routes.api, inbox_routes.pages, inbox_routes.api,
           docs_routes.pages, docs_routes.api, changelog_routes.pages, changelog_routes.api,
           docs_edit_routes.pages, docs_edit_routes.api, history_routes.pages, history_routes.api,
           search_routes.pages, search_routes.api,
           review_routes.pages, review_routes.api, conflict_routes.pages, conflict_routes.api,
           monitoring_routes.pages, monitoring_routes.api,
           status_routes.pages, status_routes.api, push_routes.pages, push_routes.api, incident_routes.pages,
           incident_routes.api, probe_routes.probe_api, probe_routes.api, probe_routes.pages,
           notify_routes.pages, notify_routes.api, backup_routes.pages, backup_routes.api,
           remote_routes.pages, remote_routes.api, pull_routes.pages, pull_routes.api, webhook_routes.pages,
           webhook_routes.api, plugin_routes.pages, plugin_routes.api)


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    if ctx is None:
        ctx = prepare(settings or Settings())
    else:
        wire()
    app = FastAPI(
        title="Calcifer",
        version=__version__,
        description="Work items bound to git, service catalog, docs and monitoring. "
                    "Authenticate with `Authorization: Bearer <token>` (create one under Settings → API "
                    "tokens, or `calcifer token create`).",
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
        dependencies=[Depends(verify_csrf), Depends(reject_unstorable_json), Depends(bounded_path_ids)],
        lifespan=background.lifespan,  # scheduler, notifier, scheduled backups
    )
    app.state.ctx = ctx
    limits.install(app)
    middleware.install(app)
    web_errors.install(app)
    web_headers.install(app)  # CSP and the other security headers, on every response
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_api_docs(app)
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    return app

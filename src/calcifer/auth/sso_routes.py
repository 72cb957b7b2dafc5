"""Single sign-on pages: "Sign in with <provider>" (``/login/oidc``), the provider's callback
(``/login/oidc/callback``, public by nature: the provider sends the browser there before anyone is logged in)
and the admin's settings (``/settings/sso``, and ``/api/v1/settings/sso`` in the JSON API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from calcifer.auth import oidc, sso
from calcifer.auth.choices import AuthSource, ProviderKind, Role
from calcifer.auth.routes import first_factor_passed, form_errors, login_page, safe_next
from calcifer.auth.schemas import (
    LdapConfig,
    LdapSettingsPublic,
    OidcConfig,
    OidcSettingsPublic,
    SsoSettingsPublic,
    SsoSettingsUpdate,
    group_roles_text,
    parse_group_roles,
)
from calcifer.deps import RemoteAddr, RequireAdmin, SessionDep, SettingsDep
from calcifer.errors import Invalid, NotAuthenticated, NotFound, Unavailable
from calcifer.web.security import delete_cookie, flash, get_cookie, set_cookie
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["single sign-on"])
OIDC_COOKIE = "calcifer_oidc"
CALLBACK_PATH = "/login/oidc/callback"


def redirect_uri(request: Request) -> str:
    """The callback URL to register at the provider (as this request reached Calcifer)."""
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


@pages.get("/login/oidc")
def oidc_start(request: Request, session: SessionDep, settings: SettingsDep, next: str | None = None) -> Response:
    config = sso.oidc_config(session=session)
    if config is None:
        raise NotFound("Single sign-on is not set up on this Calcifer.")
    try:
        started = oidc.start(config=config, redirect_uri=redirect_uri(request), next_url=safe_next(next),
                             client_secret=sso.provider_secret(session=session, kind=ProviderKind.OIDC,
                                                               secret_key=settings.secret_key),
                             secret_key=settings.secret_key)
    except (Invalid, Unavailable) as exc:
        return login_page(request, session, next_url=safe_next(next), error=exc.message,
                          status_code=exc.status_code)
    response = RedirectResponse(started.url, status_code=303)
    # SameSite=Lax (set_cookie): the provider's redirect back is a top-level GET, so the cookie comes along.
    set_cookie(request, response, OIDC_COOKIE, started.pending, max_age=oidc.PENDING_MINUTES * 60)
    return response


@pages.get(CALLBACK_PATH)
def oidc_callback(request: Request, session: SessionDep, settings: SettingsDep, addr: RemoteAddr) -> Response:
    config = sso.oidc_config(session=session)
    if config is None:
        raise NotFound("Single sign-on is not set up on this Calcifer.")
    next_url = "/"
    try:
        pending = oidc.read_pending(secret_key=settings.secret_key, value=get_cookie(request, OIDC_COOKIE))
        next_url = safe_next(pending.next_url)
        claims = oidc.finish(config=config, redirect_uri=redirect_uri(request), pending=pending,
                             params={key: value[:2000] for key, value in request.query_params.items()},
                             client_secret=sso.provider_secret(session=session, kind=ProviderKind.OIDC,
                                                               secret_key=settings.secret_key))
        person = sso.ExternalPerson(
            source=AuthSource.OIDC, issuer=config.issuer, subject=str(claims["sub"]),
            username=str(claims.get("preferred_username") or claims.get("email", "").partition("@")[0]
                         or claims["sub"]),
            groups=oidc.groups_of(claims, config.groups_claim), display_name=str(claims.get("name") or ""),
            email=str(claims.get("email") or ""))
        user = sso.sign_in_external(session=session, person=person, mapping=config.group_roles,
                                    default_role=config.default_role, remote_addr=addr)
    except (Invalid, NotAuthenticated, Unavailable) as exc:
        response = login_page(request, session, next_url=next_url, error=exc.message, status_code=exc.status_code)
        delete_cookie(request, response, OIDC_COOKIE)
        return response
    response = first_factor_passed(request, session=session, settings=settings, user=user, next_url=next_url)
    delete_cookie(request, response, OIDC_COOKIE)  # a sign-in is finished once
    return response


# -- settings (admin) -------------------------------------------------------------------------------------------

def _settings_page(request: Request, session: SessionDep, *, errors: dict[str, dict[str, str]] | None = None,
                   values: dict[str, dict[str, Any]] | None = None, status_code: int = 200) -> Response:
    current = {kind: sso.provider_settings(session=session, kind=kind) for kind in ProviderKind}
    shown: dict[str, dict[str, Any]] = {}
    for kind, item in current.items():
        data = item.config.model_dump(mode="json")
        data["group_roles"] = group_roles_text(data["group_roles"])
        shown[kind.value] = {"enabled": item.enabled, **data, **((values or {}).get(kind.value, {}))}
    return render(request, "auth/sso_settings.html",
                  {"current": {kind.value: item for kind, item in current.items()}, "values": shown,
                   "errors": errors or {}, "roles": [(r.value, r.value) for r in Role],
                   "redirect_uri": redirect_uri(request)},
                  status_code=status_code, nav="settings")


@pages.get("/settings/sso", response_class=HTMLResponse)
def sso_settings(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return _settings_page(request, session)


def _save(request: Request, session: SessionDep, settings: SettingsDep, admin: Any, kind: ProviderKind,
          schema: type[BaseModel], form: dict[str, Any], enabled: bool, secret: str) -> Response:
    """Validate and store one provider's form; on a problem, the page again with each field's message and
    what was typed (never the secret)."""
    errors: dict[str, str] = {}
    config = None
    typed_group_roles = str(form.get("group_roles", ""))
    try:
        form["group_roles"] = parse_group_roles(typed_group_roles)
    except ValueError as exc:
        errors["group_roles"] = str(exc)
        form["group_roles"] = {}
    try:
        config = schema(**form)
    except ValidationError as exc:
        errors.update(form_errors(exc))
    if config is not None and not errors:
        try:
            sso.save_provider(session=session, actor=admin, kind=kind, enabled=enabled, config=config,
                              secret=secret or None, secret_key=settings.secret_key)
        except Invalid as exc:
            session.rollback()
            errors = {str(p["code"]): str(p["message"]) for p in exc.details or []} or {"form": exc.message}
    if errors:
        values = {kind.value: {**{k: v for k, v in form.items() if k != "group_roles"}, "enabled": enabled,
                               "group_roles": typed_group_roles}}
        return _settings_page(request, session, errors={kind.value: errors}, values=values, status_code=422)
    flash(request, "success", f"{kind.value.upper()} login settings saved" + (" and turned on." if enabled else "."))
    return RedirectResponse(f"/settings/sso#{kind.value}", status_code=303)


@pages.post("/settings/sso/oidc", response_class=HTMLResponse)
def sso_save_oidc(
    request: Request, session: SessionDep, settings: SettingsDep, admin: RequireAdmin,
    name: Annotated[str, Form(max_length=200)] = "", issuer: Annotated[str, Form(max_length=1000)] = "",
    client_id: Annotated[str, Form(max_length=1000)] = "", client_secret: Annotated[str, Form(max_length=2000)] = "",
    scopes: Annotated[str, Form(max_length=1000)] = "", groups_claim: Annotated[str, Form(max_length=200)] = "",
    group_roles: Annotated[str, Form(max_length=20000)] = "", default_role: Annotated[str, Form()] = "viewer",
    require_sso: Annotated[str | None, Form()] = None, break_glass_admin: Annotated[str, Form(max_length=200)] = "",
    enabled: Annotated[str | None, Form()] = None,
) -> Response:
    form = {"name": name.strip() or "single sign-on", "issuer": issuer, "client_id": client_id.strip(),
            "scopes": scopes, "groups_claim": groups_claim.strip() or "groups", "group_roles": group_roles,
            "default_role": default_role, "require_sso": require_sso is not None,
            "break_glass_admin": break_glass_admin.strip()}
    return _save(request, session, settings, admin, ProviderKind.OIDC, OidcConfig, form, enabled is not None,
                 client_secret)


@pages.post("/settings/sso/ldap", response_class=HTMLResponse)
def sso_save_ldap(
    request: Request, session: SessionDep, settings: SettingsDep, admin: RequireAdmin,
    server_uri: Annotated[str, Form(max_length=1000)] = "", start_tls: Annotated[str | None, Form()] = None,
    bind_dn_template: Annotated[str, Form(max_length=1000)] = "",
    search_base: Annotated[str, Form(max_length=1000)] = "", user_filter: Annotated[str, Form(max_length=1000)] = "",
    service_bind_dn: Annotated[str, Form(max_length=1000)] = "",
    service_bind_password: Annotated[str, Form(max_length=2000)] = "",
    group_base: Annotated[str, Form(max_length=1000)] = "", group_filter: Annotated[str, Form(max_length=1000)] = "",
    group_roles: Annotated[str, Form(max_length=20000)] = "", default_role: Annotated[str, Form()] = "viewer",
    enabled: Annotated[str | None, Form()] = None,
) -> Response:
    form = {"server_uri": server_uri, "start_tls": start_tls is not None, "bind_dn_template": bind_dn_template,
            "search_base": search_base.strip(), "user_filter": user_filter, "service_bind_dn": service_bind_dn.strip(),
            "group_base": group_base.strip(), "group_roles": group_roles, "default_role": default_role,
            "group_filter": group_filter.strip() or LdapConfig().group_filter}
    return _save(request, session, settings, admin, ProviderKind.LDAP, LdapConfig, form, enabled is not None,
                 service_bind_password)


# -- settings (JSON API, admin) ---------------------------------------------------------------------------------

def _settings_public(request: Request, session: SessionDep) -> SsoSettingsPublic:
    oidc_now = sso.provider_settings(session=session, kind=ProviderKind.OIDC)
    ldap_now = sso.provider_settings(session=session, kind=ProviderKind.LDAP)
    return SsoSettingsPublic(
        oidc=OidcSettingsPublic.model_validate({**oidc_now.config.model_dump(), "enabled": oidc_now.enabled,
                                                "client_secret_set": oidc_now.has_secret}),
        ldap=LdapSettingsPublic.model_validate({**ldap_now.config.model_dump(), "enabled": ldap_now.enabled,
                                                "service_bind_password_set": ldap_now.has_secret}),
        redirect_uri=redirect_uri(request))


@api.get("/settings/sso", response_model=SsoSettingsPublic)
def api_sso_settings(request: Request, session: SessionDep, admin: RequireAdmin) -> SsoSettingsPublic:
    """Both logins' settings; the OIDC client secret and the LDAP bind password are never shown (`*_set`
    says whether one is stored)."""
    return _settings_public(request, session)


@api.put("/settings/sso", response_model=SsoSettingsPublic)
def api_save_sso_settings(request: Request, session: SessionDep, settings: SettingsDep, admin: RequireAdmin,
                          data: SsoSettingsUpdate) -> SsoSettingsPublic:
    """Replace the settings of `oidc`, `ldap` or both (a login left out is kept as it is), all or nothing.
    A secret left out (or null) keeps the stored one. Turning a login on without what it needs is a 422
    naming each missing field."""
    changes = []
    if data.oidc is not None:
        changes.append(sso.ProviderChange(kind=ProviderKind.OIDC, enabled=data.oidc.enabled,
                                          config=data.oidc.config(), secret=data.oidc.client_secret))
    if data.ldap is not None:
        changes.append(sso.ProviderChange(kind=ProviderKind.LDAP, enabled=data.ldap.enabled,
                                          config=data.ldap.config(), secret=data.ldap.service_bind_password))
    sso.save_providers(session=session, actor=admin, changes=changes, secret_key=settings.secret_key)
    return _settings_public(request, session)

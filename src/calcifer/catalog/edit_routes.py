"""Editing a service or an endpoint: the form and YAML pages (written through a work item or a standard
change) and the validation API they check with as a person types (the merge check's own rules).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from calcifer.catalog import edit_form, index, service
from calcifer.catalog.schemas import SLUG_PATTERN, EditCheckPublic, ValidateRequest, ValidationPublic, endpoint_types
from calcifer.catalog.yamlio import apply_spec, dump_yaml, load_plain
from calcifer.deps import CtxDep, RequireEditor, SessionDep, SettingsDep
from calcifer.errors import DomainError, Invalid, NotFound
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.work import service as work_service
from calcifer.work.choices import WorkAction
from calcifer.work.routes import WorkspaceDep
from calcifer.work.schemas import WorkItemCreate

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["catalog"])

KINDS = ("service", "endpoint")


async def _posted(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted)]


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid("Edit a service or an endpoint.")
    return kind


def _problems(problems: list[service.DocumentProblem]) -> dict[str, Any]:
    return {"ok": not any(p.severity == "error" for p in problems), "problems": [asdict(p) for p in problems]}


# =============================== JSON API ===============================

@api.post("/catalog/validate/{kind}", response_model=ValidationPublic)
def api_validate(user: RequireEditor, ctx: CtxDep, kind: str, body: ValidateRequest) -> dict[str, Any]:
    """What the merge check would say about this service or endpoint file if it were written over main
    now: errors (schema, unknown fields, duplicate slug) and warnings (unknown host, service or
    dependency, cycles), each with its field and line. Writes nothing."""
    return _problems(service.validate_document(repo_path=ctx.repo_path, kind=_kind(kind), text=body.text,
                                               spec=body.spec, original_slug=body.original_slug, new=body.new))


# =============================== pages ===============================

@dataclass
class _Edit:
    """What the edit page shows: ``text`` is the YAML (in form mode: the document the form lays its
    fields over), ``spec`` what the form shows (None: the text is not a mapping the form can show)."""

    kind: str
    slug: str  # the file being edited ("" for a new one)
    mode: str
    text: str
    spec: dict[str, Any] | None
    target: str = "new"
    summary: str = ""
    error: str = ""
    details: list[Any] = field(default_factory=list)
    note: str = ""


def _page(request: Request, session: SessionDep, edit: _Edit, status_code: int = 200) -> Response:
    spec = edit.spec or {}
    endpoint_type = str(spec.get("type") or "http") if edit.kind == "endpoint" else None
    slots = edit_form.slot_paths(edit.kind, spec, endpoint_type)
    slugs = index.all_slugs(session=session)
    field_errors: dict[str, list[str]] = {}
    for detail in edit.details:
        slot = edit_form.slot_of(str(detail.get("path") or detail.get("field") or ""), slots)
        if slot is not None and edit.mode == "form":
            field_errors.setdefault(slot, []).append(str(detail.get("message", "")))
    return render(request, "catalog/edit.html", {
        **asdict(edit), "spec": spec, "form_ok": edit.spec is not None, "endpoint_type": endpoint_type,
        "field_errors": field_errors, "other_keys": edit_form.other_keys(edit.kind, spec),
        "items": work_service.open_work_items(session=session),
        "standard_enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED),
        "service_slugs": slugs, "service_pairs": [(s, s) for s in slugs], "kinds": edit_form.KINDS,
        "type_pairs": [(t, t) for t in endpoint_types()],
        "statuses": edit_form.STATUSES, "protocols": edit_form.PROTOCOLS, "option_sets": edit_form.option_sets(),
        "option_text": edit_form.option_text, "slug_pattern": SLUG_PATTERN,
    }, status_code=status_code, nav="services")


def _unique_endpoint_slug(session: SessionDep, stem: str) -> str:
    for n in range(1, 100):
        slug = stem if n == 1 else f"{stem}-{n}"
        try:
            index.get_endpoint(session=session, slug=slug)
        except NotFound:
            return slug
    return stem


def _template_spec(session: SessionDep, kind: str, slug: str, service_slug: str) -> str:
    if kind == "service":
        return (f"name: {slug or 'My service'}\nslug: {slug or 'my-service'}\nkind: container\n"
                "description: What it does and who uses it.\nhost: \nstatus: active\nports:\n"
                "  - number: 80\n    protocol: tcp\n    purpose: web\ntags: []\ndepends_on: []\n")
    name = slug or "My endpoint"
    if service_slug and not slug:
        try:
            name = f"{index.get_service(session=session, slug=service_slug).name} HTTP"
        except NotFound:
            name = f"{service_slug} HTTP"
        slug = _unique_endpoint_slug(session, f"{service_slug}-http"[:63])
    return dump_yaml({"name": name, "slug": slug or "my-endpoint", "service": service_slug or None, "type": "http",
                      "target": "https://example.internal/health", "interval": 60, "timeout": 10})


@pages.get("/catalog/edit/{kind}", response_class=HTMLResponse)
def edit_page(request: Request, session: SessionDep, user: RequireEditor, ctx: CtxDep, kind: str,
              slug: str = "", mode: str = "form",
              service_slug: Annotated[str, Query(alias="service", description="pre-fill a new endpoint's service")]
              = "", target: str = "") -> Response:
    _kind(kind)
    if not re.fullmatch(SLUG_PATTERN, service_slug):
        service_slug = ""
    reader = index.read_service_text if kind == "service" else index.read_endpoint_text
    text = (reader(repo_path=ctx.repo_path, slug=slug) if slug else None)
    if text is None and slug and kind == "endpoint":
        text = dump_yaml(index.get_endpoint(session=session, slug=slug).spec)
    text = text or _template_spec(session, kind, slug, service_slug)
    spec = edit_form.plain_document(text)
    note = ""
    if spec is None:
        note = "This file is not a mapping of fields that the form can show: fix it here as YAML."
    return _page(request, session, _Edit(kind, slug, "yaml" if spec is None or mode == "yaml" else "form",
                                         text, spec, target="standard" if target == "standard" else "new",
                                         note=note))


def _fields(form: FormData) -> dict[str, list[str]]:
    """Every value of every posted field (files have no place on this page and are left out)."""
    return {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}


def _posted_document(kind: str, form: FormData) -> tuple[str, dict[str, Any] | None, str]:
    """(text, spec, mode) of a posted edit page: the form's fields laid over its document, or the YAML."""
    fields = _fields(form)
    if form.get("mode") == "form":
        base_text = str(form.get("base_text") or "").replace("\r\n", "\n")
        spec = edit_form.spec_from_form(kind, fields, edit_form.plain_document(base_text))
        return apply_spec(base_text or None, spec), spec, "form"
    text = str(form.get("text") or "").replace("\r\n", "\n")
    return text, edit_form.plain_document(text), "yaml"


@pages.post("/catalog/edit/{kind}/check", response_model=EditCheckPublic)
def edit_check(user: RequireEditor, ctx: CtxDep, kind: str, form: PostedForm) -> dict[str, Any]:
    """The edit page's live check: the posted page read as a save would read it, validated as the merge
    check would, and the YAML it stands for (what the YAML tab would show)."""
    _kind(kind)
    original = str(form.get("original_slug") or "")
    try:
        text, _, _ = _posted_document(kind, form)
    except Invalid as exc:
        return {"ok": False, "text": "", "problems": [{"code": exc.code, "message": exc.message, "field": None,
                                                       "severity": "error", "line": None}]}
    problems = service.validate_document(repo_path=ctx.repo_path, kind=kind, text=text,
                                         original_slug=original or None, new=not original)
    if form.get("mode") == "form":
        fields = _fields(form)
        problems = [replace(p, field=edit_form.form_path(kind, fields, p.field)) for p in problems]
    return {**_problems(problems), "text": text}


@pages.post("/catalog/edit/{kind}", response_class=HTMLResponse)
def edit_submit(
    request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
    kind: str, form: PostedForm,
) -> Response:
    _kind(kind)
    target = str(form.get("target") or "new")
    summary = str(form.get("summary") or "")
    operation = str(form.get("operation") or "save")
    original_slug = str(form.get("original_slug") or "")
    text, spec, mode = "", None, str(form.get("mode") or "yaml")
    try:
        text, spec, mode = _posted_document(kind, form)
        if operation in ("to-yaml", "to-form"):
            return _switch(request, session, _Edit(kind, original_slug, mode, text, spec, target, summary),
                           operation)
        if operation != "delete":
            parsed = load_plain(text)
            if not isinstance(parsed, dict):
                raise Invalid("The YAML must be a mapping of fields (name: ..., slug: ...).")
            spec = parsed
        slug = str((spec or {}).get("slug") or original_slug or "").strip()
        if not slug:
            raise Invalid("Give the spec a slug (lowercase letters, digits and dashes).",
                          details=[{"path": "slug", "message": "this field is required"}])
        item_id = _save(request, session, user, settings, workspace, kind=kind, slug=slug, spec=spec or {},
                        text=text, target=target, summary=summary, operation=operation, original_slug=original_slug)
    except (DomainError, ValueError) as exc:
        message = exc.message if isinstance(exc, DomainError) else "Choose a work item."
        details = exc.details if isinstance(exc, DomainError) and isinstance(exc.details, list) else []
        if mode == "form" and spec is None:
            mode = "yaml"
        return _page(request, session, _Edit(kind, original_slug, mode, text, spec, target, summary, message,
                                             details), status_code=getattr(exc, "status_code", 422))
    if isinstance(item_id, Response):
        return item_id
    flash(request, "success", f"Committed to work item #{item_id}; it goes live when the work item merges.")
    return RedirectResponse(f"/work/{item_id}", status_code=303)


def _switch(request: Request, session: SessionDep, edit: _Edit, operation: str) -> Response:
    """The other tab, carrying what was typed: the form's fields as YAML (written over the document, so
    comments stay), or the YAML's fields in the form."""
    if operation == "to-yaml":
        edit.mode = "yaml"
        return _page(request, session, edit)
    if edit.spec is None:
        try:
            load_plain(edit.text)
            reason = "it is not a mapping of fields (name: ..., slug: ...)"
        except Invalid as exc:
            reason = exc.message
        edit.error = f"The form cannot show this YAML: {reason}. Fix it here first."
        return _page(request, session, edit, status_code=422)
    edit.mode = "form"
    return _page(request, session, edit)


def _save(request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep,
          workspace: WorkspaceDep, *, kind: str, slug: str, spec: dict[str, Any], text: str, target: str,
          summary: str, operation: str, original_slug: str) -> int | Response:
    """Write (or remove) the file through the chosen work item or a standard change. Returns the work
    item's id, or the redirect of an applied standard change."""
    if operation != "delete":  # validate before any work item is started: nothing half-done
        (service.validate_service if kind == "service" else service.validate_endpoint)(slug=slug, spec=spec)
    if target == "standard":
        op = "delete" if operation == "delete" else ("update" if original_slug else "create")
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
    return item_id

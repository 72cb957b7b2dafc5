"""Writing docs: the editor pages (live preview by htmx) and the JSON API. Thin handlers over
`docs.editing` and `docs.doc_templates`; every change is a commit on a work item's branch."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.catalog import index as catalog_index
from calcifer.changelog.choices import ChangeType
from calcifer.deps import CtxDep, CurrentUser, CursorQuery, LimitQuery, RequireEditor, SessionDep, SettingsDep
from calcifer.docs import doc_templates, editing, worklog
from calcifer.docs.schemas import (
    DocChangePublic,
    DocDelete,
    DocFromTemplate,
    DocRename,
    DocWrite,
    PreviewIn,
    PreviewPublic,
    StandardDocChange,
    StandardDocChangePublic,
    TemplateListPublic,
    TemplatePublic,
    WorkDocPublic,
)
from calcifer.errors import DomainError, Invalid
from calcifer.listing import DEFAULT_LIMIT, keyset_page
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment
from calcifer.work import service as work
from calcifer.work.choices import WorkAction
from calcifer.work.routes import WorkspaceDep, public
from calcifer.work.schemas import WorkItemPublic

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["docs"])

# The work-log entry is written into every merge commit by this hook (imported for its registration).
_WORK_LOG_HOOK = worklog.work_log_files


def _entry(data: Any) -> dict[str, Any]:
    changelog = data.changelog if data is not None else None
    return {"entry_type": changelog.type if changelog else None,
            "entry_text": changelog.text if changelog else None,
            "message": data.message if data is not None else None}


def _template_public(t: doc_templates.Template, *, text: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "path": t.path, "title": t.title, "description": t.description,
                           "placeholders": t.placeholders, "source": t.source}
    if text:
        out["text"] = t.text
    return out


# =============================== JSON API ===============================

@api.get("/work-items/{item_id}/docs/{path:path}", response_model=WorkDocPublic)
def api_read_doc(session: SessionDep, user: CurrentUser, ctx: CtxDep, item_id: int, path: str) -> dict[str, Any]:
    """The doc as the work item sees it: its worktree's version when it changed it, else main's."""
    doc = editing.read_doc(session=session, repo_path=ctx.repo_path, path=path, item_id=item_id)
    return {"path": doc.path, "content": doc.content, "exists": doc.exists, "source": doc.source}


@api.put("/work-items/{item_id}/docs/{path:path}", response_model=DocChangePublic,
         responses={201: {"model": DocChangePublic, "description": "The doc was created."}})
def api_write_doc(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int, path: str,
                  data: DocWrite, response: Response) -> dict[str, Any]:
    """Write the doc on the work item's branch and commit it with a CHANGES.md entry."""
    change = editing.save_doc(session=session, actor=user, item_id=item_id, path=path, content=data.content,
                              workspace=workspace, **_entry(data))
    response.status_code = 201 if change.operation == "created" else 200
    return change.as_dict()


@api.delete("/work-items/{item_id}/docs/{path:path}", response_model=DocChangePublic)
def api_delete_doc(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int, path: str,
                   data: Annotated[DocDelete | None, Body()] = None) -> dict[str, Any]:
    """Delete the doc on the branch (commit + "Removed doc" entry); `linking_docs` lists links left dangling."""
    return editing.delete_doc(session=session, actor=user, item_id=item_id, path=path, workspace=workspace,
                              **_entry(data)).as_dict()


@api.post("/work-items/{item_id}/docs-rename", response_model=DocChangePublic)
def api_rename_doc(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int,
                   data: DocRename) -> dict[str, Any]:
    """Move a doc in one commit. `linking_docs` lists every link to the old path (branch and main);
    with `update_links` the branch's ones are rewritten (`updated_docs`)."""
    return editing.rename_doc(session=session, actor=user, item_id=item_id, path=data.path,
                              new_path=data.new_path, workspace=workspace, update_links=data.update_links,
                              **_entry(data)).as_dict()


@api.post("/work-items/{item_id}/docs-from-template", status_code=201, response_model=DocChangePublic)
def api_doc_from_template(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep, item_id: int,
                          data: DocFromTemplate) -> dict[str, Any]:
    """Create a doc from a template (placeholders filled, never evaluated) and commit it."""
    return editing.create_from_template(session=session, actor=user, item_id=item_id, template=data.template,
                                        path=data.path, workspace=workspace, service=data.service or None,
                                        title=data.title, **_entry(data)).as_dict()


@api.get("/templates", response_model=TemplateListPublic)
def api_templates(user: CurrentUser, ctx: CtxDep, limit: LimitQuery = DEFAULT_LIMIT,
                  cursor: CursorQuery = None) -> dict[str, Any]:
    """Doc templates by name: main's docs/_templates/, or Calcifer's built-in ones when main has none."""
    found = doc_templates.list_templates(repo_path=ctx.repo_path)
    page, next_cursor = keyset_page(found.items, key=lambda t: (t.name,), types=(str,), cursor=cursor, limit=limit)
    return {"items": [_template_public(t) for t in page], "next_cursor": next_cursor, "source": found.source,
            "message": found.message, "known_placeholders": sorted(doc_templates.KNOWN_PLACEHOLDERS)}


@api.get("/templates/{name}", response_model=TemplatePublic)
def api_template(user: CurrentUser, ctx: CtxDep, name: str) -> dict[str, Any]:
    return _template_public(doc_templates.get_template(repo_path=ctx.repo_path, name=name), text=True)


@api.post("/docs/preview", response_model=PreviewPublic)
def api_preview(user: CurrentUser, data: PreviewIn) -> dict[str, Any]:
    """Render markdown exactly as the doc viewer does (sanitised HTML)."""
    result = editing.preview(markdown=data.markdown, doc_path=data.path)
    return {"html": result.html, "title": result.title}


@api.post("/standard-changes/docs", status_code=201, response_model=StandardDocChangePublic)
def api_standard_doc_change(session: SessionDep, user: RequireEditor, workspace: WorkspaceDep,
                            settings: SettingsDep, data: StandardDocChange) -> dict[str, Any]:
    """A pre-approved doc change: a `standard` work item created, committed, documented and merged at once."""
    result = editing.apply_standard_change(
        session=session, actor=user, operation=data.operation, path=data.path, summary=data.summary,
        workspace=workspace, categories=settings.work_categories, content=data.content, new_path=data.new_path,
        update_links=data.update_links)
    item: WorkItemPublic = public(result.item, viewer=user)
    return {"work_item": item.model_dump(mode="json"), "change": result.change.as_dict()}


# =============================== pages ===============================

def _quote(path: str) -> str:
    return urllib.parse.quote(path, safe="/")


def _edit_context(session: SessionDep, *, mode: str, path: str, content: str, source: str = "main",
                  target: str = "new", error: str = "", details: Any = None, unfilled: list[str] | None = None,
                  form: dict[str, Any] | None = None, template: str = "") -> dict[str, Any]:
    try:
        rendered = editing.preview(markdown=content, doc_path=path).html if content.strip() else ""
    except (DomainError, ImportError):
        rendered = ""
    return {
        "mode": mode, "path": path, "content": content, "source": source, "target": target, "error": error,
        "details": details if isinstance(details, list) else [], "unfilled": unfilled or [],
        "preview_html": rendered, "form": form or {}, "template": template,
        "items": work.open_work_items(session=session),
        "standard_enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED),
        "change_types": [(t.value, t.value) for t in ChangeType],
        "action": f"/docs/edit/{_quote(path)}" if mode == "edit" else "/docs/new",
    }


@pages.get("/docs/edit/{path:path}", response_class=HTMLResponse)
def edit_page(request: Request, session: SessionDep, user: RequireEditor, ctx: CtxDep, path: str,
              item: Annotated[int | None, Query()] = None) -> Response:
    doc = editing.read_doc(session=session, repo_path=ctx.repo_path, path=path, item_id=item)
    source = f"work item #{item}" if doc.source == "work item" else doc.source
    return render(request, "docs/edit.html",
                  _edit_context(session, mode="edit" if doc.exists else "new", path=doc.path, content=doc.content,
                                source=source, target=str(item) if item is not None else "new"), nav="docs")


@pages.get("/docs/new", response_class=HTMLResponse)
def new_page(request: Request, session: SessionDep, user: RequireEditor, ctx: CtxDep,
             path: str = "", template: str = "", service: str = "", title: str = "",
             item: Annotated[int | None, Query()] = None, target: str = "") -> Response:
    """Without a path: choose path, template and service. With one: the editor, filled from the template.
    ``target=standard`` (from the standard-change chooser) opens the editor set to apply it at once."""
    standard = target == "standard" and item is None
    found = doc_templates.list_templates(repo_path=ctx.repo_path)
    chooser = {"templates": found, "values": {"path": path, "template": template, "service": service,
                                              "title": title, "item": item, "standard": standard},
               "services": catalog_index.list_services(session=session, limit=500)[0],
               "known_placeholders": doc_templates.KNOWN_PLACEHOLDERS}
    if not path:
        return render(request, "docs/new_from_template.html", {**chooser, "error": ""}, nav="docs")
    try:
        path = editing.check_doc_path(path)
        work_item = editing.open_item(session=session, item_id=item) if item is not None else None
        filled = (editing.new_doc_text(session=session, repo_path=ctx.repo_path, actor=user, template=template,
                                       path=path, title=title, service=service or None, item=work_item)
                  if template else doc_templates.Filled(f"# {title or doc_templates.title_from_path(path)}\n\n"))
    except DomainError as exc:
        return render(request, "docs/new_from_template.html", {**chooser, "error": exc.message},
                      status_code=exc.status_code, nav="docs")
    return render(request, "docs/edit.html",
                  _edit_context(session, mode="new", path=path, content=filled.text, source="new",
                                target=str(item) if item is not None else ("standard" if standard else "new"),
                                unfilled=filled.unfilled,
                                template=template), nav="docs")


@pages.post("/docs/preview", response_class=HTMLResponse)
def preview_fragment(request: Request, user: RequireEditor, content: Annotated[str, Form()] = "",
                     path: Annotated[str, Form()] = "") -> Response:
    """The htmx live preview: the editor's markdown rendered by the viewer's sanitising renderer."""
    try:
        html, error = editing.preview(markdown=content, doc_path=path).html, ""
    except DomainError as exc:
        html, error = "", exc.message
    return render_fragment(request, "docs/_edit_preview.html", {"preview_html": html, "preview_error": error})


def _submit(request: Request, session: SessionDep, user: Any, settings: Any, workspace: Any, *, mode: str,
            path: str, content: str, target: str, summary: str, operation: str, new_path: str, update_links: bool,
            changelog_type: str, changelog_text: str, message: str, template: str) -> Response:
    content = content.replace("\r\n", "\n")
    form = {"summary": summary, "changelog_type": changelog_type, "changelog_text": changelog_text,
            "message": message, "new_path": new_path, "update_links": update_links}
    try:
        path = editing.check_doc_path(path)
        if operation not in ("save", "delete", "rename") or (mode == "new" and operation != "save"):
            raise Invalid("Unknown operation.")
        entry_type = ChangeType(changelog_type) if changelog_type else None
        if target == "standard":
            result = editing.apply_standard_change(
                session=session, actor=user, operation=operation, path=path, summary=summary, workspace=workspace,
                categories=settings.work_categories, content=content, new_path=new_path,
                update_links=update_links)
            flash(request, "success", f"Standard change applied: work item #{result.item.id} merged as "
                                      f"{(result.item.merge_commit or '')[:10]}.{_links_note(result.change)}")
            landed = result.change.path if operation != "delete" else None
            return RedirectResponse(f"/docs/view/{_quote(landed)}" if landed else "/docs", status_code=303)
        started = None
        if target == "new":
            verb = {"delete": "Remove", "rename": "Rename"}.get(operation, "Add" if mode == "new" else "Update")
            action = WorkAction.REMOVE if operation == "delete" else (
                WorkAction.NEW if mode == "new" else WorkAction.CHANGE)
            started = editing.start_item(session=session, actor=user, workspace=workspace,
                                         categories=settings.work_categories, action=action,
                                         title=summary.strip() or f"{verb} doc {path}")
            item_id = started.id
        else:
            try:
                item_id = int(target)
            except ValueError as exc:
                raise Invalid("Choose a work item, start one, or apply a standard change.") from exc
        entry: dict[str, Any] = {"entry_type": entry_type, "entry_text": changelog_text or None,
                                 "message": message or None}
        try:
            if operation == "delete":
                change = editing.delete_doc(session=session, actor=user, item_id=item_id, path=path,
                                            workspace=workspace, **entry)
            elif operation == "rename":
                change = editing.rename_doc(session=session, actor=user, item_id=item_id, path=path,
                                            new_path=new_path, workspace=workspace, update_links=update_links,
                                            **entry)
            else:
                change = editing.save_doc(session=session, actor=user, item_id=item_id, path=path, content=content,
                                          workspace=workspace, create_only=mode == "new", **entry)
        except DomainError:
            if started is not None:  # the work item started for this change has nothing in it: cancel it
                editing.discard_item(session=session, actor=user, item_id=started.id, workspace=workspace)
            raise
    except (DomainError, ValueError) as exc:
        message_text = exc.message if isinstance(exc, DomainError) else f"Unknown changelog type {changelog_type!r}."
        status = exc.status_code if isinstance(exc, DomainError) else 422
        context = _edit_context(session, mode=mode, path=path, content=content, target=target, error=message_text,
                                details=getattr(exc, "details", None), form=form, template=template,
                                source="your edit")
        return render(request, "docs/edit.html", context, status_code=status, nav="docs")
    verb = {"created": "Added", "updated": "Saved", "deleted": "Deleted", "renamed": "Renamed"}[change.operation]
    flash(request, "success", f"{verb} {change.path} on work item #{change.work_item_id} (commit "
                              f"{change.commit[:10]}). It goes live when the work item merges."
                              + _links_note(change))
    if change.operation == "deleted":
        return RedirectResponse(f"/work/{change.work_item_id}", status_code=303)
    return RedirectResponse(f"/docs/edit/{_quote(change.path)}?item={change.work_item_id}", status_code=303)


def _links_note(change: editing.DocChange) -> str:
    if not change.linking_docs:
        return ""
    where = sorted({link.path for link in change.linking_docs})
    shown = ", ".join(where[:10]) + (" …" if len(where) > 10 else "")
    if change.updated_docs:
        rest = sorted(set(where) - set(change.updated_docs))
        return (f" Links updated in {len(change.updated_docs)} doc(s): {', '.join(change.updated_docs[:10])}."
                + (f" Still linking to {change.old_path} (only on main; update from main, then fix): "
                   + ", ".join(rest[:10]) + "." if rest else ""))
    old = change.old_path or change.path
    return f" {len(where)} doc(s) link to {old}: {shown}. Update those links."


def _form_fields(content: str, target: str, summary: str, operation: str, new_path: str, update_links: str | None,
                 changelog_type: str, changelog_text: str, message: str, template: str) -> dict[str, Any]:
    return {"content": content, "target": target, "summary": summary, "operation": operation,
            "new_path": new_path, "update_links": update_links in ("1", "on", "true"),
            "changelog_type": changelog_type, "changelog_text": changelog_text, "message": message,
            "template": template}


@pages.post("/docs/edit/{path:path}", response_class=HTMLResponse)
def edit_submit(
    request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
    path: str, content: Annotated[str, Form()] = "", target: Annotated[str, Form()] = "new",
    summary: Annotated[str, Form()] = "", operation: Annotated[str, Form()] = "save",
    new_path: Annotated[str, Form()] = "", update_links: Annotated[str | None, Form()] = None,
    changelog_type: Annotated[str, Form()] = "", changelog_text: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "", template: Annotated[str, Form()] = "",
) -> Response:
    return _submit(request, session, user, settings, workspace, mode="edit", path=path,
                   **_form_fields(content, target, summary, operation, new_path, update_links, changelog_type,
                                  changelog_text, message, template))


@pages.post("/docs/new", response_class=HTMLResponse)
def new_submit(
    request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
    path: Annotated[str, Form()] = "", content: Annotated[str, Form()] = "", target: Annotated[str, Form()] = "new",
    summary: Annotated[str, Form()] = "", operation: Annotated[str, Form()] = "save",
    changelog_type: Annotated[str, Form()] = "", changelog_text: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "", template: Annotated[str, Form()] = "",
) -> Response:
    return _submit(request, session, user, settings, workspace, mode="new", path=path,
                   **_form_fields(content, target, summary, operation, "", None, changelog_type,
                                  changelog_text, message, template))

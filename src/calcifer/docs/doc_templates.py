"""Templates for new docs: the shipped defaults, main's `docs/_templates/`, and a SAFE placeholder fill.

A template is plain markdown with placeholders such as `{{ service.name }}` or `{{ date }}`. Filling
is a regular-expression substitution of known names only: the text is never evaluated (no Jinja), so
`{{ ''.__class__ }}` or `{% import os %}` in a template — which anyone with the editor role can
change — stays literal text. Unknown or unfilled placeholders stay as they are and are reported.

Also here: the generated doc of a service or endpoint added through a work item (registered with the
catalog), and the default templates for a new repository's first commit (registered with work).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.auth.models import User
from calcifer.catalog import index as catalog_index
from calcifer.catalog.choices import ServiceKind
from calcifer.catalog.yamlio import load_plain
from calcifer.errors import DomainError, Invalid, NotFound
from calcifer.work.models import WorkItem

TEMPLATES_DIR = "docs/_templates"
DEFAULTS_DIR = Path(__file__).resolve().parent / "default_templates"
SERVICE_DOCS_DIR = "docs/services"
ENDPOINT_DOCS_DIR = "docs/endpoints"

# `{{ name }}` or `{{ name.path }}` with optional spaces inside the braces; nothing else is a placeholder.
PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)[ \t]*\}\}")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_TEMPLATE_KEY = re.compile(r"^template_(title|description)[ \t]*:[ \t]*(.*)$")

# Which template documents a service of each kind; a kind not listed gets the generic one.
KIND_TEMPLATES: dict[str, str] = {
    ServiceKind.CONTAINER.value: "container-service",
    ServiceKind.VM.value: "vm",
    ServiceKind.LXC.value: "vm",
    ServiceKind.BARE_METAL.value: "vm",
    ServiceKind.NETWORK_DEVICE.value: "network-device",
}
GENERIC_SERVICE_TEMPLATE = "service"
ENDPOINT_TEMPLATE = "endpoint"

# Placeholders a person may use, with what they become (shown on the "new doc" page).
KNOWN_PLACEHOLDERS: dict[str, str] = {
    "title": "the doc's title", "path": "the doc's path", "date": "today (YYYY-MM-DD, UTC)",
    "year": "this year", "user": "who writes the doc",
    "work_item.id": "the work item's number", "work_item.title": "the work item's title",
    "service.name": "", "service.slug": "", "service.kind": "", "service.host": "",
    "service.description": "", "service.status": "", "service.owner": "", "service.urls": "",
    "service.ports": "", "service.tags": "", "service.depends_on": "", "service.image": "",
    "service.deployment": "", "service.repository": "", "service.resources": "", "service.endpoints": "",
    "endpoint.name": "", "endpoint.slug": "", "endpoint.type": "", "endpoint.target": "", "endpoint.port": "",
    "endpoint.interval": "", "endpoint.service": "", "endpoint.service_doc": "",
}
EMPTY = "—"


@dataclass(frozen=True)
class Template:
    name: str
    path: str
    title: str
    description: str
    text: str
    source: str  # "main" (the repository's docs/_templates/) or "default" (shipped with Calcifer)

    @property
    def placeholders(self) -> list[str]:
        return placeholders(self.text)


@dataclass(frozen=True)
class TemplateList:
    items: list[Template]
    source: str  # "main" or "default"
    message: str = ""  # why the defaults are shown, when they are


@dataclass(frozen=True)
class Filled:
    text: str
    unfilled: list[str] = field(default_factory=list)  # placeholders left as they were


# -- placeholders ------------------------------------------------------------------------------------------

def placeholders(text: str) -> list[str]:
    """The placeholder names used in `text`, sorted, each once."""
    return sorted({m.group(1) for m in PLACEHOLDER.finditer(text)})


def fill(text: str, values: Mapping[str, str]) -> Filled:
    """Replace each `{{ name }}` whose name is in `values`; one pass, so a value that itself holds
    `{{ ... }}` is not expanded again. Template-only front matter (`template_title`,
    `template_description`) is dropped. Never evaluates anything."""
    unfilled: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        unfilled.add(name)
        return match.group(0)

    body = strip_template_meta(text)
    return Filled(PLACEHOLDER.sub(replace, body), sorted(unfilled))


def _front_matter(text: str) -> tuple[list[str], str] | None:
    """(front matter lines, rest) when `text` starts with a `---` block, else None."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return None
    for end in range(1, min(len(lines), 200)):
        if lines[end].rstrip() in ("---", "..."):
            return lines[1:end], "\n".join(lines[end + 1:])
    return None


def template_meta(text: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    split = _front_matter(text)
    if split is None:
        return meta
    for line in split[0]:
        match = _TEMPLATE_KEY.match(line)
        if match:
            meta[match.group(1)] = match.group(2).strip().strip("\"'")
    return meta


def strip_template_meta(text: str) -> str:
    """`text` without the template-only front-matter keys (and without the block if nothing is left)."""
    text = text.replace("\r\n", "\n")
    split = _front_matter(text)
    if split is None:
        return text
    kept = [line for line in split[0] if not _TEMPLATE_KEY.match(line)]
    if not any(line.strip() for line in kept):
        return split[1].lstrip("\n")
    return "\n".join(["---", *kept, "---", split[1]])


# -- values ------------------------------------------------------------------------------------------------

def _line(value: Any) -> str:
    """One table-safe line: newlines become spaces and pipes are escaped (markdown tables)."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|") if text else EMPTY


def _joined(values: Any) -> str:
    if not isinstance(values, list) or not values:
        return EMPTY
    return _line(", ".join(str(v) for v in values))


def _ports(ports: Any) -> str:
    if not isinstance(ports, list) or not ports:
        return EMPTY
    parts = []
    for port in ports:
        if isinstance(port, Mapping):
            text = f"{port.get('number', '?')}/{port.get('protocol') or 'tcp'}"
            if port.get("purpose"):
                text += f" ({port['purpose']})"
            parts.append(text)
    return _line(", ".join(parts)) if parts else EMPTY


def _resources(resources: Any) -> str:
    if not isinstance(resources, Mapping):
        return EMPTY
    parts = [f"{key} {resources[key]}" for key in ("cpu", "memory", "disk") if resources.get(key) is not None]
    return _line(", ".join(parts)) if parts else EMPTY


def service_values(spec: Mapping[str, Any]) -> dict[str, str]:
    """`service.*` placeholder values from a service spec (validated or plain YAML data)."""
    deployment = spec.get("deployment") if isinstance(spec.get("deployment"), Mapping) else {}
    assert isinstance(deployment, Mapping)
    endpoints = [e.get("slug") or e.get("name") for e in spec.get("endpoints") or [] if isinstance(e, Mapping)]
    description = str(spec.get("description") or "").strip()
    return {
        "service.name": _line(spec.get("name") or spec.get("slug") or ""),
        "service.slug": _line(spec.get("slug") or ""),
        "service.kind": _line(spec.get("kind") or ""),
        "service.host": _line(spec.get("host") or ""),
        "service.description": description,
        "service.status": _line(spec.get("status") or "active"),
        "service.owner": _line(spec.get("owner") or ""),
        "service.urls": _joined(spec.get("urls")),
        "service.ports": _ports(spec.get("ports")),
        "service.tags": _joined(spec.get("tags")),
        "service.depends_on": _joined(spec.get("depends_on")),
        "service.image": _line(deployment.get("image") or ""),
        "service.deployment": _line(deployment.get("type") or ""),
        "service.repository": _line(spec.get("repository") or ""),
        "service.resources": _resources(spec.get("resources")),
        "service.endpoints": _joined([e for e in endpoints if e]),
    }


def endpoint_values(spec: Mapping[str, Any]) -> dict[str, str]:
    service = str(spec.get("service") or "")
    return {
        "endpoint.name": _line(spec.get("name") or spec.get("slug") or ""),
        "endpoint.slug": _line(spec.get("slug") or ""),
        "endpoint.type": _line(spec.get("type") or ""),
        "endpoint.target": _line(spec.get("target") or ""),
        "endpoint.port": _line(spec.get("port") or ""),
        "endpoint.interval": _line(spec.get("interval") or 60),
        "endpoint.service": _line(service),
        # A relative link: generated endpoint docs live in docs/endpoints/, service docs in docs/services/.
        "endpoint.service_doc": f"[{service}](../services/{service}.md)" if service else EMPTY,
    }


def base_values(*, user: User | None, title: str, path: str, item: WorkItem | None = None,
                today: dt.date | None = None) -> dict[str, str]:
    day = today or dt.datetime.now(dt.UTC).date()
    values = {"title": _line(title) if title else title_from_path(path), "path": path, "date": day.isoformat(),
              "year": str(day.year), "user": _line(user.display_name or user.username) if user else EMPTY}
    if item is not None:
        values |= {"work_item.id": str(item.id), "work_item.title": _line(item.title)}
    return values


def title_from_path(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].removesuffix(".md")
    words = re.sub(r"[-_]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled"


# -- finding templates ----------------------------------------------------------------------------------------

def _check_name(name: str) -> str:
    clean = name.strip().removeprefix(TEMPLATES_DIR + "/").removesuffix(".md")
    if not _TEMPLATE_NAME.match(clean):
        raise Invalid(f"{name!r} is not a template name: use lowercase letters, digits, '-' and '_' "
                      "(e.g. runbook).", details=[{"field": "template", "message": "bad template name"}])
    return clean


def _make(name: str, text: str, source: str) -> Template:
    text = text.replace("\r\n", "\n")
    meta = template_meta(text)
    title = meta.get("title") or ""
    if not title:
        heading = next((line[2:].strip() for line in strip_template_meta(text).splitlines()
                        if line.startswith("# ")), "")
        title = heading or title_from_path(name)
    return Template(name=name, path=f"{TEMPLATES_DIR}/{name}.md", title=title,
                    description=meta.get("description", ""), text=text, source=source)


@lru_cache(maxsize=1)
def _default_texts() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(DEFAULTS_DIR.glob("*.md"))}


def default_templates() -> list[Template]:
    """The templates Calcifer ships (also written into a new repository's first commit)."""
    return [_make(name, text, "default") for name, text in _default_texts().items()]


def default_template_files() -> dict[str, bytes]:
    """docs/_templates/<name>.md for each shipped template: files for a new repository."""
    return {f"{TEMPLATES_DIR}/{name}.md": text.encode() for name, text in _default_texts().items()}


def _main_text(repo_path: Path, path: str) -> str | None:
    data = git.read_file_at(repo_path=repo_path, path=path)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def main_templates(*, repo_path: Path) -> list[Template]:
    found = []
    for path in git.list_files_at(repo_path=repo_path, prefix=TEMPLATES_DIR + "/"):
        name = path.removeprefix(TEMPLATES_DIR + "/").removesuffix(".md")
        if not path.endswith(".md") or "/" in name or not _TEMPLATE_NAME.match(name):
            continue
        text = _main_text(repo_path, path)
        if text is not None:
            found.append(_make(name, text, "main"))
    return found


def list_templates(*, repo_path: Path) -> TemplateList:
    """Main's docs/_templates/*.md; when main has none (an adopted repository), the shipped defaults,
    with a message saying so."""
    found = main_templates(repo_path=repo_path)
    if found:
        return TemplateList(items=found, source="main")
    return TemplateList(items=default_templates(), source="default",
                        message=f"Main has no {TEMPLATES_DIR}/ yet, so Calcifer's built-in templates are "
                                f"shown. Add files to {TEMPLATES_DIR}/ (through a work item) to change them.")


def get_template(*, repo_path: Path, name: str) -> Template:
    """Template `name` from main, else the shipped default of that name. Raises Invalid, NotFound."""
    clean = _check_name(name)
    text = _main_text(repo_path, f"{TEMPLATES_DIR}/{clean}.md")
    if text is not None:
        return _make(clean, text, "main")
    if clean in _default_texts():
        return _make(clean, _default_texts()[clean], "default")
    raise NotFound(f"No template {clean!r} in {TEMPLATES_DIR}/ on main, and none built in.")


def template_for_kind(kind: str) -> str:
    return KIND_TEMPLATES.get(kind, GENERIC_SERVICE_TEMPLATE)


# -- service specs for placeholders -------------------------------------------------------------------------

def service_spec_for(*, session: Session, repo_path: Path, slug: str, item: WorkItem | None = None) -> dict[str, Any]:
    """The service's spec as plain data: from the work item's branch when it has the file (a service
    being added there), else from main's catalog index. Raises NotFound."""
    if item is not None and Path(item.worktree_path).is_dir():
        try:
            text = git.read_worktree_file(worktree_path=Path(item.worktree_path),
                                          path=catalog_index.service_file(slug))
        except DomainError:
            text = None
        if text is not None:
            data = load_plain(text)
            if isinstance(data, dict):
                return data
    return dict(catalog_index.get_service(session=session, slug=slug).spec)


# -- generated docs for new catalog entries ----------------------------------------------------------------

def generated_doc_path(kind: str, slug: str) -> str:
    return f"{SERVICE_DOCS_DIR if kind == 'service' else ENDPOINT_DOCS_DIR}/{slug}.md"


def generate_catalog_doc(*, kind: str, slug: str, spec: BaseModel, item: WorkItem, worktree: Path,
                         repo_path: Path, actor: User) -> dict[str, str]:
    """The doc of a service or endpoint just added through a work item: `docs/services/<slug>.md` from
    the template for its kind, or `docs/endpoints/<slug>.md` — unless that doc already exists on the
    branch (a person's doc is never overwritten)."""
    path = generated_doc_path(kind, slug)
    target = worktree / path
    if target.exists() or target.is_symlink():
        return {}
    data = spec.model_dump(mode="json")
    if kind == "service":
        template = get_template(repo_path=repo_path, name=template_for_kind(str(data.get("kind", ""))))
        values = service_values(data)
    else:
        template = get_template(repo_path=repo_path, name=ENDPOINT_TEMPLATE)
        values = endpoint_values(data)
    title = str(data.get("name") or slug)
    values |= base_values(user=actor, title=title, path=path, item=item)
    text = fill(template.text, values).text
    return {path: text if text.endswith("\n") else text + "\n"}

"""The catalog index: main's catalog files mirrored into ``catalog_*`` tables, and the queries on it.

``sync_from_git`` reads every ``catalog/services/*.yaml`` and ``catalog/endpoints/*.yaml`` straight
from git objects, validates each file on its own (a bad file becomes a reported problem with file and
line; it never stops the rest from loading), checks the catalog as a whole (unknown hosts and
dependencies, cycles, duplicate slugs and checks) and replaces the index in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from calcifer.catalog.choices import (
    ENDPOINTS_DIR,
    SERVICES_DIR,
    YAML_SUFFIXES,
    EdgeKind,
    ProblemCode,
    ServiceSort,
    Severity,
)
from calcifer.catalog.models import (
    CatalogEdge,
    CatalogEndpoint,
    CatalogProblem,
    CatalogService,
    CatalogState,
    CatalogTag,
)
from calcifer.catalog.schemas import SLUG_PATTERN, EndpointSpec, ServiceSpec, spec_errors
from calcifer.catalog.yamlio import PlainLoader, line_of, load_yaml
from calcifer.db import utcnow
from calcifer.errors import Invalid, NotFound
from calcifer.events import CatalogChanged
from calcifer.gitrepo import MAIN, Blob, Commit, Oid, Repository, Tree, bare_repo, open_repo, resolve_commit
from calcifer.listing import MAX_CURSOR_INT, decode_cursor, encode_cursor, like_pattern

STATE_ID = 1
MAX_ERRORS_PER_FILE = 20
MAX_FILE_BYTES = 1_000_000
MAX_LIMIT = 500
SYNC_ATTEMPTS = 3


@dataclass(frozen=True)
class Finding:
    """One problem of one file: ``severity`` "error" (not loaded) or "warning" (loaded, looks wrong)."""

    file: str
    line: int
    severity: str
    code: str
    message: str
    slug: str | None = None
    field: str = ""  # where in the document, e.g. "ports.0.number" (schema errors only)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "severity": self.severity, "code": self.code,
                "message": self.message, "slug": self.slug}


@dataclass(frozen=True)
class SyncResult:
    commit: str
    services: int
    endpoints: int
    problems: int
    errors: int
    warnings: int
    duration_ms: int
    skipped: bool = False
    # The rows this sync rewrote or removed (None: not known, compare every row); handed to the next
    # after-merge step (search) as an argument.
    changes: CatalogChanged | None = None


# -- reading files from git ---------------------------------------------------------------------------


class _File:
    """A catalog file at the synced commit; its content is read only when needed."""

    __slots__ = ("_data", "_stem", "_text", "blob_id", "path", "repo")

    def __init__(self, repo: Repository, path: str, blob_id: Oid) -> None:
        self.repo = repo
        self.path = path
        self.blob_id = blob_id
        self._data: bytes | None = None
        self._text: str | None = None
        self._stem: str | None = None

    @property
    def stem(self) -> str:
        if self._stem is None:  # asked 3 times per file and sync (claim order, two name checks)
            self._stem = self.path.rpartition("/")[2].rpartition(".")[0]
        return self._stem

    @property
    def data(self) -> bytes:
        if self._data is None:
            blob = self.repo[self.blob_id]
            self._data = blob.data if isinstance(blob, Blob) else b""
        return self._data

    @property
    def text(self) -> str:
        """The file's text. Raises UnicodeDecodeError when it is not UTF-8."""
        if self._text is None:
            self._text = self.data.decode("utf-8-sig")
        return self._text


def _folder_files(repo: Repository, tree: Tree, folder: str) -> list[_File]:
    try:
        entry = tree[folder]
    except (KeyError, ValueError):
        return []
    sub = repo[entry.id]
    if not isinstance(sub, Tree):
        return []
    files = []
    for item in sub:
        name = item.name or ""
        if item.type_str == "blob" and name.endswith(YAML_SUFFIXES):
            files.append(_File(repo, f"{folder}/{name}", item.id))
    return files


# -- per-file parsing ---------------------------------------------------------------------------------


class _Memo:
    """What this process already knows about catalog blobs, by blob id (content-addressed, so never
    stale): validated specs, lines of top-level keys, lines of nested endpoints; and the file lists of
    the catalog folders by tree id. A sync shares the dicts of the one before (``previous``); they are
    pruned to the current catalog's blobs when they grow past twice its size."""

    def __init__(self, previous: _Memo | None = None) -> None:
        self.specs: dict[tuple[str, Oid], Any] = previous.specs if previous else {}
        self.key_lines: dict[tuple[Oid, str], int] = previous.key_lines if previous else {}
        self.nested_lines: dict[Oid, dict[str, int]] = previous.nested_lines if previous else {}
        self.folders: dict[Oid, list[_File]] = previous.folders if previous else {}
        self.previous = previous
        self.known: tuple[Any, _Known] | None = None  # (CatalogState.synced_at, the index's rows then)
        # What the last sync derived from inputs that often stay the same (a merge rarely touches both
        # folders, or anybody's dependencies): each kept with its input, reused only when it is equal.
        self.loaded_services: tuple[list[_File], list[tuple[str, Any]], list[Finding]] | None = (
            previous.loaded_services if previous else None)
        self.loaded_endpoints: tuple[list[_File], list[Finding], list[tuple[_File, Any]]] | None = (
            previous.loaded_endpoints if previous else None)
        self.cycles: tuple[dict[str, list[str]], list[list[str]]] | None = previous.cycles if previous else None
        self.targets: tuple[list[Any], list[tuple[str, str]]] | None = previous.targets if previous else None
        self.target_keys: dict[tuple[Oid, str], Any] = previous.target_keys if previous else {}

    def spec(self, model: type[BaseModel], blob_id: Oid) -> Any:
        return self.specs.get((model.__name__, blob_id))

    def key_line(self, file: _File, key: str) -> int:
        memo_key = (file.blob_id, key)
        line = self.key_lines.get(memo_key)
        if line is None:
            line = self.key_lines[memo_key] = key_line(_text_or_empty(file), key)
        return line

    def nested(self, file: _File) -> dict[str, int]:
        lines = self.nested_lines.get(file.blob_id)
        if lines is None:
            lines = self.nested_lines[file.blob_id] = nested_endpoint_lines(_text_or_empty(file))
        return lines

    def detach(self, files: tuple[list[_File], list[_File]]) -> _Memo:
        """Forget the previous sync's memo, and the blobs no longer in the catalog if there are many."""
        self.previous = None
        current = {f.blob_id for folder in files for f in folder}
        if len(self.specs) > 2 * len(current) + 256:
            self.specs = {k: v for k, v in self.specs.items() if k[1] in current}
        if len(self.key_lines) > 4 * len(current) + 256:
            self.key_lines = {k: v for k, v in self.key_lines.items() if k[0] in current}
        if len(self.nested_lines) > 2 * len(current) + 256:
            self.nested_lines = {k: v for k, v in self.nested_lines.items() if k in current}
        if len(self.folders) > 8:
            self.folders = {}
        if len(self.target_keys) > 4 * len(current) + 256:
            self.target_keys = {}
        return self


_memo = _Memo()
# At most this many files a sync has no validated spec for are parsed rather than looked up in the index.
FEW_NEW_FILES = 32

_TOP_KEY = "^{key}[ \t]*:"
_NESTED_SLUG = re.compile(r"^(?:-\s+)?slug\s*:\s*['\"]?([a-z0-9][a-z0-9-]*)['\"]?\s*(?:#.*)?$")


def key_line(text: str, key: str) -> int:
    """The 1-based line of top-level ``key:`` in a block-style document (1 when not found)."""
    match = re.search(_TOP_KEY.format(key=re.escape(key)), text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def nested_endpoint_lines(text: str) -> dict[str, int]:
    """Line of each endpoint item (by slug) in a service file's block-style ``endpoints:`` list."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^endpoints[ \t]*:", line)), None)
    if start is None:
        return {}
    found: dict[str, int] = {}
    item_line, item_indent = start + 1, None
    for index in range(start + 1, len(lines)):
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0 and not stripped.startswith("-"):
            break  # the next top-level key
        if stripped == "-" or stripped.startswith("- "):
            if item_indent is None:
                item_indent = indent
            if indent == item_indent:
                item_line = index + 1
        match = _NESTED_SLUG.match(stripped)
        if match and match.group(1) not in found:
            found[match.group(1)] = item_line
    return found


def _located(text: str, exc: ValidationError, path: str) -> list[Finding]:
    try:
        document = load_yaml(text)
    except Invalid:
        document = None
    findings = []
    for error, raw in zip(spec_errors(exc), exc.errors(include_url=False), strict=True):
        line = line_of(document, raw["loc"]) if document is not None else 1
        message = f"{error['path']}: {error['message']}" if error["path"] else error["message"]
        findings.append(Finding(path, line, Severity.ERROR.value, ProblemCode.SCHEMA.value, message,
                                field=error["path"]))
    return findings[:MAX_ERRORS_PER_FILE]


def _validate(model: type[BaseModel], data: Any, text: str, path: str) -> tuple[Any, list[Finding]]:
    if data is None:
        required = ", ".join(name for name, info in model.model_fields.items() if info.is_required())
        return None, [Finding(path, 1, Severity.ERROR.value, ProblemCode.NOT_A_MAPPING.value,
                              f"the file is empty: write at least {required}")]
    if not isinstance(data, dict):
        return None, [Finding(path, 1, Severity.ERROR.value, ProblemCode.NOT_A_MAPPING.value,
                              f"the file must hold a mapping of fields (name: ..., slug: ...), "
                              f"not a {type(data).__name__}")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, _located(text, exc, path)


def _parse(model: type[BaseModel], file: _File, loader: PlainLoader,
           cache: dict[str, dict[str, Any]], memo: _Memo | None = None) -> tuple[Any, list[Finding]]:
    if memo is not None:
        known = memo.spec(model, file.blob_id)
        if known is not None:
            return known, []
    spec, findings = _parse_file(model, file, loader, cache)
    if memo is not None and spec is not None:
        memo.specs[(model.__name__, file.blob_id)] = spec
    return spec, findings


def _parse_file(model: type[BaseModel], file: _File, loader: PlainLoader,
                cache: dict[str, dict[str, Any]]) -> tuple[Any, list[Finding]]:
    cached = cache.get(str(file.blob_id))
    if cached is not None:
        try:
            return model.model_validate(cached), []
        except ValidationError:
            pass  # the rules changed since it was indexed: parse the file again
    size = len(file.data)
    if size > MAX_FILE_BYTES:
        return None, [Finding(file.path, 1, Severity.ERROR.value, ProblemCode.TOO_LARGE.value,
                              f"the file has {size:,} bytes; a catalog file may have at most "
                              f"{MAX_FILE_BYTES:,}")]
    try:
        text = file.text
    except UnicodeDecodeError as exc:
        line = file.data.count(b"\n", 0, exc.start) + 1
        return None, [Finding(file.path, line, Severity.ERROR.value, ProblemCode.ENCODING.value,
                              "the file is not UTF-8 text")]
    try:
        data = loader.load(text)
    except Invalid as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        return None, [Finding(file.path, int(details.get("line", 1)), Severity.ERROR.value,
                              ProblemCode.YAML_SYNTAX.value, str(details.get("message", exc.message)))]
    return _validate(model, data, text, file.path)


def _spec_from_text(model: type[BaseModel], text: str, path: str) -> Any:
    try:
        data = PlainLoader().load(text)
    except Invalid as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        raise Invalid(exc.message, code="invalid_file",
                      details=[{"path": "", "line": details.get("line", 1),
                                "message": details.get("message", exc.message)}]) from exc
    spec, findings = _validate(model, data, text, path)
    if spec is None:
        raise Invalid(f"{path} is not valid: {findings[0].message} (line {findings[0].line})",
                      code="invalid_file",
                      details=[{"path": f.field, "line": f.line, "message": f.message} for f in findings])
    return spec


def validate_service_text(text: str, *, path: str = "service.yaml") -> ServiceSpec:
    """Parse and validate one service file. Raises Invalid whose details list ``{path, line, message}``."""
    spec: ServiceSpec = _spec_from_text(ServiceSpec, text, path)
    return spec


def validate_endpoint_text(text: str, *, path: str = "endpoint.yaml") -> EndpointSpec:
    """Parse and validate one endpoint file. Raises Invalid whose details list ``{path, line, message}``."""
    spec: EndpointSpec = _spec_from_text(EndpointSpec, text, path)
    return spec


# -- the whole catalog --------------------------------------------------------------------------------


@dataclass
class _Service:
    file: _File
    spec: ServiceSpec


@dataclass
class _Endpoint:
    spec: EndpointSpec
    service: str | None
    file: _File
    line: int
    nested: bool


@dataclass
class _Catalog:
    services: dict[str, _Service] = field(default_factory=dict)
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    memo: _Memo = field(default_factory=_Memo)
    # path -> blob id of the version the index serves now: a file that stops loading on main keeps it
    kept: dict[str, str] = field(default_factory=dict)

    def warn(self, file: str, line: int, code: ProblemCode, message: str, slug: str | None = None) -> None:
        self.findings.append(Finding(file, line, Severity.WARNING.value, code.value, message, slug))

    def error(self, file: str, line: int, code: ProblemCode, message: str, slug: str | None = None) -> None:
        self.findings.append(Finding(file, line, Severity.ERROR.value, code.value, message, slug))


def _text_or_empty(file: _File) -> str:
    try:
        return file.text
    except UnicodeDecodeError:
        return ""


def _claim_order(parsed: list[tuple[_File, Any]]) -> list[tuple[_File, Any]]:
    # A file named after its slug wins a duplicate slug over a file that is not.
    return sorted(parsed, key=lambda item: (item[0].stem != item[1].slug, item[0].path))


def _load_services(catalog: _Catalog, files: list[_File], loader: PlainLoader,
                   cache: dict[str, dict[str, Any]]) -> None:
    # Everything here follows from the folder's files alone: the same list (an unchanged folder)
    # gives the same services and findings.
    loaded = catalog.memo.loaded_services
    if loaded is not None and loaded[0] is files:
        catalog.services.update(loaded[1])
        catalog.findings += loaded[2]
        return
    findings_before = len(catalog.findings)
    _load_services_from(catalog, files, loader, cache)
    catalog.memo.loaded_services = (files, list(catalog.services.items()), catalog.findings[findings_before:])


def _load_services_from(catalog: _Catalog, files: list[_File], loader: PlainLoader,
                        cache: dict[str, dict[str, Any]]) -> None:
    parsed = []
    for file in files:
        spec, findings = _parse(ServiceSpec, file, loader, cache, catalog.memo)
        catalog.findings += findings
        if spec is None:
            spec, file = _last_valid(catalog, ServiceSpec, file, loader, cache)
        if spec is not None:
            parsed.append((file, spec))
    for file, spec in _claim_order(parsed):
        first = catalog.services.get(spec.slug)
        if first is not None:
            catalog.error(file.path, catalog.memo.key_line(file, "slug"), ProblemCode.DUPLICATE_SLUG,
                          f"service slug {spec.slug!r} is already used by {first.file.path}; this file is "
                          "not loaded", spec.slug)
            continue
        if file.stem != spec.slug:
            catalog.warn(file.path, catalog.memo.key_line(file, "slug"), ProblemCode.SLUG_MISMATCH,
                         f"the file name says {file.stem!r} but the slug is {spec.slug!r}: rename the file "
                         f"to {spec.slug}.yaml", spec.slug)
        catalog.services[spec.slug] = _Service(file, spec)


def _load_endpoints(catalog: _Catalog, files: list[_File], loader: PlainLoader,
                    cache: dict[str, dict[str, Any]]) -> None:
    loaded = catalog.memo.loaded_endpoints
    if loaded is not None and loaded[0] is files:  # the folder is unchanged: same specs, same order
        catalog.findings += loaded[1]
        claimed = loaded[2]
    else:
        parsed = []
        parse_findings: list[Finding] = []
        for file in files:
            spec, findings = _parse(EndpointSpec, file, loader, cache, catalog.memo)
            parse_findings += findings
            if spec is None:
                findings_before = len(catalog.findings)
                spec, file = _last_valid(catalog, EndpointSpec, file, loader, cache)
                parse_findings += catalog.findings[findings_before:]
                del catalog.findings[findings_before:]
            if spec is not None:
                parsed.append((file, spec))
        claimed = _claim_order(parsed)
        catalog.findings += parse_findings
        catalog.memo.loaded_endpoints = (files, parse_findings, claimed)
    candidates: list[_Endpoint] = [_Endpoint(spec, spec.service, file, 1, False) for file, spec in claimed]
    for slug in sorted(catalog.services, key=lambda s: catalog.services[s].file.path):
        service = catalog.services[slug]
        if not service.spec.endpoints:
            continue
        lines = catalog.memo.nested(service.file)
        fallback = catalog.memo.key_line(service.file, "endpoints")
        candidates += [_Endpoint(spec, slug, service.file, lines.get(spec.slug, fallback), True)
                       for spec in service.spec.endpoints]
    for endpoint in candidates:
        slug = endpoint.spec.slug
        first = catalog.endpoints.get(slug)
        if first is not None:
            line = endpoint.line if endpoint.nested else catalog.memo.key_line(endpoint.file, "slug")
            catalog.error(endpoint.file.path, line, ProblemCode.DUPLICATE_SLUG,
                          f"endpoint slug {slug!r} is already used in {first.file.path}"
                          f"{'' if first.line == 1 else f' (line {first.line})'}; this one is not loaded",
                          slug)
            continue
        if not endpoint.nested and endpoint.file.stem != slug:
            catalog.warn(endpoint.file.path, catalog.memo.key_line(endpoint.file, "slug"),
                         ProblemCode.SLUG_MISMATCH, f"the file name says {endpoint.file.stem!r} but the slug "
                         f"is {slug!r}: rename the file to {slug}.yaml", slug)
        catalog.endpoints[slug] = endpoint


def _last_valid(catalog: _Catalog, model: type[BaseModel], file: _File, loader: PlainLoader,
                cache: dict[str, dict[str, Any]]) -> tuple[Any, _File]:
    """For a file that does not load: the version the index served until now, with a ``stale`` warning, so
    a bad commit made outside Calcifer never makes a service vanish (nor orphans its endpoints).
    ``(None, file)`` when the index served no earlier version of that path."""
    kept = catalog.kept.get(file.path)
    if kept is None or kept == str(file.blob_id):
        return None, file
    try:
        earlier = _File(file.repo, file.path, Oid(hex=kept))
        spec, _ = _parse(model, earlier, loader, cache, catalog.memo)
    except (KeyError, ValueError):  # the blob is gone (e.g. an adopted repository's history was rewritten)
        return None, file
    if spec is None:
        return None, file
    catalog.warn(file.path, 1, ProblemCode.STALE,
                 f"this file does not load on main (see its error): the catalog keeps serving its last valid "
                 f"version (blob {kept[:10]}) until it is fixed in a work item", spec.slug)
    return spec, earlier


def _check_references(catalog: _Catalog) -> None:
    services = catalog.services
    for slug, service in services.items():
        spec = service.spec
        if spec.host is not None and spec.host not in services:
            catalog.warn(service.file.path, catalog.memo.key_line(service.file, "host"),
                         ProblemCode.UNKNOWN_HOST,
                         f"host {spec.host!r} is not a service in the catalog", slug)
        for needed in spec.depends_on:
            if needed not in services:
                catalog.warn(service.file.path, catalog.memo.key_line(service.file, "depends_on"),
                             ProblemCode.UNKNOWN_DEPENDENCY,
                             f"depends_on names {needed!r}, which is not a service in the catalog", slug)
    for slug, endpoint in catalog.endpoints.items():
        if not endpoint.nested and endpoint.service is not None and endpoint.service not in services:
            catalog.warn(endpoint.file.path, catalog.memo.key_line(endpoint.file, "service"),
                         ProblemCode.UNKNOWN_SERVICE,
                         f"service {endpoint.service!r} is not a service in the catalog", slug)


def _strongly_connected(graph: dict[str, list[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm without recursion; yields components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield component


def _cycle_through(start: str, graph: dict[str, list[str]], members: set[str]) -> list[str]:
    """The shortest cycle from ``start`` back to itself inside one strongly connected component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start, start]  # pragma: no cover - a component always has a cycle through each member


def _check_cycles(catalog: _Catalog) -> None:
    graph: dict[str, list[str]] = {}
    services = catalog.services
    for slug, service in services.items():
        spec = service.spec
        if not spec.depends_on and not spec.host:
            continue  # needs nothing: in no cycle (and left out, so adding such a service changes nothing)
        needs = [*spec.depends_on, *([spec.host] if spec.host else [])]
        known = [n for n in dict.fromkeys(needs) if n in services]
        if known:
            graph[slug] = known
    previous = catalog.memo.cycles
    if previous is not None and previous[0] == graph:
        cycles = previous[1]
    else:
        cycles = []
        for component in _strongly_connected(graph):
            members = set(component)
            cycles.append(_cycle_through(min(members), graph, members))
        catalog.memo.cycles = (graph, cycles)
    for cycle in cycles:
        start = cycle[0]
        service = catalog.services[start]
        spec = service.spec
        key = "depends_on" if cycle[1] in spec.depends_on else "host"
        catalog.warn(service.file.path, catalog.memo.key_line(service.file, key), ProblemCode.CYCLE,
                     "cycle: " + " → ".join(cycle), start)


def _target_key(spec: EndpointSpec) -> tuple[str, str, int | None] | None:
    return (str(spec.type), spec.target.lower().rstrip("/"), spec.port) if spec.target else None


def _check_targets(catalog: _Catalog) -> None:
    memo_keys = catalog.memo.target_keys
    keys: list[Any] = []
    for slug, endpoint in catalog.endpoints.items():
        memo_key = (endpoint.file.blob_id, slug)
        key = memo_keys.get(memo_key, False)
        if key is False:
            key = memo_keys[memo_key] = _target_key(endpoint.spec)
        keys.append((slug, key))
    previous = catalog.memo.targets
    if previous is not None and previous[0] == keys:
        pairs = previous[1]
    else:
        seen: dict[tuple[str, str, int | None], str] = {}
        pairs = []
        for slug, key in keys:
            if key is None:
                continue
            first_slug = seen.get(key)
            if first_slug is None:
                seen[key] = slug
            else:
                pairs.append((slug, first_slug))
        catalog.memo.targets = (keys, pairs)
    for slug, first_slug in pairs:
        endpoint = catalog.endpoints[slug]
        first = catalog.endpoints[first_slug]
        spec = endpoint.spec
        where = f" {spec.target}" + (f" port {spec.port}" if spec.port else "")
        catalog.warn(endpoint.file.path, endpoint.line if endpoint.nested else
                     catalog.memo.key_line(endpoint.file, "target"), ProblemCode.DUPLICATE_TARGET,
                     f"endpoint {slug!r} checks the same thing as {first.spec.slug!r} "
                     f"({str(spec.type)}{where})", slug)


def _build(repo: Repository, commit: Commit, cache: dict[str, dict[str, Any]],
           memo: _Memo | None = None,
           files: tuple[list[_File], list[_File]] | None = None, kept: dict[str, str] | None = None) -> _Catalog:
    catalog = _Catalog(memo=memo or _Memo(), kept=kept or {})
    loader = PlainLoader()
    service_files, endpoint_files = files or _catalog_files(repo, commit)
    _load_services(catalog, service_files, loader, cache)
    _load_endpoints(catalog, endpoint_files, loader, cache)
    _check_references(catalog)
    _check_cycles(catalog)
    _check_targets(catalog)
    return catalog


def _catalog_files(repo: Repository, commit: Commit,
                   memo: _Memo | None = None) -> tuple[list[_File], list[_File]]:
    tree = commit.tree
    if memo is None:
        return _folder_files(repo, tree, SERVICES_DIR), _folder_files(repo, tree, ENDPOINTS_DIR)
    lists: list[list[_File]] = []
    for folder in (SERVICES_DIR, ENDPOINTS_DIR):
        try:
            folder_id = tree[folder].id
        except (KeyError, ValueError):
            lists.append([])
            continue
        files = memo.folders.get(folder_id)
        if files is None:  # a folder unchanged since the last sync keeps its list (read-only)
            files = memo.folders[folder_id] = _folder_files(repo, tree, folder)
        lists.append(files)
    return lists[0], lists[1]


# -- writing the index --------------------------------------------------------------------------------


@dataclass
class _Previous:
    """What the index held before: to keep "updated" times of unchanged files and skip re-parsing."""

    specs: dict[str, dict[str, Any]]
    services: dict[str, tuple[str, str, dt.datetime]]
    endpoints: dict[str, tuple[str, str, dt.datetime]]


def _previous(session: Session, *, use_cache: bool) -> _Previous:
    specs: dict[str, dict[str, Any]] = {}
    services: dict[str, tuple[str, str, dt.datetime]] = {}
    endpoints: dict[str, tuple[str, str, dt.datetime]] = {}
    service_rows = session.execute(select(CatalogService.slug, CatalogService.blob_id,
                                          CatalogService.commit_id, CatalogService.updated_at,
                                          *([CatalogService.spec] if use_cache else [])))
    for row in service_rows:
        services[row[0]] = (row[1], row[2], row[3])
        if use_cache:
            specs[row[1]] = row[4]
    endpoint_rows = session.execute(select(CatalogEndpoint.slug, CatalogEndpoint.blob_id,
                                           CatalogEndpoint.commit_id, CatalogEndpoint.updated_at,
                                           CatalogEndpoint.nested,
                                           *([CatalogEndpoint.spec] if use_cache else [])))
    for row in endpoint_rows:
        endpoints[row[0]] = (row[1], row[2], row[3])
        if use_cache and not row[4]:
            specs[row[1]] = row[5]
    return _Previous(specs, services, endpoints)


def _stamp(previous: dict[str, tuple[str, str, dt.datetime]], slug: str, blob_id: str, commit: str,
           now: dt.datetime) -> tuple[str, dt.datetime]:
    before = previous.get(slug)
    if before is not None and before[0] == blob_id:
        return before[1], before[2]
    return commit, now


def _rows(catalog: _Catalog, previous: _Previous, commit: str) -> dict[Any, list[dict[str, Any]]]:
    now = utcnow()
    services, tags, edges, endpoints, problems = [], [], [], [], []
    for slug, service in catalog.services.items():
        spec = service.spec
        blob_id = str(service.file.blob_id)
        commit_id, updated_at = _stamp(previous.services, slug, blob_id, commit, now)
        services.append({
            "slug": slug, "name": spec.name, "kind": spec.kind.value, "host": spec.host,
            "status": spec.status.value, "description": spec.description, "owner": spec.owner,
            "tags": list(spec.tags), "depends_on": list(spec.depends_on),
            "spec": spec.model_dump(mode="json"),
            "file": service.file.path, "line": 1, "blob_id": blob_id, "commit_id": commit_id,
            "updated_at": updated_at,
        })
        tags += [{"service_slug": slug, "tag": tag} for tag in spec.tags]
        if spec.host:
            edges.append({"from_slug": slug, "to_slug": spec.host, "kind": EdgeKind.HOST.value})
        edges += [{"from_slug": slug, "to_slug": needed, "kind": EdgeKind.DEPENDS_ON.value}
                  for needed in spec.depends_on]
    for slug, endpoint in catalog.endpoints.items():
        check = endpoint.spec
        blob_id = str(endpoint.file.blob_id)
        commit_id, updated_at = _stamp(previous.endpoints, slug, blob_id, commit, now)
        dumped = check.model_dump(mode="json")
        if endpoint.nested:
            dumped["service"] = endpoint.service
        endpoints.append({
            "slug": slug, "name": check.name, "service": endpoint.service, "type": str(check.type),
            "target": check.target, "port": check.port, "interval": check.interval, "timeout": check.timeout,
            "retries": check.retries, "enabled": check.enabled, "options": dumped["options"], "spec": dumped,
            "file": endpoint.file.path, "line": endpoint.line, "nested": endpoint.nested,
            "blob_id": blob_id, "commit_id": commit_id, "updated_at": updated_at,
        })
    problems = [{"file": f.file, "line": f.line, "severity": f.severity, "code": f.code,
                 "message": f.message[:4000], "slug": f.slug} for f in catalog.findings]
    return {CatalogService: services, CatalogTag: tags, CatalogEdge: edges, CatalogEndpoint: endpoints,
            CatalogProblem: problems}


@dataclass
class _Known:
    """The index as it is, by slug: (file, blob id, commit id, updated at) of every service and endpoint
    (a light read: no specs), and every problem."""

    services: dict[str, tuple[str, str, str, dt.datetime]]
    endpoints: dict[str, tuple[str, str, str, dt.datetime]]
    problems: list[tuple[Any, ...]]
    changed: tuple[frozenset[str], frozenset[str]] | None = None  # slugs rewritten or removed to get here


_PROBLEM_COLUMNS = ("file", "line", "severity", "code", "message", "slug")


def _known(session: Session) -> _Known:
    services = {row[0]: (row[1], row[2], row[3], row[4]) for row in session.execute(select(
        CatalogService.slug, CatalogService.file, CatalogService.blob_id, CatalogService.commit_id,
        CatalogService.updated_at))}
    endpoints = {row[0]: (row[1], row[2], row[3], row[4]) for row in session.execute(select(
        CatalogEndpoint.slug, CatalogEndpoint.file, CatalogEndpoint.blob_id, CatalogEndpoint.commit_id,
        CatalogEndpoint.updated_at))}
    problems = [tuple(row) for row in session.execute(
        select(*(getattr(CatalogProblem, c) for c in _PROBLEM_COLUMNS)).order_by(CatalogProblem.id))]
    return _Known(services, endpoints, problems)


def _served(known: _Known) -> dict[str, str]:
    """Path -> blob id of every file the index serves a row of (a nested endpoint's is its service's)."""
    served = {file: blob_id for file, blob_id, _, _ in known.services.values()}
    served.update((file, blob_id) for file, blob_id, _, _ in known.endpoints.values() if file not in served)
    return served


def _stored_specs(session: Session, services: list[str], endpoints: list[str]) -> dict[str, dict[str, Any]]:
    """Specs the index holds for these blob ids (files whose spec this process has not validated yet)."""
    specs: dict[str, dict[str, Any]] = {}
    wanted: tuple[tuple[Any, list[str]], ...] = ((CatalogService, services), (CatalogEndpoint, endpoints))
    for model, blob_ids in wanted:
        if not blob_ids:
            continue
        query = select(model.blob_id, model.spec)
        if model is CatalogEndpoint:
            query = query.where(CatalogEndpoint.nested.is_(False))  # a nested one's blob is its service's
        if len(blob_ids) > 1000:  # e.g. the first sync after a start: read them all at once
            specs.update({row[0]: row[1] for row in session.execute(query)})
            continue
        for start in range(0, len(blob_ids), 500):
            chunk = blob_ids[start:start + 500]
            specs.update({row[0]: row[1] for row in session.execute(query.where(model.blob_id.in_(chunk)))})
    return specs


def _known_after(known: _Known | None, rows: dict[Any, list[dict[str, Any]]], catalog: _Catalog) -> _Known:
    """What ``_known`` would read after ``rows`` were written over ``known`` (None: over nothing)."""
    def merged(model: Any, before: dict[str, tuple[str, str, str, dt.datetime]], current: dict[str, Any]
               ) -> dict[str, tuple[str, str, str, dt.datetime]]:
        result = {slug: value for slug, value in before.items() if slug in current}
        for row in rows.get(model, []):
            result[row["slug"]] = (row["file"], row["blob_id"], row["commit_id"], row["updated_at"])
        return result
    return _Known(
        services=merged(CatalogService, known.services if known else {}, catalog.services),
        endpoints=merged(CatalogEndpoint, known.endpoints if known else {}, catalog.endpoints),
        problems=[(f.file, f.line, f.severity, f.code, f.message[:4000], f.slug) for f in catalog.findings])


# Which rows one sync rewrote or removed, from one synced commit to the next (``SyncResult.changes``).
RowChanges = CatalogChanged


def _write_changes(session: Session, catalog: _Catalog, known: _Known, commit: str) -> _Known:
    """Bring the index from ``known`` to ``catalog``: only rows whose file or content changed are
    rewritten (a row is a function of its file's path and blob), problems only when they changed.
    Returns what the index holds now."""
    changed = _Catalog(memo=catalog.memo)
    for slug, service in catalog.services.items():
        before = known.services.get(slug)
        if before is None or before[:2] != (service.file.path, str(service.file.blob_id)):
            changed.services[slug] = service
    for slug, endpoint in catalog.endpoints.items():
        before = known.endpoints.get(slug)
        if before is None or before[:2] != (endpoint.file.path, str(endpoint.file.blob_id)):
            changed.endpoints[slug] = endpoint
    gone_services = [slug for slug in known.services if slug not in catalog.services or slug in changed.services]
    gone_endpoints = [slug for slug in known.endpoints
                      if slug not in catalog.endpoints or slug in changed.endpoints]
    previous = _Previous(specs={}, services={k: known.services[k][1:] for k in changed.services
                                             if k in known.services},
                         endpoints={k: known.endpoints[k][1:] for k in changed.endpoints if k in known.endpoints})
    rows = _rows(changed, previous, commit)
    rows.pop(CatalogProblem)
    new_problems = [(f.file, f.line, f.severity, f.code, f.message[:4000], f.slug) for f in catalog.findings]
    for start in range(0, len(gone_services), 500):
        chunk = gone_services[start:start + 500]
        session.execute(delete(CatalogTag).where(CatalogTag.service_slug.in_(chunk)))
        session.execute(delete(CatalogEdge).where(CatalogEdge.from_slug.in_(chunk)))
        session.execute(delete(CatalogService).where(CatalogService.slug.in_(chunk)))
    for start in range(0, len(gone_endpoints), 500):
        session.execute(delete(CatalogEndpoint).where(CatalogEndpoint.slug.in_(gone_endpoints[start:start + 500])))
    for model, values in rows.items():
        if values:
            session.execute(insert(model.__table__), values)
    if new_problems != known.problems:
        problems = [dict(zip(_PROBLEM_COLUMNS, values, strict=True)) for values in new_problems]
        session.execute(delete(CatalogProblem))
        if problems:
            session.execute(insert(CatalogProblem), problems)
    # What the index holds now: ``known`` updated in place (no copy of thousands of entries).
    for slug in gone_services:
        known.services.pop(slug, None)
    for slug in gone_endpoints:
        known.endpoints.pop(slug, None)
    for model, into in ((CatalogService, known.services), (CatalogEndpoint, known.endpoints)):
        for row in rows.get(model, []):
            into[row["slug"]] = (row["file"], row["blob_id"], row["commit_id"], row["updated_at"])
    known.problems = new_problems
    known.changed = (frozenset(gone_services) | frozenset(changed.services),
                     frozenset(gone_endpoints) | frozenset(changed.endpoints))
    return known


def _lock_state(session: Session) -> CatalogState:
    # The UPDATE takes the write lock (SQLite) or the row lock (PostgreSQL) before anything is replaced,
    # so concurrent syncs run one after the other.
    locked = session.execute(update(CatalogState).where(CatalogState.id == STATE_ID)
                             .values(id=STATE_ID)).rowcount  # type: ignore[attr-defined]
    if not locked:
        session.add(CatalogState(id=STATE_ID))
        session.flush()
    state = session.get(CatalogState, STATE_ID, populate_existing=True)
    assert state is not None
    return state


def get_state(*, session: Session) -> CatalogState | None:
    """The index's sync record (commit, time, duration, counts), or None before the first sync."""
    state = session.get(CatalogState, STATE_ID)
    return state if state is not None and state.synced_commit else None


def _result(state: CatalogState, *, skipped: bool, duration_ms: int | None = None) -> SyncResult:
    return SyncResult(commit=state.synced_commit or "", services=state.services, endpoints=state.endpoints,
                      problems=state.errors + state.warnings, errors=state.errors, warnings=state.warnings,
                      duration_ms=state.duration_ms if duration_ms is None else duration_ms, skipped=skipped)


def _catalog_tree_id(repo: Repository, commit: Commit) -> str | None:
    try:
        return str(commit.tree["catalog"].id)
    except KeyError:
        return None


def _same_catalog(repo: Repository, synced_commit: str, commit: Commit) -> bool:
    """True when the catalog/ folder is identical at both commits (same tree id)."""
    try:
        previous = repo.get(synced_commit)
    except ValueError:
        return False
    if not isinstance(previous, Commit):
        return False
    return _catalog_tree_id(repo, previous) == _catalog_tree_id(repo, commit)


def sync_from_git(*, session: Session, repo_path: Path, ref: str = MAIN, force: bool = False) -> SyncResult:
    """Mirror the catalog files at ``ref`` into the index, replacing it in one transaction (committed).

    Bad files never raise: each becomes a CatalogProblem (error: not loaded; warning: loaded but
    suspicious) with its file and line. Does nothing when the index already mirrors that commit,
    unless ``force`` (which also re-parses every file instead of reusing unchanged files' specs).
    Raises NotFound when there is no repository or no such ref.
    """
    global _memo
    started = time.perf_counter()
    for _attempt in range(SYNC_ATTEMPTS):
        repo = open_repo(repo_path)
        commit = resolve_commit(repo, ref)
        commit_id = str(commit.id)
        state = session.get(CatalogState, STATE_ID, populate_existing=True)
        if not force and state is not None and state.synced_commit == commit_id:
            return _result(state, skipped=True, duration_ms=int((time.perf_counter() - started) * 1000))
        if not force and state is not None and state.synced_commit and _same_catalog(repo, state.synced_commit,
                                                                                      commit):
            # Most merges touch no catalog file: the index is already right, only its commit moves.
            skipped_from = state.synced_commit
            state.synced_commit = commit_id
            session.commit()
            return replace(_result(state, skipped=True, duration_ms=int((time.perf_counter() - started) * 1000)),
                           changes=RowChanges(skipped_from, commit_id, frozenset(), frozenset()))
        memo = _Memo(None if force else _memo)
        files = _catalog_files(repo, commit, memo)
        if force:
            previous = _previous(session, use_cache=False)
            catalog = _build(repo, commit, previous.specs, memo, files, _served(_known(session)))
            rows = _rows(catalog, previous, commit_id)
        else:
            # Incremental: specs of unchanged files come from this process's memo (or the index), and
            # only the rows of files that changed are rewritten.
            known_stamp = state.synced_at if state is not None else None
            cached = memo.previous.known if memo.previous is not None else None
            # What the index holds: as this process left it when nobody synced since, else read.
            # A copy (dict copies run in C): this sync updates it in place, and a concurrent one may hold it.
            known = (_Known(dict(cached[1].services), dict(cached[1].endpoints), list(cached[1].problems))
                     if cached is not None and known_stamp is not None and cached[0] == known_stamp
                     else _known(session))
            # Specs this process has not validated: from the index when there are many (the first sync
            # after a start); a few new files are parsed, cheaper than a query. A folder whose file
            # list is the last sync's is not parsed again at all (see _load_services/_load_endpoints).
            loaded_services, loaded_endpoints = memo.loaded_services, memo.loaded_endpoints
            missing = ([] if loaded_services is not None and loaded_services[0] is files[0] else
                       [str(f.blob_id) for f in files[0] if memo.spec(ServiceSpec, f.blob_id) is None],
                       [] if loaded_endpoints is not None and loaded_endpoints[0] is files[1] else
                       [str(f.blob_id) for f in files[1] if memo.spec(EndpointSpec, f.blob_id) is None])
            few = len(missing[0]) + len(missing[1]) <= FEW_NEW_FILES
            catalog = _build(repo, commit, {} if few else _stored_specs(session, *missing), memo, files,
                             _served(known))
        try:
            state = _lock_state(session)
            if not force and state.synced_commit == commit_id:
                session.rollback()  # another sync did the same work meanwhile
                return _result(state, skipped=True, duration_ms=int((time.perf_counter() - started) * 1000))
            if str(resolve_commit(open_repo(repo_path), ref).id) != commit_id:
                session.rollback()  # the ref moved while we read it: index its new commit instead
                continue
            moved_from = state.synced_commit
            if force:
                for model in (CatalogTag, CatalogEdge, CatalogEndpoint, CatalogService, CatalogProblem):
                    session.execute(delete(model))
                for model, values in rows.items():
                    if values:
                        # Core executemany: several times faster than the ORM's bulk insert here.
                        session.execute(insert(model.__table__), values)
                now_known = _known_after(None, rows, catalog)
            else:
                # Read again under the lock when a sync ran meanwhile: it may have changed the rows.
                now_known = _write_changes(session, catalog, _known(session) if state.synced_at != known_stamp
                                           else known, commit_id)
            errors = sum(1 for f in catalog.findings if f.severity == Severity.ERROR.value)
            state.synced_commit = commit_id
            state.synced_at = utcnow()
            state.duration_ms = int((time.perf_counter() - started) * 1000)
            state.services = len(catalog.services)
            state.endpoints = len(catalog.endpoints)
            state.errors = errors
            state.warnings = len(catalog.findings) - errors
            result = _result(state, skipped=False)
            session.commit()
            memo.known = (state.synced_at, now_known)  # read back: the stamp as the database keeps it
            _memo = memo.detach(files)
            return replace(result, changes=RowChanges(moved_from, commit_id, *now_known.changed)
                           if now_known.changed is not None else None)
        except BaseException:
            session.rollback()
            if memo.previous is not None:
                memo.previous.known = None  # it may have been updated for rows that were not written
            raise
    raise NotFound(f"{ref!r} kept moving while the catalog was indexed; try again")


# -- validating a branch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchFindings:
    """The catalog's findings at a branch's tip, sorted by who caused them.

    ``caused``: at the tip but not where the branch left main (the branch brought them, wherever they
    show: deleting a service makes another file's dependency unknown). ``existing``: already there
    where the branch left main, in files the branch adds or changes (not the branch's doing)."""

    caused: list[Finding]
    existing: list[Finding]


# The merge check asks again at each page view: findings of the last few (base, tip) catalog trees are kept.
BRANCH_FINDINGS_KEPT = 64
_branch_findings: dict[tuple[str, str], BranchFindings] = {}


def _finding_key(finding: Finding) -> tuple[str, str, str]:
    # Lines move when a file is edited above a problem; the problem is the same one.
    return (finding.file, finding.code, finding.message)


def _changed_catalog_files(base: Commit, tip: Commit) -> set[str]:
    diff = base.tree.diff_to_tree(tip.tree)
    return {delta.new_file.path for delta in diff.deltas if delta.new_file.path.startswith("catalog/")}


def _scratch_memo() -> _Memo:
    """A memo of its own, seeded with the validated specs and key lines this process knows (both keyed
    by blob id, so never stale): a branch's catalog builds without touching the sync's memo."""
    memo = _Memo()
    known = _memo
    memo.specs = dict(known.specs)
    memo.key_lines = dict(known.key_lines)
    memo.nested_lines = dict(known.nested_lines)
    return memo


def branch_findings(*, repo_path: Path, base: str, tip: str) -> BranchFindings:
    """Validate the catalog at ``tip`` as a sync of main would, against ``base`` (where the branch left
    main). Empty when the branch changes no catalog file. Raises NotFound for an unknown commit."""
    repo = open_repo(repo_path)
    base_commit = resolve_commit(repo, base)
    tip_commit = resolve_commit(repo, tip)
    base_tree, tip_tree = _catalog_tree_id(repo, base_commit), _catalog_tree_id(repo, tip_commit)
    if base_tree == tip_tree:
        return BranchFindings([], [])
    key = (str(repo_path), f"{base_tree}..{tip_tree}")
    known = _branch_findings.get(key)
    if known is not None:  # trees are content-addressed: the same pair always gives the same findings
        return known
    at_base = _build(repo, base_commit, {}, _scratch_memo()).findings
    at_tip = _build(repo, tip_commit, {}, _scratch_memo()).findings
    before = {_finding_key(f) for f in at_base}
    touched = _changed_catalog_files(base_commit, tip_commit)
    caused = [f for f in at_tip if _finding_key(f) not in before]
    existing = [f for f in at_tip if _finding_key(f) in before and f.file in touched]
    found = BranchFindings(caused, existing)
    if len(_branch_findings) >= BRANCH_FINDINGS_KEPT:
        _branch_findings.pop(next(iter(_branch_findings)))
    _branch_findings[key] = found
    return found


# -- reading files ------------------------------------------------------------------------------------


def _valid_slug(slug: str) -> bool:
    return isinstance(slug, str) and re.fullmatch(SLUG_PATTERN, slug) is not None


def service_file(slug: str) -> str:
    """Where a new service's file goes: ``catalog/services/<slug>.yaml``."""
    return f"{SERVICES_DIR}/{slug}.yaml"


def endpoint_file(slug: str) -> str:
    """Where a new endpoint's own file goes: ``catalog/endpoints/<slug>.yaml``."""
    return f"{ENDPOINTS_DIR}/{slug}.yaml"


def _read_text(repo_path: Path, folder: str, slug: str, ref: str) -> str | None:
    if not _valid_slug(slug):
        return None
    repo = bare_repo(repo_path)  # this thread's cached handle: refs are read from disk anyway
    tree = resolve_commit(repo, ref).tree
    for suffix in YAML_SUFFIXES:
        try:
            entry = tree[f"{folder}/{slug}{suffix}"]
        except (KeyError, ValueError):
            continue
        blob = repo[entry.id]
        if isinstance(blob, Blob):
            return blob.data.decode("utf-8-sig", "replace")
    return None


def read_service_text(*, repo_path: Path, slug: str, ref: str = MAIN) -> str | None:
    """The text of ``catalog/services/<slug>.yaml`` (or ``.yml``) at ``ref``, or None when absent."""
    return _read_text(repo_path, SERVICES_DIR, slug, ref)


def read_endpoint_text(*, repo_path: Path, slug: str, ref: str = MAIN) -> str | None:
    """The text of ``catalog/endpoints/<slug>.yaml`` (or ``.yml``) at ``ref``, or None when absent."""
    return _read_text(repo_path, ENDPOINTS_DIR, slug, ref)


# -- queries ------------------------------------------------------------------------------------------


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _sort_column(sort: str) -> tuple[Any, bool, ServiceSort]:
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    try:
        key = ServiceSort(name)
    except ValueError as exc:
        choices = ", ".join(s.value for s in ServiceSort)
        raise Invalid(f"Unknown sort {sort!r}; use one of {choices} (prefix - to reverse).",
                      code="bad_sort") from exc
    column: Any = {
        ServiceSort.NAME: CatalogService.name,
        ServiceSort.KIND: CatalogService.kind,
        ServiceSort.HOST: func.coalesce(CatalogService.host, ""),
        ServiceSort.STATUS: CatalogService.status,
        ServiceSort.UPDATED: CatalogService.updated_at,
    }[key]
    return column, descending, key


def _after(column: ColumnElement[Any], slug_column: Any, value: Any, slug: str,
           descending: bool) -> ColumnElement[bool]:
    if descending:
        return or_(column < value, and_(column == value, slug_column < slug))
    return or_(column > value, and_(column == value, slug_column > slug))


def _sort_value(row: CatalogService, key: ServiceSort) -> Any:
    if key is ServiceSort.UPDATED:
        return row.updated_at.isoformat()
    if key is ServiceSort.HOST:
        return row.host or ""
    return getattr(row, key.value)


def list_services(
    *, session: Session, q: str | None = None, kind: str | None = None, host: str | None = None,
    tag: str | None = None, status: str | None = None, sort: str = ServiceSort.NAME.value, limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CatalogService], str | None]:
    """Services matching every given filter, a page at a time.

    ``q`` searches name, slug and description; ``sort`` is name, kind, host, status or updated, with a
    leading ``-`` for descending. Returns the page and the cursor of the next page (None at the end).
    Raises Invalid for an unknown sort or a cursor this function did not give out.
    """
    column, descending, key = _sort_column(sort)
    limit = _clamp(limit)
    query = select(CatalogService)
    if q and q.strip():
        like = like_pattern(q)
        query = query.where(or_(CatalogService.name.ilike(like, escape="\\"),
                                CatalogService.slug.ilike(like, escape="\\"),
                                CatalogService.description.ilike(like, escape="\\")))
    if kind:
        query = query.where(CatalogService.kind == kind)
    if host:
        query = query.where(CatalogService.host == host)
    if status:
        query = query.where(CatalogService.status == status)
    if tag:
        tagged = select(CatalogTag.service_slug).where(CatalogTag.tag == tag)
        query = query.where(CatalogService.slug.in_(tagged))
    if cursor:
        value, slug = decode_cursor(cursor, 2)
        if key is ServiceSort.UPDATED:
            try:
                value = dt.datetime.fromisoformat(str(value))
            except ValueError as exc:
                raise Invalid("The cursor is not one this list gave out; start again without it.",
                              code="bad_cursor") from exc
        query = query.where(_after(column, CatalogService.slug, value, str(slug), descending))
    order = ((column.desc(), CatalogService.slug.desc()) if descending
             else (column.asc(), CatalogService.slug.asc()))
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([_sort_value(last, key), last.slug])


def get_service(*, session: Session, slug: str) -> CatalogService:
    """The indexed service. Raises NotFound."""
    row = session.scalars(select(CatalogService).where(CatalogService.slug == slug)).first()
    if row is None:
        raise NotFound(f"No service {slug!r} in the catalog.")
    return row


def list_endpoints(
    *, session: Session, service: str | None = None, type: str | None = None, q: str | None = None,
    enabled: bool | None = None, limit: int = 50, cursor: str | None = None,
) -> tuple[list[CatalogEndpoint], str | None]:
    """Endpoints by slug, a page at a time; ``q`` searches name, slug and target.

    Returns the page and the next page's cursor (None at the end). Raises Invalid for a bad cursor.
    """
    limit = _clamp(limit)
    query = select(CatalogEndpoint)
    if service:
        query = query.where(CatalogEndpoint.service == service)
    if type:
        query = query.where(CatalogEndpoint.type == type)
    if enabled is not None:
        query = query.where(CatalogEndpoint.enabled == enabled)
    if q and q.strip():
        like = like_pattern(q)
        query = query.where(or_(CatalogEndpoint.name.ilike(like, escape="\\"),
                                CatalogEndpoint.slug.ilike(like, escape="\\"),
                                CatalogEndpoint.target.ilike(like, escape="\\")))
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(CatalogEndpoint.slug > str(after))
    rows = list(session.scalars(query.order_by(CatalogEndpoint.slug).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].slug])


def get_endpoint(*, session: Session, slug: str) -> CatalogEndpoint:
    """The indexed endpoint. Raises NotFound."""
    row = session.scalars(select(CatalogEndpoint).where(CatalogEndpoint.slug == slug)).first()
    if row is None:
        raise NotFound(f"No endpoint {slug!r} in the catalog.")
    return row


def list_problems(
    *, session: Session, severity: str | None = None, file: str | None = None, limit: int = 1000,
    cursor: str | None = None,
) -> list[CatalogProblem]:
    """Problems of the last sync: errors first, then by file and line (at most ``limit``, max 5,000), after
    the one ``cursor`` (from ``problem_cursor``) names. Raises Invalid for a cursor it did not give out."""
    query = select(CatalogProblem)
    if severity:
        query = query.where(CatalogProblem.severity == severity)
    if file:
        query = query.where(CatalogProblem.file == file)
    key = (CatalogProblem.severity, CatalogProblem.file, CatalogProblem.line, CatalogProblem.id)
    if cursor:
        after = decode_cursor(cursor, len(key))
        texts_ok = all(isinstance(v, str) for v in after[:2])
        numbers_ok = all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_CURSOR_INT
                         for v in after[2:])
        if not (texts_ok and numbers_ok):
            raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
        query = query.where(tuple_(*key) > tuple_(*after))
    query = query.order_by(*key).limit(max(1, min(int(limit), 5000)))
    return list(session.scalars(query))


def stale_errors(*, session: Session, file: str) -> list[CatalogProblem]:
    """The errors of ``file`` on main when the index serves an earlier version of it (empty otherwise)."""
    stale = session.scalar(select(CatalogProblem.id).where(CatalogProblem.file == file,
                                                           CatalogProblem.code == ProblemCode.STALE.value).limit(1))
    if stale is None:
        return []
    return list_problems(session=session, severity=Severity.ERROR.value, file=file, limit=20)
def problem_cursor(row: CatalogProblem) -> str:
    """The cursor of the page after the one ``row`` ended."""
    return encode_cursor([row.severity, row.file, row.line, row.id])


def all_slugs(*, session: Session) -> list[str]:
    """Every indexed service slug, sorted (for pickers and reference checks)."""
    return list(session.scalars(select(CatalogService.slug).order_by(CatalogService.slug)))


def count_services(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(CatalogService)) or 0)

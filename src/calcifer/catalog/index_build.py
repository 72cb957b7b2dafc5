"""The catalog as a whole from its parsed files: duplicate slugs, unknown hosts and dependencies,
cycles and duplicate targets become findings next to what loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from calcifer.catalog.choices import (
    ENDPOINTS_DIR,
    SERVICES_DIR,
    ProblemCode,
    Severity,
)
from calcifer.catalog.index_parse import Finding, _File, _folder_files, _Memo, _parse
from calcifer.catalog.schemas import EndpointSpec, ServiceSpec
from calcifer.catalog.yamlio import PlainLoader
from calcifer.gitrepo import Commit, Oid, Repository

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
    candidates = [_Endpoint(spec, spec.service, file, 1, False) for file, spec in claimed]
    candidates += _nested_candidates(catalog, sorted(catalog.services.items(), key=lambda s: s[1].file.path))
    _claim_endpoints(catalog, candidates)


def _nested_candidates(catalog: _Catalog, services: list[tuple[str, _Service]]) -> list[_Endpoint]:
    """The endpoints listed inside these service files, in this order, each with its line."""
    candidates = []
    for slug, service in services:
        if not service.spec.endpoints:
            continue
        lines = catalog.memo.nested(service.file)
        fallback = catalog.memo.key_line(service.file, "endpoints")
        candidates += [_Endpoint(spec, slug, service.file, lines.get(spec.slug, fallback), True)
                       for spec in service.spec.endpoints]
    return candidates


def _claim_endpoints(catalog: _Catalog, candidates: list[_Endpoint]) -> None:
    """Each candidate takes its slug unless an earlier one has it (then: a duplicate-slug error)."""
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


def _check_references(catalog: _Catalog, services_to_check: Iterable[tuple[str, _Service]] | None = None,
                      endpoints_to_check: Iterable[tuple[str, _Endpoint]] | None = None) -> None:
    """Hosts, dependencies and services named but not in the catalog; of every service and endpoint,
    or of those given (the rest are known to be unchanged)."""
    services = catalog.services
    for slug, service in services.items() if services_to_check is None else services_to_check:
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
    for slug, endpoint in catalog.endpoints.items() if endpoints_to_check is None else endpoints_to_check:
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

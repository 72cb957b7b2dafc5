"""The catalog at a commit derived from a nearby commit's catalog: only the files that differ are read, and
only the rules those files can affect run again, through the same rule functions a whole build runs.

A whole build of a 4,000-file catalog takes ~20 ms; the merge check asks for the catalog of every branch
tip, and a branch usually adds or edits a few files. ``derive`` answers from the base's catalog when it can
show that the change stays local; in every other case (a slug that changes hands, a service removed or
renamed, a name somebody referred to appearing, a shared target, many files...) it returns None and the
caller builds the whole catalog. tests/catalog/test_index_delta.py compares both on generated catalogs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from calcifer.catalog.choices import ENDPOINTS_DIR, SERVICES_DIR, YAML_SUFFIXES, ProblemCode
from calcifer.catalog.index_build import (
    _Catalog,
    _check_cycles,
    _check_references,
    _claim_endpoints,
    _claim_order,
    _Endpoint,
    _load_services_from,
    _nested_candidates,
    _Service,
    _strongly_connected,
    _target_key,
)
from calcifer.catalog.index_parse import _File, _Memo, _parse
from calcifer.catalog.schemas import EndpointSpec
from calcifer.catalog.yamlio import PlainLoader
from calcifer.gitrepo import Oid, Repository, Tree

# More changed files than this: a whole build (still incremental per file through the memo) is as quick.
MAX_CHANGED_FILES = 64

_FILE_MODES = (0o100644, 0o100755, 0o120000)  # what a tree listing counts as a blob (see _folder_files)


@dataclass
class Derived:
    """A catalog derived from a base, with the catalog files that differ from the base's."""

    catalog: _Catalog
    changed_paths: set[str]


@dataclass
class _BaseFacts:
    """What ``derive`` asks of a base catalog, computed once per base (it never changes once built)."""

    service_path_slug: dict[str, str]
    endpoint_paths: dict[str, list[str]]  # file -> slugs of the endpoints it holds (nested ones included)
    disputed: set[str]  # slugs with a duplicate-slug finding: who holds them depends on every claimant
    unknown_names: set[str]  # names referred to (host, depends_on, service) that are not services
    referrers: dict[str, set[str]]  # service slug -> services whose host or depends_on names it
    in_cycles: set[str]
    target_counts: Counter[Any]
    files_with_cycles: set[str]
    stale: bool


@dataclass
class _Change:
    services: list[tuple[str, Oid | None]] = field(default_factory=list)  # (path, blob at tip or None)
    endpoints: list[tuple[str, Oid | None]] = field(default_factory=list)


_facts: dict[int, tuple[_Catalog, _BaseFacts]] = {}


def _graph_edges(service: _Service, services: dict[str, _Service]) -> list[str]:
    spec = service.spec
    needs = [*spec.depends_on, *([spec.host] if spec.host else [])]
    return [n for n in dict.fromkeys(needs) if n in services]


def _base_facts(base: _Catalog) -> _BaseFacts:
    cached = _facts.get(id(base))
    if cached is not None and cached[0] is base:
        return cached[1]
    services = base.services
    endpoint_paths: dict[str, list[str]] = {}
    for slug, endpoint in base.endpoints.items():
        endpoint_paths.setdefault(endpoint.file.path, []).append(slug)
    unknown: set[str] = set()
    referrers: dict[str, set[str]] = {}
    graph: dict[str, list[str]] = {}
    for slug, service in services.items():
        spec = service.spec
        for name in [*spec.depends_on, *([spec.host] if spec.host else [])]:
            if name in services:
                referrers.setdefault(name, set()).add(slug)
            else:
                unknown.add(name)
        edges = _graph_edges(service, services)
        if edges:
            graph[slug] = edges
    unknown.update(e.service for e in base.endpoints.values()
                   if not e.nested and e.service is not None and e.service not in services)
    facts = _BaseFacts(
        service_path_slug={service.file.path: slug for slug, service in services.items()},
        endpoint_paths=endpoint_paths,
        disputed={f.slug for f in base.findings if f.code == ProblemCode.DUPLICATE_SLUG.value and f.slug},
        unknown_names=unknown,
        referrers=referrers,
        in_cycles={member for component in _strongly_connected(graph) for member in component},
        target_counts=Counter(key for e in base.endpoints.values() if (key := _target_key(e.spec)) is not None),
        files_with_cycles={f.file for f in base.findings if f.code == ProblemCode.CYCLE.value},
        stale=any(f.code == ProblemCode.STALE.value for f in base.findings),
    )
    _facts.clear()  # one base at a time: main's last build
    _facts[id(base)] = (base, facts)
    return facts


def _subtree(repo: Repository, tree: Tree, folder: str) -> Tree | None:
    try:
        entry = tree[folder]
    except (KeyError, ValueError):
        return None
    sub = repo.get(entry.id)
    return sub if isinstance(sub, Tree) else None


def _folder_changes(repo: Repository, base_tree: Tree, tip_tree: Tree, folder: str
                    ) -> list[tuple[str, Oid | None]] | None:
    """(path, blob id at the tip or None when gone) of each catalog file of ``folder`` that differs."""
    before, after = _subtree(repo, base_tree, folder), _subtree(repo, tip_tree, folder)
    if before is None or after is None:
        return None if before is not after else []
    if before.id == after.id:
        return []
    changes: list[tuple[str, Oid | None]] = []
    for delta in before.diff_to_tree(after).deltas:  # no rename detection: a rename is a delete and an add
        name = delta.new_file.path
        if "/" in name or not name.endswith(YAML_SUFFIXES):
            continue  # not a catalog file (a subfolder's, or not YAML): never read by a build
        present = delta.status_char() != "D" and delta.new_file.mode in _FILE_MODES
        changes.append((f"{folder}/{name}", delta.new_file.id if present else None))
        if len(changes) > MAX_CHANGED_FILES:
            return None
    return changes


def derive(*, repo: Repository, base: _Catalog, base_tree: Tree, tip_tree: Tree, memo: _Memo
           ) -> Derived | None:
    """The catalog at ``tip_tree`` from ``base`` (the whole build of ``base_tree``), or None when the
    difference is one whose effects this cannot bound (the caller then builds the whole catalog)."""
    facts = _base_facts(base)
    if facts.stale:
        return None  # served-from-history files depend on the index's state, not on the trees
    service_changes = _folder_changes(repo, base_tree, tip_tree, SERVICES_DIR)
    endpoint_changes = _folder_changes(repo, base_tree, tip_tree, ENDPOINTS_DIR)
    if service_changes is None or endpoint_changes is None:
        return None
    if len(service_changes) + len(endpoint_changes) > MAX_CHANGED_FILES:
        return None
    changed_paths = {path for path, _ in service_changes} | {path for path, _ in endpoint_changes}
    loader = PlainLoader()
    tip = _Catalog(memo=memo)

    # Services: the changed files parsed and claimed among themselves (a slug shared with another
    # changed file is a duplicate-slug finding: its winner depends on the claim order of the whole folder).
    old_service_slugs = {facts.service_path_slug[p] for p, _ in service_changes if p in facts.service_path_slug}
    tip_files = [_File(repo, path, blob) for path, blob in service_changes if blob is not None]
    _load_services_from(tip, tip_files, loader, {})
    if any(f.code == ProblemCode.DUPLICATE_SLUG.value for f in tip.findings):
        return None
    new_services = dict(tip.services)
    added, removed = new_services.keys() - old_service_slugs, old_service_slugs - new_services.keys()
    if removed or added & base.services.keys() or added & facts.unknown_names:
        return None  # a name disappears, changes hands, or starts to resolve somebody's reference
    if (old_service_slugs | new_services.keys()) & facts.disputed:
        return None
    tip.services = {slug: service for slug, service in base.services.items() if slug not in new_services}
    tip.services.update(new_services)

    # Endpoints: those of changed endpoint files and those nested in changed service files leave; the
    # changed files' endpoints come back, claimed against the rest.
    leaving = {slug for path in changed_paths for slug in facts.endpoint_paths.get(path, ())}
    parsed = []
    for path, blob in endpoint_changes:
        if blob is None:
            continue
        file = _File(repo, path, blob)
        spec, found = _parse(EndpointSpec, file, loader, {}, memo)
        tip.findings += found
        if spec is not None:
            parsed.append((file, spec))
    candidates = [_Endpoint(spec, spec.service, file, 1, False) for file, spec in _claim_order(parsed)]
    candidates += _nested_candidates(tip, sorted(new_services.items(), key=lambda s: s[1].file.path))
    coming = [endpoint.spec.slug for endpoint in candidates]
    if len(set(coming)) != len(coming) or (set(coming) - leaving) & base.endpoints.keys():
        return None
    if (leaving | set(coming)) & facts.disputed:
        return None
    staying = {slug: e for slug, e in base.endpoints.items() if slug not in leaving}
    _claim_endpoints(tip, candidates)
    new_endpoints = dict(tip.endpoints)
    tip.endpoints = staying
    tip.endpoints.update(new_endpoints)

    # Targets: a changed endpoint that shares a target with any other makes the pair's order matter.
    targets = Counter(key for slug in leaving if (key := _target_key(base.endpoints[slug].spec)) is not None)
    if any(facts.target_counts[key] > 1 for key in targets):
        return None
    coming_keys = [key for e in new_endpoints.values() if (key := _target_key(e.spec)) is not None]
    if len(set(coming_keys)) != len(coming_keys) or any(
            facts.target_counts[key] - targets[key] > 0 for key in coming_keys):
        return None

    # References of what changed (the rest refer to the same names as before, all still resolving alike).
    _check_references(tip, services_to_check=new_services.items(),
                      endpoints_to_check=[(slug, e) for slug, e in new_endpoints.items() if not e.nested])

    # Cycles: unchanged unless a changed service's edges changed while it is, or may become, in a cycle.
    changed_edges = {slug for slug in new_services
                     if slug not in base.services
                     or _graph_edges(new_services[slug], tip.services) != _graph_edges(base.services[slug],
                                                                                        base.services)}
    incoming = {slug for slug in changed_edges
                if (facts.referrers.get(slug, set()) - new_services.keys())
                or any(slug in _graph_edges(s, tip.services) for s in new_services.values())}
    kept = [f for f in base.findings if f.file not in changed_paths]
    if changed_edges & (facts.in_cycles | incoming) or changed_paths & facts.files_with_cycles:
        kept = [f for f in kept if f.code != ProblemCode.CYCLE.value]
        _check_cycles(tip)  # the whole graph (the memo's, the base's, is reused only if equal)
    tip.findings = kept + tip.findings
    return Derived(tip, changed_paths)

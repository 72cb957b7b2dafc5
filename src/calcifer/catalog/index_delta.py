"""The catalog at a commit derived from a nearby commit's catalog: only the files that differ are read, and
only the rules those files can affect run again, through the same rule functions a whole build runs.

A whole build of a 4,000-file catalog takes ~20 ms; the merge check asks for the catalog of every branch
tip, and a branch usually adds or edits a few files. ``derive`` answers from the base's catalog when it can
show that the change stays local; in every other case (a slug that changes hands, a service removed or
renamed, a name somebody referred to appearing, a shared target, many files...) it returns None and the
caller builds the whole catalog. tests/catalog/test_index_delta.py compares both on generated catalogs.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    _target_key,
)
from calcifer.catalog.index_parse import _File, _Memo, _parse
from calcifer.catalog.schemas import EndpointSpec, ServiceSpec
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
    """What ``derive`` asks of every base, read from the base's findings alone (one pass, no file read);
    the rest it asks only of the files that changed."""

    disputed: set[str]  # slugs with a duplicate-slug finding: who holds them depends on every claimant
    unknown_names: set[str]  # names referred to (host, depends_on, service) that are not services
    files_with_cycles: set[str]
    stale: bool


_facts: dict[int, tuple[_Catalog, _BaseFacts]] = {}

# Plain strings: an enum member's .value is a descriptor call, and this loop runs over every finding.
_UNKNOWN_CODES = (ProblemCode.UNKNOWN_HOST.value, ProblemCode.UNKNOWN_DEPENDENCY.value)
_DUPLICATE_SLUG = ProblemCode.DUPLICATE_SLUG.value
_UNKNOWN_SERVICE = ProblemCode.UNKNOWN_SERVICE.value
_CYCLE = ProblemCode.CYCLE.value
_STALE = ProblemCode.STALE.value


def _base_facts(base: _Catalog) -> _BaseFacts:
    cached = _facts.get(id(base))
    if cached is not None and cached[0] is base:
        return cached[1]
    facts = _BaseFacts(set(), set(), set(), stale=False)
    services = base.services
    for finding in base.findings:
        code = finding.code
        if code == _DUPLICATE_SLUG and finding.slug:
            facts.disputed.add(finding.slug)
        elif code in _UNKNOWN_CODES and finding.slug in services:
            # Every name a service gives that is not a service has a finding: the names come from its spec.
            spec = services[finding.slug].spec
            facts.unknown_names.update(n for n in [*spec.depends_on, spec.host] if n and n not in services)
        elif code == _UNKNOWN_SERVICE and finding.slug in base.endpoints:
            name = base.endpoints[finding.slug].service
            if name:
                facts.unknown_names.add(name)
        elif code == _CYCLE:
            facts.files_with_cycles.add(finding.file)
        elif code == _STALE:
            facts.stale = True
    _facts.clear()  # one base at a time: main's last build
    _facts[id(base)] = (base, facts)
    return facts


def _graph_edges(service: _Service, services: dict[str, _Service]) -> list[str]:
    """The dependency graph's edges from one service, as ``_check_cycles`` draws them."""
    spec = service.spec
    needs = [*spec.depends_on, *([spec.host] if spec.host else [])]
    return [n for n in dict.fromkeys(needs) if n in services]


def _reaches(start: str, goal: str, services: dict[str, _Service]) -> bool:
    """True when a path of dependency edges leads from ``start`` to ``goal`` (only what it reaches is read)."""
    seen = {start}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for child in _graph_edges(services[node], services):
            if child == goal:
                return True
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return False


def _claimed_by(catalog: _Catalog, slug: str | None, path: str, endpoints: bool = False) -> bool:
    held = (catalog.endpoints if endpoints else catalog.services).get(slug or "")
    return held is not None and held.file.path == path


def _subtree(repo: Repository, tree: Tree, folder: str) -> Tree | None:
    try:
        entry = tree[folder]
    except (KeyError, ValueError):
        return None
    sub = repo.get(entry.id)
    return sub if isinstance(sub, Tree) else None


def _folder_changes(repo: Repository, base_tree: Tree, tip_tree: Tree, folder: str
                    ) -> list[tuple[str, Oid | None, Oid | None]] | None:
    """(path, blob id at the base, blob id at the tip) of each catalog file of ``folder`` that differs (None:
    not there)."""
    before, after = _subtree(repo, base_tree, folder), _subtree(repo, tip_tree, folder)
    if before is None or after is None:
        return None if before is not after else []
    if before.id == after.id:
        return []
    changes: list[tuple[str, Oid | None, Oid | None]] = []
    for delta in before.diff_to_tree(after).deltas:  # no rename detection: a rename is a delete and an add
        name = delta.new_file.path
        if "/" in name or not name.endswith(YAML_SUFFIXES):
            continue  # not a catalog file (a subfolder's, or not YAML): never read by a build
        status = delta.status_char()
        was = status != "A" and delta.old_file.mode in _FILE_MODES
        now = status != "D" and delta.new_file.mode in _FILE_MODES
        changes.append((f"{folder}/{name}", delta.old_file.id if was else None, delta.new_file.id if now else None))
        if len(changes) > MAX_CHANGED_FILES:
            return None
    return changes


def derive(*, repo: Repository, base: _Catalog, base_tree: Tree, tip_tree: Tree, memo: _Memo
           ) -> Derived | None:
    """The catalog at ``tip_tree`` from ``base`` (the whole build of ``base_tree``, made with ``memo`` or
    the memo it was copied from), or None when the difference is one whose effects this cannot bound (the
    caller then builds the whole catalog)."""
    facts = _base_facts(base)
    if facts.stale:
        return None  # served-from-history files depend on the index's state, not on the trees
    service_changes = _folder_changes(repo, base_tree, tip_tree, SERVICES_DIR)
    endpoint_changes = _folder_changes(repo, base_tree, tip_tree, ENDPOINTS_DIR)
    if service_changes is None or endpoint_changes is None:
        return None
    if len(service_changes) + len(endpoint_changes) > MAX_CHANGED_FILES:
        return None
    changed_paths = {path for path, _, _ in service_changes} | {path for path, _, _ in endpoint_changes}
    loader = PlainLoader()
    tip = _Catalog(memo=memo)

    # What the changed files held at the base (their specs are in the memo: the base's build parsed them).
    old_service_slugs: set[str] = set()
    leaving: set[str] = set()  # endpoints of changed files, nested ones included
    for path, was, _ in service_changes:
        spec = memo.spec(ServiceSpec, was) if was is not None else None
        if spec is not None and _claimed_by(base, spec.slug, path):
            old_service_slugs.add(spec.slug)
            leaving.update(e.slug for e in spec.endpoints if _claimed_by(base, e.slug, path, endpoints=True))
    for path, was, _ in endpoint_changes:
        spec = memo.spec(EndpointSpec, was) if was is not None else None
        if spec is not None and _claimed_by(base, spec.slug, path, endpoints=True):
            leaving.add(spec.slug)

    # Services: the changed files parsed and claimed among themselves (a slug shared with another
    # changed file is a duplicate-slug finding: its winner depends on the claim order of the whole folder).
    tip_files = [_File(repo, path, blob) for path, _, blob in service_changes if blob is not None]
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

    # Endpoints: those of the changed files leave; the changed files' endpoints come back, claimed
    # against those that stay.
    parsed = []
    for path, _, blob in endpoint_changes:
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
    _claim_endpoints(tip, candidates)
    new_endpoints = dict(tip.endpoints)
    tip.endpoints = {slug: e for slug, e in base.endpoints.items() if slug not in leaving}
    tip.endpoints.update(new_endpoints)

    # Targets: an endpoint that leaves or comes sharing a target with any other makes the pair's order matter.
    if not _targets_stay_apart(base, memo, leaving, new_endpoints):
        return None

    # References of what changed (the rest name the same names as before, all resolving as before).
    _check_references(tip, services_to_check=new_services.items(),
                      endpoints_to_check=[(slug, e) for slug, e in new_endpoints.items() if not e.nested])

    # Cycles: unchanged unless a service whose edges changed is, or becomes, part of one.
    kept = [f for f in base.findings if f.file not in changed_paths]
    if changed_paths & facts.files_with_cycles or _cycles_may_change(base, tip, new_services):
        kept = [f for f in kept if f.code != ProblemCode.CYCLE.value]
        _check_cycles(tip)  # the whole graph (the memo's, the base's, is reused only if equal)
    tip.findings = kept + tip.findings
    return Derived(tip, changed_paths)


def _targets_stay_apart(base: _Catalog, memo: _Memo, leaving: set[str], coming: dict[str, _Endpoint]) -> bool:
    """True when no endpoint that leaves or comes shares its target with another endpoint."""
    keys = memo.targets[0] if memo.targets is not None else None  # (slug, key) of the base, in order
    if keys is None or len(keys) != len(base.endpoints):
        return False
    paired = {slug for pair in (memo.targets[1] if memo.targets else []) for slug in pair}
    if leaving & paired:
        return False
    coming_keys = [key for e in coming.values() if (key := _target_key(e.spec)) is not None]
    if len(set(coming_keys)) != len(coming_keys):
        return False
    if not coming_keys:
        return True
    held = {key: slug for slug, key in keys if key is not None}
    return all(held.get(key, "") in leaving or key not in held for key in coming_keys)


def _cycles_may_change(base: _Catalog, tip: _Catalog, changed: dict[str, _Service]) -> bool:
    """True when a changed service's edges changed and it was on a cycle or is the target of an edge (no
    new cycle can pass through a service nothing points at; every other edge is as it was)."""
    for slug, service in changed.items():
        before = base.services.get(slug)
        if before is not None and _graph_edges(service, tip.services) == _graph_edges(before, base.services):
            continue
        if before is not None and _reaches(slug, slug, base.services):
            return True
        if any(slug in _graph_edges(other, tip.services) for other in changed.values()):
            return True
        if before is not None and any(slug in _graph_edges(other, base.services)
                                      for other_slug, other in base.services.items() if other_slug not in changed):
            return True
    return False

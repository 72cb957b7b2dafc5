"""Validating a branch's catalog exactly as a sync of main would, for the merge check; and one document
the editor is about to write, by the same build, so the form's live checks and the merge check agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from calcifer.catalog import index_delta, index_sync
from calcifer.catalog.choices import ENDPOINTS_DIR, SERVICES_DIR, ProblemCode
from calcifer.catalog.index_build import _build, _catalog_files
from calcifer.catalog.index_parse import Finding, _File, _Memo
from calcifer.catalog.index_sync import _catalog_tree_id
from calcifer.catalog.schemas import SLUG_PATTERN
from calcifer.catalog.yamlio import apply_spec, load_plain
from calcifer.errors import Invalid
from calcifer.gitrepo import MAIN, Oid, Repository, bare_repo, blob_hash, open_repo, resolve_commit
from calcifer.plugins import registry as plugins

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


_keys_of: tuple[list[Finding], set[tuple[str, str, str]]] | None = None


def _finding_keys(findings: list[Finding]) -> set[tuple[str, str, str]]:
    """The keys of main's findings, kept while main's build is the same list (every check of every branch
    compares against it)."""
    global _keys_of
    if _keys_of is None or _keys_of[0] is not findings:
        _keys_of = (findings, {(f.file, f.code, f.message) for f in findings})  # _finding_key, inlined
    return _keys_of[1]


def _reading_order(finding: Finding) -> tuple[str, int, str, str]:
    return (finding.file, finding.line, finding.code, finding.message)


def _changed_catalog_files(base: tuple[list[_File], list[_File]], tip: tuple[list[_File], list[_File]]
                           ) -> set[str]:
    """Paths of the catalog files (services and endpoints folders) that differ between two commits, from
    their folder listings (already read for the builds) rather than a diff of the whole tree."""
    before = {f.path: f.blob_id for folder in base for f in folder}
    after = {f.path: f.blob_id for folder in tip for f in folder}
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def _scratch_memo() -> _Memo:
    """A memo of its own, seeded with what the last sync of main derived (validated specs, key lines,
    folder file lists, loaded folders, cycles, targets): each entry is keyed by content (blob or tree
    ids, or kept with the input it came from and reused only for an equal one), so never stale for
    another commit. A branch's catalog then re-derives only the folders the branch changed, without
    touching the sync's memo (the dicts are copied; the derived values are read-only)."""
    known = index_sync._memo
    memo = _Memo()
    memo.specs = dict(known.specs)
    memo.key_lines = dict(known.key_lines)
    memo.nested_lines = dict(known.nested_lines)
    memo.folders = dict(known.folders)
    memo.target_keys = dict(known.target_keys)
    memo.loaded_services = known.loaded_services
    memo.loaded_endpoints = known.loaded_endpoints
    memo.cycles = known.cycles
    memo.targets = known.targets
    return memo


def branch_findings(*, repo_path: Path, base: str, tip: str) -> BranchFindings:
    """Validate the catalog at ``tip`` as a sync of main would, against ``base`` (where the branch left
    main). Empty when the branch changes no catalog file. Raises NotFound for an unknown commit."""
    # This thread's kept handle: main's catalog folders (a few large trees) are then in its object cache
    # from the last check or commit here, not read and inflated again. Nothing kept below holds the handle.
    repo = bare_repo(repo_path)
    base_commit = resolve_commit(repo, base)
    tip_commit = resolve_commit(repo, tip)
    base_tree, tip_tree = _catalog_tree_id(repo, base_commit), _catalog_tree_id(repo, tip_commit)
    if base_tree == tip_tree:
        return BranchFindings([], [])
    # Trees are content-addressed: the same pair always gives the same findings, as long as the same
    # plugins are switched off (a disabled plugin's check types are refused).
    key = (str(repo_path), f"{base_tree}..{tip_tree}|{','.join(sorted(plugins.DISABLED))}")
    known = _branch_findings.get(key)
    if known is not None:
        return known
    memo = _scratch_memo()  # one for both builds: the tip reuses what the base derived for unchanged folders
    built = index_sync._memo.built
    derived = None
    if built is not None and built[0] == base_tree:
        at_base = built[1].findings
        derived = index_delta.derive(repo=repo, base=built[1], base_tree=base_commit.tree,
                                     tip_tree=tip_commit.tree, memo=memo)
    if derived is not None:
        at_tip, touched = derived.catalog.findings, derived.changed_paths
    else:
        base_files, tip_files = _catalog_files(repo, base_commit, memo), _catalog_files(repo, tip_commit, memo)
        if built is None or built[0] != base_tree:
            at_base = _build(repo, base_commit, {}, memo, base_files).findings
        at_tip = _build(repo, tip_commit, {}, memo, tip_files).findings
        touched = _changed_catalog_files(base_files, tip_files)
    before = _finding_keys(at_base)
    caused: list[Finding] = []
    existing: list[Finding] = []
    for f in at_tip:  # one look-up each (main's hundreds of warnings are at every tip)
        if (f.file, f.code, f.message) not in before:  # _finding_key, inlined
            caused.append(f)
        elif f.file in touched:
            existing.append(f)
    found = BranchFindings(sorted(caused, key=_reading_order), sorted(existing, key=_reading_order))
    if len(_branch_findings) >= BRANCH_FINDINGS_KEPT:
        _branch_findings.pop(next(iter(_branch_findings)))
    _branch_findings[key] = found
    return found


# -- validating one document before it is written ---------------------------------------------------


@dataclass(frozen=True)
class DocumentFindings:
    """What the merge check would say about one service or endpoint file written on top of main.

    ``own``: the findings of the document itself (their lines are the document's). ``elsewhere``: the
    findings it would cause in other files (a duplicate slug reported where the other one lives, a
    renamed service that leaves another's dependency unknown)."""

    own: list[Finding]
    elsewhere: list[Finding]


def _document_file(repo: Repository, path: str, text: str) -> _File:
    data = text.encode("utf-8")
    file = _File(repo, path, Oid(hex=blob_hash(data)))
    file._data = data  # never written to git: the content is at hand, its id only keys the memo
    return file


def _without_nested(repo: Repository, file: _File, slug: str) -> _File:
    """``file`` (a service file) with endpoint ``slug`` left out of its ``endpoints:`` list."""
    document = load_plain(file.text)
    document["endpoints"] = [e for e in document.get("endpoints") or []
                             if not (isinstance(e, dict) and e.get("slug") == slug)]
    if not document["endpoints"]:
        del document["endpoints"]
    return _document_file(repo, file.path, apply_spec(file.text, document))


def _slug_of(text: str) -> str | None:
    try:
        data = load_plain(text)
    except Invalid:
        return None
    slug = data.get("slug") if isinstance(data, dict) else None
    return slug if isinstance(slug, str) and re.fullmatch(SLUG_PATTERN, slug) else None


def document_findings(*, repo_path: Path, kind: str, text: str, original_slug: str | None,
                      new: bool) -> DocumentFindings:
    """Validate ``text`` as the ``kind`` ("service" or "endpoint") file the editor would write, in main's
    catalog, exactly as a sync of main (and so the merge check) would read it.

    The document replaces the file of ``original_slug`` (default: its own slug) unless ``new``; a new
    document whose slug is taken is reported as the merge check would report a second file with that
    slug. Nothing is written to git."""
    repo = open_repo(repo_path)
    main = resolve_commit(repo, MAIN)
    services, endpoints = (list(files) for files in _catalog_files(repo, main))
    own_files, folder = (services, SERVICES_DIR) if kind == "service" else (endpoints, ENDPOINTS_DIR)
    slug = _slug_of(text) or original_slug or "new"
    replaced = None if new else (original_slug or slug)
    own_files[:] = [f for f in own_files if f.stem != replaced]
    path = f"{folder}/{slug}.yaml"
    base = _build(repo, main, {}, _scratch_memo())
    if kind == "endpoint" and replaced is not None:
        nested = base.endpoints.get(replaced)
        if nested is not None and nested.nested:  # edited here, it moves out of its service's list
            services[:] = [_without_nested(repo, f, replaced) if f.path == nested.file.path else f
                           for f in services]
    taken = any(f.path.rpartition(".")[0] == path.rpartition(".")[0] for f in own_files)
    if taken:
        # A second file with the same slug: main's file (named after the slug) keeps it, as in a sync.
        path = f"{folder}/{slug}.new.yaml"
    own_files.append(_document_file(repo, path, text))
    found = _build(repo, main, {}, _scratch_memo(), files=(services, endpoints)).findings
    before = {_finding_key(f) for f in base.findings}
    own = [f for f in found if f.file == path and not (taken and f.code == ProblemCode.SLUG_MISMATCH.value)]
    elsewhere = [f for f in found if f.file != path and _finding_key(f) not in before]
    return DocumentFindings(own, elsewhere)

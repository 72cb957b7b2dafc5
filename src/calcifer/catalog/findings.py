"""Validating a branch's catalog exactly as a sync of main would, for the merge check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calcifer.catalog import index_sync
from calcifer.catalog.index_build import _build, _catalog_files
from calcifer.catalog.index_parse import Finding, _File, _Memo
from calcifer.catalog.index_sync import _catalog_tree_id
from calcifer.gitrepo import open_repo, resolve_commit

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
    memo = _scratch_memo()  # one for both builds: the tip reuses what the base derived for unchanged folders
    base_files, tip_files = _catalog_files(repo, base_commit, memo), _catalog_files(repo, tip_commit, memo)
    built = index_sync._memo.built
    at_base = (built[1] if built is not None and built[0] == base_tree else
               _build(repo, base_commit, {}, memo, base_files).findings)
    at_tip = _build(repo, tip_commit, {}, memo, tip_files).findings
    before = {_finding_key(f) for f in at_base}
    touched = _changed_catalog_files(base_files, tip_files)
    caused = [f for f in at_tip if _finding_key(f) not in before]
    existing = [f for f in at_tip if _finding_key(f) in before and f.file in touched]
    found = BranchFindings(caused, existing)
    if len(_branch_findings) >= BRANCH_FINDINGS_KEPT:
        _branch_findings.pop(next(iter(_branch_findings)))
    _branch_findings[key] = found
    return found

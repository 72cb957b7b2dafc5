"""The managed repository: branches, worktrees, commits, merges, diffs — in-process through pygit2.

Import from here: ``from calcifer import gitrepo`` then ``gitrepo.merge_into_main(...)``.
"""

from __future__ import annotations

from .changes import commit_worktree, worktree_changes, worktree_conflicts
from .merge import branch_status, merge_into_main, update_from_main
from .models import Author, BranchStatus, CommitInfo, FileChange, FileMerger
from .paths import (
    MAX_FILE_BYTES,
    confine_worktree,
    delete_worktree_file,
    read_worktree_file,
    safe_path,
    write_worktree_file,
)
from .service import (
    INITIAL_FILES,
    adopt_repository,
    archive_branch,
    branch_exists,
    branch_tip,
    commits_ahead,
    create_work_branch,
    ensure_worktree,
    file_history,
    find_commit_with_trailer,
    find_merging_commit,
    init_repository,
    is_reachable,
    list_branches,
    list_files_at,
    list_worktrees,
    main_head,
    merge_base,
    prune_spares,
    read_file_at,
    remove_work_branch,
    retire_worktree,
)

__all__ = [
    "INITIAL_FILES",
    "MAX_FILE_BYTES",
    "Author",
    "BranchStatus",
    "CommitInfo",
    "FileChange",
    "FileMerger",
    "adopt_repository",
    "archive_branch",
    "branch_exists",
    "branch_status",
    "branch_tip",
    "commit_worktree",
    "commits_ahead",
    "confine_worktree",
    "create_work_branch",
    "delete_worktree_file",
    "ensure_worktree",
    "file_history",
    "find_commit_with_trailer",
    "find_merging_commit",
    "init_repository",
    "is_reachable",
    "list_branches",
    "list_files_at",
    "list_worktrees",
    "main_head",
    "merge_base",
    "merge_into_main",
    "prune_spares",
    "read_file_at",
    "read_worktree_file",
    "remove_work_branch",
    "retire_worktree",
    "safe_path",
    "update_from_main",
    "worktree_changes",
    "worktree_conflicts",
    "write_worktree_file",
]

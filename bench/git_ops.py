"""Work-item git operations: Calcifer against the git command line on identical repositories.

    .venv/bin/python bench/git_ops.py            # 10,000 files, 5,000 commits, 15 rounds (a few minutes)
    .venv/bin/python bench/git_ops.py --quick    # 1,000 files, 1,000 commits, 5 rounds (under a minute)

A managed repository (bare, branch main, a Keep-a-Changelog CHANGES.md with one entry per past work
item, history made of work-item branches merged into main) is written with ``git fast-import`` and
copied, so Calcifer and the git CLI start from byte-identical repositories. Then, round after round,
one work item goes through its life on each side:

    create  Calcifer: work.create_work_item (DB row, checklist, audit, branch, worktree checkout).
                      Since 2026-11-26 the worktree is made from a spare when there is one: the folder
                      of the last merged work item, kept at its merge, renamed into place and checked
                      out to the new branch, rewriting only the files that differ (gitrepo/spares.py).
                      Every measured round finds the spare its previous merge left; the warm-up
                      round's first create, a checkout of every file, is printed apart. (Both sides'
                      full checkouts take seconds when other files were deleted shortly before: ext4
                      without a journal, as on this machine's /, scans the inodes freed in the last
                      30 s on every file it creates, and the CLI deletes a worktree every round.)
            git CLI:  git worktree add -b BRANCH PATH main
    commit  Calcifer: work.write_file + work.commit naming that file, with a changelog entry (CHANGES.md
                      in Calcifer's layout gets the entry by a text edit that gives what parse + render
                      gives; the file and CHANGES.md staged, commit, audit)
            git CLI:  write the file, insert the entry line into CHANGES.md (plain text edit),
                      git add FILE CHANGES.md, git commit
                      (Both commit the named file and CHANGES.md. Until 2026-11-26 Calcifer's side passed
                      files=None, i.e. `git add -A`, a status of all 10,000 files the CLI does not do.)
    check   Calcifer: work.merge_problems (checklist/notes rules, branch status with an in-memory
                      merge, changelog entries of the branch, worktree conflicts and changes, and since
                      2026-12-07 the catalog of the branch validated as a sync of main would read it, with
                      the docs' front matter: each round's commit adds a service file, so this runs every
                      round; the CLI side validates nothing). Since 2026-12-07 too, the worktree's status runs in
                      a thread of its own while the changelog and merge rules run (git's status also stats
                      files in threads)
            git CLI:  git status --porcelain, git rev-list --left-right --count main...BRANCH,
                      git merge-tree --write-tree main BRANCH
    merge   Calcifer: work.merge_and_complete (claim, the full check again, in-memory merge, merge
                      commit with the work-log doc, compare-and-swap of main, DB + audit, worktree and
                      branch removed, then the after-merge hooks inside the request: catalog, docs and
                      search re-index what the merge changed; the CLI has no index to keep)
            git CLI:  the check's three commands again (merge-tree's tree is reused), git commit-tree
                      TREE -p main -p BRANCH, git update-ref refs/heads/main NEW OLD, git worktree
                      remove, git branch -D

Each Calcifer operation opens its own database session (as a request would). Rounds alternate which
side goes first; one warm-up round per side is not counted. Target: every ratio calcifer/git <= 1.0.
Bench scripts print figures; they are never part of the test suite. The last line is JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import logging
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import emit_json, machine_load, median, percentile, print_table, ratio, rounded

OPERATIONS = ("create", "commit", "check", "merge")
TARGET_RATIO = 1.0

FULL = {"files": 10_000, "commits": 5_000, "rounds": 15}
QUICK = {"files": 1_000, "commits": 1_000, "rounds": 5}

TYPE_ORDER = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
TYPE_WEIGHTS = (30, 45, 2, 5, 15, 3)
HISTORY_ID_BASE = 100_000  # work-item ids in the generated history: never equal to the bench's new ones

GIT_ENV_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench Operator",
    "GIT_AUTHOR_EMAIL": "operator@bench.invalid",
    "GIT_COMMITTER_NAME": "Bench Operator",
    "GIT_COMMITTER_EMAIL": "operator@bench.invalid",
}


# ---------------------------------------------------------------------------------------------------
# building the managed repository


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV_IDENTITY)
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "GIT_CONFIG_NOSYSTEM": "1",
                "LC_ALL": "C"})
    return env


def run_git(
    args: list[str], env: dict[str, str], *, ok_codes: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["git", *args], env=env, capture_output=True)
    if result.returncode not in ok_codes:
        raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}): {result.stderr.decode()}")
    return result


SENTENCES = (
    "The service runs on two hosts behind the internal load balancer.",
    "Backups are taken nightly and kept for thirty days.",
    "Restart it with systemctl; the unit waits for the database to accept connections.",
    "Certificates renew automatically sixty days before they expire.",
    "Logs go to the central collector and are kept for two weeks.",
    "The health endpoint answers within fifty milliseconds when all dependencies are up.",
    "Upgrades follow the vendor's release notes; read the breaking changes first.",
    "Metrics are scraped every thirty seconds by Prometheus.",
    "Access is granted through the directory group of the same name.",
    "The configuration lives in this repository; never edit it on the host.",
)


def service_yaml(n: int, rng: random.Random, n_docs: int) -> str:
    """A valid catalog/services file (Calcifer's ServiceSpec)."""
    deps = sorted({rng.randrange(n) for _ in range(rng.randrange(0, 4))}) if n else []
    depends = "".join(f"  - svc-{d:05d}\n" for d in deps)
    return (f"# Service svc-{n:05d}; docs: docs/area-{n % 50:02d}/page-{n % max(n_docs, 1):05d}.md\n"
            f"name: Service {n}\nslug: svc-{n:05d}\n"
            f"kind: {rng.choice(['container', 'vm', 'lxc', 'bare_metal', 'saas'])}\n"
            f"description: {rng.choice(SENTENCES)}\nowner: team-{rng.randrange(12)}\n"
            f"tags:\n  - tier-{rng.choice(['low', 'medium', 'high'])}\n"
            f"ports:\n  - number: {8000 + n % 1000}\n"
            + (f"depends_on:\n{depends}" if depends else ""))


def endpoint_yaml(n: int, rng: random.Random, n_services: int) -> str:
    """A valid catalog/endpoints file (Calcifer's EndpointSpec)."""
    kind = rng.choice(["tcp", "dns", "icmp"])
    return (f"name: Endpoint {n}\nslug: ep-{n:05d}\nservice: svc-{rng.randrange(max(n_services, 1)):05d}\n"
            f"type: {kind}\ntarget: host-{rng.randrange(400):03d}.lab.internal\n"
            + (f"port: {rng.choice([22, 443, 5432, 8080])}\n" if kind == "tcp" else "")
            + f"interval: {rng.choice([30, 60, 300])}\ntimeout: 5\n")


def doc_md(n: int, rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randrange(2, 6)):
        paragraphs.append(" ".join(rng.choice(SENTENCES) for _ in range(rng.randrange(2, 6))))
    return f"# Page {n}\n\n" + "\n\n".join(paragraphs) + "\n"


def initial_files(n_files: int, rng: random.Random) -> dict[str, str]:
    """n_files paths (CHANGES.md included) under catalog/services, catalog/endpoints, docs, docs/_templates."""
    others = n_files - 1
    templates = 4
    services = others * 2 // 10
    endpoints = others * 2 // 10
    docs = others - services - endpoints - templates
    files: dict[str, str] = {}
    for n in range(services):
        files[f"catalog/services/svc-{n:05d}.yaml"] = service_yaml(n, rng, docs)
    for n in range(endpoints):
        files[f"catalog/endpoints/ep-{n:05d}.yaml"] = endpoint_yaml(n, rng, services)
    for name in ("service", "runbook", "incident", "decision")[:templates]:
        files[f"docs/_templates/{name}.md"] = f"# {name.title()} template\n\n## Summary\n\n## Details\n"
    for n in range(docs):
        files[f"docs/area-{n % 50:02d}/page-{n:05d}.md"] = doc_md(n, rng)
    return files


class ChangelogWriter:
    """Renders CHANGES.md in Calcifer's layout incrementally (entries arrive in date order)."""

    def __init__(self, preamble: str) -> None:
        self.preamble = preamble.strip("\n")
        self.older = ""  # rendered sections before the current date, newest first
        self.date: str | None = None
        self.current: dict[str, list[str]] = {}

    @staticmethod
    def section(date: str, by_type: dict[str, list[str]]) -> str:
        chunks = [f"## {date}"] + ["### " + t + "\n" + "\n".join(by_type[t]) for t in TYPE_ORDER if t in by_type]
        return "\n\n".join(chunks)

    def add(self, date: str, kind: str, line: str) -> None:
        if date != self.date:
            if self.date is not None:
                top = self.section(self.date, self.current)
                self.older = top + ("\n\n" + self.older if self.older else "")
            self.date, self.current = date, {}
        self.current.setdefault(kind, []).append(line)

    def text(self, extra: tuple[str, str, str] | None = None) -> str:
        parts = [self.preamble]
        current = self.current
        if extra is not None:
            if extra[0] != self.date:
                parts.append(self.section(extra[0], {extra[1]: [extra[2]]}))
            else:
                current = {k: list(v) for k, v in current.items()}
                current.setdefault(extra[1], []).append(extra[2])
        if self.date is not None:
            parts.append(self.section(self.date, current))
        if self.older:
            parts.append(self.older)
        return "\n\n".join(parts) + "\n"


@dataclass
class Commit:
    ref: str
    mark: int
    when: int
    message: str
    parents: list[int]
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, blob mark)


@dataclass
class RepoFacts:
    files: int
    commits_on_main: int
    merges_on_main: int
    changelog_entries: int
    changelog_kib: float
    pack_mib: float
    build_s: float


def build_repository(path: Path, *, n_files: int, n_commits: int, env: dict[str, str],
                     preamble: str, seed: int = 20261126) -> RepoFacts:
    """Write the bare managed repository at ``path`` with ``git fast-import``.

    History: one initial commit with every file; then work items in pairs, each a branch commit
    (1-3 files and its CHANGES.md entry) started from main, both merged into main with merge
    commits (the second merge carries both entries, as Calcifer's changelog merge would); the last
    few commits are plain commits on main. Every commit counts towards ``n_commits``.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    contents = initial_files(n_files, rng)
    editable = sorted(contents)
    next_mark = 0

    def mark() -> int:
        nonlocal next_mark
        next_mark += 1
        return next_mark

    file_blobs: list[tuple[int, bytes]] = []
    changelog_specs: list[tuple[int, int, tuple[str, str, str] | None]] = []  # (mark, main entries, extra)
    main_entries: list[tuple[str, str, str]] = []
    commits: list[Commit] = []

    items_planned = max(1, (n_commits - 1) // 2)
    today = dt.date.today()
    first_day = today - dt.timedelta(days=items_planned // 3 + 2)
    epoch_first = int(dt.datetime.combine(first_day, dt.time(9), tzinfo=dt.UTC).timestamp())

    def blob_for(text: str) -> int:
        m = mark()
        file_blobs.append((m, text.encode()))
        return m

    def changelog_blob(extra: tuple[str, str, str] | None) -> int:
        m = mark()
        changelog_specs.append((m, len(main_entries), extra))
        return m

    initial = Commit("refs/heads/main", 0, epoch_first - 86_400, "Initialize Calcifer repository\n", [])
    initial.files = [(p, blob_for(t)) for p, t in sorted(contents.items())]
    initial.files.append(("CHANGES.md", changelog_blob(None)))
    initial.mark = mark()
    commits.append(initial)
    main_tip = initial.mark

    item_no = 0
    while len(commits) < n_commits:
        remaining = n_commits - len(commits)
        if remaining < 4:
            tidy = rng.choice(editable)
            contents[tidy] += "\n" if tidy.endswith(".md") else "# tidied\n"
            c = Commit("refs/heads/main", mark(), epoch_first + item_no * 28_800 + 60 * remaining,
                       f"Tidy {tidy}\n", [main_tip], [(tidy, blob_for(contents[tidy]))])
            commits.append(c)
            main_tip = c.mark
            continue
        pair = []
        touched = rng.sample(editable, 6)
        for slot in range(2):
            item_no += 1
            item_id = HISTORY_ID_BASE + item_no
            day = (first_day + dt.timedelta(days=item_no // 3)).isoformat()
            kind = rng.choices(TYPE_ORDER, TYPE_WEIGHTS)[0]
            paths = touched[slot * 3: slot * 3 + rng.randrange(1, 4)]
            title = f"{kind} {paths[0].rsplit('/', 1)[-1].split('.')[0]}"
            entry = (day, kind, f"- {title}: {rng.choice(SENTENCES).lower().rstrip('.')} "
                                f"([#{item_id}](/work/{item_id}))")
            mods = {}
            for p in paths:
                mods[p] = contents[p] + (f"\nUpdated by work item #{item_id}.\n" if p.endswith(".md")
                                         else f"# changed by work item {item_id}\n")
            files = [(p, blob_for(t)) for p, t in mods.items()]
            branch_changelog = changelog_blob(entry)
            when = epoch_first + item_no * 28_800
            branch = f"service/change/{item_id}-{title.lower().replace(' ', '-')}"
            c = Commit(f"refs/heads/_wip{slot}", mark(), when, f"{title}\n", [main_tip],
                       files + [("CHANGES.md", branch_changelog)])
            commits.append(c)
            pair.append((item_id, title, branch, mods, files, entry, c, branch_changelog))
        for slot, (item_id, title, branch, mods, files, entry, branch_commit, branch_changelog) in enumerate(pair):
            main_entries.append(entry)
            merged_changelog = branch_changelog if slot == 0 else changelog_blob(None)
            c = Commit("refs/heads/main", mark(), branch_commit.when + 3_600 * (slot + 1),
                       f"Merge work item #{item_id}: {title}\n\nBranch: {branch}\n\nWork-Item: {item_id}\n",
                       [main_tip, branch_commit.mark], files + [("CHANGES.md", merged_changelog)])
            commits.append(c)
            main_tip = c.mark
            contents.update(mods)

    path.parent.mkdir(parents=True, exist_ok=True)
    run_git(["init", "--quiet", "--bare", "--initial-branch=main", str(path)], env)
    proc = subprocess.Popen(["git", "--git-dir", str(path), "fast-import", "--quiet", "--done"],
                            stdin=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    out = proc.stdin

    def data(payload: bytes) -> None:
        out.write(b"data %d\n" % len(payload))
        out.write(payload)
        out.write(b"\n")

    # All CHANGES.md versions first and in order: fast-import deltifies each blob against the previous one.
    writer = ChangelogWriter(preamble)
    added = 0
    changelog_bytes = b""
    for m, n_main, extra in changelog_specs:
        while added < n_main:
            writer.add(*main_entries[added])
            added += 1
        changelog_bytes = writer.text(extra).encode()
        out.write(b"blob\nmark :%d\n" % m)
        data(changelog_bytes)
    for m, payload in file_blobs:
        out.write(b"blob\nmark :%d\n" % m)
        data(payload)
    ident = f"{GIT_ENV_IDENTITY['GIT_AUTHOR_NAME']} <{GIT_ENV_IDENTITY['GIT_AUTHOR_EMAIL']}>".encode()
    for c in commits:
        out.write(b"commit %s\nmark :%d\n" % (c.ref.encode(), c.mark))
        out.write(b"author %s %d +0000\ncommitter %s %d +0000\n" % (ident, c.when, ident, c.when))
        data(c.message.encode())
        if c.parents:
            out.write(b"from :%d\n" % c.parents[0])
            for parent in c.parents[1:]:
                out.write(b"merge :%d\n" % parent)
        for file_path, blob in c.files:
            out.write(b"M 100644 :%d %s\n" % (blob, file_path.encode()))
        out.write(b"\n")
    out.write(b"done\n")
    out.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    for slot in range(2):
        run_git(["--git-dir", str(path), "update-ref", "-d", f"refs/heads/_wip{slot}"], env, ok_codes=(0, 1))
    run_git(["--git-dir", str(path), "symbolic-ref", "HEAD", "refs/heads/main"], env)
    # fast-import deltifies each blob against the one written before it (of any file): chains of
    # unrelated files make every checkout slow. A maintained repository is packed by git gc; do that.
    run_git(["--git-dir", str(path), "repack", "-a", "-d", "-f", "--quiet"], env)
    run_git(["--git-dir", str(path), "gc", "--quiet"], env)

    count = int(run_git(["--git-dir", str(path), "rev-list", "--count", "main"], env).stdout)
    merges = int(run_git(["--git-dir", str(path), "rev-list", "--count", "--merges", "main"], env).stdout)
    listed = run_git(["--git-dir", str(path), "ls-tree", "-r", "--name-only", "main"], env).stdout.count(b"\n")
    pack = sum(f.stat().st_size for f in (path / "objects").rglob("*") if f.is_file())
    return RepoFacts(files=listed, commits_on_main=count, merges_on_main=merges,
                     changelog_entries=len(main_entries), changelog_kib=len(changelog_bytes) / 1024,
                     pack_mib=pack / 2**20, build_s=time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------
# the git CLI side


def cli_changelog_edit(text: str, day: str, line: str) -> str:
    """Insert the entry under today's "### Added" (creating the section when needed): a plain text edit."""
    head = f"## {day}\n\n### Added\n"
    at = text.find("\n## ")
    if at < 0:
        return text.rstrip("\n") + f"\n\n{head}{line}\n"
    at += 1
    if text.startswith(head, at):
        insert = at + len(head)
        return text[:insert] + line + "\n" + text[insert:]
    return text[:at] + head + line + "\n\n" + text[at:]


class CliSide:
    def __init__(self, repo: Path, worktrees: Path, env: dict[str, str]) -> None:
        self.repo, self.worktrees, self.env = repo, worktrees, env

    def git(self, *args: str, ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
        return run_git(["--git-dir", str(self.repo), *args], self.env, ok_codes=ok_codes)

    def wt_git(self, wt: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
        return run_git(["-C", str(wt), *args], self.env)

    def check(self, wt: Path, branch: str) -> tuple[str, list[str]]:
        """(merged tree id, problems) — the same questions Calcifer's check asks of git."""
        problems = []
        if self.wt_git(wt, "status", "--porcelain").stdout.strip():
            problems.append("uncommitted changes")
        behind, ahead = self.git("rev-list", "--left-right", "--count", f"main...{branch}").stdout.split()
        if int(ahead) == 0:
            problems.append("no commits")
        merged = self.git("merge-tree", "--write-tree", "main", branch, ok_codes=(0, 1))
        if merged.returncode != 0:
            problems.append("conflicts")
        return merged.stdout.split(b"\n", 1)[0].decode(), problems

    def round(self, n: int, day: str) -> dict[str, float]:
        times: dict[str, float] = {}
        branch = f"service/new/{n}-bench-item-{n}"
        wt = self.worktrees / f"{n}-bench-item-{n}"
        rel = f"catalog/services/bench-{n:04d}.yaml"

        t0 = time.perf_counter()
        self.git("worktree", "add", "--quiet", "-b", branch, str(wt), "main")
        times["create"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        (wt / rel).write_text(bench_service_yaml(n))
        changes = wt / "CHANGES.md"
        changes.write_text(cli_changelog_edit(changes.read_text(), day,
                                              f"- Added bench service {n} ([#{n}](/work/{n}))"))
        self.wt_git(wt, "add", "--", rel, "CHANGES.md")
        self.wt_git(wt, "commit", "--quiet", "-m", f"Add bench service {n}")
        times["commit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        _, problems = self.check(wt, branch)
        times["check"] = time.perf_counter() - t0
        if problems:
            raise RuntimeError(f"git CLI check of round {n} found problems: {problems}")

        t0 = time.perf_counter()
        old_main = self.git("rev-parse", "refs/heads/main").stdout.strip().decode()
        tree, problems = self.check(wt, branch)
        if problems:
            raise RuntimeError(f"git CLI merge of round {n} refused: {problems}")
        new = self.git("commit-tree", tree, "-p", old_main, "-p", branch, "-m",
                       f"Merge work item #{n}: Bench item {n}\n\nBranch: {branch}\n\nWork-Item: {n}").stdout
        self.git("update-ref", "-m", f"merge {branch}", "refs/heads/main", new.strip().decode(), old_main)
        self.git("worktree", "remove", str(wt))
        self.git("branch", "--quiet", "-D", branch)
        times["merge"] = time.perf_counter() - t0
        return times


def bench_service_yaml(n: int) -> str:
    return (f"name: Bench service {n}\nslug: bench-{n:04d}\nkind: other\n"
            f"description: Added by the git_ops bench.\nowner: team-bench\ntags:\n  - bench\n")


# ---------------------------------------------------------------------------------------------------
# the Calcifer side


class CalciferSide:
    def __init__(self, data_dir: Path) -> None:
        from calcifer.app import prepare
        from calcifer.auth import service as auth_service
        from calcifer.auth.choices import Role
        from calcifer.auth.schemas import UserCreate
        from calcifer.config import Settings
        from calcifer.work import service as work

        self.work = work
        self.settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
        self.ctx = prepare(self.settings)
        self.ws = work.Workspace(repo_path=self.ctx.repo_path, worktrees_dir=self.settings.worktrees_dir)
        with self.ctx.session_factory() as s:
            user = auth_service.create_user(session=s, actor=None, data=UserCreate(
                username="operator", password="bench-password-1", role=Role.ADMIN,
                display_name="Bench Operator", email="operator@bench.invalid"))
            self.user_id = user.id
        # Time what runs after each merge (e.g. the catalog re-index) to show its share of "merge".
        self.hook_seconds = 0.0
        hooks = getattr(work, "AFTER_MERGE_STEPS", None)
        if hooks is not None:
            hooks[:] = [self._timed(hook) for hook in hooks]

    def _timed(self, hook):  # noqa: ANN001, ANN202
        def timed(**kwargs):  # noqa: ANN003, ANN202
            started = time.perf_counter()
            try:
                return hook(**kwargs)
            finally:
                self.hook_seconds += time.perf_counter() - started
        timed.__name__ = getattr(hook, "__name__", "hook")
        return timed

    def catalog_state(self) -> dict[str, int] | None:
        """The catalog index's counts after the run (None when there is no catalog slice)."""
        try:
            from calcifer.catalog import index
            with self.ctx.session_factory() as s:
                state = index.get_state(session=s)
                if state is None:
                    return None
                return {"services": state.services, "endpoints": state.endpoints, "errors": state.errors,
                        "warnings": state.warnings, "last_sync_ms": state.duration_ms}
        except (ImportError, AttributeError):
            return None

    def _user(self, s):  # noqa: ANN001, ANN202
        from calcifer.auth.models import User
        return s.get(User, self.user_id)

    def op_create(self, n: int) -> int:
        from calcifer.work.schemas import WorkItemCreate
        with self.ctx.session_factory() as s:
            item = self.work.create_work_item(
                session=s, actor=self._user(s),
                data=WorkItemCreate(title=f"Bench item {n}", category="service", action="new"),
                workspace=self.ws, categories=self.settings.work_categories)
            return item.id

    def op_commit(self, item_id: int, n: int) -> None:
        from calcifer.changelog.choices import ChangeType
        with self.ctx.session_factory() as s:
            user = self._user(s)
            self.work.write_file(session=s, actor=user, item_id=item_id,
                                 path=f"catalog/services/bench-{n:04d}.yaml", content=bench_service_yaml(n))
            # The file it wrote, as the CLI's `git add -- FILE CHANGES.md` names it (files=None would
            # stage every change, which is `git add -A`: a status of the whole worktree on top).
            self.work.commit(session=s, actor=user, item_id=item_id, workspace=self.ws,
                             message=f"Add bench service {n}", files=[f"catalog/services/bench-{n:04d}.yaml"],
                             entry_type=ChangeType.ADDED, entry_text=f"Added bench service {n}")

    def document(self, item_id: int) -> None:
        """Untimed: tick the checklist and write the notes, so the check finds nothing missing."""
        with self.ctx.session_factory() as s:
            item = self.work.get_work_item(session=s, item_id=item_id)
            for c in item.checklist:
                c.done = True
            item.notes = "Added by the bench; roll back by reverting the merge."
            s.commit()

    def op_check(self, item_id: int) -> list:  # noqa: ANN401
        with self.ctx.session_factory() as s:
            item = self.work.get_work_item(session=s, item_id=item_id)
            return self.work.merge_problems(session=s, item=item, workspace=self.ws)

    def op_merge(self, item_id: int) -> None:
        with self.ctx.session_factory() as s:
            self.work.merge_and_complete(session=s, actor=self._user(s), item_id=item_id, workspace=self.ws)

    def round(self, n: int) -> dict[str, float]:
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        item_id = self.op_create(n)
        times["create"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        self.op_commit(item_id, n)
        times["commit"] = time.perf_counter() - t0

        self.document(item_id)
        t0 = time.perf_counter()
        problems = self.op_check(item_id)
        times["check"] = time.perf_counter() - t0
        if problems:
            raise RuntimeError(f"Calcifer's check of round {n} found problems: {problems}")

        self.hook_seconds = 0.0
        t0 = time.perf_counter()
        self.op_merge(item_id)
        times["merge"] = time.perf_counter() - t0
        times["merge_hooks"] = self.hook_seconds
        return times

    def profile_round(self, n: int) -> dict[str, cProfile.Profile]:
        profiles = {op: cProfile.Profile() for op in OPERATIONS}
        item_id = profiles["create"].runcall(self.op_create, n)
        profiles["commit"].runcall(self.op_commit, item_id, n)
        self.document(item_id)
        profiles["check"].runcall(self.op_check, item_id)
        profiles["merge"].runcall(self.op_merge, item_id)
        return profiles


def repo_state(repo: Path, env: dict[str, str], merges_before: int) -> dict[str, int]:
    """What the rounds left behind: every work item merged, its worktree and branch removed."""
    merges = int(run_git(["--git-dir", str(repo), "rev-list", "--count", "--merges", "main"], env).stdout)
    listing = run_git(["--git-dir", str(repo), "worktree", "list", "--porcelain"], env).stdout.decode()
    worktrees = sum(1 for block in listing.split("\n\n") if block.strip() and "\nbare" not in block)
    branches = run_git(["--git-dir", str(repo), "for-each-ref", "--format=%(refname)", "refs/heads/"],
                       env).stdout.decode().split()
    return {"new_merges": merges - merges_before, "worktrees_left": worktrees,
            "branches_left": len([b for b in branches if b != "refs/heads/main"])}


# ---------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['files']:,} files, {QUICK['commits']:,} commits, {QUICK['rounds']} rounds")
    parser.add_argument("--files", type=int, help="files on main (CHANGES.md included)")
    parser.add_argument("--commits", type=int, help="commits on main (merges and branch commits included)")
    parser.add_argument("--rounds", type=int, help="work items measured on each side")
    parser.add_argument("--dir", type=Path, help="work in this folder (default: a temporary one, removed)")
    parser.add_argument("--profile", action="store_true",
                        help="after measuring, profile 3 more Calcifer rounds and print the hottest functions")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    n_files = args.files or preset["files"]
    n_commits = args.commits or preset["commits"]
    rounds = args.rounds or preset["rounds"]

    logging.disable(logging.WARNING)
    load_at_start = machine_load()
    from calcifer.changelog.service import INITIAL_CHANGELOG

    base = args.dir or Path(tempfile.mkdtemp(prefix="calcifer-bench-git-ops-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        home = base / "home"
        home.mkdir(exist_ok=True)
        env = git_env(home)
        data_dir = base / "data"
        calcifer_repo = data_dir / "repo.git"
        cli_repo = base / "cli" / "repo.git"
        mode = "quick" if args.quick else "full"
        print(f"git_ops bench ({mode}): building a repository of {n_files:,} files and "
              f"{n_commits:,} commits with git fast-import ...", flush=True)
        facts = build_repository(calcifer_repo, n_files=n_files, n_commits=n_commits, env=env,
                                 preamble=INITIAL_CHANGELOG)
        shutil.copytree(calcifer_repo, cli_repo, symlinks=True)
        print(f"  {facts.files:,} files on main, {facts.commits_on_main:,} commits ({facts.merges_on_main:,} "
              f"merges), CHANGES.md {facts.changelog_entries:,} entries / {facts.changelog_kib:.0f} KiB, "
              f"objects {facts.pack_mib:.1f} MiB, built in {facts.build_s:.1f} s", flush=True)

        calcifer = CalciferSide(data_dir)
        cli = CliSide(cli_repo, base / "cli" / "worktrees", env)
        day = dt.datetime.now(dt.UTC).date().isoformat()
        samples: dict[str, dict[str, list[float]]] = {"calcifer": {op: [] for op in OPERATIONS},
                                                      "git": {op: [] for op in OPERATIONS}}
        hook_ms: list[float] = []
        first_create_ms: dict[str, float] = {}
        print(f"  measuring {rounds} rounds per side (+1 warm-up round each, not counted) ...", flush=True)
        started = time.perf_counter()
        for n in range(rounds + 1):
            order = [("calcifer", lambda n=n: calcifer.round(n + 1)), ("git", lambda n=n: cli.round(n + 1, day))]
            if n % 2:
                order.reverse()
            for side, run in order:
                times = run()
                if n == 0:
                    first_create_ms[side] = times["create"] * 1000
                    continue
                for op in OPERATIONS:
                    samples[side][op].append(times[op] * 1000)
                if side == "calcifer":
                    hook_ms.append(times["merge_hooks"] * 1000)
        measure_s = time.perf_counter() - started
        catalog = calcifer.catalog_state()
        sanity = {"calcifer": repo_state(calcifer_repo, env, facts.merges_on_main),
                  "git_cli": repo_state(cli_repo, env, facts.merges_on_main)}

        rows = []
        figures: dict[str, dict[str, float | bool | None]] = {}
        for op in OPERATIONS:
            c, g = samples["calcifer"][op], samples["git"][op]
            r = ratio(median(c), median(g))
            figures[op] = {"calcifer_ms_median": rounded(median(c), 1),
                           "calcifer_ms_p90": rounded(percentile(c, 90), 1),
                           "git_cli_ms_median": rounded(median(g), 1),
                           "git_cli_ms_p90": rounded(percentile(g, 90), 1),
                           "ratio": rounded(r, 2), "meets_target": r <= TARGET_RATIO}
            rows.append([op, f"{median(c):.1f}", f"{percentile(c, 90):.1f}", f"{median(g):.1f}",
                         f"{percentile(g, 90):.1f}", f"{r:.2f}", f"<= {TARGET_RATIO:.1f}",
                         "yes" if r <= TARGET_RATIO else "NO"])
        total_c = sum(median(samples["calcifer"][op]) for op in OPERATIONS)
        total_g = sum(median(samples["git"][op]) for op in OPERATIONS)
        total_r = ratio(total_c, total_g)
        rows.append(["all four (sum of medians)", f"{total_c:.1f}", "", f"{total_g:.1f}", "", f"{total_r:.2f}",
                     "", ""])

        print()
        if args.quick:
            print(f"QUICK run: {n_files:,} files, {n_commits:,} commits, {rounds} rounds — smaller than the "
                  f"target repository ({FULL['files']:,} files, {FULL['commits']:,} commits, "
                  f"{FULL['rounds']} rounds); figures are indicative only.")
        print(f"Work-item git operations, median and p90 of {rounds} rounds, ms "
              f"(ratio = Calcifer median / git CLI median; target: each ratio <= {TARGET_RATIO:.1f})")
        print_table(["operation", "calcifer ms", "p90", "git CLI ms", "p90", "ratio", "target", "met"], rows)
        met = all(figures[op]["meets_target"] for op in OPERATIONS)
        figures["merge"]["calcifer_after_merge_hooks_ms_median"] = rounded(median(hook_ms), 1)
        print(f"Calcifer's merge includes its after-merge hooks (catalog re-index): median {median(hook_ms):.1f} ms, "
              f"p90 {percentile(hook_ms, 90):.1f} ms"
              + (f"; index: {catalog['services']:,} services, {catalog['endpoints']:,} endpoints, "
                 f"{catalog['errors']} errors, {catalog['warnings']} warnings" if catalog else ""))
        figures["create"]["first_create_ms"] = {side: rounded(ms, 1) for side, ms in first_create_ms.items()}
        print(f"First create (warm-up round, not counted; Calcifer has no spare worktree yet, so it checks out "
              f"every file as the CLI does): Calcifer {first_create_ms['calcifer']:.1f} ms, git CLI "
              f"{first_create_ms['git']:.1f} ms, "
              f"ratio {ratio(first_create_ms['calcifer'], first_create_ms['git']):.2f}")
        print(f"\ntarget met for every operation: {'yes' if met else 'NO'}; measured in {measure_s:.1f} s")
        for side, state in sanity.items():
            print(f"after the run, {side}: main gained {state['new_merges']} merge commits, "
                  f"{state['worktrees_left']} worktrees and {state['branches_left']} branches besides main left")
        print("What each side does: see the docstring at the top of bench/git_ops.py (Calcifer's merge "
              "re-runs its full check; so does the CLI's).")

        profile_text = ""
        if args.profile:
            profiles: dict[str, list[cProfile.Profile]] = {op: [] for op in OPERATIONS}
            for k in range(3):
                for op, prof in calcifer.profile_round(rounds + 2 + k).items():
                    profiles[op].append(prof)
            for op in OPERATIONS:
                stream = io.StringIO()
                stats = pstats.Stats(profiles[op][0], stream=stream)
                for extra in profiles[op][1:]:
                    stats.add(extra)
                stats.sort_stats("cumulative").print_stats(30)
                profile_text += f"\n=== cProfile of Calcifer '{op}' (3 rounds, cumulative) ===\n" + stream.getvalue()
            print(profile_text)

        load_at_end = machine_load()
        print(f"machine: {load_at_start['cores']} cores; load average (1 min / 5 min) "
              f"{load_at_start['load_1m']} / {load_at_start['load_5m']} at the start, "
              f"{load_at_end['load_1m']} / {load_at_end['load_5m']} at the end")
        emit_json({
            "bench": "git_ops", "mode": mode, "machine": {"at_start": load_at_start, "at_end": load_at_end},
            "files": facts.files, "commits": facts.commits_on_main,
            "merges": facts.merges_on_main, "changelog_entries": facts.changelog_entries,
            "changelog_kib": rounded(facts.changelog_kib, 1), "objects_mib": rounded(facts.pack_mib, 1),
            "build_s": rounded(facts.build_s, 1), "rounds": rounds, "measure_s": rounded(measure_s, 1),
            "operations": figures,
            "total": {"calcifer_ms": rounded(total_c, 1), "git_cli_ms": rounded(total_g, 1),
                      "ratio": rounded(total_r, 2)},
            "after_run": sanity, "calcifer_catalog_index": catalog,
            "target": {"ratio_max": TARGET_RATIO, "applies_to": list(OPERATIONS)},
            "target_met": met,
        })
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

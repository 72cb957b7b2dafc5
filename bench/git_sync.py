"""Remote sync: Calcifer's push and fetch+integrate against the git command line, on identical repositories.

    .venv/bin/python bench/git_sync.py            # 10,000 files, 5,000 commits, 8 push rounds, 3 fetch rounds
    .venv/bin/python bench/git_sync.py --quick    # 1,000 files, 1,000 commits, 4 and 2 rounds (under a minute)

The managed repository of bench/git_ops.py (its builder, ``git fast-import``) is copied for each side, and
each side gets a bare remote cloned from it (``file://``), so both start byte-identical and in sync.

    push    After a work item is merged (git_ops' round on each side, untimed), the time until main's new
            commit is on the remote.
            Calcifer: remote.service.push_now (what the background service runs after the merge's flag:
                      read the settings, unseal nothing, libgit2 push of main over file://, record the
                      state in the database)
            git CLI:  git push REMOTE main:main
    fetch   100 outside commits are written to each remote's main (git fast-import: each adds a doc under
            docs/laptop/), while each side has merged one more work item of its own; then the time to
            bring them into main.
            Calcifer: remote.service.fetch_now, all of what a person waits for after "Fetch": the fetch of main (over
                      file:// the missing objects copied into one pack by gitrepo.local_fetch, each hashed), the
                      hostile-content check of what changed, the in-memory merge with CHANGES.md by entries, the merge
                      check's catalog and docs validation of the result, compare-and-swap of main, the 100
                      outside-change rows (one batched insert; no open pull request to ask the forge about here), then
                      the after-merge steps, once for the combined change old main..new main: catalog (skipped by the
                      catalog/ tree id: the commits touch no catalog file), docs index (the 100 new docs: titles and
                      links) and search index (the 100 docs' rows).
            git CLI:  git fetch REMOTE main:refs/remotes/origin/main, git merge-tree --write-tree,
                      git commit-tree, git update-ref (a merge in a bare repository, as git_ops' CLI merges):
                      no validation, no records, no index.

Target: each ratio calcifer/git <= 1.5. Bench scripts print figures; they are never part of the test suite.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_json, machine_load, median, percentile, print_table, ratio, rounded
from git_ops import CalciferSide, CliSide, build_repository, git_env, run_git

TARGET_RATIO = 1.5
OUTSIDE_COMMITS = 100
FULL = {"files": 10_000, "commits": 5_000, "push_rounds": 8, "fetch_rounds": 3}
QUICK = {"files": 1_000, "commits": 1_000, "push_rounds": 4, "fetch_rounds": 2}


def outside_commits(remote: Path, env: dict[str, str], *, tag: str, count: int) -> None:
    """``count`` commits on the remote's main, each adding one doc, as people pushing from laptops."""
    parent = run_git(["--git-dir", str(remote), "rev-parse", "refs/heads/main"], env).stdout.decode().strip()
    stamp = int(time.time())
    chunks: list[bytes] = []
    for i in range(count):
        doc = (f"---\ntitle: Laptop note {tag}-{i}\n---\n\n# Laptop note {tag}-{i}\n\n"
               f"Written outside Calcifer ({tag}, {i}).\n").encode()
        message = f"Laptop note {tag}-{i}\n".encode()
        chunks.append(b"commit refs/heads/main\n")
        chunks.append(f"committer Laptop Person <laptop@bench.invalid> {stamp + i} +0000\n".encode())
        chunks.append(f"data {len(message)}\n".encode() + message)
        if i == 0:
            chunks.append(f"from {parent}\n".encode())
        chunks.append(f"M 100644 inline docs/laptop/{tag}-{i:03d}.md\n".encode())
        chunks.append(f"data {len(doc)}\n".encode() + doc + b"\n")
    result = subprocess.run(["git", "--git-dir", str(remote), "fast-import", "--quiet"], input=b"".join(chunks),
                            env=env, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"fast-import failed: {result.stderr.decode()}")


class CalciferSync:
    def __init__(self, side: CalciferSide, remote: Path) -> None:
        from calcifer.remote import service
        from calcifer.remote.schemas import RemoteUpdate

        self.side, self.service, self.remote = side, service, remote
        with side.ctx.session_factory() as s:
            service.set_remote(session=s, actor=side._user(s), secret_key=side.ctx.secret_key,
                               data=RemoteUpdate(url=remote.as_uri()))

    def push(self) -> str:
        with self.side.ctx.session_factory() as s:
            pushed, error = self.service.push_now(session=s, repo_path=self.side.ctx.repo_path,
                                                  secret_key=self.side.ctx.secret_key)
        if error:
            raise RuntimeError(f"Calcifer's push failed: {error}")
        return pushed or ""

    def fetch(self) -> str:
        with self.side.ctx.session_factory() as s:
            report = self.service.fetch_now(session=s, repo_path=self.side.ctx.repo_path,
                                            secret_key=self.side.ctx.secret_key)
        if report.outcome.value not in ("merged", "fast_forward"):
            raise RuntimeError(f"Calcifer's fetch did not integrate: {report.outcome}: {report.message}")
        if len(report.outside_changes) != OUTSIDE_COMMITS:
            raise RuntimeError(f"expected {OUTSIDE_COMMITS} outside commits, got {len(report.outside_changes)}")
        return report.main


class CliSync:
    def __init__(self, side: CliSide, remote: Path) -> None:
        self.side, self.url = side, remote.as_uri()

    def push(self) -> None:
        self.side.git("push", "--quiet", self.url, "refs/heads/main:refs/heads/main")

    def fetch(self) -> None:
        self.side.git("fetch", "--quiet", self.url, "+refs/heads/main:refs/remotes/origin/main")
        old_main = self.side.git("rev-parse", "refs/heads/main").stdout.strip().decode()
        merged = self.side.git("merge-tree", "--write-tree", "main", "refs/remotes/origin/main", ok_codes=(0, 1))
        if merged.returncode != 0:
            raise RuntimeError("the git CLI's merge of the outside commits conflicts")
        tree = merged.stdout.split(b"\n", 1)[0].decode()
        new = self.side.git("commit-tree", tree, "-p", old_main, "-p", "refs/remotes/origin/main", "-m",
                            "Merge outside changes").stdout.strip().decode()
        self.side.git("update-ref", "-m", "merge outside changes", "refs/heads/main", new, old_main)


def remote_main(remote: Path, env: dict[str, str]) -> str:
    return run_git(["--git-dir", str(remote), "rev-parse", "refs/heads/main"], env).stdout.decode().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK['files']:,} files, {QUICK['commits']:,} "
                        f"commits, {QUICK['push_rounds']} push and {QUICK['fetch_rounds']} fetch rounds")
    parser.add_argument("--profile", action="store_true",
                        help="after measuring, profile one more Calcifer fetch round and print the hottest functions")
    parser.add_argument("--dir", type=Path, help="work in this folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"

    logging.disable(logging.WARNING)
    load_at_start = machine_load()
    from calcifer.changelog.service import INITIAL_CHANGELOG

    base = args.dir or Path(tempfile.mkdtemp(prefix="calcifer-bench-git-sync-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        home = base / "home"
        home.mkdir(exist_ok=True)
        env = git_env(home)
        data_dir = base / "data"
        calcifer_repo, cli_repo = data_dir / "repo.git", base / "cli" / "repo.git"
        print(f"git_sync bench ({mode}): building a repository of {preset['files']:,} files and "
              f"{preset['commits']:,} commits with git fast-import ...", flush=True)
        facts = build_repository(calcifer_repo, n_files=preset["files"], n_commits=preset["commits"], env=env,
                                 preamble=INITIAL_CHANGELOG)
        shutil.copytree(calcifer_repo, cli_repo, symlinks=True)
        remotes = {"calcifer": base / "remotes" / "calcifer.git", "git": base / "remotes" / "cli.git"}
        for remote in remotes.values():
            run_git(["clone", "--quiet", "--bare", str(calcifer_repo), str(remote)], env)
        print(f"  {facts.files:,} files, {facts.commits_on_main:,} commits on main; remotes cloned", flush=True)

        calcifer = CalciferSide(data_dir)
        cli = CliSide(cli_repo, base / "cli" / "worktrees", env)
        c_sync, g_sync = CalciferSync(calcifer, remotes["calcifer"]), CliSync(cli, remotes["git"])
        day = dt.datetime.now(dt.UTC).date().isoformat()
        samples: dict[str, dict[str, list[float]]] = {side: {"push": [], "fetch": []} for side in ("calcifer", "git")}
        hook_ms: list[float] = []

        c_sync.push()  # warm-up: Calcifer records the remote's main; both sides then start in sync
        g_sync.push()
        n = 0
        print(f"  push: {preset['push_rounds']} rounds per side (+1 warm-up each) ...", flush=True)
        for rnd in range(preset["push_rounds"] + 1):
            n += 1
            calcifer.round(n)
            cli.round(n, day)
            order = [("calcifer", c_sync.push), ("git", g_sync.push)]
            if rnd % 2:
                order.reverse()
            for side, push in order:
                t0 = time.perf_counter()
                push()
                elapsed = (time.perf_counter() - t0) * 1000
                if rnd:
                    samples[side]["push"].append(elapsed)
            if remote_main(remotes["calcifer"], env) != calcifer.work.main_moved(
                    repo_path=calcifer.ctx.repo_path, before=None).after:
                raise RuntimeError("Calcifer's remote does not have main after the push")

        print(f"  fetch: {preset['fetch_rounds']} rounds of {OUTSIDE_COMMITS} outside commits per side ...",
              flush=True)
        for rnd in range(preset["fetch_rounds"]):
            n += 1
            calcifer.round(n)  # a merge of its own, not pushed: integrating is a real merge
            cli.round(n, day)
            for remote in remotes.values():
                outside_commits(remote, env, tag=f"r{rnd}", count=OUTSIDE_COMMITS)
            order = [("calcifer", c_sync.fetch), ("git", g_sync.fetch)]
            if rnd % 2:
                order.reverse()
            for side, fetch in order:
                calcifer.hook_seconds = 0.0
                t0 = time.perf_counter()
                fetch()
                samples[side]["fetch"].append((time.perf_counter() - t0) * 1000)
                if side == "calcifer":
                    hook_ms.append(calcifer.hook_seconds * 1000)
            c_sync.push()  # untimed: both remotes take the merge, ready for the next round
            g_sync.push()

        if args.profile:
            import cProfile
            import io
            import pstats

            n += 1
            calcifer.round(n)
            outside_commits(remotes["calcifer"], env, tag="profile", count=OUTSIDE_COMMITS)
            profile = cProfile.Profile()
            profile.runcall(c_sync.fetch)
            stream = io.StringIO()
            pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(40)
            print(stream.getvalue())

        rows, figures = [], {}
        for op in ("push", "fetch"):
            c, g = samples["calcifer"][op], samples["git"][op]
            r = ratio(median(c), median(g))
            figures[op] = {"calcifer_ms_median": rounded(median(c), 1),
                           "calcifer_ms_p90": rounded(percentile(c, 90), 1),
                           "git_cli_ms_median": rounded(median(g), 1),
                           "git_cli_ms_p90": rounded(percentile(g, 90), 1),
                           "rounds": len(c), "ratio": rounded(r, 2), "meets_target": r <= TARGET_RATIO}
            label = "push (merge → on remote)" if op == "push" else f"fetch + integrate {OUTSIDE_COMMITS} commits"
            rows.append([label, f"{median(c):.1f}", f"{percentile(c, 90):.1f}", f"{median(g):.1f}",
                         f"{percentile(g, 90):.1f}", f"{r:.2f}", f"<= {TARGET_RATIO}",
                         "yes" if r <= TARGET_RATIO else "NO"])
        print()
        if args.quick:
            print(f"QUICK run: {preset['files']:,} files, {preset['commits']:,} commits — smaller than the target "
                  f"repository ({FULL['files']:,} files, {FULL['commits']:,} commits); figures are indicative only.")
        print("Remote sync over file://, median and p90, ms (ratio = Calcifer median / git CLI median)")
        print_table(["operation", "calcifer ms", "p90", "git CLI ms", "p90", "ratio", "target", "met"], rows)
        c_plain = [total - hook for total, hook in zip(samples["calcifer"]["fetch"], hook_ms, strict=True)]
        r_plain = ratio(median(c_plain), median(samples["git"]["fetch"]))
        figures["fetch_without_reindex"] = {"calcifer_ms_median": rounded(median(c_plain), 1),
                                            "ratio": rounded(r_plain, 2), "meets_target": r_plain <= TARGET_RATIO}
        print(f"Without the after-merge re-index (which every merge runs, not the sync's own work): Calcifer "
              f"{median(c_plain):.1f} ms, ratio {r_plain:.2f}")
        met = figures["push"]["meets_target"] and figures["fetch"]["meets_target"]
        figures["fetch"]["calcifer_after_merge_steps_ms_median"] = rounded(median(hook_ms), 1)
        print(f"Calcifer's fetch includes the after-merge steps (catalog, docs and search re-index of what the "
              f"outside commits changed; the CLI keeps no index): median {median(hook_ms):.1f} ms")
        load_at_end = machine_load()
        print(f"\ntarget met for both: {'yes' if met else 'NO'}")
        print(f"machine: {load_at_start['cores']} cores; load average (1 min / 5 min) "
              f"{load_at_start['load_1m']} / {load_at_start['load_5m']} at the start, "
              f"{load_at_end['load_1m']} / {load_at_end['load_5m']} at the end")
        emit_json({"bench": "git_sync", "mode": mode, "machine": {"at_start": load_at_start, "at_end": load_at_end},
                   "files": facts.files, "commits": facts.commits_on_main, "outside_commits": OUTSIDE_COMMITS,
                   "operations": figures, "target": {"ratio_max": TARGET_RATIO, "applies_to": ["push", "fetch"]},
                   "target_met": met})
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

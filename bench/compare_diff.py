"""Compare and diff: one file loaded on demand, and the API's diff texts, each against how it was done before.

    .venv/bin/python bench/compare_diff.py            # 10,000 files, 220 changed on the branch, 15 rounds
    .venv/bin/python bench/compare_diff.py --quick    # 2,000 files, 200 changed, 5 rounds (seconds)

A bare repository is written with pygit2: main holds the files (in 100 folders); a branch changes some,
renames 50, deletes 20, adds a binary file and a 10,000-line file. Then, on the same repository:

    one file   now:    history.compare.compare_file (gitrepo.compare_file: resolve both refs, the merge base,
                       the file's two blobs diffed alone; renamed files are named by their old path too)
               before: gitrepo.compare (walk the commits, diff the whole trees, find renames), then the
                       patches in order until the file, then its view (what /compare-file did until
                       2026-12-07)
    api texts  now:    every listed file's patch made once, its unified text taken from it
               before: the patches made for the listing, then made again for the texts (what
                       GET /api/v1/compare did until 2026-12-07); both on the same comparison

The file asked for is the 10,000-line one (the one a page would defer) and a renamed one. Target: each
ratio now/before < 1. Bench scripts print figures; they are never part of the test suite. The last line
is JSON.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import pygit2  # noqa: E402
from _common import emit_json, machine_load, median, print_table, ratio, rounded  # noqa: E402
from pygit2.enums import FileMode  # noqa: E402

from calcifer import gitrepo  # noqa: E402
from calcifer.history import compare as compare_service  # noqa: E402
from calcifer.history.diffview import file_view  # noqa: E402
from calcifer.history.service import MAX_TOTAL_DIFF_BYTES, _file_diff  # noqa: E402

LONG = "data/long.txt"


def build(root: Path, files: int, changed: int) -> Path:
    repo_path = root / "repo.git"
    repo = pygit2.init_repository(str(repo_path), bare=True, initial_head="main")
    sig = pygit2.Signature("Bench", "bench@example.org")
    index = pygit2.Index()
    for n in range(files):
        body = "".join(f"{n} line {k}: some text here\n" for k in range(30)).encode()
        index.add(pygit2.IndexEntry(f"dir{n % 100}/file{n}.txt", repo.create_blob(body), FileMode.BLOB))
    main = repo.create_commit("refs/heads/main", sig, sig, "main", index.write_tree(repo), [])
    for n in range(changed):
        path = f"dir{n % 100}/file{n}.txt"
        body = "".join(f"{n} line {k}: {'changed' if k % 7 == 0 else 'some'} text here\n" for k in range(30))
        index.add(pygit2.IndexEntry(path, repo.create_blob(body.encode()), FileMode.BLOB))
    for n in range(changed, changed + 50):  # renamed, one line edited
        old = f"dir{n % 100}/file{n}.txt"
        entry = index[old]
        data = repo[entry.id].data.replace(b"line 3:", b"line three:")
        index.remove(old)
        index.add(pygit2.IndexEntry(f"moved/file{n}.txt", repo.create_blob(data), FileMode.BLOB))
    for n in range(changed + 50, changed + 70):
        index.remove(f"dir{n % 100}/file{n}.txt")
    index.add(pygit2.IndexEntry("assets/logo.png", repo.create_blob(b"\x89PNG\r\n\x1a\n\x00" * 100), FileMode.BLOB))
    index.add(pygit2.IndexEntry(LONG, repo.create_blob("".join(f"line {n}\n" for n in range(10_000)).encode()),
                                FileMode.BLOB))
    repo.create_commit("refs/heads/work", sig, sig, "work", index.write_tree(repo), [main])
    return repo_path


def file_before(repo_path: Path, path: str) -> int:
    comparison = gitrepo.compare(repo_path=repo_path, base="main", head="work")
    diff = comparison.diff
    for i in range(min(len(diff), compare_service.MAX_FILES)):
        patch = diff[i]
        if patch is not None and path in (patch.delta.new_file.path, patch.delta.old_file.path):
            return file_view(patch).line_count
    raise LookupError(path)


def file_now(repo_path: Path, path: str, old: str | None) -> int:
    return compare_service.compare_file(repo_path=repo_path, base="main", head="work", path=path,
                                        old_path=old).line_count


def texts_before(comparison: gitrepo.Comparison) -> int:
    count = 0
    for patch in compare_service._patches(comparison):
        count += patch.line_stats[1]  # the listing's pass
    budget = MAX_TOTAL_DIFF_BYTES
    for patch in compare_service._patches(comparison):  # the texts' pass: every patch made again
        text = _file_diff(patch, budget)
        budget -= len(text.diff.encode("utf-8", errors="replace"))
    return count


def texts_now(comparison: gitrepo.Comparison) -> int:
    count = 0
    budget = MAX_TOTAL_DIFF_BYTES
    for patch in compare_service._patches(comparison):
        count += patch.line_stats[1]
        text = _file_diff(patch, budget)
        budget -= len(text.diff.encode("utf-8", errors="replace"))
    return count


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    fn()  # warm-up
    found = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        found.append((time.perf_counter() - start) * 1000)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small repository and 5 rounds")
    args = parser.parse_args(argv)
    # At most 300 files are listed (compare.MAX_FILES): the renamed ones must be among them.
    files, changed, rounds = (2_000, 200, 5) if args.quick else (10_000, 220, 15)
    load_at_start = machine_load()
    with tempfile.TemporaryDirectory(prefix="calcifer-bench-compare-") as tmp:
        repo_path = build(Path(tmp), files, changed)
        renamed = f"moved/file{changed}.txt"
        renamed_old = f"dir{changed % 100}/file{changed}.txt"

        def comparison() -> gitrepo.Comparison:
            return gitrepo.compare(repo_path=repo_path, base="main", head="work")

        cases = {
            "one file (10,000 lines)": (lambda: file_now(repo_path, LONG, None),
                                        lambda: file_before(repo_path, LONG)),
            "one file (renamed)": (lambda: file_now(repo_path, renamed, renamed_old),
                                   lambda: file_before(repo_path, renamed)),
            "api texts (whole comparison)": (lambda: texts_now(comparison()), lambda: texts_before(comparison())),
        }
        rows, figures = [], {}
        for name, (now_fn, before_fn) in cases.items():
            now = median(timed(now_fn, rounds))
            before = median(timed(before_fn, rounds))
            rows.append([name, f"{now:.1f}", f"{before:.1f}", f"{ratio(now, before):.2f}"])
            figures[name] = {"now_ms": rounded(now), "before_ms": rounded(before),
                             "ratio": rounded(ratio(now, before), 3)}
    load_at_end = machine_load()
    mode = "quick" if args.quick else "full"
    print(f"compare_diff ({mode}): {files:,} files, {changed:,} changed + 50 renamed + 20 deleted + 2 added; "
          f"median of {rounds} rounds, ms")
    print_table(["operation", "now", "before", "now/before"], rows)
    print(f"machine: {load_at_start['cores']} cores; load average (1 min / 5 min) {load_at_start['load_1m']} / "
          f"{load_at_start['load_5m']} at the start, {load_at_end['load_1m']} / {load_at_end['load_5m']} at the end")
    emit_json({"bench": "compare_diff", "mode": mode, "machine": {"at_start": load_at_start, "at_end": load_at_end},
               "figures": figures, "target": "every ratio now/before < 1"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

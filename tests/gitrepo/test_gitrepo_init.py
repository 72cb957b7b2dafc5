"""Creating, adopting and reading the managed repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.errors import Invalid, NotFound


def test_init_creates_bare_repo_with_main_and_initial_commit(repo: Path, run_git) -> None:
    assert run_git("--git-dir", str(repo), "rev-parse", "--is-bare-repository").strip() == "true"
    assert run_git("--git-dir", str(repo), "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    log = run_git("--git-dir", str(repo), "log", "--format=%an <%ae>|%P", "main").splitlines()
    assert log == ["Calcifer <calcifer@localhost>|"]
    files = run_git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main").split()
    assert sorted(files) == sorted(gitrepo.INITIAL_FILES)
    assert run_git("--git-dir", str(repo), "show", "main:CHANGES.md") == "# Changelog\n"
    assert gitrepo.is_reachable(repo_path=repo)


def test_init_is_idempotent_and_leaves_an_existing_repo_untouched(repo: Path) -> None:
    head = gitrepo.main_head(repo_path=repo)
    assert gitrepo.init_repository(path=repo) is False
    assert gitrepo.init_repository(path=repo, initial_files={"other.txt": b"x"}) is False
    assert gitrepo.main_head(repo_path=repo) == head


def test_init_uses_given_initial_files(tmp_path: Path, run_git) -> None:
    path = tmp_path / "data" / "repo.git"
    files = {"CHANGES.md": b"# Changelog\n\nAll notable changes.\n", "docs/.gitkeep": b""}
    assert gitrepo.init_repository(path=path, initial_files=files)
    assert run_git("--git-dir", str(path), "show", "main:CHANGES.md") == files["CHANGES.md"].decode()
    assert gitrepo.list_files_at(repo_path=path) == ["CHANGES.md", "docs/.gitkeep"]


def test_init_accepts_an_empty_folder(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.mkdir()
    assert gitrepo.init_repository(path=path) is True
    assert gitrepo.is_reachable(repo_path=path)


def test_init_refuses_a_non_empty_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    path = tmp_path / "stuff"
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    with pytest.raises(Invalid, match="not empty"):
        gitrepo.init_repository(path=path)
    assert sorted(p.name for p in path.iterdir()) == ["notes.txt"]


def test_init_refuses_a_non_bare_repository(tmp_path: Path, run_git) -> None:
    path = tmp_path / "work"
    run_git("init", "-q", str(path))
    (path / "f.txt").write_text("x")
    with pytest.raises(Invalid):
        gitrepo.init_repository(path=path)


def test_a_folder_inside_another_repository_is_not_taken_for_it(tmp_path: Path, run_git) -> None:
    outer = tmp_path / "outer"
    run_git("init", "-q", str(outer))
    inner = outer / "data"
    inner.mkdir()
    (inner / "x").write_text("x")
    assert not gitrepo.is_reachable(repo_path=inner)
    with pytest.raises(Invalid):
        gitrepo.init_repository(path=inner)


def test_init_refuses_unsafe_initial_file_paths(tmp_path: Path) -> None:
    with pytest.raises(Invalid):
        gitrepo.init_repository(path=tmp_path / "r.git", initial_files={"../evil": b"x"})
    assert not (tmp_path / "r.git").exists()


def _source_repo(tmp_path: Path, run_git, branch: str = "master") -> Path:
    src = tmp_path / "source"
    run_git("init", "-q", "-b", branch, str(src))
    (src / "README.md").write_text("hello\n")
    run_git("add", "README.md", cwd=src)
    run_git("commit", "-q", "-m", "First", cwd=src)
    run_git("branch", "feature", cwd=src)
    return src


def test_adopt_clones_bare_and_creates_main_from_master(tmp_path: Path, run_git) -> None:
    src = _source_repo(tmp_path, run_git)
    dest = tmp_path / "repo.git"
    gitrepo.adopt_repository(source=str(src), path=dest)
    assert run_git("--git-dir", str(dest), "rev-parse", "--is-bare-repository").strip() == "true"
    assert run_git("--git-dir", str(dest), "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert run_git("--git-dir", str(dest), "log", "--format=%s", "main").split("\n")[0] == "First"
    assert gitrepo.read_file_at(repo_path=dest, path="README.md") == b"hello\n"
    assert gitrepo.is_reachable(repo_path=dest)


def test_adopt_keeps_an_existing_main(tmp_path: Path, run_git) -> None:
    src = _source_repo(tmp_path, run_git, branch="main")
    dest = tmp_path / "repo.git"
    gitrepo.adopt_repository(source=str(src), path=dest)
    assert gitrepo.main_head(repo_path=dest) == run_git("rev-parse", "main", cwd=src).strip()


def test_adopt_accepts_a_file_url(tmp_path: Path, run_git) -> None:
    src = _source_repo(tmp_path, run_git)
    dest = tmp_path / "repo.git"
    gitrepo.adopt_repository(source=src.as_uri(), path=dest)
    assert gitrepo.branch_exists(repo_path=dest, branch="main")


@pytest.mark.parametrize("source", ["-uhack", "--upload-pack=touch /tmp/x", "", "no/such/place", "ftp://x/y"])
def test_adopt_refuses_sources_that_are_options_or_unknown(tmp_path: Path, source: str) -> None:
    with pytest.raises(Invalid):
        gitrepo.adopt_repository(source=source, path=tmp_path / "repo.git")
    assert not (tmp_path / "repo.git").exists()


def test_adopt_refuses_a_non_empty_target(tmp_path: Path, run_git) -> None:
    src = _source_repo(tmp_path, run_git)
    dest = tmp_path / "repo.git"
    dest.mkdir()
    (dest / "keep").write_text("x")
    with pytest.raises(Invalid, match="not empty"):
        gitrepo.adopt_repository(source=str(src), path=dest)
    assert [p.name for p in dest.iterdir()] == ["keep"]


def test_adopt_of_an_empty_repository_is_refused_and_leaves_nothing(tmp_path: Path, run_git) -> None:
    src = tmp_path / "empty-src"
    run_git("init", "-q", str(src))
    with pytest.raises(Invalid):
        gitrepo.adopt_repository(source=str(src), path=tmp_path / "repo.git")
    assert not (tmp_path / "repo.git").exists()


def test_is_reachable_is_false_for_missing_or_broken_repos(tmp_path: Path) -> None:
    assert not gitrepo.is_reachable(repo_path=tmp_path / "nothing")
    (tmp_path / "junk").mkdir()
    assert not gitrepo.is_reachable(repo_path=tmp_path / "junk")


def test_read_file_at_reads_git_objects(repo: Path) -> None:
    assert gitrepo.read_file_at(repo_path=repo, path="CHANGES.md") == b"# Changelog\n"
    assert gitrepo.read_file_at(repo_path=repo, path="missing.md") is None
    assert gitrepo.read_file_at(repo_path=repo, path="docs") is None
    head = gitrepo.main_head(repo_path=repo)
    assert gitrepo.read_file_at(repo_path=repo, path="CHANGES.md", ref=head) == b"# Changelog\n"
    assert gitrepo.read_file_at(repo_path=repo, path="CHANGES.md", ref=head[:10]) == b"# Changelog\n"
    with pytest.raises(NotFound):
        gitrepo.read_file_at(repo_path=repo, path="CHANGES.md", ref="nope")
    with pytest.raises(NotFound):
        gitrepo.read_file_at(repo_path=repo, path="CHANGES.md", ref="main~1")


def test_list_files_at_by_folder_and_prefix(repo: Path) -> None:
    assert gitrepo.list_files_at(repo_path=repo, prefix="catalog") == [
        "catalog/endpoints/.gitkeep",
        "catalog/services/.gitkeep",
    ]
    assert gitrepo.list_files_at(repo_path=repo, prefix="catalog/services/") == ["catalog/services/.gitkeep"]
    assert gitrepo.list_files_at(repo_path=repo, prefix="docs/_t") == ["docs/_templates/.gitkeep"]
    assert gitrepo.list_files_at(repo_path=repo, prefix="CHANGES.md") == ["CHANGES.md"]
    assert gitrepo.list_files_at(repo_path=repo, prefix="nothing/here") == []
    assert len(gitrepo.list_files_at(repo_path=repo)) == len(gitrepo.INITIAL_FILES)


def test_main_head_of_a_missing_repo_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        gitrepo.main_head(repo_path=tmp_path / "nope.git")

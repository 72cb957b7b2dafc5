"""Finding Compose projects in a folder tree or an in-memory tree, and naming them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calcifer.catalog.compose import (
    COMPOSE_FILE_NAMES,
    discover,
    find_compose_files,
    load_project,
    normalize_project_name,
    parse_compose_documents,
)

SERVICE = "services:\n  web:\n    image: nginx\n"


def write(root: Path, relative: str, text: str = SERVICE) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def relative(paths: list[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_the_file_names_are_composes_own_in_its_order_of_preference() -> None:
    assert COMPOSE_FILE_NAMES == ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


def test_find_compose_files_walks_the_tree_and_skips_what_it_should(tmp_path: Path) -> None:
    for name in [
        "compose.yaml",
        "apps/a/docker-compose.yml",
        "apps/b/compose.yml",
        "apps/b/nested/docker-compose.yaml",
        ".git/compose.yaml",
        ".hidden/compose.yaml",
        "web/node_modules/pkg/compose.yaml",
        "apps/c/compose.override.yaml",  # an override alone is not a project
        "apps/d/Compose.yaml",  # names are case-sensitive
        "apps/e/compose.yaml.bak",
    ]:
        write(tmp_path, name)

    found = find_compose_files(root=tmp_path)

    assert relative(found, tmp_path) == [
        "compose.yaml",
        "apps/a/docker-compose.yml",
        "apps/b/compose.yml",
        "apps/b/nested/docker-compose.yaml",
    ]


def test_find_compose_files_picks_one_file_per_folder(tmp_path: Path) -> None:
    write(tmp_path, "app/docker-compose.yml")
    write(tmp_path, "app/compose.yml")
    write(tmp_path, "app/docker-compose.yaml")

    assert relative(find_compose_files(root=tmp_path), tmp_path) == ["app/compose.yml"]


def test_several_compose_files_in_a_folder_are_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "app/docker-compose.yml", "services:\n  old:\n    image: old\n")
    write(tmp_path, "app/compose.yaml")

    [project] = discover(roots=[tmp_path])

    assert [s.name for s in project.services] == ["web"]
    assert [(p.file, p.line) for p in project.problems] == [("app/compose.yaml", None)]
    assert "Compose reads only compose.yaml" in project.problems[0].message


def test_find_compose_files_respects_max_depth(tmp_path: Path) -> None:
    write(tmp_path, "1/2/3/compose.yaml")
    write(tmp_path, "1/2/3/4/compose.yaml")

    assert relative(find_compose_files(root=tmp_path, max_depth=3), tmp_path) == ["1/2/3/compose.yaml"]
    assert len(find_compose_files(root=tmp_path, max_depth=4)) == 2
    assert find_compose_files(root=tmp_path, max_depth=0) == []


def test_find_compose_files_follows_links_inside_the_root_only_once_and_never_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "stack/compose.yaml")
    root = tmp_path / "root"
    write(root, "real/compose.yaml")
    os.symlink(outside / "stack", root / "escape")
    os.symlink(outside / "stack" / "compose.yaml", root / "compose.yaml")
    os.symlink(root / "real", root / "alias")
    os.symlink(root, root / "real" / "loop")

    found = find_compose_files(root=root)

    assert len(found) == 1
    assert found[0].resolve() == (root / "real" / "compose.yaml").resolve()


def test_find_compose_files_on_a_missing_root_finds_nothing(tmp_path: Path) -> None:
    assert find_compose_files(root=tmp_path / "missing") == []
    assert discover(roots=[tmp_path / "missing"]) == []


def test_discover_reads_every_root_and_each_folder_once(tmp_path: Path) -> None:
    write(tmp_path, "one/app/compose.yaml")
    write(tmp_path, "two/compose.yaml")

    projects = discover(roots=[tmp_path / "one", tmp_path / "two", tmp_path / "one"])

    assert [(p.name, p.files) for p in projects] == [("app", ["app/compose.yaml"]), ("two", ["compose.yaml"])]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("myapp", "myapp"),
        ("My App", "myapp"),
        ("pihole-cloudflared-DoH", "pihole-cloudflared-doh"),
        ("__private", "private"),
        ("-dash_", "dash_"),
        ("héllo.world", "hlloworld"),
        ("Stack_2024", "stack_2024"),
        ("日本", ""),
    ],
)
def test_project_names_are_normalized_like_compose(raw: str, normalized: str) -> None:
    assert normalize_project_name(raw) == normalized


def test_project_name_from_folder_top_level_name_or_variable(tmp_path: Path) -> None:
    write(tmp_path, "My.Media Stack/compose.yaml")
    write(tmp_path, "named/compose.yaml", "name: ${STACK:-Fancy_Name}\n" + SERVICE)
    write(tmp_path, "by-env/compose.yaml", "name: ignored\n" + SERVICE)
    write(tmp_path, "by-env/.env", "COMPOSE_PROJECT_NAME=From-Env\n")

    names = {p.files[0].split("/")[0]: p.name for p in discover(roots=[tmp_path])}

    assert names == {"My.Media Stack": "mymediastack", "named": "fancy_name", "by-env": "from-env"}
    assert discover(roots=[tmp_path / "named"], env={"STACK": "prod"})[0].name == "prod"


def test_project_at_the_root_takes_the_root_folder_name(tmp_path: Path) -> None:
    root = tmp_path / "HomeLab"
    write(root, "compose.yaml")

    [project] = discover(roots=[root])
    direct = load_project(compose_file=root / "compose.yaml", root=root)

    assert project.name == direct.name == "homelab"
    assert project.services[0].project == "homelab"
    assert project.files == ["compose.yaml"]


def test_in_memory_projects_are_found_by_base_file_name() -> None:
    files = {
        "compose.yaml": SERVICE.encode(),
        "./stacks/media/docker-compose.yml": SERVICE.encode(),
        "stacks/media/compose.override.yml": b"services:\n  web:\n    image: override\n",
        "stacks/notes.md": b"# not compose",
        ".github/compose.yaml": SERVICE.encode(),
        "node_modules/x/compose.yaml": SERVICE.encode(),
        "../escape/compose.yaml": SERVICE.encode(),
        "/absolute/compose.yaml": SERVICE.encode(),
    }

    projects = parse_compose_documents(files=files, root_name="Infra")

    assert [(p.name, p.files) for p in projects] == [
        ("infra", ["compose.yaml"]),
        ("media", ["stacks/media/docker-compose.yml", "stacks/media/compose.override.yml"]),
    ]
    assert projects[1].services[0].image == "override"


def test_in_memory_root_project_without_a_root_name_is_called_default() -> None:
    [project] = parse_compose_documents(files={"compose.yaml": SERVICE.encode()})

    assert project.name == "default"


def test_profiles_filter_applies_to_every_entry_point(tmp_path: Path) -> None:
    text = "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [debug]\n"
    write(tmp_path, "app/compose.yaml", text)

    def names(projects: list) -> list[str]:  # type: ignore[type-arg]
        return [s.name for p in projects for s in p.services]

    assert names(discover(roots=[tmp_path])) == ["web", "debug"]
    assert names(discover(roots=[tmp_path], include_profiled=False)) == ["web"]
    assert names(discover(roots=[tmp_path], include_profiled=False, active_profiles=["debug"])) == ["web", "debug"]
    memory = {"app/compose.yaml": text.encode()}
    assert names(parse_compose_documents(files=memory, include_profiled=False)) == ["web"]

"""Compose files read as Docker Compose reads them: the project name is there for interpolation, port
ranges must match, unknown keys are warned about with file and line, and a project Compose would refuse
is a problem rather than a source of services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calcifer.catalog.compose import ComposeProject, load_project, parse_compose_documents
from tests.catalog.test_discovery import ACCEPT, by_slug, onto_main, scan
from tests.conftest import Cast


def project_in(tmp_path: Path, compose: str, *, folder: str = "stack", env_file: str | None = None,
               env: dict[str, str] | None = None) -> ComposeProject:
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "compose.yaml").write_text(compose)
    if env_file is not None:
        (tmp_path / folder / ".env").write_text(env_file)
    return load_project(compose_file=tmp_path / folder / "compose.yaml", root=tmp_path, env=env)


WEB = "services:\n  web:\n    image: nginx\n    container_name: ${COMPOSE_PROJECT_NAME}-web\n"


def test_compose_project_name_is_the_folder_name_while_interpolating(tmp_path: Path) -> None:
    project = project_in(tmp_path, WEB, folder="Shop_Front")
    assert project.problems == []
    assert project.services[0].container_name == "shop_front-web"


def test_compose_project_name_follows_the_files_own_name_unless_the_env_file_names_it(tmp_path: Path) -> None:
    project = project_in(tmp_path, "name: Webshop\n" + WEB)
    assert project.name == "webshop" and project.services[0].container_name == "webshop-web"
    project = project_in(tmp_path, "name: webshop\n" + WEB, folder="other", env_file="COMPOSE_PROJECT_NAME=prod\n")
    assert project.name == "prod" and project.services[0].container_name == "prod-web"


GOOD_PORTS = ("8000-8002:80-82", "8000-8010:80", "80-82", "3000:3000")  # a host range may serve one port


@pytest.mark.parametrize("port", ["8000-8001:80-82", "127.0.0.1:9000:80-81", "8080:80-81/udp"])
def test_port_ranges_of_unequal_length_are_an_error_with_the_line(tmp_path: Path, port: str) -> None:
    compose = "services:\n  web:\n    image: nginx\n    ports:\n" + "".join(
        f"      - \"{p}\"\n" for p in (port, *GOOD_PORTS))
    project = project_in(tmp_path, compose)
    assert [(p.file, p.line) for p in project.problems] == [("stack/compose.yaml", 5)]
    assert "same length" in project.problems[0].message and not project.problems[0].warning
    assert len(project.services[0].ports) == len(GOOD_PORTS)


def test_a_long_form_port_range_of_unequal_length_is_an_error(tmp_path: Path) -> None:
    project = project_in(tmp_path, "services:\n  web:\n    image: nginx\n    ports:\n"
                                   "      - target: 80-82\n        published: 8000-8001\n")
    assert len(project.problems) == 1 and "same length" in project.problems[0].message


def test_unknown_keys_are_warnings_with_file_line_and_the_likely_key(tmp_path: Path) -> None:
    compose = ("services:\n"
               "  web:\n"
               "    image: nginx\n"
               "    port:\n"                 # line 4
               "      - \"80:80\"\n"
               "    depend_on: [db]\n"       # line 6
               "    x-note: fine\n"
               "  db:\n"
               "    image: postgres\n"
               "secret:\n"                   # line 10
               "  token:\n"
               "    file: ./token\n"
               "x-anchors: {}\n")
    project = project_in(tmp_path, compose)
    found = {(p.line, p.warning): p.message for p in project.problems}
    assert set(found) == {(4, True), (6, True), (10, True)}, project.problems
    assert "'port'" in found[(4, True)] and "'ports'" in found[(4, True)] and "'web'" in found[(4, True)]
    assert "'depend_on'" in found[(6, True)] and "'depends_on'" in found[(6, True)]
    assert "'secret'" in found[(10, True)] and "'secrets'" in found[(10, True)]
    assert all(p.file == "stack/compose.yaml" for p in project.problems)
    assert not project.refused and [s.name for s in project.services] == ["web", "db"]


def test_a_missing_required_variable_makes_compose_refuse_the_project(tmp_path: Path) -> None:
    project = project_in(tmp_path, "services:\n  web:\n    image: nginx:${TAG:?set TAG in .env}\n")
    assert project.refused
    assert [(p.line, p.refuses) for p in project.problems] == [(3, True)]
    assert "TAG" in project.problems[0].message


def test_a_required_variable_that_is_set_refuses_nothing(tmp_path: Path) -> None:
    project = project_in(tmp_path, "services:\n  web:\n    image: nginx:${TAG:?set TAG}\n", env={"TAG": "1.27"})
    assert not project.refused and project.problems == []
    assert project.services[0].image == "nginx:1.27"


def test_a_service_with_neither_image_nor_build_makes_compose_refuse_the_project(tmp_path: Path) -> None:
    project = project_in(tmp_path, "services:\n  web:\n    image: nginx\n  worker:\n    command: run\n")
    assert project.refused
    assert [(p.line, p.refuses) for p in project.problems] == [(4, True)]
    assert "neither an image nor a build" in project.problems[0].message


def test_projects_in_memory_get_the_same_checks() -> None:
    projects = parse_compose_documents(files={"apps/shop/compose.yaml": b"services:\n  web:\n    image: x\n"
                                                                          b"    restrat: always\n"})
    assert [(p.file, p.line, p.warning) for p in projects[0].problems] == [("apps/shop/compose.yaml", 4, True)]


def test_services_of_a_project_compose_would_refuse_are_problems_not_proposals(cast: Cast) -> None:
    onto_main(cast.editor, {
        "apps/good/compose.yaml": "services:\n  shop:\n    image: nginx\n    port:\n      - \"80:80\"\n",
        "apps/bad/compose.yaml": "services:\n  api:\n    image: api:${TAG:?set TAG}\n  worker:\n    image: w\n",
    }, "Add two stacks", "Added two stacks")
    found = scan(cast.viewer)
    assert sorted(by_slug(found["new"])) == ["shop"]
    assert found["missing"] == [] and found["drifted"] == []
    by_file: dict[str, list[dict[str, Any]]] = {}
    for problem in found["problems"]:
        by_file.setdefault(problem["file"], []).append(problem)
    good = by_file["apps/good/compose.yaml"]
    assert [(p["line"], p["severity"]) for p in good] == [(4, "warning")] and "'ports'" in good[0]["message"]
    bad = by_file["apps/bad/compose.yaml"]
    assert (3, "error") in [(p["line"], p["severity"]) for p in bad]
    assert any("refuses" in p["message"] and "api, worker" in p["message"] for p in bad)
    refused = cast.editor.post(ACCEPT, json={"slugs": ["api"]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_proposed"

"""Override files, ``extends`` and ``include``: Compose's merge rules as discovery applies them."""

from __future__ import annotations

from calcifer.catalog.compose import ComposePort, ComposeProject, ComposeService, parse_compose_documents


def project_of(files: dict[str, str], **kwargs: object) -> ComposeProject:
    [project] = parse_compose_documents(
        files={path: text.encode() for path, text in files.items()},
        **kwargs,  # type: ignore[arg-type]
    )
    return project


def services_of(project: ComposeProject) -> dict[str, ComposeService]:
    return {service.name: service for service in project.services}


BASE = """\
services:
  web:
    image: example/web:1.0
    command: ["serve", "--port", "80"]
    ports:
      - "8080:80"
      - "8443:443"
    volumes:
      - data:/var/lib/web
      - ./conf:/etc/web:ro
    environment:
      - LOG_LEVEL=info
      - WORKERS=4
    labels:
      team: web
      tier: front
    depends_on:
      - db
    networks: [front]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 30s
  db:
    image: postgres:16
    environment:
      POSTGRES_DB: app
"""


def test_override_merges_mappings_by_key_even_across_list_and_mapping_forms() -> None:
    override = """\
services:
  web:
    environment:
      LOG_LEVEL: debug
      DEBUG: "1"
    labels:
      - tier=dev
      - owner=alice
"""
    web = services_of(project_of({"compose.yaml": BASE, "compose.override.yaml": override}))["web"]

    assert web.environment_keys == ["LOG_LEVEL", "WORKERS", "DEBUG"]
    assert web.labels == {"team": "web", "tier": "dev", "owner": "alice"}


def test_override_replaces_scalars_and_commands_and_appends_sequences() -> None:
    override = """\
services:
  web:
    image: example/web:2.0
    command: serve --debug
    ports:
      - "8080:80"
      - "9090:9090"
    networks:
      back:
    depends_on:
      cache:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "true"]
  cache:
    image: redis:7
"""
    project = project_of({"compose.yaml": BASE, "compose.override.yaml": override})
    web = services_of(project)["web"]

    assert project.problems == []
    assert web.image == "example/web:2.0"
    assert web.command == "serve --debug"
    assert web.ports == [
        ComposePort(published="8080", target="80", protocol="tcp"),
        ComposePort(published="8443", target="443", protocol="tcp"),
        ComposePort(published="9090", target="9090", protocol="tcp"),
    ]
    assert web.networks == ["front", "back"]
    assert web.depends_on_conditions == {"db": "service_started", "cache": "service_healthy"}
    assert [s.name for s in project.services] == ["web", "db", "cache"]
    assert services_of(project)["cache"].compose_file == "compose.override.yaml"
    assert web.compose_file == "compose.yaml"
    assert project.files == ["compose.yaml", "compose.override.yaml"]


def test_override_volumes_are_unique_by_target() -> None:
    override = "services:\n  web:\n    volumes:\n      - other:/var/lib/web\n      - ./logs:/var/log/web\n"

    web = services_of(project_of({"compose.yaml": BASE, "compose.override.yaml": override}))["web"]

    assert web.volumes == ["other:/var/lib/web", "./conf:/etc/web:ro", "./logs:/var/log/web"]


def test_reset_and_override_tags() -> None:
    override = """\
services:
  web:
    ports: !override
      - "443:443"
    labels: !reset {}
    environment:
      WORKERS: !reset null
    depends_on: !reset []
"""
    web = services_of(project_of({"compose.yaml": BASE, "compose.override.yaml": override}))["web"]

    assert web.ports == [ComposePort(published="443", target="443", protocol="tcp")]
    assert web.labels == {}
    assert web.environment_keys == ["LOG_LEVEL"]
    assert web.depends_on == []


def test_tags_in_a_lone_file_apply_to_nothing_and_are_dropped() -> None:
    project = project_of({"compose.yaml": "services:\n  web:\n    image: !override nginx\n    labels: !reset {a: b}\n"})

    assert project.problems == []
    assert project.services[0].image == "nginx"
    assert project.services[0].labels == {}


def test_the_first_override_name_present_wins() -> None:
    files = {
        "compose.yaml": "services:\n  web:\n    image: base\n",
        "compose.override.yaml": "services:\n  web:\n    image: from-yaml\n",
        "compose.override.yml": "services:\n  web:\n    image: from-yml\n",
        "docker-compose.override.yml": "services:\n  web:\n    image: from-docker\n",
    }

    project = project_of(files)

    assert project.services[0].image == "from-yml"
    assert project.files == ["compose.yaml", "compose.override.yml"]


def test_several_documents_in_one_file_merge_in_order() -> None:
    text = "services:\n  web:\n    image: one\n---\nservices:\n  web:\n    ports: ['80:80']\n  db:\n    image: two\n"

    project = project_of({"compose.yaml": text})

    assert [(s.name, s.image, len(s.ports)) for s in project.services] == [("web", "one", 1), ("db", "two", 0)]


def test_override_problems_name_the_override_file() -> None:
    override = "services:\n  web:\n    image: ${TAG:?TAG is required}\n"

    project = project_of({"compose.yaml": BASE, "compose.override.yaml": override})

    assert [(p.file, p.line) for p in project.problems] == [("compose.override.yaml", 3)]


# --- extends -----------------------------------------------------------------------------------------


def test_extends_in_the_same_file_and_chains() -> None:
    text = """\
services:
  base:
    image: busybox
    user: root
    labels: {a: "1"}
    environment: [TZ=UTC, PORT=80]
  common:
    extends: base
    labels: {b: "2"}
    ports: ["80:80"]
  cli:
    extends:
      service: common
    environment:
      PORT: 8080
    ports: ["81:81"]
"""
    services = services_of(project_of({"compose.yaml": text}))

    assert list(services) == ["base", "common", "cli"]
    cli = services["cli"]
    assert cli.image == "busybox"
    assert cli.labels == {"a": "1", "b": "2"}
    assert cli.environment_keys == ["TZ", "PORT"]
    assert [p.published for p in cli.ports] == ["80", "81"]


def test_extends_from_another_folder_rebases_the_build_context() -> None:
    files = {
        "app/compose.yaml": "services:\n  api:\n    extends:\n      file: ../shared/base.yaml\n      service: py\n",
        "shared/base.yaml": "services:\n  py:\n    build:\n      context: ./python\n      target: dev\n",
    }

    [app] = parse_compose_documents(files={path: text.encode() for path, text in files.items()})

    assert app.problems == []
    assert app.services[0].build == "../shared/python"
    assert app.files == ["app/compose.yaml", "shared/base.yaml"]


def test_extends_problems() -> None:
    text = """\
services:
  missing-service:
    image: a
    extends: nowhere
  missing-file:
    image: b
    extends:
      file: nope.yaml
      service: x
  loop-a:
    image: c
    extends: loop-b
  loop-b:
    image: d
    extends: loop-a
  no-name:
    image: e
    extends: {file: other.yaml}
"""
    project = project_of({"compose.yaml": text, "other.yaml": "services: {}\n"})

    assert [s.name for s in project.services] == ["missing-service", "missing-file", "loop-a", "loop-b", "no-name"]
    found = {(p.line, p.message.split(":")[0]) for p in project.problems}
    assert (2, "service 'missing-service' extends 'nowhere', which compose.yaml does not define") in found
    assert (8, "service 'missing-file'") in found
    assert any("forms a cycle" in p.message for p in project.problems)
    assert (18, "service 'no-name'") in found
    assert "was not found" in " ".join(p.message for p in project.problems)


# --- include -----------------------------------------------------------------------------------------


def test_include_short_and_long_forms() -> None:
    files = {
        "stack/compose.yaml": """\
include:
  - ../db/compose.yaml
  - path: ../cache/compose.yaml
    env_file: ../cache/cache.env
services:
  web:
    image: web
    depends_on: [db, cache]
""",
        "db/compose.yaml": "services:\n  db:\n    image: postgres:${PG_VERSION}\nvolumes:\n  pgdata:\n",
        "db/.env": "PG_VERSION=16\n",
        "cache/compose.yaml": "services:\n  cache:\n    image: redis:${REDIS_VERSION:-6}\nnetworks:\n  cachenet:\n",
        "cache/cache.env": "REDIS_VERSION=7\n",
    }

    projects = parse_compose_documents(files={path: text.encode() for path, text in files.items()})
    # An included file named like a Compose file is a project of its own too.
    assert [p.files[0] for p in projects] == ["cache/compose.yaml", "db/compose.yaml", "stack/compose.yaml"]
    project = projects[2]
    services = services_of(project)

    assert project.problems == []
    assert list(services) == ["web", "db", "cache"]
    assert services["db"].image == "postgres:16"
    assert services["db"].compose_file == "db/compose.yaml"
    assert services["cache"].image == "redis:7"
    assert project.volumes == ["pgdata"]
    assert project.networks == ["cachenet"]
    assert project.files == ["stack/compose.yaml", "db/compose.yaml", "cache/compose.yaml"]


def test_the_including_projects_variables_win_over_the_included_dot_env() -> None:
    files = {
        "stack/compose.yaml": "include: [lib/compose.yaml]\nservices:\n  web:\n    image: web\n",
        "stack/.env": "TAG=from-parent\n",
        "stack/lib/compose.yaml": "services:\n  lib:\n    image: lib:${TAG}\n",
        "stack/lib/.env": "TAG=from-lib\n",
    }

    stack, lib = parse_compose_documents(files={path: text.encode() for path, text in files.items()})

    assert services_of(stack)["lib"].image == "lib:from-parent"
    assert services_of(lib)["lib"].image == "lib:from-lib"


def test_include_problems() -> None:
    files = {
        "compose.yaml": """\
include:
  - missing.yaml
  - dup.yaml
  - self.yaml
  - {env_file: x.env}
services:
  web:
    image: web
""",
        "dup.yaml": "services:\n  web:\n    image: other\n",
        "self.yaml": "include: [self.yaml]\nservices:\n  selfie:\n    image: s\n",
    }

    project = project_of(files)

    assert [(s.name, s.image) for s in project.services] == [("web", "web"), ("selfie", "s")]
    found = [(p.file, p.line, p.message) for p in project.problems]
    assert ("compose.yaml", 2, "included file 'missing.yaml' was not found") in found
    assert ("dup.yaml", 2, "service 'web' is already defined by the including project") in found
    assert any(file == "self.yaml" and "forms a cycle" in message for file, _, message in found)
    assert ("compose.yaml", 5, "an include entry needs a path") in found

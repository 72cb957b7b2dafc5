"""Every real Compose file of the shared corpus (docker/awesome-compose, CC0) parses cleanly.

The expected services are computed here independently of the parser: a plain ruamel.yaml safe
load of each file, whose top-level ``services:`` keys are what discovery must return.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from calcifer.catalog.compose import COMPOSE_FILE_NAMES, discover, find_compose_files, load_project
from tests.corpus import COMPOSE_CORPUS

CORPUS = COMPOSE_CORPUS


def corpus_folders() -> list[str]:
    if not CORPUS.is_dir():
        # Not a skip: a missing corpus must be noticed, so a test fails below instead.
        return ["<corpus missing>"]
    return sorted(path.name for path in CORPUS.iterdir() if path.is_dir())


def compose_file_of(folder: Path) -> Path:
    return next(folder / name for name in COMPOSE_FILE_NAMES if (folder / name).is_file())


def expected_services(compose_file: Path) -> list[str]:
    document = YAML(typ="safe", pure=True).load(compose_file.read_text(encoding="utf-8"))
    return [str(name) for name in document["services"]]


def test_the_corpus_is_there() -> None:
    assert CORPUS.is_dir(), f"the shared Compose corpus is missing: expected it at {CORPUS}"
    assert len(corpus_folders()) >= 20


@pytest.mark.parametrize("folder", corpus_folders())
def test_corpus_file_parses_without_problems_and_yields_exactly_its_services(folder: str) -> None:
    assert CORPUS.is_dir(), f"the shared Compose corpus is missing: expected it at {CORPUS}"
    compose_file = compose_file_of(CORPUS / folder)

    project = load_project(compose_file=compose_file, root=CORPUS)

    assert project.problems == []
    assert [service.name for service in project.services] == expected_services(compose_file)
    assert project.files[0] == f"{folder}/{compose_file.name}"
    assert all(service.compose_file == project.files[0] for service in project.services)
    assert all(service.project == project.name for service in project.services)


def test_discovery_over_the_whole_corpus_finds_one_project_per_folder() -> None:
    assert CORPUS.is_dir(), f"the shared Compose corpus is missing: expected it at {CORPUS}"

    projects = discover(roots=[CORPUS])

    assert [project.files[0].split("/")[0] for project in projects] == corpus_folders()
    assert len(find_compose_files(root=CORPUS)) == len(projects)
    assert [p for p in projects if p.problems] == []


def test_corpus_details_that_are_easy_to_get_wrong() -> None:
    assert CORPUS.is_dir(), f"the shared Compose corpus is missing: expected it at {CORPUS}"
    projects = {project.files[0].split("/")[0]: project for project in discover(roots=[CORPUS])}

    pihole = projects["pihole-cloudflared-DoH"]
    assert pihole.name == "pihole-cloudflared-doh"  # normalised folder name
    cloudflared = {s.name: s for s in pihole.services}["cloudflared"]
    assert [(p.published, p.target, p.protocol) for p in cloudflared.ports] == [
        ("5054", "5054", "tcp"),
        ("5054", "5054", "udp"),
    ]
    assert cloudflared.networks == ["dns-net"]  # mapping form with ipv4_address

    wasmedge = projects["wasmedge-mysql-nginx"]
    assert wasmedge.files == ["wasmedge-mysql-nginx/compose.yml"]

    logstash = {s.name: s for s in projects["elasticsearch-logstash-kibana"].services}["logstash"]
    assert logstash.command == "logstash -f /usr/share/logstash/pipeline/logstash-nginx.config"
    assert logstash.depends_on == ["elasticsearch"]
    elasticsearch = {s.name: s for s in projects["elasticsearch-logstash-kibana"].services}["elasticsearch"]
    assert elasticsearch.environment_keys == ["discovery.type", "ES_JAVA_OPTS"]

    backend = {s.name: s for s in projects["nginx-flask-mysql"].services}["backend"]
    assert backend.build == "backend"
    assert backend.depends_on_conditions == {"db": "service_healthy"}

    proxy = {s.name: s for s in projects["nginx-golang-postgres"].services}["proxy"]
    assert proxy.volumes == ["./proxy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]

    prometheus = {s.name: s for s in projects["prometheus-grafana"].services}["prometheus"]
    assert prometheus.command == "--config.file=/etc/prometheus/prometheus.yml"

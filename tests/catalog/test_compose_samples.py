"""Realistic Compose projects (tests/catalog/compose_samples/) read end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calcifer.catalog.compose import (
    ComposePort,
    ComposeProject,
    ComposeService,
    discover,
    load_project,
    parse_compose_documents,
)

SAMPLES = Path(__file__).resolve().parent / "compose_samples"


def load(folder: str, **kwargs: object) -> ComposeProject:
    return load_project(compose_file=SAMPLES / folder / "compose.yaml", root=SAMPLES, **kwargs)  # type: ignore[arg-type]


def by_name(project: ComposeProject) -> dict[str, ComposeService]:
    return {service.name: service for service in project.services}


def port(published: str | None, target: str, protocol: str = "tcp", host_ip: str | None = None) -> ComposePort:
    return ComposePort(published=published, target=target, protocol=protocol, host_ip=host_ip)


# --- media stack: gluetun VPN, shared network namespace, .env -----------------------------------


def test_media_stack_yields_exactly_its_services_without_problems() -> None:
    project = load("media-stack")

    assert project.problems == []
    assert project.name == "media-stack"
    assert project.files == ["media-stack/compose.yaml"]
    assert [s.name for s in project.services] == ["gluetun", "qbittorrent", "prowlarr", "sonarr", "radarr", "jellyfin"]
    assert project.volumes == ["jellyfin-cache"]
    assert all(s.compose_file == "media-stack/compose.yaml" and s.project == "media-stack" for s in project.services)


def test_media_stack_vpn_clients_depend_on_gluetun_through_network_mode() -> None:
    services = by_name(load("media-stack"))

    for name in ("qbittorrent", "prowlarr"):
        assert services[name].depends_on == ["gluetun"]
        assert services[name].depends_on_conditions == {"gluetun": "service_started"}
        assert services[name].ports == []
    assert services["sonarr"].depends_on == ["qbittorrent", "prowlarr"]
    assert services["radarr"].depends_on_conditions == {
        "qbittorrent": "service_started",
        "prowlarr": "service_started",
    }
    assert services["jellyfin"].depends_on == []


def test_media_stack_publishes_the_vpn_clients_ports_on_gluetun() -> None:
    services = by_name(load("media-stack"))

    assert services["gluetun"].ports == [
        port("8080", "8080"),
        port("6881", "6881"),
        port("6881", "6881", "udp"),
        port("9696", "9696"),  # ${PROWLARR_PORT:-9696}
    ]
    assert services["radarr"].ports == [port("7878", "7878", host_ip="127.0.0.1")]
    assert services["jellyfin"].ports == [
        port("8096", "8096"),
        port("7359", "7359", "udp"),
        port("1900", "1900", "udp"),
    ]


def test_media_stack_interpolates_from_dot_env_and_defaults() -> None:
    services = by_name(load("media-stack"))

    # CONFIG_ROOT has an inline comment in .env, DATA_ROOT is double-quoted.
    assert services["sonarr"].volumes == ["/srv/appdata/sonarr:/config", "/srv/media:/data"]
    assert services["qbittorrent"].volumes == [
        "/srv/appdata/qbittorrent:/config",
        "/srv/media/downloads:/data/downloads",
    ]
    assert services["jellyfin"].volumes == [
        "/srv/appdata/jellyfin:/config",
        "jellyfin-cache:/cache",
        "/srv/media/media:/media:ro",
    ]
    assert services["sonarr"].image == "lscr.io/linuxserver/sonarr:4.0.9"  # ${SONARR_TAG:-4.0.9}
    # PUID is unset (default 1000); PGID comes from an `export` line.
    assert services["jellyfin"].labels == {"com.example.backup": "true", "com.example.owner": "1000:1001"}


def test_media_stack_keeps_environment_names_not_values() -> None:
    services = by_name(load("media-stack"))

    assert services["gluetun"].environment_keys == [
        "VPN_SERVICE_PROVIDER",
        "VPN_TYPE",
        "WIREGUARD_PRIVATE_KEY",
        "SERVER_COUNTRIES",
        "TZ",
    ]
    assert services["qbittorrent"].environment_keys == ["PUID", "PGID", "TZ", "WEBUI_PORT"]  # merge key <<
    assert services["prowlarr"].environment_keys == ["PUID", "PGID", "TZ"]  # plain alias


def test_media_stack_other_attributes() -> None:
    services = by_name(load("media-stack"))

    assert services["gluetun"].container_name == "gluetun"
    assert services["prowlarr"].container_name is None
    assert {s.restart for s in services.values()} == {"unless-stopped"}
    assert all(s.build is None and s.command is None and s.profiles == [] for s in services.values())


def test_the_caller_environment_wins_over_dot_env() -> None:
    services = by_name(load("media-stack", env={"PUID": "911", "DATA_ROOT": "/mnt/tank", "SONARR_TAG": "develop"}))

    assert services["jellyfin"].labels["com.example.owner"] == "911:1001"
    assert services["sonarr"].volumes == ["/srv/appdata/sonarr:/config", "/mnt/tank:/data"]
    assert services["sonarr"].image == "lscr.io/linuxserver/sonarr:develop"


def test_a_missing_required_variable_is_a_problem_with_its_line_and_the_rest_still_loads() -> None:
    compose = (SAMPLES / "media-stack" / "compose.yaml").read_bytes()
    line = next(n for n, text in enumerate(compose.decode().splitlines(), 1) if "VPN_PROVIDER:?" in text)

    [project] = parse_compose_documents(files={"media/compose.yaml": compose})  # no .env

    assert [(p.file, p.line) for p in project.problems] == [("media/compose.yaml", line)]
    assert "VPN_PROVIDER" in project.problems[0].message
    assert "set VPN_PROVIDER in .env" in project.problems[0].message
    assert len(project.services) == 6
    assert by_name(project)["sonarr"].volumes == ["./config/sonarr:/config", ":/data"]


# --- reverse proxy: Traefik labels ----------------------------------------------------------------


def test_reverse_proxy_labels_as_mapping_keep_backticks_and_unescape_dollars() -> None:
    project = load("reverse-proxy")
    traefik = by_name(project)["traefik"]

    assert project.problems == []
    assert traefik.labels == {
        "traefik.enable": "true",
        "traefik.http.routers.dashboard.rule": "Host(`traefik.example.org`)",
        "traefik.http.routers.dashboard.entrypoints": "websecure",
        "traefik.http.routers.dashboard.service": "api@internal",
        "traefik.http.routers.dashboard.middlewares": "dashboard-auth",
        "traefik.http.middlewares.dashboard-auth.basicauth.users": "admin:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/",
    }


def test_reverse_proxy_labels_as_list() -> None:
    services = by_name(load("reverse-proxy"))

    assert services["whoami"].labels == {
        "traefik.enable": "true",
        "traefik.http.routers.whoami.rule": "Host(`whoami.example.org`) && PathPrefix(`/api`)",
        "traefik.http.routers.whoami.entrypoints": "websecure",
        "traefik.http.routers.whoami.tls.certresolver": "le",
        "traefik.http.services.whoami.loadbalancer.server.port": "80",
    }
    nextcloud = services["nextcloud"].labels
    assert nextcloud["traefik.http.routers.nextcloud.rule"] == "Host(`cloud.example.org`)"
    # `=` inside a value stays; `$${1}` is Traefik's own placeholder, not a variable.
    assert (
        nextcloud["traefik.http.middlewares.nextcloud-dav.redirectregex.replacement"] == "https://${1}/remote.php/dav"
    )
    assert nextcloud["traefik.http.middlewares.nextcloud-dav.redirectregex.regex"] == (
        "https://(.*)/.well-known/(?:card|cal)dav"
    )


def test_reverse_proxy_services_ports_networks_and_command() -> None:
    project = load("reverse-proxy")
    services = by_name(project)

    assert list(services) == ["traefik", "whoami", "nextcloud", "db"]
    assert services["traefik"].ports == [
        port("80", "80"),
        port("443", "443"),
        port("8080", "8080", host_ip="127.0.0.1"),
    ]
    assert services["nextcloud"].networks == ["proxy", "internal"]  # mapping form
    assert services["whoami"].networks == ["proxy"]  # list form
    assert services["nextcloud"].depends_on == ["db"]
    assert project.networks == ["proxy", "internal"]
    assert project.volumes == ["letsencrypt", "nextcloud", "db"]
    assert services["traefik"].command is not None
    assert services["traefik"].command.split() == [
        "--providers.docker=true",
        "--providers.docker.exposedbydefault=false",
        "--entrypoints.web.address=:80",
        "--entrypoints.web.http.redirections.entrypoint.to=websecure",
        "--entrypoints.websecure.address=:443",
        "--certificatesresolvers.le.acme.email=admin@example.org",
        "--certificatesresolvers.le.acme.storage=/letsencrypt/acme.json",
        "--certificatesresolvers.le.acme.tlschallenge=true",
    ]


# --- monitoring: override file, extends from a common file, profiles ------------------------------


def test_monitoring_reads_base_extends_file_and_override() -> None:
    project = load("monitoring")

    assert project.problems == []
    assert project.name == "homemonitoring"  # `name: Home Monitoring`, normalised
    assert project.files == [
        "monitoring/compose.yaml",
        "monitoring/common/services.yaml",
        "monitoring/compose.override.yaml",
    ]
    assert [s.name for s in project.services] == [
        "config-check",
        "prometheus",
        "alertmanager",
        "grafana",
        "node-exporter",
        "cadvisor",
        "netshoot",
    ]
    assert "monitoring-base" not in {s.name for s in project.services}
    assert project.networks == ["monitoring"]
    assert project.volumes == ["prometheus-data", "grafana-data"]


def test_monitoring_override_adds_a_port_and_changes_an_image_tag() -> None:
    services = by_name(load("monitoring"))

    assert services["prometheus"].ports == [port("9090", "9090"), port("9091", "9090", host_ip="127.0.0.1")]
    assert services["grafana"].image == "grafana/grafana:11.2.0"
    assert services["grafana"].environment_keys == [
        "TZ",
        "GF_SECURITY_ADMIN_PASSWORD__FILE",
        "GF_SERVER_ROOT_URL",
        "GF_LOG_LEVEL",
    ]
    assert services["grafana"].labels == {"com.example.team": "observability", "com.example.tier": "dev"}


def test_monitoring_without_its_override_keeps_the_base_values() -> None:
    files = {
        f"monitoring/{name}": (SAMPLES / "monitoring" / name).read_bytes()
        for name in ("compose.yaml", "common/services.yaml", ".env")
    }

    [project] = parse_compose_documents(files=files)
    services = by_name(project)

    assert project.problems == []
    assert services["prometheus"].ports == [port("9090", "9090")]
    assert services["grafana"].image == "grafana/grafana:11.1.0"
    assert services["grafana"].labels == {"com.example.team": "observability", "com.example.tier": "internal"}


def test_monitoring_depends_on_conditions_and_long_form_ports() -> None:
    services = by_name(load("monitoring"))

    assert services["prometheus"].depends_on == ["config-check", "node-exporter", "cadvisor"]
    assert services["prometheus"].depends_on_conditions == {
        "config-check": "service_completed_successfully",
        "node-exporter": "service_started",
        "cadvisor": "service_healthy",
    }
    assert services["grafana"].depends_on_conditions == {
        "prometheus": "service_healthy",
        "alertmanager": "service_started",
    }
    assert services["alertmanager"].ports == [port("9093", "9093", host_ip="127.0.0.1")]
    assert services["cadvisor"].ports == [port("8081", "8080")]


def test_monitoring_extends_inherits_restart_networks_labels_and_environment() -> None:
    services = by_name(load("monitoring"))

    for name in ("prometheus", "alertmanager", "node-exporter", "cadvisor"):
        service = services[name]
        assert service.restart == "unless-stopped"
        assert service.networks == ["monitoring"]
        assert service.labels == {"com.example.team": "observability", "com.example.tier": "internal"}
        assert service.environment_keys == ["TZ"]
    assert services["config-check"].restart == "no"
    assert services["config-check"].networks == []
    assert services["alertmanager"].volumes == ["./alertmanager:/etc/alertmanager:ro"]
    assert services["node-exporter"].command == "--path.rootfs=/host"
    assert services["prometheus"].command == (
        "--config.file=/etc/prometheus/prometheus.yml --storage.tsdb.retention.time=30d --web.enable-lifecycle"
    )


def test_monitoring_profiled_service_is_listed_with_its_profile_by_default() -> None:
    netshoot = by_name(load("monitoring"))["netshoot"]

    assert netshoot.profiles == ["debug"]
    assert netshoot.depends_on == ["prometheus"]  # network_mode: service:prometheus
    assert netshoot.command == "sleep infinity"


@pytest.mark.parametrize(
    ("active", "expected"),
    [((), False), (("debug",), True), (("other",), False), (("*",), True)],
)
def test_monitoring_profiled_service_follows_compose_rule_when_asked(active: tuple[str, ...], expected: bool) -> None:
    project = load("monitoring", include_profiled=False, active_profiles=active)

    names = [s.name for s in project.services]
    assert ("netshoot" in names) is expected
    assert len(names) == 6 + expected


# --- the three together -------------------------------------------------------------------------


def test_discover_finds_the_three_sample_projects() -> None:
    projects = discover(roots=[SAMPLES])

    assert [p.files[0] for p in projects] == [
        "media-stack/compose.yaml",
        "monitoring/compose.yaml",
        "reverse-proxy/compose.yaml",
    ]
    assert all(p.problems == [] for p in projects)


def test_disk_and_in_memory_reading_agree(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES, tmp_path / "repo")
    files = {
        path.relative_to(tmp_path / "repo").as_posix(): path.read_bytes()
        for path in (tmp_path / "repo").rglob("*")
        if path.is_file()
    }

    assert parse_compose_documents(files=files) == discover(roots=[tmp_path / "repo"])

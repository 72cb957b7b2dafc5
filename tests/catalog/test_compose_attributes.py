"""Service attributes in their short and long forms: ports, volumes, depends_on, labels, environment."""

from __future__ import annotations

import pytest

from calcifer.catalog.compose import ComposePort, ComposeProject, ComposeService, parse_compose_documents
from calcifer.catalog.compose_fields import PortSpec, parse_port


def parse(text: str) -> ComposeProject:
    [project] = parse_compose_documents(files={"app/compose.yaml": text.encode()})
    return project


def service(attributes: str, *, others: str = "") -> ComposeService:
    project = parse(f"services:\n  web:\n    image: nginx\n{attributes}{others}")
    assert project.problems == [], project.problems
    return project.services[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("80", PortSpec(None, None, "80", "tcp")),
        (8080, PortSpec(None, None, "8080", "tcp")),
        ("8080:80", PortSpec(None, "8080", "80", "tcp")),
        ("8080:80/udp", PortSpec(None, "8080", "80", "udp")),
        ("8080:80/UDP", PortSpec(None, "8080", "80", "udp")),
        ("127.0.0.1:8080:80", PortSpec("127.0.0.1", "8080", "80", "tcp")),
        ("127.0.0.1:8080:80/udp", PortSpec("127.0.0.1", "8080", "80", "udp")),
        ("127.0.0.1::80", PortSpec("127.0.0.1", None, "80", "tcp")),
        ("3000-3005", PortSpec(None, None, "3000-3005", "tcp")),
        ("3000-3005:3000-3005", PortSpec(None, "3000-3005", "3000-3005", "tcp")),
        ("9090-9091:8080-8081", PortSpec(None, "9090-9091", "8080-8081", "tcp")),
        ("8000-9000:80", PortSpec(None, "8000-9000", "80", "tcp")),
        ("127.0.0.1:5000-5010:5000-5010", PortSpec("127.0.0.1", "5000-5010", "5000-5010", "tcp")),
        ("[::1]:80:80", PortSpec("::1", "80", "80", "tcp")),
        ("[::1]:6001:6001/udp", PortSpec("::1", "6001", "6001", "udp")),
        ("::1:6000:6000", PortSpec("::1", "6000", "6000", "tcp")),
        ("49100:22", PortSpec(None, "49100", "22", "tcp")),
        ("5054:5054/sctp", PortSpec(None, "5054", "5054", "sctp")),
        ({"target": 80}, PortSpec(None, None, "80", "tcp")),
        ({"target": 80, "published": 8080}, PortSpec(None, "8080", "80", "tcp")),
        (
            {"target": "443", "published": "8443-8450", "protocol": "TCP", "host_ip": "10.0.0.1", "mode": "host"},
            PortSpec("10.0.0.1", "8443-8450", "443", "tcp"),
        ),
        ({"name": "dns", "target": 53, "published": "53", "protocol": "udp"}, PortSpec(None, "53", "53", "udp")),
    ],
)
def test_port_forms(value: object, expected: PortSpec) -> None:
    assert parse_port(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "abc", "80:abc", "70000", "80:70000", "5-3", "1-2-3", "80:80/", "[::1]:80", "[::1:80:80", None, True, []],
)
def test_malformed_ports_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_port(value)


def test_ports_in_a_file_mix_short_and_long_forms() -> None:
    web = service(
        "    ports:\n"
        "      - 80\n"
        "      - '443:443'\n"
        "      - 127.0.0.1:8080:8080/udp\n"
        "      - target: 9000\n"
        "        published: 19000\n"
        "        host_ip: 0.0.0.0\n"
    )

    assert web.ports == [
        ComposePort(published=None, target="80", protocol="tcp"),
        ComposePort(published="443", target="443", protocol="tcp"),
        ComposePort(published="8080", target="8080", protocol="udp", host_ip="127.0.0.1"),
        ComposePort(published="19000", target="9000", protocol="tcp", host_ip="0.0.0.0"),
    ]


def test_depends_on_list_form_defaults_to_service_started() -> None:
    web = service("    depends_on: [db, cache]\n", others="  db:\n    image: postgres\n  cache:\n    image: redis\n")

    assert web.depends_on == ["db", "cache"]
    assert web.depends_on_conditions == {"db": "service_started", "cache": "service_started"}


def test_depends_on_mapping_form_with_and_without_conditions() -> None:
    web = service(
        "    depends_on:\n"
        "      db:\n        condition: service_healthy\n        restart: true\n"
        "      migrate:\n        condition: service_completed_successfully\n"
        "      cache:\n"
        "      queue:\n        required: false\n",
        others="  db:\n    image: a\n  migrate:\n    image: b\n  cache:\n    image: c\n  queue:\n    image: d\n",
    )

    assert web.depends_on == ["db", "migrate", "cache", "queue"]
    assert web.depends_on_conditions == {
        "db": "service_healthy",
        "migrate": "service_completed_successfully",
        "cache": "service_started",
        "queue": "service_started",
    }


def test_implicit_dependencies_are_added_after_explicit_ones() -> None:
    web = service(
        "    depends_on:\n      db:\n        condition: service_healthy\n"
        "    network_mode: service:vpn\n"
        "    ipc: service:db\n"
        "    volumes_from:\n      - data:ro\n      - container:external\n"
        "    links:\n      - cache:redis\n",
        others="  db:\n    image: a\n  vpn:\n    image: b\n  data:\n    image: c\n  cache:\n    image: d\n",
    )

    assert web.depends_on == ["db", "vpn", "data", "cache"]
    assert web.depends_on_conditions == {
        "db": "service_healthy",
        "vpn": "service_started",
        "data": "service_started",
        "cache": "service_started",
    }


def test_a_dependency_on_an_undefined_service_is_a_problem_at_its_line() -> None:
    project = parse(
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    depends_on:\n"
        "      - db\n"
        "      - ghost\n"
        "    network_mode: service:phantom\n"
        "  api:\n"
        "    image: api\n"
        "    depends_on:\n"
        "      spectre:\n"
        "        condition: service_healthy\n"
        "  db:\n"
        "    image: postgres\n"
    )

    assert [(p.line, p.message) for p in project.problems] == [
        (6, "service 'web' depends on undefined service 'ghost'"),
        (7, "service 'web' depends on undefined service 'phantom'"),
        (11, "service 'api' depends on undefined service 'spectre'"),
    ]
    assert [s.name for s in project.services] == ["web", "api", "db"]


def test_labels_as_list_and_mapping() -> None:
    listed = service("    labels:\n      - a=b\n      - c=d=e\n      - flag\n      - ' spaced = x'\n")
    mapped = service("    labels:\n      a: b\n      enabled: true\n      port: 8080\n      empty:\n")

    assert listed.labels == {"a": "b", "c": "d=e", "flag": "", "spaced": " x"}
    assert mapped.labels == {"a": "b", "enabled": "true", "port": "8080", "empty": ""}


def test_environment_keeps_keys_only_in_order_without_duplicates() -> None:
    listed = service("    environment:\n      - A=1\n      - B\n      - C=x=y\n      - A=2\n")
    mapped = service("    environment:\n      SECRET: hunter2\n      EMPTY:\n      NUM: 3\n")

    assert listed.environment_keys == ["A", "B", "C"]
    assert mapped.environment_keys == ["SECRET", "EMPTY", "NUM"]


def test_networks_as_list_and_mapping() -> None:
    assert service("    networks: [front, back]\n").networks == ["front", "back"]
    assert service(
        "    networks:\n      front:\n      back:\n        ipv4_address: 10.0.0.2\n        aliases: [api]\n"
    ).networks == ["front", "back"]


def test_volumes_short_and_long_forms() -> None:
    web = service(
        "    volumes:\n"
        "      - data:/var/lib/data\n"
        "      - ./config:/etc/app:ro\n"
        "      - /cache\n"
        "      - type: bind\n        source: ./html\n        target: /usr/share/nginx/html\n        read_only: true\n"
        "      - type: volume\n        source: logs\n        target: /var/log\n"
        "      - type: tmpfs\n        target: /tmp\n        tmpfs:\n          size: 1000\n"
        "      - type: volume\n        target: /anonymous\n"
    )

    assert web.volumes == [
        "data:/var/lib/data",
        "./config:/etc/app:ro",
        "/cache",
        "./html:/usr/share/nginx/html:ro",
        "logs:/var/log",
        "/tmp",
        "/anonymous",
    ]


@pytest.mark.parametrize(
    ("attributes", "build"),
    [
        ("    build: .\n", "."),
        ("    build: ./app\n", "./app"),
        ("    build:\n      context: backend\n      target: builder\n", "backend"),
        ("    build:\n      dockerfile: Dockerfile.dev\n", "."),
        ("    build: https://github.com/example/app.git#main\n", "https://github.com/example/app.git#main"),
    ],
)
def test_build_context(attributes: str, build: str) -> None:
    assert service(attributes).build == build


@pytest.mark.parametrize(
    ("attributes", "command"),
    [
        ("    command: npm run start\n", "npm run start"),
        ("    command: ['nginx', '-g', 'daemon off;']\n", "nginx -g 'daemon off;'"),
        ("    command: [--port, 8080]\n", "--port 8080"),
        ("    command: []\n", ""),
        ("    command: echo $$HOME\n", "echo $HOME"),
    ],
)
def test_command_as_string_or_list(attributes: str, command: str) -> None:
    assert service(attributes).command == command


@pytest.mark.parametrize(
    ("value", "restart"),
    [("always", "always"), ("no", "no"), ('"no"', "no"), ("on-failure:3", "on-failure:3"), ("false", "no")],
)
def test_restart_policy(value: str, restart: str) -> None:
    assert service(f"    restart: {value}\n").restart == restart


def test_profiles_container_name_and_defaults() -> None:
    web = service("    profiles: [debug, tools]\n    container_name: web-1\n")
    bare = service("")

    assert web.profiles == ["debug", "tools"]
    assert web.container_name == "web-1"
    assert (bare.profiles, bare.container_name, bare.command, bare.restart, bare.build) == ([], None, None, None, None)
    assert (bare.ports, bare.depends_on, bare.labels, bare.networks, bare.volumes) == ([], [], {}, [], [])

"""Bad and hostile Compose files become problems, never exceptions (nor hangs, nor huge memory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcifer.catalog.compose import ComposeProject, load_project, parse_compose_documents
from calcifer.catalog.compose_yaml import MAX_FILE_BYTES


def parse(text: str | bytes, **extra: bytes) -> ComposeProject:
    data = text.encode() if isinstance(text, str) else text
    files = {"app/compose.yaml": data, **{f"app/{name}": value for name, value in extra.items()}}
    [project] = parse_compose_documents(files=files)
    return project


def messages(project: ComposeProject) -> str:
    return "\n".join(f"{p.file}:{p.line}: {p.message}" for p in project.problems)


BILLION_LAUGHS = """\
x-a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
x-h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
x-i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
services:
  web:
    image: nginx
    command: *i
"""


def test_an_alias_bomb_is_refused_with_a_problem() -> None:
    project = parse(BILLION_LAUGHS)

    assert project.services == []
    assert "refused: more than" in messages(project)
    assert "anchors are expanded" in messages(project)


def test_an_anchor_that_contains_itself_is_refused() -> None:
    project = parse("x-loop: &loop\n  - *loop\nservices:\n  web:\n    image: nginx\n")

    assert project.services == []
    assert "refused" in messages(project)


def test_moderate_anchors_are_fine() -> None:
    text = "x-env: &env {A: '1', B: '2'}\nx-labels: &labels\n  team: ops\nservices:\n" + "".join(
        f"  s{i}:\n    image: nginx\n    environment: *env\n    labels:\n      <<: *labels\n" for i in range(200)
    )

    project = parse(text)

    assert project.problems == []
    assert len(project.services) == 200
    assert project.services[-1].labels == {"team": "ops"}


def test_a_file_over_one_mebibyte_is_refused_in_memory() -> None:
    big = b"services:\n  web:\n    image: nginx\n" + b"# padding\n" * (MAX_FILE_BYTES // 10)

    project = parse(big)

    assert project.services == []
    assert [(p.file, p.line) for p in project.problems] == [("app/compose.yaml", None)]
    assert "larger than 1024 KiB" in project.problems[0].message


def test_a_file_over_one_mebibyte_is_refused_on_disk(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(b"services: {}\n" + b" " * MAX_FILE_BYTES)

    project = load_project(compose_file=tmp_path / "compose.yaml", root=tmp_path)

    assert project.services == []
    assert "larger than" in messages(project)


def test_a_file_of_exactly_the_limit_is_read() -> None:
    head = b"services:\n  web:\n    image: nginx\n"
    project = parse(head + b"#" * (MAX_FILE_BYTES - len(head) - 1) + b"\n")

    assert project.problems == []
    assert [s.name for s in project.services] == ["web"]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        "services:\n  web:\n    image: nginx\n    x: " + "[" * 3000 + "]" * 3000 + "\n",
        "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 800)),
        "services:\n  web:\n    labels: " + "{a: " * 100 + "b" + "}" * 100 + "\n",
    ],
    ids=["deep-flow-list", "deep-value", "deep-block-mapping", "deep-flow-mapping"],
)
def test_deep_nesting_is_a_problem(text: str) -> None:
    project = parse(text)

    assert project.problems
    assert "nested" in messages(project) or "invalid YAML" in messages(project)


def test_non_string_keys_are_problems_and_the_rest_still_loads() -> None:
    text = """\
services:
  1234:
    image: numbered
  ? [complex, key]
  : image: nope
  null:
    image: nothing
  web:
    image: nginx
    labels:
      true: yes
      1.5: x
      ok: fine
"""

    project = parse(text)

    assert [s.name for s in project.services] == ["1234", "web"]
    assert {s.name: s.labels for s in project.services}["web"] == {"true": "yes", "1.5": "x", "ok": "fine"}
    found = [(p.line, p.message) for p in project.problems]
    assert (2, "key '1234' is not a string; quote it") in found
    assert any(line == 4 and "not a list" in message for line, message in found)
    assert any(line == 6 and "null" in message for line, message in found)
    assert any(line == 11 and "'true'" in message for line, message in found)


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("services:\n  web:\n    image: nginx\n   bad indent: x\n", "invalid YAML", 4),
        ("services:\n  web: [unclosed\n", "invalid YAML", 3),
        ("services:\n  web:\n    image: 'unterminated\n", "invalid YAML", 4),
        ("services: {web: {image: nginx}\n", "invalid YAML", 2),
        ("- just\n- a list\n", "top level must be a mapping", 1),
        ("just a string\n", "top level must be a mapping", 1),
        ("", "file is empty", None),
        ("# only a comment\n", "file is empty", None),
        ("services: [web, db]\n", "services must be a mapping", 1),
        ("services:\n  web: just-a-string\n", "service 'web' must be a mapping", 2),
        ("services:\n  web:\n    image: nginx\n  web:\n    image: apache\n", "duplicate key 'web'", 4),
        ("services:\n  web:\n    image: *nowhere\n", "invalid YAML", 3),
        ("services:\n  web:\n    image: !!python/object:os.system ls\n", "", None),
        ("\tservices:\n", "invalid YAML", 1),
        ("services:\n  web:\n    image: [nginx]\n", "image must be a single value", 3),
        ("services:\n  web:\n    image: nginx\n    ports: 8080\n", "ports must be a list", 4),
    ],
)
def test_malformed_files_give_a_problem_with_its_line(text: str, expected: str, line: int | None) -> None:
    project = parse(text)

    if not expected:  # a Python tag is just an unknown tag: its text is kept, nothing is constructed
        assert [s.image for s in project.services] == ["ls"]
        return
    assert expected in messages(project)
    assert any(p.line == line for p in project.problems if expected in p.message), messages(project)


def test_bytes_that_are_not_utf8_are_a_problem() -> None:
    project = parse(b"services:\n  web:\n    image: \xff\xfe\n")

    assert "not UTF-8" in messages(project)


def test_control_characters_are_a_problem() -> None:
    project = parse("services:\n  web:\n    image: ng\x00inx\n")

    assert "invalid YAML" in messages(project)


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("ports: 8080", "ports must be a list"),
        ("ports: ['not-a-port']", "is not a port number or range"),
        ("ports: ['70000:80']", "is not a port number or range"),
        ("ports: ['80:80/']", "empty protocol"),
        ("ports: ['[::1:80']", "malformed [IPv6] address"),
        ("ports: [{published: 80}]", "needs a target"),
        ("ports: [true]", "is not a port"),
        ("depends_on: db", "depends_on must be a list"),
        ("depends_on: {db: {condition: service_happy}}", "unknown depends_on condition 'service_happy'"),
        ("labels: 5", "labels must be a mapping or a list"),
        ("labels: [[a, b]]", "labels list entries must be KEY=VALUE strings"),
        ("environment: [{A: b}]", "environment list entries must be KEY=VALUE strings"),
        ("networks: default", "networks must be a list or a mapping"),
        ("volumes: /data", "volumes must be a list"),
        ("volumes: [{source: x}]", "a volume must be a string or a mapping with a target"),
        ("build: [a]", "build must be a path or a mapping"),
        ("command: {a: b}", "command must be a string or a list of strings"),
        ("profiles: [[debug]]", "profiles must be a list of strings"),
    ],
)
def test_malformed_attributes_are_problems_and_the_service_is_kept(attribute: str, message: str) -> None:
    project = parse(f"services:\n  db:\n    image: postgres\n  web:\n    image: nginx\n    {attribute}\n")

    assert [s.name for s in project.services] == ["db", "web"]
    assert message in messages(project)
    assert all(p.line == 6 for p in project.problems if message in p.message), messages(project)


def test_a_service_without_image_or_build_is_a_problem() -> None:
    project = parse("services:\n  web:\n    restart: always\n")

    assert [s.name for s in project.services] == ["web"]
    assert "neither an image nor a build context" in messages(project)


def test_a_compose_file_linked_from_outside_the_root_is_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "compose.yaml").write_text("services:\n  secret:\n    image: x\n")
    root = tmp_path / "root"
    (root / "app").mkdir(parents=True)
    os.symlink(outside / "compose.yaml", root / "app" / "compose.yaml")
    os.symlink(outside, root / "linked")

    project = load_project(compose_file=root / "app" / "compose.yaml", root=root)

    assert project.services == []
    assert "outside the scanned folder" in messages(project)


def test_extends_and_include_cannot_leave_the_root(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("services:\n  s:\n    image: secret\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "compose.yaml").write_text(
        "include:\n  - ../secret.yaml\n  - /etc/compose.yaml\n"
        "services:\n  web:\n    image: nginx\n    extends:\n      file: ../secret.yaml\n      service: s\n"
    )

    project = load_project(compose_file=root / "compose.yaml", root=root)

    assert [(s.name, s.image) for s in project.services] == [("web", "nginx")]
    assert [p.line for p in project.problems] == [8, 2, 3]
    assert all("outside the scanned folder" in p.message for p in project.problems)
    assert project.files == ["compose.yaml"]


# --- fuzzing ----------------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=20),
    st.sampled_from(["${A}", "${A:?x}", "$$", "80:80", "127.0.0.1:80:80/udp", "service:web", "${", "[::1]:1:1"]),
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "services",
            "web",
            "db",
            "image",
            "build",
            "ports",
            "depends_on",
            "labels",
            "environment",
            "networks",
            "volumes",
            "extends",
            "include",
            "profiles",
            "command",
            "network_mode",
            "volumes_from",
            "links",
            "restart",
            "condition",
            "target",
            "published",
            "file",
            "service",
            "path",
            "name",
        ]
    ),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=30,
)


def _dump(value: object) -> str:
    import io

    from ruamel.yaml import YAML

    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(value, stream)
    return stream.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_load_project_never_raises_on_arbitrary_text(tmp_path: Path, text: str) -> None:
    (tmp_path / "compose.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")

    project = load_project(compose_file=tmp_path / "compose.yaml", root=tmp_path)

    assert isinstance(project.problems, list)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=300), env_file=st.binary(max_size=100))
def test_parse_never_raises_on_arbitrary_bytes(data: bytes, env_file: bytes) -> None:
    parse(data, **{".env": env_file, "compose.override.yaml": data[::-1]})


@settings(max_examples=200, deadline=None)
@given(
    document=st.dictionaries(KEYS, VALUES, max_size=6),
    override=st.dictionaries(KEYS, VALUES, max_size=4),
)
def test_parse_never_raises_on_compose_shaped_documents(
    document: dict[str, object], override: dict[str, object]
) -> None:
    project = parse(_dump(document), **{"compose.override.yaml": _dump(override).encode()})

    assert all(isinstance(s.name, str) for s in project.services)


def test_a_long_extends_chain_stops_with_a_problem() -> None:
    chain = "".join(f"  s{i}:\n    extends: s{i + 1}\n" for i in range(2000)) + "  s2000:\n    image: base\n"

    project = parse("services:\n" + chain)

    assert len(project.services) == 2001
    assert "extends nests more than" in messages(project)


def test_include_fan_out_is_bounded() -> None:
    files = {
        f"l{level}.yaml": "include:\n" + f"  - l{level + 1}.yaml\n" * 10 + f"services:\n  s{level}:\n    image: x\n"
        for level in range(8)
    }
    files["l8.yaml"] = "services:\n  leaf:\n    image: x\n"
    files["app/compose.yaml"] = "include:\n  - ../l0.yaml\nservices:\n  web:\n    image: x\n"

    [project] = parse_compose_documents(files={path: text.encode() for path, text in files.items()})

    assert "files to read for one project" in messages(project)
    assert "web" in {s.name for s in project.services}

"""Compose variable interpolation and ``.env`` files, table-driven."""

from __future__ import annotations

import pytest

from calcifer.catalog.compose import parse_compose_documents
from calcifer.catalog.compose_interpolate import InterpolationError, interpolate, parse_env_file, substitute

ENV = {"SET": "value", "EMPTY": "", "FALLBACK": "fallback", "PORT": "8080", "_under": "u", "lower": "l"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain text", "plain text"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("pre-${SET}-post", "pre-value-post"),
        ("$SET$SET", "valuevalue"),
        ("$SET.txt", "value.txt"),
        ("$SETX", ""),  # the name is greedy: SETX is unset
        ("${SET}X", "valueX"),
        ("$_under $lower", "u l"),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        # defaults
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${SET-default}", "value"),
        ("${UNSET:-}", ""),
        ("${UNSET:-with spaces and : colons}", "with spaces and : colons"),
        ("${UNSET:-a-b}", "a-b"),
        # alternatives
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        # required, satisfied
        ("${SET:?must be set}", "value"),
        ("${EMPTY?may be empty}", ""),
        # nesting
        ("${UNSET:-${FALLBACK}}", "fallback"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${A:-${B:-${C:-${D:-four}}}}", "four"),
        ("${UNSET:-$FALLBACK}", "fallback"),
        ("${SET:+${FALLBACK}-x}", "fallback-x"),
        ("${SET:-${MISSING:?never evaluated}}", "value"),
        ("${UNSET:-pre${SET}post}", "prevaluepost"),
        # escaping and literal dollars
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("$$$SET", "$value"),
        ("cost: $$5", "cost: $5"),
        ("admin:$$apr1$$H6uskkkW$$IgXLP6", "admin:$apr1$H6uskkkW$IgXLP6"),
        ("$5", "$5"),  # not a name: kept
        ("50$", "50$"),
        ("$ alone", "$ alone"),
        ("a $-b", "a $-b"),
        ("Host(`${SET}.example.org`)", "Host(`value.example.org`)"),
        ("{not a var}", "{not a var}"),
        ("${PORT}:80", "8080:80"),
    ],
)
def test_interpolation(template: str, expected: str) -> None:
    assert interpolate(template, lookup=ENV) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
        ("${EMPTY:?no empty}", "required variable EMPTY is missing a value: no empty"),
        ("${UNSET?}", "required variable UNSET is missing a value"),
        ("${UNSET:?needs $SET}", "required variable UNSET is missing a value: needs value"),
        ("${UNSET:-${ALSO_UNSET:?inner}}", "required variable ALSO_UNSET is missing a value: inner"),
        ("${}", "invalid interpolation format"),
        ("${1ABC}", "invalid interpolation format"),
        ("${VAR/foo/bar}", "invalid interpolation format"),
        ("${VAR:=assign}", "invalid interpolation format"),
        ("${UNCLOSED", "no closing brace"),
        ("${A:-${B}", "no closing brace"),
    ],
)
def test_interpolation_errors(template: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$")):
        interpolate(template, lookup=ENV)


def test_substitute_collects_every_error_and_keeps_going() -> None:
    errors: list[str] = []

    result = substitute("${A:?first}-${SET}-${B:?second}-${bad/x}", lookup=ENV, errors=errors)

    assert result == "-value--${bad/x}"
    assert errors == [
        "required variable A is missing a value: first",
        "required variable B is missing a value: second",
        "invalid interpolation format '${bad/x}'",
    ]


def test_absurd_nesting_is_an_error_not_a_crash() -> None:
    template = "${A:-" * 5000 + "x" + "}" * 5000
    errors: list[str] = []

    substitute(template, lookup={}, errors=errors)

    assert errors and "nested more than" in errors[0]


ENV_FILE = """\
# comment line
   # indented comment

PLAIN=value
SPACED = spaced value
export EXPORTED=yes
export  TABBED=tab
EMPTY=
INLINE=value # a comment
NOT_COMMENT=value#hash
SINGLE='single $PLAIN # kept'
DOUBLE="double $PLAIN # kept"
ESCAPES="line1\\nline2\\t\\"q\\""
SINGLE_ESCAPE='it\\'s'
QUOTED_COMMENT="quoted" # comment
REFERENCE=${PLAIN}-ref
DEFAULTED=${NOPE:-dflt}
SHELL_WINS=$FROM_SHELL
MULTI="first
second"
AFTER_MULTI=after
FROM_SHELL_ONLY
URL=postgres://user:p@ss@db:5432/app?sslmode=disable
"""


def test_env_file_parsing() -> None:
    variables, issues = parse_env_file(ENV_FILE, environ={"FROM_SHELL": "shell", "FROM_SHELL_ONLY": "only"})

    assert issues == []
    assert variables == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "EXPORTED": "yes",
        "TABBED": "tab",
        "EMPTY": "",
        "INLINE": "value",
        "NOT_COMMENT": "value#hash",
        "SINGLE": "single $PLAIN # kept",
        "DOUBLE": "double value # kept",
        "ESCAPES": 'line1\nline2\t"q"',
        "SINGLE_ESCAPE": "it's",
        "QUOTED_COMMENT": "quoted",
        "REFERENCE": "value-ref",
        "DEFAULTED": "dflt",
        "SHELL_WINS": "shell",
        "MULTI": "first\nsecond",
        "AFTER_MULTI": "after",
        "FROM_SHELL_ONLY": "only",
        "URL": "postgres://user:p@ss@db:5432/app?sslmode=disable",
    }


def test_env_file_problems_carry_their_line_and_the_rest_is_read() -> None:
    text = "GOOD=1\nbad key=2\nNEEDS=${MISSING:?set it}\nALSO_GOOD=3\nOPEN='never closed\nLOST=4\n"

    variables, issues = parse_env_file(text)

    assert variables == {"GOOD": "1", "NEEDS": "", "ALSO_GOOD": "3"}
    assert [issue.line for issue in issues] == [2, 3, 5]
    assert "not a valid variable name" in issues[0].message
    assert "MISSING" in issues[1].message
    assert "never closes" in issues[2].message


COMPOSE = b"""\
services:
  app:
    image: "registry.example.org/app:${TAG:-latest}"
    labels:
      tag: ${TAG}
      literal: "$$TAG"
      nested: ${UNSET:-${TAG:-none}}
      untouched_key_${TAG}: kept
"""


@pytest.mark.parametrize(
    ("env_file", "env", "image", "nested"),
    [
        (None, None, "registry.example.org/app:latest", "none"),
        (b"TAG=1.2.3\n", None, "registry.example.org/app:1.2.3", "1.2.3"),
        (b"TAG=1.2.3\n", {"TAG": "4.5.6"}, "registry.example.org/app:4.5.6", "4.5.6"),
        (b"TAG=\n", None, "registry.example.org/app:latest", "none"),
    ],
)
def test_compose_values_are_interpolated_from_dot_env_then_env(
    env_file: bytes | None, env: dict[str, str] | None, image: str, nested: str
) -> None:
    files = {"app/compose.yaml": COMPOSE}
    if env_file is not None:
        files["app/.env"] = env_file

    [project] = parse_compose_documents(files=files, env=env)
    [service] = project.services

    assert project.problems == []
    assert service.image == image
    assert service.labels["literal"] == "$TAG"
    assert service.labels["nested"] == nested
    assert "untouched_key_${TAG}" in service.labels  # keys are never interpolated


def test_a_dot_env_in_another_folder_does_not_apply() -> None:
    files = {"app/compose.yaml": COMPOSE, ".env": b"TAG=root\n", "other/.env": b"TAG=other\n"}

    [project] = parse_compose_documents(files=files)

    assert project.services[0].image == "registry.example.org/app:latest"

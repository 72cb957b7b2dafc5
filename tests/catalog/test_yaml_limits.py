"""Every YAML reader refuses a document nested or sized past its limits before parsing it, with the line.

The crash being guarded against is a SIGSEGV (libyaml's composer recursing without a limit), which
would kill the pytest worker: the inputs that crash today run in a child process.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcifer.catalog import compose_yaml
from calcifer.catalog.yamlio import load_plain, load_yaml
from calcifer.catalog.yamllimits import MAX_CHARS, MAX_DEPTH, YamlTooComplex
from calcifer.errors import Invalid
from tests.child_process import run_python

CRASHER = "x: " + "[" * 30_000 + "]" * 30_000  # ~60 KB: overflows the C stack in libyaml's composer today


@pytest.mark.parametrize("loader", ["load_plain", "load_yaml"])
def test_a_deeply_nested_document_is_refused_with_its_line_not_a_crash(loader: str) -> None:
    code = f"""
import json
from calcifer.catalog.yamlio import {loader}
from calcifer.errors import Invalid
from tests.child_process import run_python
try:
    {loader}("name: deep\\n" + {CRASHER!r})
except Invalid as exc:
    print(json.dumps({{"code": exc.code, "message": exc.message, "details": exc.details}}))
"""
    child = run_python(code)

    assert child.returncode == 0, f"the child died (rc {child.returncode}): {child.stderr[-500:]}"
    refused = json.loads(child.stdout)
    assert refused["code"] == "yaml_too_complex"
    assert refused["details"]["line"] == 2
    assert f"more than {MAX_DEPTH} levels" in refused["message"]


def test_without_the_guard_the_same_document_kills_the_process() -> None:
    # What the guard stands between: the readers as they were, a SIGSEGV (not an exception).
    code = f"""
from calcifer.catalog import yamlio, yamllimits
yamllimits.check_yaml = lambda text: None
yamlio.load_plain({CRASHER!r})
"""
    child = run_python(code)

    assert child.returncode == -11, (child.returncode, child.stderr[-300:])


def test_compact_block_nesting_is_refused_too() -> None:
    with pytest.raises(YamlTooComplex) as refused:
        load_plain("a: 1\nb:\n" + "- " * 5_000 + "x\n")

    assert refused.value.details["line"] == 3


@pytest.mark.parametrize("line_break", ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029"])
def test_compact_block_nesting_is_seen_after_every_line_break_libyaml_knows(line_break: str) -> None:
    text = line_break.join(["a: 1", "b:", "- " * (MAX_DEPTH + 1) + "x", ""])

    with pytest.raises(YamlTooComplex):
        load_plain(text)


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(YamlTooComplex, match="split it into smaller files"):
        load_plain("a: " + "x" * MAX_CHARS)


def test_brackets_inside_quoted_text_do_not_count_as_nesting() -> None:
    text = "description: '" + "[" * 400 + "'\nlinks: [" + ", ".join(f'"[{i}]"' for i in range(300)) + "]\n"

    data = load_plain(text)

    assert data["description"] == "[" * 400
    assert len(data["links"]) == 300


def test_quoted_closing_brackets_cannot_hide_real_nesting() -> None:
    with pytest.raises(YamlTooComplex):
        load_plain("x: " + '["]", ' * 300 + "1" + "]" * 300)


def test_a_compose_file_nested_too_deeply_becomes_an_issue_with_its_line() -> None:
    loaded, issues = compose_yaml.load_yaml(data=("services:\n  web:\n    command: " + CRASHER[3:]).encode(),
                                            file="app/compose.yaml", env={})

    assert loaded is None
    assert [(issue.line, f"more than {MAX_DEPTH} levels" in issue.message) for issue in issues] == [(3, True)]


# -- generated documents ----------------------------------------------------------------------------------


@st.composite
def nested(draw: st.DrawFn) -> tuple[str, Any, int]:
    """A YAML document nesting a scalar ``depth`` collections deep in flow and block style, its value."""
    depth = draw(st.one_of(st.integers(1, MAX_DEPTH + 5), st.integers(MAX_DEPTH, 1_500)))
    # Block mappings indent a step per level (the text grows with the square of their number).
    block_maps = draw(st.integers(0, min(depth, 60)))
    styles = ["block-map"] * block_maps + draw(st.lists(st.sampled_from(["flow-seq", "flow-map", "block-seq"]),
                                                        min_size=depth - block_maps, max_size=depth - block_maps))
    styles = draw(st.permutations(styles))
    # Block collections go outside flow ones (a flow collection cannot hold a block one).
    styles = sorted(styles, key=lambda style: style.startswith("flow"))
    value: Any = "leaf"
    flow = "leaf"
    for style in reversed([s for s in styles if s.startswith("flow")]):
        flow = f"[{flow}]" if style == "flow-seq" else f"{{k: {flow}}}"
        value = [value] if style == "flow-seq" else {"k": value}
    lines = [flow]
    for style in reversed([s for s in styles if s.startswith("block")]):
        if style == "block-seq":
            lines = ["- " + lines[0], *("  " + line for line in lines[1:])]
            value = [value]
        else:
            lines = ["k:", *("  " + line for line in lines)]
            value = {"k": value}
    return "\n".join(lines) + "\n", value, depth


@settings(max_examples=50, deadline=None)
@given(nested())
def test_generated_nesting_loads_up_to_the_limit_and_is_refused_past_it(doc: tuple[str, Any, int]) -> None:
    text, value, depth = doc
    if depth > MAX_DEPTH:
        for load in (load_plain, load_yaml):
            with pytest.raises(YamlTooComplex):
                load(text)
    else:
        assert load_plain(text) == value
        if isinstance(value, dict):
            assert json.loads(json.dumps(load_yaml(text))) == value


YAML_SOUP = st.lists(st.sampled_from([*"[]{}-?:,'\"#&*!|> \n\tab1", "- ", ": ", "? ", "\n  "]),
                     max_size=1_500).map("".join)


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.just(0), st.integers(0, 2_000)), YAML_SOUP)
def test_hostile_text_gives_a_value_or_a_clear_refusal_from_every_reader(opened: int, soup: str) -> None:
    # Past the depth limit the refusal names the limit or the syntax error libyaml met first (it may
    # scan ahead before delivering the deep events); never the parser's recursion running out.
    text = "[" * opened + soup
    for load in (load_plain, load_yaml):
        try:
            load(text)
        except Invalid as exc:
            assert exc.details["line"] >= 1
            assert exc.message.startswith(("YAML", "The file must hold a mapping"))
            assert "recursion" not in exc.message and "too deeply" not in exc.message, exc.message
        else:
            assert opened <= MAX_DEPTH
    loaded, issues = compose_yaml.load_yaml(data=text.encode(), file="app/compose.yaml", env={})
    assert loaded is not None or issues
    assert not any("too deeply" in issue.message or "recursion" in issue.message for issue in issues), issues

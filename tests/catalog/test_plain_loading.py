"""The index reads files by walking libyaml's nodes directly; what it reads must be exactly what the
safe constructor (the slower, general path) makes of the same document, and every error must be the
constructor's own."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.cyaml import CSafeLoader

from calcifer.catalog import yamlio
from calcifer.errors import Invalid

pytestmark = pytest.mark.skipif(not yamlio.FAST_PARSER, reason="the direct walk needs libyaml")


def constructed(text: str) -> Any:
    """The general path: ruamel's safe constructor, then the index's conversion to JSON-able values."""
    loader = CSafeLoader(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    return yamlio._plain(data, yamlio._Budget(yamlio.MAX_VALUES))


DOCUMENTS = [
    "name: Grafana\nport: 3000\nratio: 0.5\nenabled: true\nowner: null\nempty:\n",
    "when: 2024-05-01\nat: 2024-05-01T10:00:00Z\nhex: 0x1F\noctal: 0o17\ninf: .inf\n",
    "blob: !!binary aGVsbG8=\n",
    "tags: [monitoring, 'compose:grafana', \"x\"]\nnested: {a: [1, {b: c}]}\n",
    "base: &base {interval: 30, timeout: 5}\nfirst: *base\nsecond: *base\n",
    "defaults: &d {interval: 30}\nendpoint:\n  <<: *d\n  target: https://example.org\n",
    "80: http\n443: https\ntrue: yes\n",
    "items: !!set {a, b}\n",
    "version: '3.8'\nx: 1e3\ny: +12\nz: -0.0\n",
    "",
    "# only a comment\n",
    "- a\n- b\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_direct_walk_reads_what_the_constructor_makes(text: str) -> None:
    assert yamlio.load_plain(text) == constructed(text)


@pytest.mark.parametrize("text, words", [
    ("name: a\nname: b\n", "duplicate"),
    ("a: [1, 2\n", "YAML syntax"),
    ("when: 2024-13-45\n", "YAML syntax"),
])
def test_errors_are_the_constructors_own(text: str, words: str) -> None:
    with pytest.raises(Invalid) as direct:
        yamlio.load_plain(text)
    assert words in str(direct.value)


def test_aliases_that_expand_without_end_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 7)]
    with pytest.raises(Invalid, match="expands to more than"):
        yamlio.load_plain("\n".join(lines) + "\n")


scalars = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text("abcxyz-_:", min_size=1, max_size=6), inner, max_size=4)),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_any_document_reads_the_same_both_ways(value: Any, flow: bool) -> None:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    out = io.StringIO()
    yaml.dump({"value": value}, out)
    text = out.getvalue()
    try:
        expected = constructed(text)
    except Exception:  # noqa: BLE001 - the dumper can write what does not parse back (e.g. a ":_" key)
        with pytest.raises(Invalid):
            yamlio.load_plain(text)
        return
    assert yamlio.load_plain(text) == expected

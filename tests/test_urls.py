"""The one URL check (calcifer.urls): which URLs a field accepts and which a page may link to."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcifer.urls import safe_href, url_problem

HOSTILE = [
    "javascript://host/%0Aalert(document.cookie)",
    "JavaScript://host/%0Aalert(1)",
    "java\tscript://host/%0Aalert(1)",
    "data://text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript://host/msgbox(1)",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_script_or_data_url_is_refused_and_never_linked(url: str) -> None:
    problem = url_problem(url)
    assert problem is not None and "http:// or https://" in problem
    assert safe_href(url) is None


@pytest.mark.parametrize("url", ["https://grafana.example.org", "http://10.0.0.5:3000/d/abc?orgId=1#panel",
                                 "HTTPS://Wiki.Lan/Start", "http://[::1]:8080/"])
def test_web_urls_are_accepted_and_linked(url: str) -> None:
    assert url_problem(url) is None
    assert safe_href(url) == url


@pytest.mark.parametrize(("url", "says"), [
    ("https://", "no host"), ("https:/grafana.lan", "no host"), ("grafana.lan", "scheme"),
    ("https://grafana lan", "spaces"), ("https://grafana.lan:99999/", "port"), ("https://a\\b.lan", "backslash"),
    ("https://" + "a" * 2048, "2048"),
])
def test_a_malformed_url_is_refused_saying_what_to_fix(url: str, says: str) -> None:
    problem = url_problem(url)
    assert problem is not None and says in problem


def test_a_field_may_allow_more_schemes() -> None:
    assert url_problem("ssh://git@git.lan/ops.git", schemes=("https", "ssh")) is None
    assert url_problem("ssh://git@git.lan/ops.git") is not None


@pytest.mark.parametrize(("href", "linked"), [
    ("/services/grafana", True), ("/docs/view/a b.md", True), ("#doc-intro", True), ("?page=2", True),
    ("//evil.example/x", False), ("/\\evil.example/x", False), ("/\t/evil.example/x", False), ("", False),
    (None, False),
])
def test_paths_on_this_site_are_linked_but_not_other_sites_without_a_scheme(href: str | None, linked: bool) -> None:
    assert (safe_href(href) is not None and safe_href(href) == href) is linked


SCHEMES = st.sampled_from(["javascript", "data", "vbscript", "http", "https", "jav ascript", " http"])


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40) | st.builds(lambda scheme, rest: f"{scheme}:{rest}", SCHEMES, st.text(max_size=30)))
def test_whatever_the_text_a_linked_url_is_a_web_url_or_a_path_here(text: str) -> None:
    href = safe_href(text)
    if href is None:
        return
    if href.startswith(("/", "#", "?")):
        assert not href.startswith(("//", "/\\"))
    else:
        assert urlsplit(href).scheme.lower() in ("http", "https") and href[:5].lower() in ("http:", "https")
    assert not any(ord(c) < 32 for c in href)

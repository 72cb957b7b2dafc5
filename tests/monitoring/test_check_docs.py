"""Docs cannot drift: every registered check type, and every one of its options, is in docs/monitoring/checks.md."""

from __future__ import annotations

import re
from pathlib import Path

from calcifer.monitoring import checks

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring" / "checks.md"


def _sections() -> dict[str, str]:
    text = DOC.read_text()
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    found = {}
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        match = re.fullmatch(r"`([a-z0-9_-]+)`", heading.strip())
        if match:
            found[match.group(1)] = body
    return found


def test_every_check_type_has_a_section_listing_each_of_its_options() -> None:
    sections = _sections()
    registry = checks.load()
    assert {"icmp", "tcp", "http", "dns", "push"} <= set(registry)
    for kind, check_type in registry.items():
        assert kind in sections, f"check type {kind!r} has no '## `{kind}`' section in {DOC.name}"
        for option in check_type.Options.model_fields:
            assert f"| `{option}` |" in sections[kind], f"option {kind}.{option} is not in its options table"
        assert "```yaml" in sections[kind], f"the {kind} section has no YAML example"


def test_the_doc_shows_how_to_add_a_check_type() -> None:
    text = DOC.read_text()
    assert "## Adding a check type" in text
    assert '[project.entry-points."calcifer.checks"]' in text
    assert "class MemcachedCheck(CheckType)" in text

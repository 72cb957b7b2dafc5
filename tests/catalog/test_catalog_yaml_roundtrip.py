from __future__ import annotations

import copy
import difflib
from typing import Any

import pytest

from calcifer.catalog.schemas import ServiceSpec, spec_document
from calcifer.catalog.yamlio import apply_spec, dump_yaml, guess_indent, load_plain, load_yaml
from calcifer.errors import Invalid

HAND_WRITTEN = """\
# Grafana: dashboards for everything.
# Owned by the ops team.
name: Grafana  # what people call it
slug: grafana
kind: container

# Where it runs (see docs/hosts.md)
host: docker-vm-1
description: "Dashboards for metrics and logs."
status: active
tags:
  - monitoring   # the main tag
  # prod services are paged at night
  - prod
ports:
  - number: 3000
    protocol: tcp  # web
    purpose: web ui
resources: {cpu: 2, memory: 2G}
depends_on: [prometheus, loki]
endpoints:
  # the health check people look at
  - name: Web
    slug: grafana-web
    type: http
    target: https://grafana.example.org/api/health
    interval: 30  # fast: it flaps
  - name: Ping
    slug: grafana-ping
    type: icmp
    target: 10.0.0.5
notes: |
  Upgrade in the maintenance window.
  Back up the database first.
# end of file
"""


def changed_lines(before: str, after: str) -> list[str]:
    """The -/+ lines of a unified diff (no context, no headers)."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def edited(change: Any) -> str:
    spec = load_plain(HAND_WRITTEN)
    change(spec)
    return apply_spec(HAND_WRITTEN, spec)


def test_writing_back_the_same_spec_changes_nothing() -> None:
    assert apply_spec(HAND_WRITTEN, load_plain(HAND_WRITTEN)) == HAND_WRITTEN


def test_changing_one_scalar_changes_only_its_line() -> None:
    after = edited(lambda spec: spec.update(host="docker-vm-2"))
    assert changed_lines(HAND_WRITTEN, after) == ["-host: docker-vm-1", "+host: docker-vm-2"]


def test_a_replaced_scalar_keeps_its_quotes_and_its_inline_comment() -> None:
    after = edited(lambda spec: spec.update(description="Dashboards.", name="Grafana 11"))
    assert changed_lines(HAND_WRITTEN, after) == [
        "-name: Grafana  # what people call it", "+name: Grafana 11  # what people call it",
        '-description: "Dashboards for metrics and logs."', '+description: "Dashboards."',
    ]


def test_comments_and_key_order_survive_an_edit() -> None:
    after = edited(lambda spec: spec.update(status="maintenance"))
    for comment in ("# Grafana: dashboards for everything.", "# Owned by the ops team.", "# what people call it",
                    "# Where it runs (see docs/hosts.md)", "# the main tag", "# prod services are paged at night",
                    "# web", "# the health check people look at", "# fast: it flaps", "# end of file"):
        assert comment in after, comment
    keys = [line.split(":")[0] for line in after.splitlines() if line[:1].isalpha()]
    assert keys == ["name", "slug", "kind", "host", "description", "status", "tags", "ports", "resources",
                    "depends_on", "endpoints", "notes"]


def test_nested_list_item_change_touches_only_that_line() -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["endpoints"][0]["interval"] = 15
        spec["ports"][0]["purpose"] = "grafana ui"

    after = edited(change)
    assert changed_lines(HAND_WRITTEN, after) == [
        "-    purpose: web ui", "+    purpose: grafana ui",
        "-    interval: 30  # fast: it flaps", "+    interval: 15  # fast: it flaps",
    ]


def test_list_items_are_added_and_removed_without_touching_the_others() -> None:
    after = edited(lambda spec: spec.update(tags=["monitoring", "prod", "dashboards"]))
    assert changed_lines(HAND_WRITTEN, after) == ["+  - dashboards"]
    after = edited(lambda spec: spec.update(depends_on=["prometheus"]))
    assert changed_lines(HAND_WRITTEN, after) == ["-depends_on: [prometheus, loki]", "+depends_on: [prometheus]"]


def test_removing_an_endpoint_by_slug_keeps_the_other_and_its_comment() -> None:
    after = edited(lambda spec: spec["endpoints"].pop(1))
    assert changed_lines(HAND_WRITTEN, after) == [
        "-  - name: Ping", "-    slug: grafana-ping", "-    type: icmp", "-    target: 10.0.0.5"]


def test_removing_a_key_keeps_the_comment_that_introduced_the_next_one() -> None:
    after = edited(lambda spec: spec.pop("kind"))
    assert changed_lines(HAND_WRITTEN, after) == ["-kind: container"]
    assert "# Where it runs (see docs/hosts.md)\nhost: docker-vm-1" in after


def test_removing_the_last_key_keeps_the_trailing_comment() -> None:
    after = edited(lambda spec: spec.pop("notes"))
    assert changed_lines(HAND_WRITTEN, after) == [
        "-notes: |", "-  Upgrade in the maintenance window.", "-  Back up the database first."]
    assert after.endswith("# end of file\n")


def test_new_keys_are_appended_in_block_style() -> None:
    after = edited(lambda spec: spec.update(owner="ops", links=[{"label": "Runbook", "url": "https://wiki/x"}]))
    assert changed_lines(HAND_WRITTEN, after) == [
        "+owner: ops", "+links:", "+  - label: Runbook", "+    url: https://wiki/x"]


def test_a_block_scalar_stays_a_block_scalar() -> None:
    after = edited(lambda spec: spec.update(notes="Upgrade in the maintenance window.\nCheck the plugins.\n"))
    assert changed_lines(HAND_WRITTEN, after) == ["-  Back up the database first.", "+  Check the plugins."]


def test_the_authors_indentation_is_kept() -> None:
    text = "name: A\nslug: a\nkind: vm\ntags:\n- x\n- y\nresources:\n    cpu: 1\n"
    assert guess_indent(text).offset == 0 and guess_indent(text).mapping == 4
    spec = load_plain(text)
    spec["tags"].append("z")
    spec["resources"]["memory"] = "1G"
    assert changed_lines(text, apply_spec(text, spec)) == ["+- z", "+    memory: 1G"]


def test_a_spec_document_from_the_model_round_trips_without_noise() -> None:
    # The route's path: validate, build the document to write (defaults the file left out stay out).
    original = load_yaml(HAND_WRITTEN)
    spec = ServiceSpec.model_validate({**load_plain(HAND_WRITTEN), "status": "retired"})
    after = apply_spec(HAND_WRITTEN, spec_document(spec, original=original))
    assert changed_lines(HAND_WRITTEN, after) == ["-status: active", "+status: retired"]


def test_a_new_file_is_plain_block_yaml_that_loads_back() -> None:
    spec = {"name": "A", "slug": "a", "kind": "vm", "tags": ["x"], "notes": "one\ntwo\n",
            "ports": [{"number": 22}]}
    text = apply_spec(None, spec)
    assert text == dump_yaml(spec)
    assert "notes: |\n  one\n  two\n" in text and "tags:\n  - x\n" in text
    assert load_plain(text) == spec


def test_edits_never_mutate_the_given_spec() -> None:
    spec = load_plain(HAND_WRITTEN)
    before = copy.deepcopy(spec)
    apply_spec(HAND_WRITTEN, spec)
    assert spec == before


@pytest.mark.parametrize(("text", "line"), [
    ("name: a\nslug: [unclosed\nkind: vm\n", 3),
    ("name: a\n  bad: indent\n", 2),
    ("name: a\nname: b\n", 2),
])
def test_syntax_errors_name_the_line(text: str, line: int) -> None:
    for load in (load_yaml, load_plain):
        with pytest.raises(Invalid) as info:
            load(text)
        assert info.value.code == "yaml_syntax"
        assert info.value.details["line"] == line, (load, info.value.message)


def test_load_yaml_wants_a_mapping() -> None:
    assert load_yaml("") == {}
    with pytest.raises(Invalid) as info:
        load_yaml("- a\n- b\n")
    assert info.value.code == "not_a_mapping"

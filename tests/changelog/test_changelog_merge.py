"""Merging CHANGES.md by entries: two work items that both add entries never conflict."""

from __future__ import annotations

import datetime
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from calcifer.changelog.choices import ChangeType
from calcifer.changelog.service import (
    INITIAL_CHANGELOG,
    Changelog,
    Entry,
    add_entry,
    entries_added,
    merge,
    merge_bytes,
    parse,
    render,
)

DAY = datetime.date(2026, 11, 26)


def add(
    text: str,
    entry_text: str,
    work_item_id: int | None = None,
    *,
    on: datetime.date = DAY,
    entry_type: ChangeType = ChangeType.ADDED,
) -> str:
    return add_entry(text, entry_type=entry_type, entry_text=entry_text, work_item_id=work_item_id, on=on)


def entry_set(text: str) -> set[Entry]:
    return set(parse(text).entries)


BASE = add(add("", "Fix DNS", 9, entry_type=ChangeType.FIXED), "Added service grafana", 12)


def test_two_branches_adding_entries_under_the_same_heading_merge_without_conflict() -> None:
    ours = add(BASE, "Added service loki", 14)
    theirs = add(BASE, "Added service tempo", 15)
    merged = merge(BASE, ours, theirs)
    assert "<<<<<<<" not in merged
    assert merged == (
        INITIAL_CHANGELOG
        + "\n## 2026-11-26\n\n### Added\n"
        + "- Added service grafana ([#12](/work/12))\n"
        + "- Added service loki ([#14](/work/14))\n"
        + "- Added service tempo ([#15](/work/15))\n"
        + "\n### Fixed\n- Fix DNS ([#9](/work/9))\n"
    )


def test_two_branches_adding_entries_merge_in_either_order() -> None:
    ours = add(BASE, "Added service loki", 14, on=datetime.date(2026, 11, 27))
    theirs = add(BASE, "Removed the old mail relay", 15, entry_type=ChangeType.REMOVED)
    assert entry_set(merge(BASE, ours, theirs)) == entry_set(merge(BASE, theirs, ours))
    assert entry_set(merge(BASE, ours, theirs)) == entry_set(ours) | entry_set(theirs)


def test_an_entry_removed_on_one_branch_stays_removed() -> None:
    base = parse(BASE)
    theirs = render(
        Changelog(
            preamble=base.preamble,
            entries=[entry for entry in base.entries if entry.work_item_id != 9],
            notes=base.notes,
        )
    )
    ours = add(BASE, "Added service loki", 14)
    for merged in (merge(BASE, ours, theirs), merge(BASE, theirs, ours)):
        assert {entry.work_item_id for entry in parse(merged).entries} == {12, 14}


def test_an_entry_edited_on_one_branch_keeps_the_edit() -> None:
    ours = BASE.replace("Fix DNS", "Fix DNS for the lab zone")
    theirs = add(BASE, "Added service loki", 14)
    texts = {entry.text for entry in parse(merge(BASE, ours, theirs)).entries}
    assert texts == {"Fix DNS for the lab zone", "Added service grafana", "Added service loki"}


def test_merging_a_file_with_itself_changes_nothing() -> None:
    assert merge(BASE, BASE, BASE) == BASE
    assert merge(None, BASE, BASE) == BASE
    assert merge(INITIAL_CHANGELOG, BASE, BASE) == BASE


def test_merge_takes_the_changed_side_when_the_other_did_not_change() -> None:
    hand_edited = BASE + "\n\n<!-- kept exactly as written -->\n\n\n"
    assert merge(BASE, hand_edited, BASE) == hand_edited
    assert merge(BASE, BASE, hand_edited) == hand_edited


def test_merging_a_branch_again_changes_nothing() -> None:
    ours = add(BASE, "Added service loki", 14)
    theirs = add(BASE, "Added service tempo", 15)
    merged = merge(BASE, ours, theirs)
    assert merge(BASE, merged, theirs) == merged
    assert merge(BASE, merged, ours) == merged


def test_both_branches_adding_the_same_entry_keep_one() -> None:
    ours = add(add(BASE, "Same", 20), "Only ours", 21)
    theirs = add(BASE, "Same", 20)
    merged = parse(merge(BASE, ours, theirs)).entries
    assert Counter(entry.work_item_id for entry in merged)[20] == 1


def test_a_file_created_on_both_sides_merges_without_a_base() -> None:
    ours = add("", "Ours", 1)
    theirs = add("", "Theirs", 2, on=datetime.date(2026, 11, 25))
    merged = merge(None, ours, theirs)
    assert entry_set(merged) == entry_set(ours) | entry_set(theirs)
    assert merged.startswith(INITIAL_CHANGELOG)


def test_the_preamble_changed_only_by_theirs_is_taken() -> None:
    theirs = add(BASE.replace("recorded here.", "recorded here, for ever."), "Theirs", 2)
    ours = add(BASE, "Ours", 1)
    assert "recorded here, for ever." in merge(BASE, ours, theirs)
    assert "recorded here, for ever." not in merge(BASE, theirs.replace("for ever", "for now"), ours)


def test_link_references_and_notes_from_both_sides_are_kept() -> None:
    base = "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2020-01-01\n\n### Added\n- First\n\n[1.0.0]: https://x/1\n"
    ours = base.replace("## [Unreleased]\n", "## [Unreleased]\n\nOur prose.\n") + "[2.0.0]: https://x/2\n"
    theirs = base.replace("- First\n", "- First\n- Second\n") + "[0.9.0]: https://x/0\n"
    merged = merge(base, ours, theirs)
    for line in (
        "Our prose.",
        "- First",
        "- Second",
        "[1.0.0]: https://x/1",
        "[2.0.0]: https://x/2",
        "[0.9.0]: https://x/0",
        "## [Unreleased]",
    ):
        assert line in merged.splitlines()
    assert merged.endswith("[0.9.0]: https://x/0\n")


def test_a_section_deleted_on_one_side_keeps_entries_the_other_side_added_to_it() -> None:
    ours = add(BASE, "Late addition", 30)
    theirs = INITIAL_CHANGELOG
    merged = merge(BASE, ours, theirs)
    assert [entry.text for entry in parse(merged).entries] == ["Late addition"]
    assert "## 2026-11-26\n\n### Added\n- Late addition ([#30](/work/30))\n" in merged


def test_merge_bytes_merges_utf8_and_passes_other_bytes_through() -> None:
    ours = add(BASE, "Added service größe", 14).encode()
    theirs = add(BASE, "Added service tempo", 15).encode() + b"\n\xff\xfe stray bytes\n"
    merged = merge_bytes(BASE.encode(), ours, theirs)
    assert "größe".encode() in merged
    assert b"\xff\xfe stray bytes" in merged
    assert merge_bytes(None, ours, ours) == ours


def test_entries_added_lists_what_a_branch_added() -> None:
    branch = add(add(BASE, "Added service loki", 14), "Fix the proxy", 14, entry_type=ChangeType.FIXED)
    assert [(entry.type, entry.text) for entry in entries_added(BASE, branch)] == [
        (ChangeType.ADDED, "Added service loki"),
        (ChangeType.FIXED, "Fix the proxy"),
    ]
    assert entries_added(BASE, BASE) == []
    assert entries_added(BASE, BASE.replace("\n\n### Fixed", "\n### Fixed")) == []
    assert len(entries_added(None, BASE)) == 2
    assert len(entries_added("", BASE)) == 2


# -- properties --------------------------------------------------------------------------------------

entry_texts = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)

new_entries = st.tuples(
    st.sampled_from(list(ChangeType)),
    entry_texts,
    st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    st.dates(min_value=datetime.date(2020, 1, 1), max_value=datetime.date(2020, 1, 5)),
)


def apply(text: str, additions: list[tuple[ChangeType, str, int | None, datetime.date]]) -> str:
    for entry_type, entry_text, work_item_id, on in additions:
        text = add_entry(text, entry_type=entry_type, entry_text=entry_text, work_item_id=work_item_id, on=on)
    return text


@given(
    st.lists(new_entries, max_size=6),
    st.lists(new_entries, max_size=6),
    st.lists(new_entries, max_size=6),
)
def test_any_two_branches_adding_entries_merge_in_either_order_keeping_every_entry(
    base_additions: list[tuple[ChangeType, str, int | None, datetime.date]],
    a_additions: list[tuple[ChangeType, str, int | None, datetime.date]],
    b_additions: list[tuple[ChangeType, str, int | None, datetime.date]],
) -> None:
    base = apply("", base_additions)
    a, b = apply(base, a_additions), apply(base, b_additions)
    ab, ba = merge(base, a, b), merge(base, b, a)
    assert entry_set(ab) == entry_set(ba) == entry_set(a) | entry_set(b)
    for added in entries_added(base, a) + entries_added(base, b):
        assert added in entry_set(ab)
    assert render(parse(ab)) == ab
    assert merge(base, ab, b) == ab


@given(st.lists(new_entries, max_size=8))
def test_calcifer_written_files_round_trip(
    additions: list[tuple[ChangeType, str, int | None, datetime.date]],
) -> None:
    text = apply("", additions)
    assert render(parse(text)) == text
    assert parse(render(parse(text))) == parse(text)
    assert merge(text, text, text) == text


@given(st.text(max_size=300), st.text(max_size=300), st.text(max_size=300), st.booleans())
def test_merge_never_raises_and_never_writes_conflict_markers(
    base: str, ours: str, theirs: str, no_base: bool
) -> None:
    merged = merge(None if no_base else base, ours, theirs)
    if "<<<<<<<" not in ours + theirs:
        assert "<<<<<<<" not in merged
    merge_bytes(base.encode("utf-8", "surrogatepass"), ours.encode("utf-8", "surrogatepass"), b"\xff")

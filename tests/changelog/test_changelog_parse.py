"""CHANGES.md parse, render and write: Calcifer's own files round-trip, hand-written ones lose no line."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calcifer.changelog.choices import ChangeType
from calcifer.changelog.service import (
    INITIAL_CHANGELOG,
    Changelog,
    Entry,
    add_entry,
    latest_entries,
    parse,
    render,
)
from calcifer.errors import Invalid

CANONICAL = (
    INITIAL_CHANGELOG
    + """
## 2026-11-26

### Added
- Added service grafana ([#12](/work/12))
- Something else ([#13](/work/13))

### Fixed
- Fix DNS ([#9](/work/9))

## 2026-11-20

### Changed
- Move backups to the NAS ([#7](/work/7))

### Security
- Rotate the WireGuard keys ([#8](/work/8))
"""
)

# Keep a Changelog's own file, abridged, as a person writes it: blank lines after headings, a lazy
# continuation line, prose, a version without a date, link reference definitions at the bottom.
HAND_WRITTEN = """# Changelog
All notable changes to this project will be documented in this file.

The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),
and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).

## [Unreleased]

### Added

- v1.1 Brazilian Portuguese translation.
- v1.1 German Translation

### Removed

- Trademark sign previously shown after the project description in version
0.3.0

## [1.0.0] - 2017-06-20

First stable release.

### Added

- New visual identity by [@tylerfortune8](https://github.com/tylerfortune8).
- Version navigation.
- Links to latest released version in previous versions.
  Also a second, indented line.

### Fixed

- Fix typos in recent README changes.
- Fix a link, see [#12](/work/12) for why.

### Breaking

- Everything moved.

## [0.3.0] - 2015-12-03

### Added

- RU translation from [@aishek](https://github.com/aishek).

## [0.0.8] - 2015-02-17

### Changed
- Update year to match in every README example.

<!-- older versions are in the wiki -->

[unreleased]: https://github.com/olivierlacan/keep-a-changelog/compare/v1.1.1...HEAD
[1.0.0]: https://github.com/olivierlacan/keep-a-changelog/compare/v0.3.0...v1.0.0
[0.3.0]: https://github.com/olivierlacan/keep-a-changelog/compare/v0.2.0...v0.3.0
[0.0.8]: https://github.com/olivierlacan/keep-a-changelog/compare/v0.0.7...v0.0.8
"""


def non_blank_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_a_canonical_file_renders_back_unchanged() -> None:
    assert render(parse(CANONICAL)) == CANONICAL


def test_the_initial_changelog_renders_back_unchanged() -> None:
    assert INITIAL_CHANGELOG.endswith("\n")
    changelog = parse(INITIAL_CHANGELOG)
    assert changelog.entries == []
    assert render(changelog) == INITIAL_CHANGELOG


def test_parse_reads_sections_types_texts_and_work_items() -> None:
    changelog = parse(CANONICAL)
    assert changelog.preamble == INITIAL_CHANGELOG
    assert changelog.entries[:3] == [
        Entry(section="2026-11-26", type=ChangeType.ADDED, text="Added service grafana", work_item_id=12),
        Entry(section="2026-11-26", type=ChangeType.ADDED, text="Something else", work_item_id=13),
        Entry(section="2026-11-26", type=ChangeType.FIXED, text="Fix DNS", work_item_id=9),
    ]
    assert changelog.entries[0].date == datetime.date(2026, 11, 26)
    assert changelog.entries[0].line() == "- Added service grafana ([#12](/work/12))"


def test_a_hand_written_file_loses_no_line() -> None:
    rendered = render(parse(HAND_WRITTEN))
    assert sorted(non_blank_lines(rendered)) == sorted(non_blank_lines(HAND_WRITTEN))


def test_a_hand_written_file_keeps_its_order_of_sections_and_its_link_references_last() -> None:
    rendered = render(parse(HAND_WRITTEN))
    headings = [line for line in rendered.splitlines() if line.startswith("## ")]
    assert headings == [
        "## [Unreleased]",
        "## [1.0.0] - 2017-06-20",
        "## [0.3.0] - 2015-12-03",
        "## [0.0.8] - 2015-02-17",
    ]
    assert rendered.endswith(
        "[0.0.8]: https://github.com/olivierlacan/keep-a-changelog/compare/v0.0.7...v0.0.8\n"
    )
    assert parse(HAND_WRITTEN).postamble.count("\n") == 4


def test_a_hand_written_file_is_stable_after_one_render() -> None:
    once = render(parse(HAND_WRITTEN))
    assert render(parse(once)) == once
    assert parse(once) == parse(HAND_WRITTEN)


def test_entries_without_a_link_and_multi_line_entries_are_read_whole() -> None:
    entries = parse(HAND_WRITTEN).entries
    removed = [entry for entry in entries if entry.type is ChangeType.REMOVED]
    assert [entry.text for entry in removed] == [
        "Trademark sign previously shown after the project description in version\n0.3.0"
    ]
    assert all(entry.work_item_id is None for entry in entries)
    indented = next(entry for entry in entries if entry.text.startswith("Links to latest"))
    assert (
        indented.text
        == "Links to latest released version in previous versions.\n  Also a second, indented line."
    )
    assert "- Links to latest released version in previous versions.\n  Also a second, indented line." in (
        render(parse(HAND_WRITTEN))
    )


def test_a_link_inside_the_text_is_not_taken_for_the_work_item() -> None:
    fix = next(entry for entry in parse(HAND_WRITTEN).entries if entry.text.startswith("Fix a link"))
    assert fix.work_item_id is None


def test_entries_under_an_unknown_heading_keep_it() -> None:
    entries = parse(HAND_WRITTEN).entries
    breaking = next(entry for entry in entries if entry.text == "Everything moved.")
    assert breaking.type is None
    assert breaking.heading == "Breaking"
    assert "### Breaking\n- Everything moved." in render(parse(HAND_WRITTEN))


def test_entries_under_no_type_heading_are_kept() -> None:
    text = "## 2026-01-02\n- Loose entry ([#4](/work/4))\n\n### Added\n- Typed entry\n"
    entries = parse(text).entries
    assert entries[0] == Entry(section="2026-01-02", type=None, text="Loose entry", work_item_id=4)
    assert (
        render(parse(text)) == "## 2026-01-02\n\n- Loose entry ([#4](/work/4))\n\n### Added\n- Typed entry\n"
    )


def test_star_bullets_are_accepted_and_written_as_dashes() -> None:
    text = "## 2026-01-02\n### Fixed\n* Star entry ([#3](/work/3))\n+ Plus entry\n"
    changelog = parse(text)
    assert [(entry.text, entry.work_item_id) for entry in changelog.entries] == [
        ("Star entry", 3),
        ("Plus entry", None),
    ]
    assert "- Star entry ([#3](/work/3))\n- Plus entry" in render(changelog)


def test_empty_headings_survive_a_render() -> None:
    text = "# Changelog\n\n## [Unreleased]\n\n### Added\n\n## 2020-01-01\n\n### Fixed\n- Bug\n"
    assert render(parse(text)) == text


def test_render_puts_undated_sections_first_then_dated_ones_newest_first() -> None:
    text = (
        "## 2020-01-01\n\n### Added\n- Old\n\n"
        "## [Unreleased]\n\n### Added\n- Next\n\n"
        "## [2.0.0] - 2024-05-01\n\n### Added\n- New\n\n"
        "## Ideas\n\n### Added\n- Maybe\n"
    )
    rendered = render(parse(text))
    headings = [line for line in rendered.splitlines() if line.startswith("## ")]
    assert headings == ["## [Unreleased]", "## Ideas", "## [2.0.0] - 2024-05-01", "## 2020-01-01"]


def test_render_writes_types_in_keep_a_changelog_order() -> None:
    text = "## 2020-01-01\n### Security\n- S\n### Fixed\n- F\n### Added\n- A\n"
    rendered = render(parse(text))
    assert rendered == "## 2020-01-01\n\n### Added\n- A\n\n### Fixed\n- F\n\n### Security\n- S\n"


def test_repeated_sections_are_written_once_with_all_their_entries() -> None:
    text = (
        "## 2020-01-01\n### Added\n- One\n"
        "## 2019-01-01\n### Added\n- Older\n"
        "## 2020-01-01\n### Added\n- Two\n"
    )
    assert render(parse(text)) == (
        "## 2020-01-01\n\n### Added\n- One\n- Two\n\n## 2019-01-01\n\n### Added\n- Older\n"
    )


def test_a_heading_inside_a_code_block_is_not_a_section() -> None:
    text = "## 2020-01-01\n\n### Added\n- Example:\n\n  ```\n## not a heading\n\n  ```\n- Next\n"
    changelog = parse(text)
    assert [entry.text for entry in changelog.entries] == [
        "Example:\n\n  ```\n## not a heading\n\n  ```",
        "Next",
    ]
    assert render(changelog) == text


def test_date_is_none_for_an_undated_section_and_for_an_impossible_date() -> None:
    assert Entry(section="[Unreleased]", type=None, text="x", work_item_id=None).date is None
    assert Entry(section="2026-13-45 or 2026-02-03", type=None, text="x", work_item_id=None).date == (
        datetime.date(2026, 2, 3)
    )
    assert Entry(section="[1.2.0] - 2024-01-01", type=None, text="x", work_item_id=None).date == (
        datetime.date(2024, 1, 1)
    )


def test_line_without_a_work_item_has_no_link() -> None:
    assert Entry(section="s", type=ChangeType.ADDED, text="Plain", work_item_id=None).line() == "- Plain"


@given(st.text(max_size=400))
def test_parse_never_raises_and_render_is_stable_after_one_pass(text: str) -> None:
    once = render(parse(text))
    assert render(parse(once)) == once


@given(
    st.text(
        alphabet=st.sampled_from("ab #-*+[]()/:`~\t\n12-"),
        max_size=200,
    )
)
def test_markdown_like_noise_loses_no_line(text: str) -> None:
    def normalise(line: str) -> str:
        return "".join(line.split()).lstrip("-*+")

    rendered = {normalise(line) for line in render(parse(text)).split("\n")}
    for line in text.split("\n"):
        assert normalise(line) in rendered


def test_add_entry_to_an_empty_file_starts_from_the_initial_changelog() -> None:
    result = add_entry(
        "",
        entry_type=ChangeType.ADDED,
        entry_text="Added service grafana",
        work_item_id=12,
        on=datetime.date(2026, 11, 26),
    )
    assert (
        result
        == INITIAL_CHANGELOG + "\n## 2026-11-26\n\n### Added\n- Added service grafana ([#12](/work/12))\n"
    )


def test_add_entry_builds_the_canonical_example_in_any_order_of_days() -> None:
    text = ""
    for day, change_type, entry_text, work_item_id in [
        (20, ChangeType.SECURITY, "Rotate the WireGuard keys", 8),
        (26, ChangeType.FIXED, "Fix DNS", 9),
        (20, ChangeType.CHANGED, "Move backups to the NAS", 7),
        (26, ChangeType.ADDED, "Added service grafana", 12),
        (26, ChangeType.ADDED, "Something else", 13),
    ]:
        text = add_entry(
            text,
            entry_type=change_type,
            entry_text=entry_text,
            work_item_id=work_item_id,
            on=datetime.date(2026, 11, day),
        )
    assert text == CANONICAL


def test_add_entry_appends_last_under_an_existing_heading() -> None:
    result = add_entry(
        CANONICAL,
        entry_type=ChangeType.ADDED,
        entry_text="  Third  ",
        work_item_id=None,
        on=datetime.date(2026, 11, 26),
    )
    assert "- Something else ([#13](/work/13))\n- Third\n\n### Fixed" in result


def test_add_entry_accepts_a_datetime_as_its_day() -> None:
    result = add_entry(
        "",
        entry_type=ChangeType.FIXED,
        entry_text="Fix",
        work_item_id=1,
        on=datetime.datetime(2026, 1, 2, 3, 4, 5),
    )
    assert "\n## 2026-01-02\n" in result


@pytest.mark.parametrize(
    ("entry_text", "work_item_id"),
    [
        ("", 1),
        ("   \t ", 1),
        ("two\nlines", 1),
        ("carriage\rreturn", 1),
        ("x" * 301, 1),
        ("Looks linked ([#5](/work/5))", None),
    ],
)
def test_add_entry_refuses_text_that_is_not_one_short_line(entry_text: str, work_item_id: int | None) -> None:
    with pytest.raises(Invalid):
        add_entry(
            CANONICAL,
            entry_type=ChangeType.ADDED,
            entry_text=entry_text,
            work_item_id=work_item_id,
            on=datetime.date(2026, 11, 26),
        )


def test_add_entry_accepts_exactly_300_characters() -> None:
    result = add_entry(
        "", entry_type=ChangeType.ADDED, entry_text="x" * 300, work_item_id=None, on=datetime.date(2026, 1, 1)
    )
    assert parse(result).entries[0].text == "x" * 300


def test_add_entry_keeps_a_hand_written_file_whole() -> None:
    result = add_entry(
        HAND_WRITTEN,
        entry_type=ChangeType.ADDED,
        entry_text="New thing",
        work_item_id=40,
        on=datetime.date(2026, 11, 26),
    )
    assert set(non_blank_lines(HAND_WRITTEN)) <= set(non_blank_lines(result))
    headings = [line for line in result.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## [Unreleased]", "## 2026-11-26"]


def test_latest_entries_are_newest_first_and_limited() -> None:
    latest = latest_entries(CANONICAL, limit=4)
    assert [entry.text for entry in latest] == [
        "Added service grafana",
        "Something else",
        "Fix DNS",
        "Move backups to the NAS",
    ]
    assert latest_entries(CANONICAL, limit=0) == []
    assert len(latest_entries(CANONICAL, limit=100)) == 5


def test_a_changelog_built_in_code_renders() -> None:
    changelog = Changelog(
        preamble="# Changelog\n",
        entries=[Entry(section="2026-01-01", type=ChangeType.REMOVED, text="Old host", work_item_id=2)],
    )
    assert render(changelog) == "# Changelog\n\n## 2026-01-01\n\n### Removed\n- Old host ([#2](/work/2))\n"

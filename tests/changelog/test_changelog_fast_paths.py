"""The text-edit fast paths of CHANGES.md give exactly what parse + render gives.

``add_entry`` inserts the entry into a file already in render's layout by a text edit, and
``entries_added`` compares such files block by block; for every other file both fall back to parse and
render. These tests hold the fast paths to the reference behaviour on hand-picked and generated files.
"""

from __future__ import annotations

import datetime
import random

import pytest

from calcifer.changelog import service as changelog
from calcifer.changelog.choices import ChangeType
from calcifer.changelog.service import INITIAL_CHANGELOG, Entry, add_entry, entries_added, parse, render

DAY = datetime.date(2026, 11, 26)

CANONICAL = INITIAL_CHANGELOG + """
## [Unreleased]

### Added
- Not dated yet

## 2026-11-26

### Added
- Added service grafana ([#12](/work/12))

### Fixed
- Fix DNS ([#9](/work/9))

## [1.0.0] - 2026-11-24

### Changed
- Move backups to the NAS ([#7](/work/7))

## 2026-11-20

### Security
- ([#5](/work/5))
"""


def reference_added(base: str | None, new: str) -> list[Entry]:
    before = set(parse(base).entries) if base else set()
    added = []
    for entry in parse(new).entries:
        if entry not in before:
            added.append(entry)
            before.add(entry)
    return added


def test_calcifers_layout_is_recognised_and_renders_to_itself() -> None:
    assert changelog._layout_of(CANONICAL) is not None
    assert render(parse(CANONICAL)) == CANONICAL


@pytest.mark.parametrize("on", [DAY, datetime.date(2026, 11, 27), datetime.date(2026, 11, 24),
                                datetime.date(2026, 11, 22), datetime.date(2026, 11, 1)])
@pytest.mark.parametrize("entry_type", list(ChangeType))
def test_inserting_an_entry_by_text_gives_the_file_a_full_render_gives(on: datetime.date,
                                                                        entry_type: ChangeType) -> None:
    entry = Entry(section=on.isoformat(), type=entry_type, text="Added service loki", work_item_id=31)
    fast = changelog._insert_entry(CANONICAL, entry)
    assert fast is not None
    assert fast == changelog._add_entry_by_render(CANONICAL, entry)
    assert add_entry(CANONICAL, entry_type=entry_type, entry_text="Added service loki", work_item_id=31,
                     on=on) == fast


@pytest.mark.parametrize("text", [
    CANONICAL.replace("- Fix DNS", "-  Fix DNS"),                       # two spaces after the bullet
    CANONICAL.replace("- Fix DNS", "* Fix DNS"),                        # another bullet
    CANONICAL.replace("Fix DNS ([#9]", "Fix DNS  ([#9]"),               # two spaces before the link
    CANONICAL.replace("Fix DNS ([#9]", "Fix DNS([#9]"),                 # none
    CANONICAL.replace("Fix DNS ([#9]", "Fix DNS\u00a0([#9]"),           # a no-break space
    CANONICAL.replace("### Fixed", "### fixed"),                        # heading case
    CANONICAL.replace("### Fixed", "### Breaking"),                     # unknown heading
    CANONICAL.replace("## 2026-11-20", "## 2026-11-29"),                # dates out of order
    CANONICAL.replace("## [1.0.0] - 2026-11-24", "## 2026-11-26"),      # a section twice
    CANONICAL.replace("- Not dated yet", "- Not dated yet  "),          # trailing spaces
    CANONICAL.replace("- Not dated yet", "- Not dated yet\n  continued"),  # a multi-line entry
    CANONICAL.replace("### Security\n", "Some prose.\n\n### Security\n"),  # a note
    CANONICAL.replace("\n\n## [Unreleased]", "\n\n\n## [Unreleased]"),  # two blank lines
    CANONICAL.rstrip("\n"),                                             # no final newline
    "```\n## not a section\n```\n" + CANONICAL,                         # a fence in the preamble
    "",
    "# Changelog\n",
])
def test_files_in_another_layout_take_the_full_render(text: str) -> None:
    entry = Entry(section=DAY.isoformat(), type=ChangeType.FIXED, text="Fix NTP", work_item_id=40)
    fast = changelog._insert_entry(text, entry)
    reference = changelog._add_entry_by_render(text, entry)
    assert fast is None or fast == reference
    assert add_entry(text, entry_type=ChangeType.FIXED, entry_text="Fix NTP", work_item_id=40, on=DAY) == reference


def test_entries_added_between_canonical_files_are_the_parsed_difference() -> None:
    branch = add_entry(CANONICAL, entry_type=ChangeType.ADDED, entry_text="Added service loki", work_item_id=31,
                       on=DAY)
    branch = add_entry(branch, entry_type=ChangeType.REMOVED, entry_text="Removed the old NAS", work_item_id=31,
                       on=datetime.date(2026, 11, 30))
    assert changelog.changed_blocks(CANONICAL, branch) is not None
    added = entries_added(CANONICAL, branch)
    assert [e.text for e in added] == ["Removed the old NAS", "Added service loki"]
    assert added == reference_added(CANONICAL, branch)
    assert entries_added(branch, CANONICAL) == reference_added(branch, CANONICAL) == []
    assert entries_added(CANONICAL, CANONICAL) == []


def _generated(rng: random.Random) -> str:
    texts = ["Added grafana", "x([#1](/work/1))", "y  ([#2](/work/2))", "z\u00a0([#3](/work/3))",
             "([#4](/work/4))", "w ([#05](/work/05))", "v ([#6](/work/7))", "t\t([#8](/work/8))",
             "u\u00a0 ([#9](/work/9))", "**bold** `code`", "a ([#10](/work/10))", "- - nested dash"]
    headings = ["Added", "Changed", "Fixed", "Security", "Removed", "Deprecated", "added", "Breaking"]
    parts = [INITIAL_CHANGELOG.rstrip("\n")] if rng.random() < 0.8 else []
    day = DAY
    for _ in range(rng.randint(0, 5)):
        roll = rng.random()
        if roll < 0.1:
            heading = "[Unreleased]"
        elif roll < 0.15:
            heading = f"[1.0] - 2026-11-2{rng.randint(0, 6)}"
        else:
            day -= datetime.timedelta(days=rng.choice([0, 1, 1, 2, -1]))
            heading = day.isoformat()
        lines = ["## " + heading + (" " if rng.random() < 0.03 else "")]
        for kind in rng.sample(headings, rng.randint(0, 3)):
            lines += ["", "### " + kind]
            lines += [rng.choice(["- ", "-  ", "* ", "- ", "- "]) + rng.choice(texts) for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.05:
                lines.append("prose")
        parts.append("\n".join(lines))
    text = ("\n\n" if rng.random() < 0.95 else "\n\n\n").join(parts) + ("\n" if rng.random() < 0.95 else "")
    return render(parse(text)) if rng.random() < 0.5 else text


def test_generated_files_agree_with_parse_and_render_on_every_path() -> None:
    rng = random.Random(20261126)
    fast_paths = 0
    for _ in range(3000):
        text = _generated(rng)
        if changelog._layout_of(text) is not None:
            assert render(parse(text)) == text
        entry = Entry(section=rng.choice(["2026-11-26", "2026-11-24", "2026-11-29"]),
                      type=rng.choice(list(ChangeType)), text=rng.choice(["new one", "([#1](/work/1)) x"]),
                      work_item_id=rng.choice([None, 12]))
        fast = changelog._insert_entry(text, entry)
        reference = changelog._add_entry_by_render(text, entry)
        if fast is not None:
            fast_paths += 1
            assert fast == reference
        other = _generated(rng) if rng.random() < 0.3 else reference
        assert entries_added(text, other) == reference_added(text, other)
    assert fast_paths > 300  # the fast path was really exercised

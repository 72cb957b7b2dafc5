"""CHANGES.md as data: parse, render, add an entry, and merge two branches' files by their entries.

Pure functions on text; no git, no database. The git layer uses ``merge_bytes`` as the file merger
for CHANGES.md, so two work items that both add entries never conflict (DESIGN.md, "The managed
repository").

A file is a preamble (everything before the first ``## `` heading), sections (``## 2026-11-26``,
``## [1.0.0] - 2017-06-20``, ``## [Unreleased]``) holding ``### <type>`` headings that hold bullet
entries, and an optional postamble of link reference definitions (``[1.0.0]: https://...``).

Files are edited by hand too, so ``parse`` never raises and keeps every line it does not understand:
prose, comments and unknown ``###`` headings become ``Note`` objects, rendered back in place. What
``render`` normalises: blank lines, ``*``/``+`` bullets become ``-``, trailing whitespace, the order
of sections (undated ones first, then dated ones newest first) and of type headings (``ChangeType``
order, unknown headings after them).
"""

from __future__ import annotations

import datetime
import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from calcifer.changelog.choices import ChangeType
from calcifer.errors import Invalid

MAX_ENTRY_LENGTH = 300

INITIAL_CHANGELOG = (
    "# Changelog\n"
    "\n"
    "All notable changes to this infrastructure are recorded here.\n"
    "The format follows [Keep a Changelog](https://keepachangelog.com/en/1.1.0/); "
    "every entry links the work item that made it.\n"
)

_SECTION = re.compile(r"##[ \t]+(\S.*)")
_HEADING = re.compile(r"###[ \t]+(\S.*)")
_BULLET = re.compile(r"[-*+](?:[ \t]+(.*))?")
# ASCII digits and a bounded length: int() must never see a 5,000-digit string (it would raise).
_LINK = re.compile(r"[ \t]*\(\[#([0-9]{1,18})\]\(/work/([0-9]{1,18})\)\)\Z")
_LINK_REFERENCE = re.compile(r" {0,3}\[[^\]]+\]:[ \t]*\S.*")
_DATE = re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{2})-([0-9]{2})(?![0-9])")
# Everything str.splitlines() treats as a line break: none of them may reach a one-line entry.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_TYPES_BY_WORD = {t.value.casefold(): t for t in ChangeType}
_HEADING_RANK = {"": 0} | {t.value: rank for rank, t in enumerate(ChangeType, start=1)}


@functools.lru_cache(maxsize=8192)
def section_date(section: str) -> datetime.date | None:
    """The first valid ``YYYY-MM-DD`` in a section heading, or None (e.g. for "Unreleased")."""
    for match in _DATE.finditer(section):
        try:
            return datetime.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
    return None


def work_item_link(work_item_id: int) -> str:
    return f"([#{work_item_id}](/work/{work_item_id}))"


@dataclass(frozen=True)
class Entry:
    """One bullet of the changelog.

    ``heading`` is set only when ``type`` is None because the entry sits under a ``###`` heading that
    is not a Keep a Changelog type (e.g. "Breaking"); it holds that heading so it survives a render.
    """

    section: str
    type: ChangeType | None
    text: str
    work_item_id: int | None
    heading: str = ""

    @property
    def date(self) -> datetime.date | None:
        return section_date(self.section)

    @property
    def heading_key(self) -> str:
        """The ``###`` heading the entry is rendered under ("" for none)."""
        return self.type.value if self.type is not None else self.heading

    def line(self) -> str:
        """The entry as markdown: ``- text ([#12](/work/12))``, or ``- text`` without a work item."""
        parts = [self.text] if self.text else []
        if self.work_item_id is not None:
            parts.append(work_item_link(self.work_item_id))
        return "\n".join(line.rstrip() for line in ("- " + " ".join(parts)).split("\n"))


@dataclass(frozen=True)
class Note:
    """Text in a section that is not an entry (prose, an HTML comment, a code block), kept verbatim.

    A note with empty ``text`` records that the heading exists, so an empty ``## [Unreleased]`` or an
    empty ``### Added`` survives parse → render. ``heading`` is "" directly under the ``##`` heading,
    else the ``###`` heading (a ``ChangeType`` value when it is one). ``trailing`` notes came after
    the entries of their heading.
    """

    section: str
    heading: str
    text: str = ""
    trailing: bool = False


@dataclass
class Changelog:
    preamble: str  # everything before the first "## " heading, verbatim but for trailing blank lines
    entries: list[Entry]  # in file order
    postamble: str = ""  # link reference definitions ending the file, one a line
    notes: list[Note] = field(default_factory=list)  # in file order


# ---------------------------------------------------------------------------------------------------
# parse


def _fence_after(fence: str | None, line: str) -> str | None:
    """The open code fence after ``line`` ("```", "~~~" or None): inside one, headings are text."""
    stripped = line.lstrip()
    if fence is None:
        for marker in ("```", "~~~"):
            if stripped.startswith(marker):
                return marker
        return None
    return None if stripped.startswith(fence) else fence


def _split_link(text: str) -> tuple[str, int | None]:
    match = _LINK.search(text)
    # Only a link Calcifer would write counts (same number twice, no leading zeros); anything else
    # stays part of the text so that rendering gives the line back unchanged.
    if match is None or match[1] != match[2] or match[1] != str(int(match[1])):
        return text, None
    return text[: match.start()].rstrip(), int(match[1])


def _heading_key(raw: str) -> str:
    change_type = _TYPES_BY_WORD.get(raw.strip().casefold())
    return change_type.value if change_type is not None else raw.strip()


def _strip_blank_lines(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    while end > start and not lines[end - 1]:
        end -= 1
    return lines[start:end]


class _Reader:
    """Reads the lines after the preamble: sections, headings, entries and notes."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.notes: list[Note] = []
        self._placeholders: set[Note] = set()
        self._section = ""
        self._heading = ""
        self._seen_entry = False  # an entry came earlier under the current heading
        self._kind: str | None = None  # "entry" or "note": what the buffered lines are
        self._lines: list[str] = []
        self._gap = False  # a blank line came after the buffered lines
        self._fence: str | None = None

    def feed(self, line: str) -> None:
        if self._fence is not None:
            self._lines.append(line)
            self._fence = _fence_after(self._fence, line)
            return
        if not line:
            self._gap = self._kind is not None
            return
        if section := _SECTION.fullmatch(line):
            self._flush()
            self._section, self._heading, self._seen_entry = section[1].strip(), "", False
            self._placeholder()
            return
        if heading := _HEADING.fullmatch(line):
            self._flush()
            self._heading, self._seen_entry = _heading_key(heading[1]), False
            self._placeholder()
            return
        if bullet := _BULLET.fullmatch(line):
            self._flush()
            self._kind, self._lines = "entry", [(bullet[1] or "").strip()]
        elif self._kind == "entry" and (line[0] in " \t" or not self._gap):
            # An indented line continues the entry, even after a blank line; an unindented one
            # continues it only right after it (markdown's lazy continuation).
            self._lines.extend(["", line] if self._gap else [line])
        elif self._kind == "note" and not self._gap:
            self._lines.append(line)
        else:
            self._flush()
            self._kind, self._lines = "note", [line]
        self._gap = False
        self._fence = _fence_after(None, line)

    def finish(self) -> None:
        self._flush()

    def _placeholder(self) -> None:
        note = Note(section=self._section, heading=self._heading)
        if note not in self._placeholders:
            self._placeholders.add(note)
            self.notes.append(note)

    def _flush(self) -> None:
        if self._kind == "entry":
            # Only trailing blank lines go: an empty first line is the bullet itself ("-" alone).
            text, work_item_id = _split_link("\n".join(self._lines).rstrip("\n"))
            change_type = _TYPES_BY_WORD.get(self._heading.casefold())
            self.entries.append(
                Entry(
                    section=self._section,
                    type=change_type,
                    text=text,
                    work_item_id=work_item_id,
                    heading="" if change_type is not None else self._heading,
                )
            )
            self._seen_entry = True
        elif self._kind == "note" and (text := "\n".join(_strip_blank_lines(self._lines))):
            self.notes.append(
                Note(section=self._section, heading=self._heading, text=text, trailing=self._seen_entry)
            )
        self._kind, self._lines, self._gap, self._fence = None, [], False, None


def parse(text: str) -> Changelog:
    """Read a CHANGES.md. Never raises: whatever it does not understand is kept as a ``Note``."""
    lines = [line.rstrip() for line in text.split("\n")]

    start, fence = len(lines), None
    for index, line in enumerate(lines):
        if fence is None and _SECTION.fullmatch(line):
            start = index
            break
        fence = _fence_after(fence, line)
    preamble_lines = _strip_blank_lines(lines[:start])
    body = lines[start:]

    # Link reference definitions ending the file stay at its end, whatever sections are added.
    end = len(body)
    while end > 1 and (not body[end - 1] or _LINK_REFERENCE.fullmatch(body[end - 1])):
        end -= 1
    postamble_lines = [line for line in body[end:] if line]

    reader = _Reader()
    for line in body[:end]:
        reader.feed(line)
    reader.finish()
    return Changelog(
        preamble="\n".join(preamble_lines) + "\n" if preamble_lines else "",
        entries=reader.entries,
        postamble="\n".join(postamble_lines) + "\n" if postamble_lines else "",
        notes=reader.notes,
    )


# ---------------------------------------------------------------------------------------------------
# render


@dataclass
class _Block:
    """What is rendered under one ``###`` heading (or directly under the ``##`` heading)."""

    leading: list[Note] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    trailing: list[Note] = field(default_factory=list)


def _layout(changelog: Changelog) -> list[tuple[str, list[tuple[str, _Block]]]]:
    """Sections and their headings in render order, each heading with its notes and entries."""
    sections: dict[str, dict[str, _Block]] = {}
    # Notes first: a parsed file has one for every heading, in file order, so first appearance
    # here is the order of the file.
    for note in changelog.notes:
        block = sections.setdefault(note.section, {}).setdefault(note.heading, _Block())
        if note.text:
            (block.trailing if note.trailing else block.leading).append(note)
    for entry in changelog.entries:
        sections.setdefault(entry.section, {}).setdefault(entry.heading_key, _Block()).entries.append(entry)

    undated = [section for section in sections if section_date(section) is None]
    dated = [(date, section) for section in sections if (date := section_date(section)) is not None]
    # sorted() is stable with reverse=True too: sections of the same day keep their order.
    ordered = undated + [section for _, section in sorted(dated, key=lambda pair: pair[0], reverse=True)]

    unknown_rank = len(_HEADING_RANK)
    return [
        (
            section,
            sorted(sections[section].items(), key=lambda item: _HEADING_RANK.get(item[0], unknown_rank)),
        )
        for section in ordered
    ]


def render(changelog: Changelog) -> str:
    """Write a changelog in Calcifer's layout; the text ends with a single newline ("" if empty)."""
    chunks: list[str] = []  # separated by one blank line
    if changelog.preamble.strip():
        chunks.append(changelog.preamble.strip("\n"))
    for section, blocks in _layout(changelog):
        chunks.append(f"## {section}")
        for heading, block in blocks:
            body = [note.text for note in block.leading]
            if block.entries:
                body.append("\n".join(entry.line() for entry in block.entries))
            body.extend(note.text for note in block.trailing)
            if heading:
                # "### Added" sits right above its first entry, as Calcifer writes it.
                body[:1] = ["\n".join([f"### {heading}", *body[:1]])]
            chunks.extend(body)
    if changelog.postamble.strip():
        chunks.append(changelog.postamble.strip("\n"))
    return "\n\n".join(chunks) + "\n" if chunks else ""


# ---------------------------------------------------------------------------------------------------
# write


def _clean_entry_text(entry_text: str, work_item_id: int | None) -> str:
    text = entry_text.strip()
    if not text:
        raise Invalid("The changelog entry is empty.", details={"field": "entry_text"})
    if any(char in _LINE_BREAKS for char in text):
        raise Invalid("A changelog entry must be a single line.", details={"field": "entry_text"})
    if len(text) > MAX_ENTRY_LENGTH:
        raise Invalid(
            f"A changelog entry holds at most {MAX_ENTRY_LENGTH} characters (this one has {len(text)}).",
            details={"field": "entry_text"},
        )
    if work_item_id is None and _split_link(text)[1] is not None:
        # It would read back as that work item's entry.
        raise Invalid(
            "A changelog entry must not end with a work-item link; the link is added for you.",
            details={"field": "entry_text"},
        )
    return text


def add_entry(
    text: str,
    *,
    entry_type: ChangeType,
    entry_text: str,
    work_item_id: int | None,
    on: datetime.date,
) -> str:
    """Return ``text`` with the entry added last under ``## {on}`` / ``### {entry_type}``.

    Missing headings are created; an empty ``text`` starts from ``INITIAL_CHANGELOG``. Raises
    ``Invalid`` when the entry text is empty, longer than 300 characters or not a single line.
    """
    clean = _clean_entry_text(entry_text, work_item_id)
    try:
        change_type = ChangeType(entry_type)
    except ValueError:
        raise Invalid(f"Unknown type of change: {entry_type!r}.", details={"field": "entry_type"}) from None
    if work_item_id is not None and work_item_id < 0:
        raise Invalid("A work item id is never negative.", details={"field": "work_item_id"})
    if isinstance(on, datetime.datetime):  # a datetime is a date too, but its isoformat() has a time
        on = on.date()
    entry = Entry(section=on.isoformat(), type=change_type, text=clean, work_item_id=work_item_id)
    source = text if text.strip() else INITIAL_CHANGELOG
    # A file already in Calcifer's layout (every file Calcifer wrote) gets the entry by a text edit:
    # the same result as parse + render, without reading a long file into objects twice.
    fast = _insert_entry(source, entry)
    if fast is not None:
        return fast
    changelog = parse(source)
    changelog.entries.append(entry)
    return render(changelog)


def _add_entry_by_render(text: str, entry: Entry) -> str:
    """``add_entry``'s reference behaviour: parse, append, render (tests compare the fast path to it)."""
    changelog = parse(text if text.strip() else INITIAL_CHANGELOG)
    changelog.entries.append(entry)
    return render(changelog)


# ---------------------------------------------------------------------------------------------------
# the canonical layout: a fast path for files exactly as ``render`` writes them
#
# A CHANGES.md that Calcifer wrote is in ``render``'s layout: a preamble, one blank line, then
# ``## <section>`` headings (undated first, then dated newest first, each heading once), each with
# ``### <Type>`` blocks (known types in ``ChangeType`` order, each once, none empty) of one-line
# bullets. For such a file ``render(parse(text)) == text``, and an entry's line is its text. Checking
# that takes a few regular expressions over the whole text (C speed) and one step per heading; then
# adding an entry is a text edit, and the entries two versions differ by are found by comparing
# their blocks as strings. Anything else (notes, prose, multi-line entries, odd spacing, unknown
# headings) makes ``_layout_of`` return None and the callers use parse and render.

_ANY_SECTION = re.compile(r"^##[ \t]", re.MULTILINE)
# Lines neither start nor end with whitespace after their mark (parse would strip it); "### " only
# with a type's word as render writes it.
_CANONICAL_BODY = re.compile(
    r"(?:## \S(?:[^\n]*\S)?\n\n(?:### (?:" + "|".join(t.value for t in ChangeType)
    + r")\n(?:- \S(?:[^\n]*\S)?\n)+\n)+)+"
)
_TRAILING_SPACE = re.compile(r"[^\S\n]\n")
_CANONICAL_LINK = re.compile(r"\(\[#(0|[1-9][0-9]{0,17})\]\(/work/\1\)\)$", re.MULTILINE)


def _respaced_link(body: str) -> bool:
    """True when a line ends with a work-item link that render would write with other spacing: the
    link must follow "- " directly, or one space after a character that is not whitespace."""
    for match in _CANONICAL_LINK.finditer(body):
        at = match.start()
        before = body[at - 1]
        if before == " " and body[at - 2] == "-" and body[at - 3] == "\n":
            continue  # "- ([#1](/work/1))": an entry that is only the link
        if before != " " or body[at - 2].isspace():
            return True
    return False




@dataclass(frozen=True)
class _Layout:
    """A canonical file split into its preamble and its blank-line-separated chunks (``## X`` lines and
    ``### Type`` blocks with their bullets); ``blocks`` maps (section, type) to the block's chunk."""

    preamble: str  # without its closing blank line; "" when there is none
    chunks: tuple[str, ...]
    blocks: dict[tuple[str, str], str]
    sections: tuple[tuple[str, datetime.date | None, int], ...]  # (heading, date, index of its chunk)


_LAYOUTS: OrderedDict[str, _Layout | None] = OrderedDict()
_LAYOUTS_LOCK = threading.Lock()
_LAYOUTS_KEPT = 8  # e.g. main's file and the branches' files of the work items in progress


def _remember(text: str, layout: _Layout | None) -> None:
    with _LAYOUTS_LOCK:
        _LAYOUTS[text] = layout
        _LAYOUTS.move_to_end(text)
        while len(_LAYOUTS) > _LAYOUTS_KEPT:
            _LAYOUTS.popitem(last=False)


def _layout_of(text: str) -> _Layout | None:
    """The canonical layout of ``text`` (remembered for the last few texts: the commit, the merge check
    and the merge of one work item read the same two files), or None when it is not canonical."""
    with _LAYOUTS_LOCK:
        if text in _LAYOUTS:
            _LAYOUTS.move_to_end(text)
            return _LAYOUTS[text]
    layout = _read_layout(text)
    _remember(text, layout)
    return layout


def _read_layout(text: str) -> _Layout | None:
    """The canonical layout of ``text``, or None when ``render(parse(text))`` might differ from it."""
    if not text.endswith("\n"):
        return None
    first = _ANY_SECTION.search(text)
    start = first.start() if first is not None else len(text)
    preamble = text[:start]
    if "```" in preamble or "~~~" in preamble or _TRAILING_SPACE.search(preamble):
        return None
    if first is None:
        # Only a preamble: render writes it without outer blank lines.
        if preamble.startswith("\n") or preamble.endswith("\n\n") or not preamble.strip():
            return None
        return _Layout(preamble=preamble[:-1], chunks=(), blocks={}, sections=())
    if preamble:
        if not preamble.endswith("\n\n") or preamble.endswith("\n\n\n") or preamble.startswith("\n"):
            return None
        preamble = preamble[:-2]
    body = text[start:]
    if body.endswith("\n\n") or not _CANONICAL_BODY.fullmatch(body + "\n"):
        return None
    if _respaced_link(body):
        return None
    chunks = tuple(body[:-1].split("\n\n"))
    blocks: dict[tuple[str, str], str] = {}
    sections: list[tuple[str, datetime.date | None, int]] = []
    seen_sections: set[str] = set()
    section = ""
    rank = 0
    last_date: datetime.date | None = None
    for index, chunk in enumerate(chunks):
        if chunk.startswith("## "):
            section = chunk[3:]
            if section in seen_sections:
                return None
            seen_sections.add(section)
            date = section_date(section)
            if date is None:
                if last_date is not None:
                    return None  # an undated section after a dated one: render moves it up
            elif last_date is not None and date > last_date:
                return None
            else:
                last_date = date
            sections.append((section, date, index))
            rank = 0
            continue
        heading = chunk[4:chunk.index("\n")]
        if _HEADING_RANK[heading] <= rank:
            return None
        rank = _HEADING_RANK[heading]
        blocks[(section, heading)] = chunk
    return _Layout(preamble=preamble, chunks=chunks, blocks=blocks, sections=tuple(sections))


def _join(layout: _Layout, chunks: list[str]) -> str:
    """The text of ``chunks`` (canonical ones) under ``layout``'s preamble; its layout is remembered."""
    body = "\n\n".join(chunks) + "\n"
    text = f"{layout.preamble}\n\n{body}" if layout.preamble else body
    blocks: dict[tuple[str, str], str] = {}
    sections: list[tuple[str, datetime.date | None, int]] = []
    section = ""
    for index, chunk in enumerate(chunks):
        if chunk.startswith("## "):
            section = chunk[3:]
            sections.append((section, section_date(section), index))
        else:
            blocks[(section, chunk[4:chunk.index("\n")])] = chunk
    _remember(text, _Layout(preamble=layout.preamble, chunks=tuple(chunks), blocks=blocks,
                            sections=tuple(sections)))
    return text


def _insert_entry(text: str, entry: Entry) -> str | None:
    """``text`` with ``entry`` added exactly where parse + render would put it; None when ``text`` is
    not in the canonical layout (or the entry is not a known type's one-line entry)."""
    if entry.type is None or entry.date is None or "\n" in entry.line():
        return None
    layout = _layout_of(text)
    if layout is None:
        return None
    line = entry.line()
    heading = entry.type.value
    chunks = list(layout.chunks)
    block = layout.blocks.get((entry.section, heading))
    found = next((s for s in layout.sections if s[0] == entry.section), None)
    if found is not None:
        index = found[2]
        if block is not None:
            at = chunks.index(block, index)
            chunks[at] = f"{block}\n{line}"
        else:
            at = index + 1
            while at < len(chunks) and not chunks[at].startswith("## ") and \
                    _HEADING_RANK[chunks[at][4:chunks[at].index("\n")]] < _HEADING_RANK[heading]:
                at += 1
            chunks.insert(at, f"### {heading}\n{line}")
        return _join(layout, chunks)
    # A new section goes after the undated ones and the dated ones of the same day or later.
    date = entry.date
    at = len(chunks)
    for _name, section_day, index in layout.sections:
        if section_day is not None and section_day < date:
            at = index
            break
    chunks[at:at] = [f"## {entry.section}", f"### {heading}\n{line}"]
    return _join(layout, chunks)


# ---------------------------------------------------------------------------------------------------
# merge

_Item = TypeVar("_Item", bound=Hashable)


def _merge_items(base: Iterable[_Item], ours: list[_Item], theirs: list[_Item]) -> list[_Item]:
    """(ours − removed in theirs) ∪ added in theirs; ours' order, then theirs' additions in theirs' order."""
    base_set, theirs_set = set(base), set(theirs)
    removed_in_theirs = base_set - theirs_set
    merged = [item for item in ours if item not in removed_in_theirs]
    kept = set(merged)
    for item in theirs:
        if item not in base_set and item not in kept:
            merged.append(item)
            kept.add(item)
    return merged


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line]


def merge(base: str | None, ours: str, theirs: str) -> str:
    """Three-way merge of CHANGES.md by entries; never conflicts and never raises.

    An entry is kept when ours has it and theirs did not remove it, or when theirs added it. Notes
    and link reference definitions merge the same way. The preamble is ours, unless only theirs
    changed it. ``base`` is None when both sides created the file.
    """
    if ours == theirs:
        return ours
    if base is not None and theirs == base:
        return ours
    if base is not None and ours == base:
        return theirs
    base_log, our_log, their_log = parse(base or ""), parse(ours), parse(theirs)
    if base is None:
        preamble = our_log.preamble if our_log.preamble.strip() else their_log.preamble
    elif our_log.preamble == base_log.preamble:
        preamble = their_log.preamble
    else:
        preamble = our_log.preamble
    postamble = _merge_items(
        _lines(base_log.postamble), _lines(our_log.postamble), _lines(their_log.postamble)
    )
    return render(
        Changelog(
            preamble=preamble,
            entries=_merge_items(base_log.entries, our_log.entries, their_log.entries),
            postamble="\n".join(postamble) + "\n" if postamble else "",
            notes=_merge_items(base_log.notes, our_log.notes, their_log.notes),
        )
    )


def merge_bytes(base: bytes | None, ours: bytes, theirs: bytes) -> bytes:
    """``merge`` on UTF-8 bytes, for git's file merge; bytes that are not UTF-8 pass through as they are."""

    def decode(data: bytes) -> str:
        return data.decode("utf-8", errors="surrogateescape")

    merged = merge(None if base is None else decode(base), decode(ours), decode(theirs))
    return merged.encode("utf-8", errors="surrogateescape")


# ---------------------------------------------------------------------------------------------------
# read


def _block_entries(section: str, heading: str, block: str) -> list[Entry]:
    """The entries of one canonical block (``### Type`` and its one-line bullets)."""
    change_type = ChangeType(heading)
    entries = []
    for line in block.split("\n")[1:]:
        text, work_item_id = _split_link(line[2:])
        entries.append(Entry(section=section, type=change_type, text=text, work_item_id=work_item_id))
    return entries


def changed_blocks(old: str, new: str) -> list[tuple[list[Entry], list[Entry]]] | None:
    """(old entries, new entries) of every (section, type) block that differs between two versions of
    CHANGES.md, in ``new``'s order then the blocks only ``old`` has; each side's entries are exactly
    what ``parse`` gives for that block. None when either text is not in render's layout (then compare
    ``parse(old).entries`` with ``parse(new).entries``). Blocks that are equal as text are skipped
    without reading them, so two versions of a long file differing by one entry cost little.
    """
    before, after = _layout_of(old), _layout_of(new)
    if before is None or after is None:
        return None
    result = []
    for key, block in after.blocks.items():
        previous = before.blocks.get(key)
        if previous != block:
            old_entries = _block_entries(*key, previous) if previous is not None else []
            result.append((old_entries, _block_entries(*key, block)))
    for key, block in before.blocks.items():
        if key not in after.blocks:
            result.append((_block_entries(*key, block), []))
    return result


def entries_added(base: str | None, new: str) -> list[Entry]:
    """The entries of ``new`` that ``base`` does not have, in ``new``'s order, each once.

    An edited entry counts as added. ``base`` None (no file before) makes every entry added.
    """
    if base:
        blocks = changed_blocks(base, new)
        if blocks is not None:
            # Canonical files: an entry of ``new`` is in ``base`` only if its block there has it
            # (a block is one section and type, and entries compare by section and type too).
            found: list[Entry] = []
            for old_entries, new_entries in blocks:
                known = set(old_entries)
                for entry in new_entries:
                    if entry not in known:
                        found.append(entry)
                        known.add(entry)
            return found
    before = set(parse(base).entries) if base else set()
    added: list[Entry] = []
    for entry in parse(new).entries:
        if entry not in before:
            added.append(entry)
            before.add(entry)
    return added


def latest_entries(text: str, *, limit: int) -> list[Entry]:
    """Up to ``limit`` entries, newest first: in the order ``render`` writes them."""
    if limit <= 0:
        return []
    entries: list[Entry] = []
    for _, blocks in _layout(parse(text)):
        for _, block in blocks:
            entries.extend(block.entries)
            if len(entries) >= limit:
                return entries[:limit]
    return entries

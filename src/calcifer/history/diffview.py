"""One file's diff made ready to show: numbered lines, unified or side by side, the words that changed
within a changed line marked, and the rest coloured by the file's language (Pygments' token classes,
the same the docs use). Compare, a commit's page and a work item's changes draw diffs with this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

from calcifer.gitrepo import DeltaStatus, Patch, parse_patch

MAX_LINES = 20_000  # lines of one file's diff drawn at all; the rest is cut, and the view says so
MAX_LINE_CHARS = 2_000  # longer lines are drawn plain (no words, no colours): tokenising them is slow
WORD_PAIRS_MAX = 400  # removed/added line pairs compared word by word per hunk block
_WORDS = re.compile(r"\w+|\s+|[^\w\s]")

STATUS_NAMES = {
    DeltaStatus.ADDED: "added",
    DeltaStatus.DELETED: "deleted",
    DeltaStatus.RENAMED: "renamed",
    DeltaStatus.COPIED: "copied",
    DeltaStatus.TYPECHANGE: "typechange",
}


@dataclass(frozen=True)
class Segment:
    text: str
    css: str = ""  # a Pygments token class, or "diff-word" for a changed word
    changed: bool = False


@dataclass
class Line:
    kind: str  # "add" | "del" | "ctx"
    old_no: int | None
    new_no: int | None
    text: str
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: list[Line]


@dataclass(frozen=True)
class SplitRow:
    left: Line | None
    right: Line | None


@dataclass(frozen=True)
class FileView:
    path: str
    old_path: str | None  # set when renamed or copied
    status: str
    binary: bool
    additions: int
    deletions: int
    hunks: list[Hunk]
    truncated: bool  # more lines than MAX_LINES: only the first ones are drawn

    @property
    def line_count(self) -> int:
        return sum(len(h.lines) for h in self.hunks)

    def split_rows(self, hunk: Hunk) -> list[SplitRow]:
        """The hunk's lines side by side: context on both sides, removed lines paired with added ones."""
        rows: list[SplitRow] = []
        removed: list[Line] = []
        added: list[Line] = []

        def flush() -> None:
            for index in range(max(len(removed), len(added))):
                rows.append(SplitRow(removed[index] if index < len(removed) else None,
                                     added[index] if index < len(added) else None))
            removed.clear()
            added.clear()

        for line in hunk.lines:
            if line.kind == "del":
                if added:
                    flush()
                removed.append(line)
            elif line.kind == "add":
                added.append(line)
            else:
                flush()
                rows.append(SplitRow(line, line))
        flush()
        return rows


def view_mode(view: str | None) -> str:
    """The diff view asked for in ``?view=``: "split" (side by side) or "unified" (the default)."""
    return "split" if view == "split" else "unified"


def other_mode(mode: str) -> str:
    return "unified" if mode == "split" else "split"


@lru_cache(maxsize=256)
def _lexer(path: str) -> Lexer | None:
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _css(token: _TokenType) -> str:
    while token not in STANDARD_TYPES and token.parent is not None:
        token = token.parent
    return STANDARD_TYPES.get(token, "")


def _coloured(text: str, lexer: Lexer | None) -> list[Segment]:
    if lexer is None or len(text) > MAX_LINE_CHARS:
        return [Segment(text)]
    return [Segment(value, _css(token)) for token, value in lexer.get_tokens(text) if value]


def _word_marks(old: Line, new: Line) -> None:
    """Mark the words that differ between a removed line and the added line that replaced it."""
    if len(old.text) > MAX_LINE_CHARS or len(new.text) > MAX_LINE_CHARS:
        return
    a, b = _WORDS.findall(old.text), _WORDS.findall(new.text)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < 0.3:
        return  # a different line, not an edited one: marking nearly every word says nothing
    old_segments: list[Segment] = []
    new_segments: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        same = tag == "equal"
        if i2 > i1:
            old_segments.append(Segment("".join(a[i1:i2]), "" if same else "diff-word", not same))
        if j2 > j1:
            new_segments.append(Segment("".join(b[j1:j2]), "" if same else "diff-word", not same))
    old.segments, new.segments = old_segments, new_segments


def _mark_words(lines: list[Line]) -> None:
    """Pair each run of removed lines with the run of added lines right after it, line by line."""
    index, pairs = 0, 0
    while index < len(lines):
        if lines[index].kind != "del":
            index += 1
            continue
        start = index
        while index < len(lines) and lines[index].kind == "del":
            index += 1
        removed = lines[start:index]
        added_start = index
        while index < len(lines) and lines[index].kind == "add":
            index += 1
        for old, new in zip(removed, lines[added_start:index], strict=False):
            if pairs >= WORD_PAIRS_MAX:
                return
            _word_marks(old, new)
            pairs += 1


def file_view(patch: Patch, *, max_lines: int = MAX_LINES, status: str | None = None) -> FileView:
    """The view of one file's diff (a pygit2 patch). ``status``: what happened to the file, when the
    patch was made from two blobs (which knows no rename)."""
    delta = patch.delta
    status = status or STATUS_NAMES.get(delta.status, "modified")
    path = delta.old_file.path if status == "deleted" else delta.new_file.path
    old_path = delta.old_file.path if status in ("renamed", "copied") else None
    _, additions, deletions = patch.line_stats
    if delta.is_binary:
        return FileView(path, old_path, status, True, 0, 0, [], False)
    lexer = _lexer(path)
    hunks: list[Hunk] = []
    drawn = 0
    truncated = False
    for hunk in patch.hunks:
        lines: list[Line] = []
        for diff_line in hunk.lines:
            if diff_line.origin not in "+- ":
                continue  # "\ No newline at end of file" and the like
            if drawn >= max_lines:
                truncated = True
                break
            text = diff_line.content.rstrip("\r\n")
            kind = {"+": "add", "-": "del"}.get(diff_line.origin, "ctx")
            lines.append(Line(kind, diff_line.old_lineno if diff_line.old_lineno >= 0 else None,
                              diff_line.new_lineno if diff_line.new_lineno >= 0 else None, text))
            drawn += 1
        _mark_words(lines)
        for line in lines:
            if not line.segments:
                line.segments = _coloured(line.text, lexer)
        hunks.append(Hunk(hunk.header.strip(), lines))
        if truncated:
            break
    return FileView(path, old_path, status, False, additions, deletions, hunks, truncated)


def text_view(diff: str, *, status: str, max_lines: int = MAX_LINES) -> FileView | None:
    """The view of one file's unified diff text (a worktree's uncommitted change), or None when the text
    holds no patch."""
    patch = parse_patch(diff)
    return file_view(patch, max_lines=max_lines, status=status) if patch is not None else None

"""Markdown as search reads it: a doc's title and the text a reader sees.

The same rules as the docs slice's ``render.doc_title`` (front matter, first heading, file name), with
regular expressions: that one parses the whole document with markdown-it, ~3 ms a doc here, which
alone would take 30 s for 10,000 docs. Same titles on the bench's docs; a doc's page shows the
docs slice's own.
"""

from __future__ import annotations

import re

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```+|~~~+)")
_BLOCK_START = re.compile(r"^(?: {4}| {0,3}(?:[-*+>]|\d{1,9}[.)])(?:\s|$))")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1")
_SINGLE_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
# Block syntax at a line's start that a reader never sees: quote marks, list bullets and numbers, task
# boxes, GitHub alert markers ("> [!NOTE]").
_LINE_MARKS = re.compile(r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:\[[ xX]\][ \t]+)?"
                         r"(?:\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\][ \t]*)?", re.IGNORECASE)
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]\s]+\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_TABLE_PIPE = re.compile(r"[ \t]*(?<!\\)\|[ \t]*")


def split_front_matter(text: str) -> tuple[str, str]:
    """(front matter, the rest) of a markdown text; front matter "" when there is none."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    return match.group(1), text[match.end():]


def _inline_plain(text: str) -> str:
    """One line of markdown as text: images, links, emphasis and code marks removed."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _SINGLE_EMPHASIS.sub(r"\2", text)
    return " ".join(text.replace("`", "").split())


def doc_title(text: str, *, doc_path: str) -> str:
    """The front matter's ``title``, else the first heading, else the file name."""
    front, body = split_front_matter(text)
    match = _FM_TITLE.search(front)
    if match:
        title = match.group(1).strip().strip("\"'").strip()
        if title:
            return title[:300]
    fence: str | None = None
    html = False  # inside an HTML block: it runs to the next blank line
    paragraph: list[str] = []  # the lines of the paragraph so far (a setext underline makes it a heading)
    for line in body.splitlines():
        opened = _FENCE.match(line)
        if opened and not html:
            marker = opened.group(1)[:3]
            fence = None if fence == marker else (fence or marker)
            paragraph = []
            continue
        if fence:
            continue
        if html or (not paragraph and line.lstrip(" ").startswith("<") and len(line) - len(line.lstrip(" ")) < 4):
            html = bool(line.strip())
            continue
        heading = _ATX.match(line)
        if heading and _inline_plain(heading.group(1)):
            return _inline_plain(heading.group(1))[:300]
        if paragraph and _SETEXT.match(line):
            return _inline_plain(" ".join(paragraph))[:300]
        # Only a paragraph's lines can become a setext heading (not a list item or a quote).
        if line.strip() and not _BLOCK_START.match(line) and not heading:
            paragraph.append(line)
        else:
            paragraph = []
    return doc_path.rsplit("/", 1)[-1]


def plain_text(markdown: str) -> str:
    """Markdown as the text a reader sees (markup removed, HTML kept as text: snippets escape it)."""
    _, body = split_front_matter(markdown)
    lines = []
    fence: str | None = None
    for line in body.splitlines():
        opened = _FENCE.match(line)
        if opened:  # code stays as it is written; only the fence lines go
            marker = opened.group(1)[:3]
            fence = None if fence == marker else (fence or marker)
            continue
        if fence:
            lines.append(line)
            continue
        if (_TABLE_RULE.match(line) or _SETEXT.match(line) or _THEMATIC_BREAK.match(line)
                or _REFERENCE_DEFINITION.match(line)):
            continue
        heading = _ATX.match(line)
        if heading:
            line = heading.group(1)
        line = _LINE_MARKS.sub("", line, count=1)
        if "|" in line:
            line = _TABLE_PIPE.sub(" ", line).strip()
        lines.append(line)
    out = "\n".join(lines)
    out = _IMAGE.sub(r"\1", out)
    out = _LINK.sub(r"\1", out)
    out = _REFERENCE_LINK.sub(r"\1", out)
    out = _FOOTNOTE_REF.sub("", out)
    out = _AUTOLINK.sub(r"\1", out)
    out = _EMPHASIS.sub(r"\2", out)
    out = _SINGLE_EMPHASIS.sub(r"\2", out)
    return out.replace("`", "")


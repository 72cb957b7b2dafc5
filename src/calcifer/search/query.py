"""User search text → a safe engine query, and highlighting of the words it matched.

Pure functions: no database. The search box takes plain words, never an engine's syntax:

- every word must match (AND); a word is a run of letters and digits, anything else separates words;
- ``"quoted words"`` must match as a phrase, and so must a bare token holding several words
  (``example.com``, ``foo-bar``);
- the last bare word also matches as a prefix (``graf`` finds grafana) unless the text ends with a
  space: results appear while the user types;
- case does not matter, accents do (``café`` is not ``cafe``) on both engines.

Because only letters and digits ever reach the engine, and each word is quoted, no user text can be
read as FTS5 or tsquery syntax: ``foo" OR bar*``, ``NEAR(``, a NUL or ``'`` are just words or nothing.
The same words drive the highlighting, so the marks show what the engines matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from markupsafe import Markup, escape

from calcifer.errors import Invalid

MAX_QUERY_CHARS = 500
MAX_WORDS = 32
MAX_WORD_CHARS = 100  # longer "words" are not words (PostgreSQL ignores lexemes of 2 KB and more)
MIN_PREFIX_CHARS = 2  # a one-letter prefix would expand to a large part of the vocabulary
SNIPPET_CHARS = 220
MAX_MATCHES_SCANNED = 100

# The characters of a word: letters and digits of any script (the tokenizers' notion, minus "_").
WORD = re.compile(r"[^\W_]+")
_SEGMENT = re.compile(r'"([^"]*)(?:"|$)|([^\s"]+)')
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ParsedQuery:
    """The words of a search: ``groups`` are phrases (a one-word group is a plain word).

    ``prefix`` says the last word of the last group also matches longer words starting with it.
    """

    groups: tuple[tuple[str, ...], ...]
    prefix: bool = False

    @property
    def empty(self) -> bool:
        return not self.groups

    @property
    def words(self) -> list[str]:
        return [word for group in self.groups for word in group]

    def fts5(self) -> str:
        """The FTS5 MATCH expression: each group a quoted phrase, the last one maybe a prefix."""
        parts = []
        for index, group in enumerate(self.groups):
            star = "*" if self.prefix and index == len(self.groups) - 1 else ""
            parts.append('"' + " ".join(group) + '"' + star)
        return " ".join(parts)

    def tsquery(self) -> str:
        """The to_tsquery text: groups joined by ``&``, phrase words by ``<->``, each word quoted."""
        parts = []
        for index, group in enumerate(self.groups):
            last_group = self.prefix and index == len(self.groups) - 1
            lexemes = [f"'{word}'" + (":*" if last_group and position == len(group) - 1 else "")
                       for position, word in enumerate(group)]
            parts.append(lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")")
        return " & ".join(parts)

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        if self.empty:
            return None
        exact = sorted({word for group in self.groups for word in group}, key=len, reverse=True)
        alternatives = [re.escape(word) for word in exact]
        if self.prefix:
            alternatives.insert(0, re.escape(self.groups[-1][-1]) + r"[^\W_]*")
        joined = "|".join(alternatives)
        # Fast: plain alternatives over lower-cased text (the regex engine skips ahead by first
        # letter), word boundaries checked after. Slow: case-insensitive with lookarounds, for the
        # rare text whose lower-casing changes its length (so positions would not line up).
        return re.compile(joined), re.compile(rf"(?<![^\W_])(?:{joined})(?![^\W_])", re.IGNORECASE)

    def find(self, text: str, *, limit: int = 0) -> list[tuple[int, int, str]]:
        """(start, end, lower-cased word) of each whole word of ``text`` the query matches, in order."""
        patterns = self._patterns
        if patterns is None:
            return []
        found: list[tuple[int, int, str]] = []
        lowered = text.lower()
        if len(lowered) == len(text):
            for match in patterns[0].finditer(lowered):
                start, end = match.span()
                if (start and lowered[start - 1].isalnum()) or (end < len(lowered) and lowered[end].isalnum()):
                    continue
                found.append((start, end, match.group()))
                if len(found) == limit:
                    break
        else:
            for match in patterns[1].finditer(text):
                found.append((match.start(), match.end(), match.group().lower()))
                if len(found) == limit:
                    break
        return found


def parse(text: str | None) -> ParsedQuery:
    """Parse the search box's text. Raises Invalid when it is too long or has too many words."""
    if not text:
        return ParsedQuery(())
    if len(text) > MAX_QUERY_CHARS:
        raise Invalid(f"The search text has {len(text):,} characters; at most {MAX_QUERY_CHARS} are allowed. "
                      "Search for a few distinctive words.", code="query_too_long",
                      details=[{"field": "q", "message": f"at most {MAX_QUERY_CHARS} characters"}])
    text = _CONTROL.sub(" ", text)
    groups: list[tuple[str, ...]] = []
    last_bare = False
    for match in _SEGMENT.finditer(text):
        quoted, bare = match.group(1), match.group(2)
        words = tuple(w.lower() for w in WORD.findall(quoted if bare is None else bare)
                      if len(w) <= MAX_WORD_CHARS)
        if not words:
            continue
        last_bare = bare is not None and match.end() == len(text)
        if words not in groups:
            groups.append(words)
        elif last_bare:  # the repeated group must come last to be the prefix
            groups.remove(words)
            groups.append(words)
    count = sum(len(g) for g in groups)
    if count > MAX_WORDS:
        raise Invalid(f"The search has {count} words; at most {MAX_WORDS} are allowed.", code="too_many_words",
                      details=[{"field": "q", "message": f"at most {MAX_WORDS} words"}])
    prefix = bool(groups) and last_bare and len(groups[-1][-1]) >= MIN_PREFIX_CHARS
    return ParsedQuery(tuple(groups), prefix=prefix)


def index_words(text: str) -> str:
    """The words of ``text`` separated by spaces: what PostgreSQL's to_tsvector is given.

    Its parser would otherwise keep ``example.com`` or ``/etc/hosts`` as one lexeme, while the query
    side (and FTS5) splits them into words.
    """
    return " ".join(w for w in WORD.findall(text) if len(w) <= MAX_WORD_CHARS)


# -- highlighting -------------------------------------------------------------------------------------


def _marked(text: str, spans: list[tuple[int, int]]) -> Markup:
    """``text`` HTML-escaped, with each span wrapped in <mark>: escape first, then mark."""
    out: list[str] = []
    position = 0
    for start, end in spans:
        out.append(str(escape(text[position:start])))
        out.append("<mark>" + str(escape(text[start:end])) + "</mark>")
        position = end
    out.append(str(escape(text[position:])))
    return Markup("".join(out))


def highlight(text: str, query: ParsedQuery) -> Markup:
    """All of ``text`` (a title), escaped, with the query's words marked."""
    return _marked(text, [(start, end) for start, end, _ in query.find(text)])


_SPACES = re.compile(r"\s+")


def _squash(text: str) -> str:
    """Runs of whitespace (newlines too) as one space."""
    return _SPACES.sub(" ", text)


def snippet(text: str, query: ParsedQuery, *, width: int = SNIPPET_CHARS) -> Markup:
    """About ``width`` characters of ``text`` around the place with the most distinct matched words.

    Escaped, with the matches marked and "…" where text was cut. The start of the text when nothing
    in it matches (the title did).
    """
    text = text.strip()
    if not text:
        return Markup("")
    matches = query.find(text, limit=MAX_MATCHES_SCANNED)
    if not matches:
        end = _word_end(text, width) if len(text) > width else len(text)
        return _marked(_squash(text[:end]), []) + (Markup("…") if end < len(text) else Markup(""))
    # The window (3/4 of the width from a match on) holding the most distinct words, then the most
    # matches: two pointers over the matches in text order.
    span = width * 3 // 4
    best, best_score = 0, (-1, -1)
    inside: dict[str, int] = {}
    ahead = 0
    for index, (start, _end, word) in enumerate(matches):
        while ahead < len(matches) and matches[ahead][1] <= start + span:
            inside[matches[ahead][2]] = inside.get(matches[ahead][2], 0) + 1
            ahead += 1
        score = (len(inside), ahead - index)
        if score > best_score:
            best, best_score = index, score
        if word in inside:
            inside[word] -= 1
            if not inside[word]:
                del inside[word]
    anchor = matches[best][0]
    start = _word_start(text, max(0, anchor - width // 4))
    end = min(len(text), max(start + width, matches[best][1]))
    if end < len(text):
        end = max(_word_end(text, end), matches[best][1])
    pieces: list[Markup] = [Markup("…")] if start > 0 else []
    position = start
    for s, e, _ in matches:
        if s < position or e > end:
            continue
        pieces.append(escape(_squash(text[position:s])))
        pieces.append(Markup("<mark>") + escape(text[s:e]) + Markup("</mark>"))
        position = e
    pieces.append(escape(_squash(text[position:end])))
    if end < len(text):
        pieces.append(Markup("…"))
    return Markup("").join(pieces)


def _word_start(text: str, position: int) -> int:
    """``position`` moved forward past a cut word (to the next whitespace), if one is near."""
    if position == 0 or text[position - 1].isspace():
        return position
    space = text.find(" ", position, position + 30)
    return space + 1 if space >= 0 else position


def _word_end(text: str, position: int) -> int:
    """``position`` moved back to the end of the last whole word, if one is near."""
    if position >= len(text) or text[position].isspace():
        return position
    space = text.rfind(" ", max(0, position - 30), position)
    return space if space > 0 else position

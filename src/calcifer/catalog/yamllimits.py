"""Limits every YAML document meets before a parser builds anything from it.

libyaml's composer (ruamel's C loader) recurses once per nesting level with no limit, so a small
document of 30,000 ``[`` overflows the C stack and kills the process (SIGSEGV) before any budget
checked after parsing can help. Every YAML entry point (``yamlio.load_plain``, ``yamlio.load_yaml``,
doc front matter through them, ``compose_yaml.load_yaml``) calls ``check_yaml`` first.

The check is cheap on the normal path: nesting depth is bounded from above without parsing (the
number of flow openers ``[``/``{``, plus twice the deepest block indentation), and only a document
whose bound exceeds ``MAX_DEPTH`` is walked event by event (the event parser keeps its own stack, it
does not recurse), stopping at the first node that is too deep.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

from calcifer.errors import Invalid

MAX_DEPTH = 100  # nested collections; real catalog files, compose files and front matter use under 15
MAX_CHARS = 1_048_576  # the largest file Calcifer edits is 1 MiB (gitrepo.paths.MAX_FILE_BYTES)

_CParser: Any
try:
    from ruamel.yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on the installed extras
    _CParser = None

# A block collection nested in another starts at least one column further right every two levels
# (a sequence may sit at its mapping key's column), so a line prefix of indentation and indicators
# ("- ", "? ", ": ") this long is needed before block nesting alone can pass MAX_DEPTH / 2.
_BLOCK_PREFIX = MAX_DEPTH // 4
# libyaml also breaks lines at CR, NEL, LS and PS, and skips a byte order mark. (A pattern that starts
# with a character class is scanned for quickly; "^|" in front would make it ~3x slower.)
_DEEP_BLOCK = re.compile(rf"[\n\r\x85\u2028\u2029\ufeff][ \t?:-]{{{_BLOCK_PREFIX}}}")
_DEEP_FIRST_LINE = re.compile(rf"[ \t?:-]{{{_BLOCK_PREFIX}}}")


class YamlTooComplex(Invalid):
    """A YAML document over a parser limit (size or nesting); ``details`` has ``line`` and ``message``."""

    code = "yaml_too_complex"


def _refuse(message: str, line: int) -> YamlTooComplex:
    return YamlTooComplex(f"{message} (line {line})", details={"line": line, "message": message})


def _events(text: str) -> Any:
    if _CParser is not None:
        parser = _CParser(text)
        try:
            while parser.check_event():
                yield parser.get_event()
        finally:
            parser.dispose()
    else:  # pragma: no cover - without libyaml the pure parser's events serve the same
        from ruamel.yaml import YAML

        yield from YAML(typ="safe", pure=True).parse(text)


def _deepest(text: str) -> tuple[int, int]:
    """(depth, 1-based line) of the first collection deeper than MAX_DEPTH, else (deepest seen, 0)."""
    depth = deepest = 0
    try:
        for event in _events(text):
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return depth, int(event.start_mark.line) + 1
                deepest = max(deepest, depth)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError:
        pass  # a syntax error before any deep node: the loader reports it with its line
    return deepest, 0


def might_be_too_deep(text: str) -> bool:
    """False when ``text`` certainly nests no deeper than MAX_DEPTH (a bound, found without parsing)."""
    flow = text.count("[") + text.count("{")
    return flow > MAX_DEPTH // 2 or _DEEP_BLOCK.search(text) is not None \
        or _DEEP_FIRST_LINE.match(text) is not None


def check_yaml(text: str) -> None:
    """Refuse ``text`` before parsing when it is over MAX_CHARS or nests deeper than MAX_DEPTH.

    Raises YamlTooComplex (an Invalid: 422, code ``yaml_too_complex``, ``details["line"]``).
    """
    if len(text) > MAX_CHARS:
        raise _refuse(f"YAML: the document has {len(text):,} characters, more than the {MAX_CHARS:,} "
                      "Calcifer reads; split it into smaller files", 1)
    if not might_be_too_deep(text):
        return
    depth, line = _deepest(text)
    if line:
        raise _refuse(f"YAML: collections are nested more than {MAX_DEPTH} levels deep; flatten the structure", line)

"""Read one Compose file into plain Python values, safely, interpolating as it goes.

The YAML is parsed to ruamel.yaml's node graph only; this module builds the values itself, so it
can refuse what a hostile file asks for instead of trusting a constructor:

- files over ``MAX_FILE_BYTES`` are not parsed at all;
- anchors are shared nodes in the graph, and every value built counts against ``MAX_VALUES``, so an
  alias bomb ("billion laughs") stops after a bounded amount of work;
- nesting deeper than ``yamllimits.MAX_DEPTH`` is refused before parsing, and deeper than ``MAX_DEPTH``
  while building (an anchor that contains itself) stops too;
- keys that are not strings, duplicate keys and bad merge keys (``<<``) become issues.

String values are interpolated per file, before any merge (Compose's order); keys are not. Each
string comes back as a ``Located`` ``str``, each mapping as a ``LocatedDict`` (which also knows the
line of each key) and each list as a ``LocatedList``, so later steps can report a bad port or an
unknown dependency where it was written (``location``). Compose's merge tags survive as
``RESET`` (``!reset``) and ``Override`` (``!override``) for the merge step to apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from calcifer.catalog import yamllimits
from calcifer.catalog.compose_interpolate import Issue, RequiredMissing, substitute

MAX_FILE_BYTES = 1024 * 1024
# Values built, counting each expansion of an alias: a real 1 MiB file has far fewer.
MAX_VALUES = 250_000
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"


class Located(str):
    """A string value from a Compose file that remembers where it was written (1-based line)."""

    file: str
    line: int

    def __new__(cls, value: str, file: str, line: int) -> Located:
        obj = super().__new__(cls, value)
        obj.file = file
        obj.line = line
        return obj


class LocatedDict(dict[str, Any]):
    """A mapping from a Compose file: where it starts, and the line of each of its keys."""

    file: str
    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A list from a Compose file, and where it starts."""

    file: str
    line: int


def location(value: Any, key: str | None = None) -> tuple[str, int] | None:
    """Where ``value`` (or, given ``key``, that key of the mapping ``value``) was written, if known."""
    if key is not None and isinstance(value, LocatedDict) and key in value.key_lines:
        return value.file, value.key_lines[key]
    if isinstance(value, Located | LocatedDict | LocatedList):
        return value.file, value.line
    return None


def relocate(new: Any, old: Any) -> Any:
    """Give container ``new`` the location of ``old`` (a copy of it); return ``new``."""
    if isinstance(old, LocatedDict) and isinstance(new, LocatedDict):
        new.file, new.line, new.key_lines = old.file, old.line, old.key_lines
    elif isinstance(old, LocatedList) and isinstance(new, LocatedList):
        new.file, new.line = old.file, old.line
    return new


class _Reset:
    def __repr__(self) -> str:
        return "RESET"


RESET: Any = _Reset()
"""A value tagged ``!reset``: the merge removes the key it is set on."""


@dataclass(frozen=True)
class Override:
    """A value tagged ``!override``: the merge replaces the earlier value instead of merging."""

    value: Any


@dataclass
class LoadedYaml:
    """The documents of one file (usually one) and where each service key was written."""

    documents: list[dict[str, Any]]
    service_lines: dict[str, int]


class _Refused(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_yaml(*, data: bytes, file: str, env: Mapping[str, str]) -> tuple[LoadedYaml | None, list[Issue]]:
    """Parse ``data`` (the text of ``file``) and interpolate its string values with ``env``.

    Returns the documents found (each a mapping) and the issues met; the first item is ``None`` when
    nothing usable could be read (too large, not UTF-8, not YAML, empty, refused). Never raises.
    """
    if len(data) > MAX_FILE_BYTES:
        return None, [Issue(None, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; not read")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Issue(None, f"file is not UTF-8 text (bad byte at offset {exc.start})")]
    try:
        yamllimits.check_yaml(text)  # the composer recurses per level: nesting is refused before it starts
    except yamllimits.YamlTooComplex as exc:
        return None, [Issue(exc.details["line"], exc.details["message"])]
    try:
        nodes = [node for node in YAML(typ="safe", pure=True).compose_all(text) if node is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return None, [Issue(line, f"invalid YAML: {message}")]
    except RecursionError:
        return None, [Issue(None, "invalid YAML: nested too deeply to read")]
    except YAMLError as exc:
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        return None, [Issue(line, f"invalid YAML: {_first_line(str(exc))}")]
    except Exception as exc:  # the parser meets hostile text: any failure there means "not YAML"
        return None, [Issue(None, f"invalid YAML: {_first_line(str(exc)) or type(exc).__name__}")]
    if not nodes:
        return None, [Issue(None, "file is empty")]
    builder = _Builder(file=file, env=env)
    documents: list[dict[str, Any]] = []
    service_lines: dict[str, int] = {}
    for node in nodes:
        if not isinstance(node, MappingNode):
            builder.issues.append(Issue(_line(node), f"the top level must be a mapping, not {_kind(node)}"))
            continue
        try:
            value = builder.build(node, 0)
        except _Refused as refused:
            builder.issues.append(Issue(refused.line, refused.message))
            return None, builder.issues
        documents.append(value)
        service_lines.update(_service_lines(node))
    if not documents:
        return None, builder.issues
    return LoadedYaml(documents=documents, service_lines=service_lines), builder.issues


class _Builder:
    def __init__(self, *, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.budget = MAX_VALUES
        self.issues: list[Issue] = []

    def build(self, node: Node, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _Refused(_line(node), f"refused: more than {MAX_VALUES} values once anchors are expanded")
        if depth > MAX_DEPTH:
            raise _Refused(_line(node), f"refused: nested more than {MAX_DEPTH} levels deep")
        tag = node.tag
        if tag == "!reset":
            return RESET
        if tag == "!override":
            return Override(self._plain(node, depth))
        return self._plain(node, depth)

    def _plain(self, node: Node, depth: int) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, SequenceNode):
            items = LocatedList(self.build(child, depth + 1) for child in node.value)
            items.file, items.line = self.file, _line(node) or 0
            return items
        return self._scalar(node)

    def _scalar(self, node: Node) -> Any:
        tag = node.tag
        raw = str(node.value)
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return raw.lower() in ("true", "yes", "on", "y")
        if tag == _TAG + "int":
            number = _to_int(raw)
            if number is not None:
                return number
        elif tag == _TAG + "float":
            real = _to_float(raw)
            if real is not None:
                return real
        errors: list[str] = []
        value = substitute(raw, lookup=self.env, errors=errors)
        line = _line(node) or 0
        self.issues.extend(Issue(line, error, isinstance(error, RequiredMissing)) for error in errors)
        return Located(value, self.file, line)

    def _mapping(self, node: MappingNode, depth: int) -> LocatedDict:
        result = LocatedDict()
        result.file, result.line, result.key_lines = self.file, _line(node) or 0, {}
        explicit: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        first_line: dict[str, int | None] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                for source in self._merge_sources(value_node, depth):
                    for key, value in source.items():
                        merged.setdefault(key, value)
                continue
            name = self._key(key_node)
            if name is None:
                continue
            key = name
            if key in explicit:
                self.issues.append(
                    Issue(
                        _line(key_node),
                        f"duplicate key {key!r} (first on line {first_line[key]}); the last one counts",
                    )
                )
            else:
                first_line[key] = _line(key_node)
            explicit[key] = self.build(value_node, depth + 1)
            result.key_lines[key] = _line(key_node) or 0
        # Explicit keys win over merged ones (<<), whatever their order in the file.
        result.update(merged)
        result.update(explicit)
        return result

    def _merge_sources(self, node: Node, depth: int) -> list[dict[str, Any]]:
        candidates = node.value if isinstance(node, SequenceNode) else [node]
        sources: list[dict[str, Any]] = []
        for candidate in candidates:
            if isinstance(candidate, MappingNode):
                sources.append(self.build(candidate, depth + 1))
            else:
                self.issues.append(Issue(_line(candidate), f"a merge key (<<) needs a mapping, not {_kind(candidate)}"))
        return sources

    def _key(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self.issues.append(Issue(_line(node), f"a key must be a string, not {_kind(node)}; entry skipped"))
            return None
        tag = node.tag
        raw = str(node.value)
        if tag == _TAG + "null":
            self.issues.append(Issue(_line(node), "a key is empty (null); entry skipped"))
            return None
        if tag != _TAG + "str":
            # Compose reads such a key as its text; say so, since YAML may have changed it (01 -> 1).
            self.issues.append(Issue(_line(node), f"key {raw!r} is not a string; quote it"))
        return raw


def _service_lines(root: MappingNode) -> dict[str, int]:
    lines: dict[str, int] = {}
    for key_node, value_node in root.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "services" and isinstance(value_node, MappingNode):
            for service_key, _ in value_node.value:
                if isinstance(service_key, ScalarNode):
                    lines[str(service_key.value)] = _line(service_key) or 0
    return lines


def _to_int(raw: str) -> int | None:
    text = raw.replace("_", "")
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return int(text, 10)
    except ValueError:
        return None


def _to_float(raw: str) -> float | None:
    text = raw.replace("_", "").lower().replace(".inf", "inf").replace(".nan", "nan")
    try:
        return float(text)
    except ValueError:
        return None


def _line(node: Node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return f"the value {str(node.value)[:40]!r}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""

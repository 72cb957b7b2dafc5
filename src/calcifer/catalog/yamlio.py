"""Reading and writing catalog YAML.

Two readers: ``load_yaml`` (round trip: keeps comments, key order, quoting and positions, for edits)
and ``load_plain`` (plain dicts and lists, as fast as the installed parser allows, for indexing).
``apply_spec`` writes a changed spec back into a person's file so that only the changed fields'
lines change; comments, key order, quoting and indentation survive.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MantissaNoDotYAML1_1Warning, MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.tokens import CommentToken

from calcifer.catalog import yamllimits
from calcifer.errors import Invalid

# The 1.1 float rule does not apply to the YAML 1.2 documents read here; its warning is only noise.
warnings.filterwarnings("ignore", category=MantissaNoDotYAML1_1Warning)

_CSafeLoader: Any
try:  # libyaml's parser (ruamel.yaml.clib or clibz): ~10x faster to index thousands of files
    from ruamel.yaml.cyaml import CSafeLoader as _CSafeLoader
except ImportError:  # pragma: no cover - depends on the installed extras
    _CSafeLoader = None

FAST_PARSER = _CSafeLoader is not None

# -- errors -------------------------------------------------------------------------------------------


def _mark_line(exc: MarkedYAMLError) -> int:
    mark = exc.problem_mark or exc.context_mark
    return int(mark.line) + 1 if mark is not None else 1


def _yaml_message(exc: YAMLError) -> str:
    if isinstance(exc, MarkedYAMLError):
        parts = [str(part) for part in (exc.context, exc.problem) if part]
        if parts:
            return "YAML syntax: " + ", ".join(parts)
    first = str(exc).strip().splitlines()
    return "YAML syntax: " + (first[0] if first else "the file does not parse")


def _invalid(exc: YAMLError) -> Invalid:
    line = _mark_line(exc) if isinstance(exc, MarkedYAMLError) else 1
    message = _yaml_message(exc)
    return Invalid(f"{message} (line {line})", code="yaml_syntax",
                   details={"line": line, "message": message})


# -- fast plain loading (indexing) --------------------------------------------------------------------


MAX_VALUES = 100_000  # scalars and collections one document may expand to (aliases included)


class _Budget:
    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def _plain(value: Any, budget: _Budget) -> Any:
    # The safe loader turns some scalars into dates or bytes; the index stores JSON. Aliases are
    # expanded here, so a budget stops a "billion laughs" document from expanding without end.
    budget.left -= 1
    if budget.left < 0:
        raise _TooBig
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _plain(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, budget) for item in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set):
        return sorted(str(item) for item in value)
    return value


class _TooBig(Exception):
    pass


class _Unusual(Exception):
    """The document uses something the direct walk leaves to the constructor (explicit tags, merge keys,
    keys that are not strings, a key given twice)."""


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _walk(loader: Any, node: Any, budget: _Budget) -> Any:
    # Builds the plain value straight from libyaml's composed nodes: half the time of the constructor's
    # generic machinery on a catalog of 15,000 files. Scalars other than strings use the constructor's
    # own function for their resolved tag, so values are exactly what the constructor makes; an alias is
    # the same node reached again, so the budget counts expansions as ``_plain`` does.
    budget.left -= 1
    if budget.left < 0:
        raise _TooBig
    tag = node.ctag
    if tag.handle is not None:  # an explicit tag such as !!set or !custom
        raise _Unusual
    kind = node.__class__
    if kind is ScalarNode:
        if tag.suffix == _STR:
            return node.value
        construct = loader.yaml_constructors.get(tag.suffix)
        if construct is None:
            raise _Unusual
        value = construct(loader, node)
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value
    if kind is MappingNode and tag.suffix == _MAP:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_tag = key_node.ctag
            if key_node.__class__ is not ScalarNode or key_tag.handle is not None or key_tag.suffix != _STR:
                raise _Unusual  # merge keys (<<) and keys that are numbers, booleans or collections
            key = key_node.value
            if key in mapping:
                raise _Unusual  # the constructor words the duplicate-key error
            budget.left -= 1
            mapping[key] = _walk(loader, value_node, budget)
        return mapping
    if kind is SequenceNode and tag.suffix == _SEQ:
        return [_walk(loader, item, budget) for item in node.value]
    raise _Unusual


class PlainLoader:
    """Loads documents into plain Python values. One per thread (the pure-Python parser keeps state)."""

    def __init__(self) -> None:
        self._pure = None if FAST_PARSER else YAML(typ="safe", pure=True)

    def load(self, text: str) -> Any:
        """Parse one YAML document. Raises Invalid (code ``yaml_syntax``, ``details["line"]``), or
        YamlTooComplex (an Invalid) for a document over ``yamllimits``' size or depth."""
        yamllimits.check_yaml(text)
        try:
            if self._pure is not None:
                data = self._pure.load(text)
            else:
                direct = self._direct(text)
                if direct is not _UNUSUAL:
                    return direct
                loader = _CSafeLoader(text)
                try:
                    data = loader.get_single_data()
                finally:
                    loader.dispose()
        except YAMLError as exc:
            raise _invalid(exc) from exc
        except (ValueError, TypeError, RecursionError) as exc:  # e.g. a bad !!timestamp, deep nesting
            raise Invalid(f"YAML syntax: {exc}", code="yaml_syntax",
                          details={"line": 1, "message": f"YAML syntax: {exc}"}) from exc
        try:
            return _plain(data, _Budget(MAX_VALUES))
        except (_TooBig, RecursionError) as exc:
            message = (f"YAML: the document expands to more than {MAX_VALUES:,} values or nests too deeply "
                       "(aliases that repeat aliases?)")
            raise Invalid(message, code="yaml_syntax", details={"line": 1, "message": message}) from exc


    @staticmethod
    def _direct(text: str) -> Any:
        """The document walked straight from its nodes, or ``_UNUSUAL`` when the constructor must decide
        (anything unusual, and every error: its messages are the ones people see)."""
        loader = _CSafeLoader(text)
        try:
            node = loader.get_single_node()
            return None if node is None else _walk(loader, node, _Budget(MAX_VALUES))
        except (_Unusual, _TooBig, RecursionError, YAMLError, ValueError, TypeError):
            return _UNUSUAL
        finally:
            loader.dispose()


_UNUSUAL = object()


def load_plain(text: str) -> Any:
    """Parse one YAML document into plain dicts, lists and scalars. Raises Invalid with the line."""
    return PlainLoader().load(text)


# -- round trip ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Indent:
    """How a document is indented: ruamel's ``mapping``, ``sequence`` and (dash) ``offset``."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


DEFAULT_INDENT = Indent()
_KEY_ONLY = re.compile(r"^( *)(?:- +)?[^\s#][^#]*:\s*(?:#.*)?$")


def guess_indent(text: str) -> Indent:
    """The indentation a person used: the first nested mapping and the first block sequence tell."""
    mapping: int | None = None
    offset: int | None = None
    sequence: int | None = None
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        match = _KEY_ONLY.match(line)
        if not match or line.lstrip().startswith("- "):
            continue
        key_col = len(match.group(1))
        following = next((nxt for nxt in lines[index + 1:]
                          if nxt.strip() and not nxt.lstrip().startswith("#")), None)
        if following is None:
            break
        col = len(following) - len(following.lstrip(" "))
        body = following.lstrip(" ")
        if body.startswith("- ") or body == "-":
            if offset is None and col >= key_col:
                offset = col - key_col
                rest = body[1:]
                sequence = offset + 1 + (len(rest) - len(rest.lstrip(" "))) if rest.strip() else offset + 2
        elif mapping is None and col > key_col:
            mapping = col - key_col
        if mapping is not None and offset is not None:
            break
    mapping = mapping or DEFAULT_INDENT.mapping
    if offset is None or sequence is None:
        offset, sequence = DEFAULT_INDENT.offset, DEFAULT_INDENT.sequence
    return Indent(mapping=mapping, sequence=max(sequence, offset + 2), offset=offset)


def _rt(indent: Indent = DEFAULT_INDENT) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a person's long lines
    yaml.indent(mapping=indent.mapping, sequence=indent.sequence, offset=indent.offset)
    return yaml


def load_yaml(text: str) -> CommentedMap:
    """Round-trip load a document that must be a mapping (empty text gives an empty mapping).

    Raises Invalid with the line number on a syntax error, or when the document is not a mapping;
    YamlTooComplex (an Invalid) for a document over ``yamllimits``' size or depth.
    """
    yamllimits.check_yaml(text)
    try:
        data = _rt().load(text)
    except YAMLError as exc:
        raise _invalid(exc) from exc
    except (ValueError, TypeError, RecursionError) as exc:
        raise Invalid(f"YAML syntax: {exc}", code="yaml_syntax",
                      details={"line": 1, "message": f"YAML syntax: {exc}"}) from exc
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise Invalid("The file must hold a mapping of fields (name: ..., slug: ...)", code="not_a_mapping",
                      details={"line": 1, "message": "the file must hold a mapping of fields"})
    return data


def _dump(data: Any, indent: Indent, *, explicit_start: bool = False) -> str:
    yaml = _rt(indent)
    yaml.explicit_start = explicit_start
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def dump_yaml(data: Any) -> str:
    """Dump ``data`` (plain or round-trip values) as block-style YAML."""
    return _dump(_to_rt(data), DEFAULT_INDENT)


def line_of(data: CommentedMap, path: Sequence[str | int]) -> int:
    """The 1-based line of ``path`` (e.g. ``("ports", 0, "number")``) in a round-trip document.

    Walks as deep as the path exists and returns the line of the deepest part found (a missing
    field reports the line of the mapping that lacks it).
    """
    node: Any = data
    line = 0
    for part in path:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0]
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0]
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    else:
        return line + 1
    if isinstance(node, CommentedMap | CommentedSeq) and node.lc.line is not None and line == 0:
        line = node.lc.line
    return line + 1


# -- applying a spec ----------------------------------------------------------------------------------

_STYLED = (DoubleQuotedScalarString, SingleQuotedScalarString, LiteralScalarString, FoldedScalarString)
_IDENTITY_FIELDS = ("slug", "name", "label", "number", "url")


def _literal_ok(value: str) -> bool:
    return "\n" in value.rstrip("\n") and not any(line != line.rstrip() or "\t" in line
                                                   for line in value.split("\n"))


def _to_rt(value: Any) -> Any:
    """Plain values → round-trip ones (block style; multi-line text as a ``|`` literal)."""
    if isinstance(value, CommentedMap | CommentedSeq):
        return value
    if isinstance(value, Mapping):
        result = CommentedMap()
        for key, item in value.items():
            result[key] = _to_rt(item)
        return result
    if isinstance(value, list | tuple):
        seq = CommentedSeq()
        seq.extend(_to_rt(item) for item in value)
        return seq
    if isinstance(value, str) and not isinstance(value, _STYLED) and _literal_ok(value):
        return LiteralScalarString(value)
    return value


def _same_scalar(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool) and bool(old) == bool(new)
    if isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) == float(new)
    if isinstance(old, str) and isinstance(new, str):
        return str(old) == str(new)
    return old is None and new is None


def _scalar_like(old: Any, new: Any) -> Any:
    """``new`` written in ``old``'s style where that style can hold it (quotes, ``|``, ``>``)."""
    if isinstance(new, str) and isinstance(old, _STYLED):
        if isinstance(old, LiteralScalarString | FoldedScalarString) and not _literal_ok(new + "\n"):
            return new
        if isinstance(old, LiteralScalarString | FoldedScalarString) and str(old).endswith("\n") \
                and not new.endswith("\n"):
            new += "\n"  # keep the block's clip chomping (``|``) rather than switch to ``|-``
        return type(old)(new)
    return _to_rt(new)


def _merge_value(old: Any, new: Any) -> Any:
    """The value to store: ``old`` updated in place when both are collections, else the new value."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        _merge_map(old, new)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list | tuple):
        _merge_seq(old, list(new))
        return old
    if not isinstance(old, CommentedMap | CommentedSeq) and not isinstance(new, Mapping | list | tuple) \
            and _same_scalar(old, new):
        return old
    return _scalar_like(old, new)


def _tail_lines(token: Any, entry_line: int | None) -> str:
    """The comment lines that follow an entry's own line (they belong before the next entry).

    A token holds the entry's end-of-line comment (if any) and then the full comment lines after it;
    after a block scalar (``|``) it starts directly with those full lines.
    """
    if not isinstance(token, CommentToken):
        return ""
    value = token.value
    token_line = getattr(token.start_mark, "line", None)
    if value.startswith("#") and token_line is not None and entry_line is not None \
            and token_line != entry_line:
        return value
    cut = value.find("\n")
    return value[cut + 1:] if cut >= 0 else ""


def _is_flow(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and bool(value.fa.flow_style())


def _entry_line(container: CommentedMap | CommentedSeq, key: Any) -> int | None:
    try:
        position = container.lc.key(key) if isinstance(container, CommentedMap) else container.lc.item(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return int(position[0]) if position else None


def _append_tail(container: CommentedMap | CommentedSeq, key: Any, tail: str) -> None:
    """Attach comment lines after entry ``key`` of ``container`` (deepest last child if nested)."""
    value = container[key]
    if _is_flow(value):
        pass  # comments go after the whole ``[a, b]``, never inside it
    elif isinstance(value, CommentedMap) and len(value):
        _append_tail(value, next(reversed(value)), tail)
        return
    elif isinstance(value, CommentedSeq) and len(value):
        _append_tail(value, len(value) - 1, tail)
        return
    slot = 2 if isinstance(container, CommentedMap) else 0
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    token = entry[slot]
    if isinstance(token, CommentToken):
        token.value = token.value + tail if token.value.endswith("\n") else token.value + "\n" + tail
    else:
        entry[slot] = CommentToken("\n" + tail, _start_mark(), None)


def _start_mark() -> CommentMark:
    return CommentMark(0)


def _keep_tail_before_delete(container: CommentedMap | CommentedSeq, key: Any, previous: Any) -> None:
    entry = container.ca.items.get(key)
    if not entry:
        return
    token = entry[2] if isinstance(container, CommentedMap) else entry[0]
    tail = _tail_lines(token, _entry_line(container, key))
    if not tail.strip():
        return
    if previous is not None:
        _append_tail(container, previous, tail)
    elif isinstance(container, CommentedMap):
        # Lines between the first key and the second: keep them as the document's leading comment.
        pre = container.ca.comment
        token = CommentToken(tail, _start_mark(), None)
        if pre is None:
            container.ca.comment = [None, [token]]
        elif pre[1] is None:
            pre[1] = [token]
        else:
            pre[1].append(token)


def _merge_map(target: CommentedMap, new: Mapping[str, Any]) -> None:
    keys = list(target.keys())
    for index, key in enumerate(keys):
        if key not in new:
            previous = next((k for k in reversed(keys[:index]) if k in target), None)
            _keep_tail_before_delete(target, key, previous)
            del target[key]
    for key, value in new.items():
        if key in target:
            old = target[key]
            merged = _merge_value(old, value)
            if merged is not old:
                _shift_inline_comment(target, key, old, merged)
                target[key] = merged
        else:
            target[key] = _to_rt(value)


def _scalar_width(value: Any) -> int | None:
    if isinstance(value, CommentedMap | CommentedSeq | Mapping | list | tuple):
        return None
    if isinstance(value, LiteralScalarString | FoldedScalarString) or (isinstance(value, str) and "\n" in value):
        return None
    if isinstance(value, bool):
        return len(str(value).lower())
    if value is None:
        return 0
    width = len(str(value))
    return width + 2 if isinstance(value, DoubleQuotedScalarString | SingleQuotedScalarString) else width


def _shift_inline_comment(container: CommentedMap | CommentedSeq, key: Any, old: Any, new: Any) -> None:
    """Move an end-of-line comment by as much as the value's width changed, so its gap stays the same."""
    entry = container.ca.items.get(key)
    token = (entry[2] if isinstance(container, CommentedMap) else entry[0]) if entry else None
    if not isinstance(token, CommentToken) or not token.value.startswith("#"):
        return
    mark = token.start_mark
    if getattr(mark, "line", None) != _entry_line(container, key) or not hasattr(mark, "column"):
        return
    old_width, new_width = _scalar_width(old), _scalar_width(new)
    if old_width is None or new_width is None:
        return
    mark.column = max(0, mark.column + new_width - old_width)


def _identity(old: Sequence[Any], new: Sequence[Any]) -> Callable[[Any], Any]:
    """How list items are matched: by an identity field every mapping has, else by their whole value."""
    items = [*old, *new]
    if items and all(isinstance(item, Mapping) for item in items):
        for field in _IDENTITY_FIELDS:
            if all(field in item for item in items):
                values = [repr(item[field]) for item in old]
                news = [repr(item[field]) for item in new]
                if len(set(values)) == len(values) and len(set(news)) == len(news):
                    return _by_field(field)
    return _by_value


def _by_field(name: str) -> Callable[[Any], Any]:
    def key(item: Any) -> Any:
        return ("id", repr(item[name]))

    return key


def _by_value(item: Any) -> Any:
    return ("value", repr(_plain_value(item)))


def _plain_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_value(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    return str(value)


def _merge_seq(target: CommentedSeq, new: list[Any]) -> None:
    old = list(target)
    comments = dict(target.ca.items)
    key = _identity(old, new)
    result: list[Any] = []
    result_comments: dict[int, Any] = {}

    def keep(i: int, value: Any) -> None:
        if i in comments:
            result_comments[len(result)] = comments[i]
            if value is not old[i]:
                _shift_inline_comment(target, i, old[i], value)
        result.append(value)

    def drop(i: int) -> None:
        tail = _tail_lines(comments.get(i, [None])[0], _entry_line(target, i))
        if tail.strip() and result:
            last = len(result) - 1
            entry = result_comments.setdefault(last, [None, None, None, None])
            token = entry[0]
            if isinstance(token, CommentToken):
                token.value = token.value + tail
            else:
                entry[0] = CommentToken("\n" + tail, _start_mark(), None)

    matcher = SequenceMatcher(None, [key(item) for item in old], [key(item) for item in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                keep(i, _merge_value(old[i], new[j]))
            continue
        paired = min(i2 - i1, j2 - j1)
        for offset in range(paired):
            keep(i1 + offset, _merge_value(old[i1 + offset], new[j1 + offset]))
        for i in range(i1 + paired, i2):
            drop(i)
        for j in range(j1 + paired, j2):
            result.append(_to_rt(new[j]))
    target.ca.items.clear()
    list.__delitem__(target, slice(None))
    list.extend(target, result)
    target.ca.items.update(result_comments)


def apply_spec(original_text: str | None, spec: Mapping[str, Any]) -> str:
    """Write ``spec`` (the whole desired document) over ``original_text``, changing only what differs.

    Keys missing from ``spec`` are removed, new keys are appended, nested mappings and lists are
    updated item by item, and replaced scalars keep their quoting or block style. Comments, key order
    and indentation of the original survive. ``original_text`` None or blank writes a new document.
    Raises Invalid when the original does not parse or is not a mapping.
    """
    if original_text is None or not original_text.strip():
        text = dump_yaml(dict(spec))
    else:
        data = load_yaml(original_text)
        _merge_map(data, spec)
        _quote_in_flow(data, in_flow=False)
        explicit_start = original_text.lstrip().startswith("---")
        text = _dump(data, guess_indent(original_text), explicit_start=explicit_start)
    _check_written(text, spec)
    return text


# YAML 1.2 (ruamel's emitter) allows ``a:b`` unquoted inside ``[...]``/``{...}``; libyaml, which the index
# reads with, does not: such a scalar is written quoted. Other indicators the emitter quotes by itself.
_FLOW_UNSAFE = re.compile(r"[:#,\[\]{}]")


def _quote_in_flow(value: Any, *, in_flow: bool) -> Any:
    """Quote, inside flow collections, the plain strings that only a YAML 1.2 parser reads back."""
    if isinstance(value, CommentedMap | CommentedSeq):
        flow = in_flow or _is_flow(value)
        keys = value.keys() if isinstance(value, CommentedMap) else range(len(value))
        for key in list(keys):
            item = value[key]
            quoted = _quote_in_flow(item, in_flow=flow)
            if quoted is not item:
                value[key] = quoted
        return value
    if in_flow and isinstance(value, str) and not isinstance(value, _STYLED) and _FLOW_UNSAFE.search(value):
        return SingleQuotedScalarString(value)
    return value


def _check_written(text: str, spec: Mapping[str, Any]) -> None:
    """The text must read back as ``spec`` with the index's own parser; otherwise it is never written.
    Raises Invalid (``unwritable_yaml``): a bug here, reported rather than committed."""
    try:
        read = load_plain(text)
    except Invalid as exc:
        raise Invalid(f"Calcifer wrote YAML that does not parse ({exc.message}); nothing was written. "
                      "Please report this with the file.", code="unwritable_yaml") from exc
    if _plain_value(read) != _plain_value(dict(spec)):
        raise Invalid("Calcifer wrote YAML that reads back differently from what was meant; nothing was "
                      "written. Please report this with the file.", code="unwritable_yaml")

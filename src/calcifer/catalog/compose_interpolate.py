"""Compose variable interpolation and ``.env`` files, as the Compose specification defines them.

Supported: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
``${VAR?error}``, ``${VAR:+alternative}``, ``${VAR+alternative}``, operands that hold further
expressions (``${A:-${B:-c}}``), and ``$$`` for a literal ``$``. A ``$`` that starts neither a name
nor ``{`` stays as it is. An unset variable without a default becomes the empty string: Compose only
warns about it, and repositories rarely commit the ``.env`` that would set it.

Operands are evaluated lazily, like a shell: ``${A:-${B:?}}`` only fails when ``A`` is empty.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from typing import NamedTuple

# Deeper nesting than this is not a real file, and Python's stack must not be the limit.
MAX_NESTING = 32

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
# Longest operators first: ":-" must win over "-".
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_DOUBLE_QUOTED_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


class InterpolationError(ValueError):
    """A required variable has no value, or an expression is malformed. ``str(error)`` says which."""


class Issue(NamedTuple):
    """Something wrong in a file: the 1-based line (``None`` when unknown) and a sentence; ``refuses`` when
    Docker Compose would refuse the whole project because of it."""

    line: int | None
    message: str
    refuses: bool = False


class RequiredMissing(str):
    """The error sentence of a required variable (``${NAME:?why}``) without a value: Compose stops there."""

    __slots__ = ()


def interpolate(text: str, *, lookup: Mapping[str, str]) -> str:
    """Return ``text`` with every variable expression replaced by its value from ``lookup``.

    Raises ``InterpolationError`` at the first required variable without a value or malformed
    expression. ``substitute`` is the variant that keeps going and collects every error.
    """
    errors: list[str] = []
    result = substitute(text, lookup=lookup, errors=errors)
    if errors:
        raise InterpolationError(errors[0])
    return result


def substitute(text: str, *, lookup: Mapping[str, str], errors: list[str]) -> str:
    """Return ``text`` interpolated; append a sentence to ``errors`` for each failed expression.

    A missing required variable becomes the empty string, a malformed expression stays as written,
    so the caller still gets the best value it can. Never raises.
    """
    return _substitute(text, lookup, errors, 0)


def _substitute(text: str, lookup: Mapping[str, str], errors: list[str], depth: int) -> str:
    if "$" not in text:
        return text
    if depth > MAX_NESTING:
        errors.append(f"interpolation nested more than {MAX_NESTING} levels deep")
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find("$", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        following = text[j + 1 : j + 2]
        if following == "$":
            out.append("$")
            i = j + 2
        elif following == "{":
            close = _closing_brace(text, j)
            if close < 0:
                errors.append(f"invalid interpolation format {text[j:]!r}: no closing brace")
                out.append(text[j:])
                break
            out.append(_braced(text[j : close + 1], lookup, errors, depth))
            i = close + 1
        else:
            match = _NAME.match(text, j + 1)
            if match is None:
                out.append("$")
                i = j + 1
            else:
                out.append(lookup.get(match.group(), ""))
                i = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` at ``start``, or -1. Only ``${`` opens a level."""
    level = 0
    i = start
    n = len(text)
    while i < n:
        if text[i] == "}":
            level -= 1
            if level == 0:
                return i
        elif text.startswith("${", i):
            level += 1
            i += 1
        i += 1
    return -1


def _braced(expression: str, lookup: Mapping[str, str], errors: list[str], depth: int) -> str:
    body = expression[2:-1]
    match = _NAME.match(body)
    if match is None:
        errors.append(f"invalid interpolation format {expression!r}")
        return expression
    name = match.group()
    rest = body[match.end() :]
    if not rest:
        return lookup.get(name, "")
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        errors.append(f"invalid interpolation format {expression!r}")
        return expression
    operand = rest[len(operator) :]
    is_set = name in lookup
    value = lookup.get(name, "")
    usable = bool(value) if operator.startswith(":") else is_set
    kind = operator[-1]
    if kind == "-":
        return value if usable else _substitute(operand, lookup, errors, depth + 1)
    if kind == "+":
        return _substitute(operand, lookup, errors, depth + 1) if usable else ""
    if usable:
        return value
    detail = _substitute(operand, lookup, errors, depth + 1)
    message = f"required variable {name} is missing a value"
    errors.append(RequiredMissing(f"{message}: {detail}" if detail else message))
    return ""


def parse_env_file(text: str, *, environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[Issue]]:
    """Parse a ``.env`` file as Compose does; return its variables and the problems found.

    Lines are ``KEY=VALUE`` with optional ``export``; ``#`` starts a comment (inside an unquoted
    value only after a space); single-quoted values are literal; double-quoted values understand
    ``\\n``, ``\\t``, ``\\r``, ``\\\\`` and ``\\"`` and may span lines; unquoted and double-quoted
    values are interpolated with ``environ`` first, then the variables defined above them. A line
    that is just ``KEY`` takes its value from ``environ`` or is skipped. Never raises: a bad line
    becomes an ``Issue`` and the rest of the file is still read.
    """
    environ = environ or {}
    variables: dict[str, str] = {}
    issues: list[Issue] = []
    # environ wins over the file, as in Compose; ChainMap sees variables added later.
    lookup = ChainMap(dict(environ), variables)
    pos = 0
    line_no = 1
    n = len(text)
    while pos < n:
        newline = text.find("\n", pos)
        line_end = n if newline < 0 else newline
        line = text[pos:line_end]
        next_pos = line_end + 1
        consumed_lines = 1
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            body = stripped
            if body.startswith(("export ", "export\t")):
                body = body[len("export") :].lstrip()
            key, sep, _ = body.partition("=")
            key = key.strip()
            if not _ENV_KEY.match(key):
                issues.append(Issue(line_no, f"{key or stripped!r} is not a valid variable name"))
            elif not sep:
                if key in environ:
                    variables[key] = environ[key]
            else:
                value_at = pos + line.index("=") + 1
                while value_at < line_end and text[value_at] in " \t":
                    value_at += 1
                quote = text[value_at] if value_at < line_end else ""
                if quote in ("'", '"'):
                    close = _closing_quote(text, value_at)
                    if close < 0:
                        issues.append(Issue(line_no, f"the value of {key} opens a {quote} quote and never closes it"))
                        break
                    raw = text[value_at + 1 : close]
                    consumed_lines = raw.count("\n") + 1
                    after = text.find("\n", close)
                    next_pos = n if after < 0 else after + 1
                    if quote == "'":
                        variables[key] = raw.replace("\\'", "'")
                    else:
                        variables[key] = _expand(_unescape(raw), lookup, issues, line_no, key)
                else:
                    raw = text[value_at:line_end]
                    comment = re.search(r"[ \t]#", raw)
                    if comment:
                        raw = raw[: comment.start()]
                    variables[key] = _expand(raw.strip(), lookup, issues, line_no, key)
        pos = next_pos
        line_no += consumed_lines
    return variables, issues


def _closing_quote(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == quote:
            return i
        i += 1
    return -1


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: _DOUBLE_QUOTED_ESCAPES.get(m.group(1), m.group(0)), raw, flags=re.S)


def _expand(raw: str, lookup: Mapping[str, str], issues: list[Issue], line: int, key: str) -> str:
    errors: list[str] = []
    value = substitute(raw, lookup=lookup, errors=errors)
    issues.extend(Issue(line, f"{key}: {error}") for error in errors)
    return value

"""Catalog files read from git and parsed one at a time: a bad file becomes findings with file and line,
never an exception; parsed files are remembered by blob id.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from calcifer.catalog.choices import (
    YAML_SUFFIXES,
    ProblemCode,
    Severity,
)
from calcifer.catalog.schemas import EndpointSpec, ServiceSpec, spec_errors
from calcifer.catalog.yamlio import PlainLoader, line_of, load_yaml
from calcifer.errors import Invalid
from calcifer.gitrepo import Blob, Oid, Repository, Tree

MAX_ERRORS_PER_FILE = 20
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class Finding:
    """One problem of one file: ``severity`` "error" (not loaded) or "warning" (loaded, looks wrong)."""

    file: str
    line: int
    severity: str
    code: str
    message: str
    slug: str | None = None
    field: str = ""  # where in the document, e.g. "ports.0.number" (schema errors only)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "severity": self.severity, "code": self.code,
                "message": self.message, "slug": self.slug}


# -- reading files from git ---------------------------------------------------------------------------


class _File:
    """A catalog file at the synced commit; its content is read only when needed."""

    __slots__ = ("_data", "_stem", "_text", "blob_id", "path", "repo")

    def __init__(self, repo: Repository, path: str, blob_id: Oid) -> None:
        self.repo = repo
        self.path = path
        self.blob_id = blob_id
        self._data: bytes | None = None
        self._text: str | None = None
        self._stem: str | None = None

    @property
    def stem(self) -> str:
        if self._stem is None:  # asked 3 times per file and sync (claim order, two name checks)
            self._stem = self.path.rpartition("/")[2].rpartition(".")[0]
        return self._stem

    @property
    def data(self) -> bytes:
        if self._data is None:
            blob = self.repo[self.blob_id]
            self._data = blob.data if isinstance(blob, Blob) else b""
        return self._data

    @property
    def text(self) -> str:
        """The file's text. Raises UnicodeDecodeError when it is not UTF-8."""
        if self._text is None:
            self._text = self.data.decode("utf-8-sig")
        return self._text


def _folder_files(repo: Repository, tree: Tree, folder: str) -> list[_File]:
    try:
        entry = tree[folder]
    except (KeyError, ValueError):
        return []
    sub = repo[entry.id]
    if not isinstance(sub, Tree):
        return []
    files = []
    for item in sub:
        name = item.name or ""
        if item.type_str == "blob" and name.endswith(YAML_SUFFIXES):
            files.append(_File(repo, f"{folder}/{name}", item.id))
    return files


# -- per-file parsing ---------------------------------------------------------------------------------


@dataclass
class _Known:
    """The index as a sync leaves it (kept in the memo, filled by ``index_sync``), by slug: (file, blob
    id, commit id, updated at) of every service and endpoint (a light read: no specs), and every problem."""

    services: dict[str, tuple[str, str, str, dt.datetime]]
    endpoints: dict[str, tuple[str, str, str, dt.datetime]]
    problems: list[tuple[Any, ...]]
    changed: tuple[frozenset[str], frozenset[str]] | None = None  # slugs rewritten or removed to get here
    added: tuple[frozenset[str], frozenset[str]] | None = None  # of those, the slugs that are new


class _Memo:
    """What this process already knows about catalog blobs, by blob id (content-addressed, so never
    stale): validated specs, lines of top-level keys, lines of nested endpoints; and the file lists of
    the catalog folders by tree id. A sync shares the dicts of the one before (``previous``); they are
    pruned to the current catalog's blobs when they grow past twice its size."""

    def __init__(self, previous: _Memo | None = None) -> None:
        self.specs: dict[tuple[str, Oid], Any] = previous.specs if previous else {}
        self.key_lines: dict[tuple[Oid, str], int] = previous.key_lines if previous else {}
        self.nested_lines: dict[Oid, dict[str, int]] = previous.nested_lines if previous else {}
        self.folders: dict[Oid, list[_File]] = previous.folders if previous else {}
        self.previous = previous
        self.known: tuple[Any, _Known] | None = None  # (CatalogState.synced_at, the index's rows then)
        # What the last sync derived from inputs that often stay the same (a merge rarely touches both
        # folders, or anybody's dependencies): each kept with its input, reused only when it is equal.
        self.loaded_services: tuple[list[_File], list[tuple[str, Any]], list[Finding]] | None = (
            previous.loaded_services if previous else None)
        self.loaded_endpoints: tuple[list[_File], list[Finding], list[tuple[_File, Any]]] | None = (
            previous.loaded_endpoints if previous else None)
        self.cycles: tuple[dict[str, list[str]], list[list[str]]] | None = previous.cycles if previous else None
        self.targets: tuple[list[Any], list[tuple[str, str]]] | None = previous.targets if previous else None
        self.target_keys: dict[tuple[Oid, str], Any] = previous.target_keys if previous else {}
        # The catalog tree this memo last built whole, with that build (an ``index_build._Catalog``, typed
        # Any as index_build imports this module): the merge check's "where the branch left main" is
        # usually the tree the last sync indexed, and a branch's catalog is derived from it.
        self.built: tuple[str | None, Any] | None = None

    def spec(self, model: type[BaseModel], blob_id: Oid) -> Any:
        return self.specs.get((model.__name__, blob_id))

    def key_line(self, file: _File, key: str) -> int:
        memo_key = (file.blob_id, key)
        line = self.key_lines.get(memo_key)
        if line is None:
            line = self.key_lines[memo_key] = key_line(_text_or_empty(file), key)
        return line

    def nested(self, file: _File) -> dict[str, int]:
        lines = self.nested_lines.get(file.blob_id)
        if lines is None:
            lines = self.nested_lines[file.blob_id] = nested_endpoint_lines(_text_or_empty(file))
        return lines

    def detach(self, files: tuple[list[_File], list[_File]]) -> _Memo:
        """Forget the previous sync's memo, and the blobs no longer in the catalog if there are many."""
        self.previous = None
        current = {f.blob_id for folder in files for f in folder}
        if len(self.specs) > 2 * len(current) + 256:
            self.specs = {k: v for k, v in self.specs.items() if k[1] in current}
        if len(self.key_lines) > 4 * len(current) + 256:
            self.key_lines = {k: v for k, v in self.key_lines.items() if k[0] in current}
        if len(self.nested_lines) > 2 * len(current) + 256:
            self.nested_lines = {k: v for k, v in self.nested_lines.items() if k in current}
        if len(self.folders) > 8:
            self.folders = {}
        if len(self.target_keys) > 4 * len(current) + 256:
            self.target_keys = {}
        return self

_TOP_KEY = "^{key}[ \t]*:"
_NESTED_SLUG = re.compile(r"^(?:-\s+)?slug\s*:\s*['\"]?([a-z0-9][a-z0-9-]*)['\"]?\s*(?:#.*)?$")


def key_line(text: str, key: str) -> int:
    """The 1-based line of top-level ``key:`` in a block-style document (1 when not found)."""
    match = re.search(_TOP_KEY.format(key=re.escape(key)), text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def nested_endpoint_lines(text: str) -> dict[str, int]:
    """Line of each endpoint item (by slug) in a service file's block-style ``endpoints:`` list."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^endpoints[ \t]*:", line)), None)
    if start is None:
        return {}
    found: dict[str, int] = {}
    item_line, item_indent = start + 1, None
    for index in range(start + 1, len(lines)):
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0 and not stripped.startswith("-"):
            break  # the next top-level key
        if stripped == "-" or stripped.startswith("- "):
            if item_indent is None:
                item_indent = indent
            if indent == item_indent:
                item_line = index + 1
        match = _NESTED_SLUG.match(stripped)
        if match and match.group(1) not in found:
            found[match.group(1)] = item_line
    return found


def _located(text: str, exc: ValidationError, path: str) -> list[Finding]:
    try:
        document = load_yaml(text)
    except Invalid:
        document = None
    findings = []
    for error, raw in zip(spec_errors(exc), exc.errors(include_url=False), strict=True):
        line = line_of(document, raw["loc"]) if document is not None else 1
        message = f"{error['path']}: {error['message']}" if error["path"] else error["message"]
        findings.append(Finding(path, line, Severity.ERROR.value, ProblemCode.SCHEMA.value, message,
                                field=error["path"]))
    return findings[:MAX_ERRORS_PER_FILE]


def _validate(model: type[BaseModel], data: Any, text: str, path: str) -> tuple[Any, list[Finding]]:
    if data is None:
        required = ", ".join(name for name, info in model.model_fields.items() if info.is_required())
        return None, [Finding(path, 1, Severity.ERROR.value, ProblemCode.NOT_A_MAPPING.value,
                              f"the file is empty: write at least {required}")]
    if not isinstance(data, dict):
        return None, [Finding(path, 1, Severity.ERROR.value, ProblemCode.NOT_A_MAPPING.value,
                              f"the file must hold a mapping of fields (name: ..., slug: ...), "
                              f"not a {type(data).__name__}")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, _located(text, exc, path)


def _parse(model: type[BaseModel], file: _File, loader: PlainLoader,
           cache: dict[str, dict[str, Any]], memo: _Memo | None = None) -> tuple[Any, list[Finding]]:
    if memo is not None:
        known = memo.spec(model, file.blob_id)
        if known is not None:
            return known, []
    spec, findings = _parse_file(model, file, loader, cache)
    if memo is not None and spec is not None:
        memo.specs[(model.__name__, file.blob_id)] = spec
    return spec, findings


def _parse_file(model: type[BaseModel], file: _File, loader: PlainLoader,
                cache: dict[str, dict[str, Any]]) -> tuple[Any, list[Finding]]:
    cached = cache.get(str(file.blob_id))
    if cached is not None:
        try:
            return model.model_validate(cached), []
        except ValidationError:
            pass  # the rules changed since it was indexed: parse the file again
    size = len(file.data)
    if size > MAX_FILE_BYTES:
        return None, [Finding(file.path, 1, Severity.ERROR.value, ProblemCode.TOO_LARGE.value,
                              f"the file has {size:,} bytes; a catalog file may have at most "
                              f"{MAX_FILE_BYTES:,}")]
    try:
        text = file.text
    except UnicodeDecodeError as exc:
        line = file.data.count(b"\n", 0, exc.start) + 1
        return None, [Finding(file.path, line, Severity.ERROR.value, ProblemCode.ENCODING.value,
                              "the file is not UTF-8 text")]
    try:
        data = loader.load(text)
    except Invalid as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        return None, [Finding(file.path, int(details.get("line", 1)), Severity.ERROR.value,
                              ProblemCode.YAML_SYNTAX.value, str(details.get("message", exc.message)))]
    return _validate(model, data, text, file.path)


def _spec_from_text(model: type[BaseModel], text: str, path: str) -> Any:
    try:
        data = PlainLoader().load(text)
    except Invalid as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        raise Invalid(exc.message, code="invalid_file",
                      details=[{"path": "", "line": details.get("line", 1),
                                "message": details.get("message", exc.message)}]) from exc
    spec, findings = _validate(model, data, text, path)
    if spec is None:
        raise Invalid(f"{path} is not valid: {findings[0].message} (line {findings[0].line})",
                      code="invalid_file",
                      details=[{"path": f.field, "line": f.line, "message": f.message} for f in findings])
    return spec


def validate_service_text(text: str, *, path: str = "service.yaml") -> ServiceSpec:
    """Parse and validate one service file. Raises Invalid whose details list ``{path, line, message}``."""
    spec: ServiceSpec = _spec_from_text(ServiceSpec, text, path)
    return spec


def validate_endpoint_text(text: str, *, path: str = "endpoint.yaml") -> EndpointSpec:
    """Parse and validate one endpoint file. Raises Invalid whose details list ``{path, line, message}``."""
    spec: EndpointSpec = _spec_from_text(EndpointSpec, text, path)
    return spec


def _text_or_empty(file: _File) -> str:
    try:
        return file.text
    except UnicodeDecodeError:
        return ""

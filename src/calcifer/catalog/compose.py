"""Docker Compose discovery: find Compose files and read the services they declare.

Pure logic: no database, no HTTP. Files come from a folder on disk (``find_compose_files``,
``load_project``, ``discover``) or from memory (``parse_compose_documents``), since the app reads
main's files straight from git objects. Bad input never raises: every unreadable file, YAML error,
missing required variable or malformed attribute becomes a ``ComposeProblem`` with its file and,
where known, its line, and the project still yields whatever it can.

What is read, following the Compose specification:

- **Files.** In each folder the first of ``COMPOSE_FILE_NAMES`` that exists is the project's file
  (Compose's order of preference); the first of ``OVERRIDE_FILE_NAMES`` beside it is merged onto
  it with Compose's merge rules (see ``compose_fields``). Overrides are merged whichever base file
  was named, since discovery wants what ``docker compose up`` in that folder would run.
- **Variables.** The ``.env`` beside the file, then the ``env`` argument on top (it plays the
  shell's part; ``os.environ`` is never read here). Interpolation is per file, before merging. An
  unset variable without a default becomes the empty string silently (Compose only warns); a
  required one (``${VAR:?err}``) that is missing is a problem.
- **Project name.** ``COMPOSE_PROJECT_NAME`` from the variables, else the top-level ``name:``,
  else the compose file's folder name; always normalised as Compose does (lowercase, only
  ``[a-z0-9_-]``, no leading ``_`` or ``-``). A file at the root of an in-memory tree takes
  ``root_name``; an empty result becomes ``"default"``.
- **Profiles.** Discovery's rule: by default (``include_profiled=True``) every service under
  ``services:`` is returned, and a service declared with profiles carries them in
  ``ComposeService.profiles``, so the catalog knows of a ``debug`` service that ``up`` would skip.
  With ``include_profiled=False`` Compose's runtime rule applies: a service with profiles is kept
  only when one of them is in ``active_profiles`` (``"*"`` activates all).
- **extends.** ``extends: name`` or ``{service, file}``, resolved per file before merging;
  ``file`` is relative to the file that holds the ``extends``. The base service's ``build``
  context is rebased so that it stays relative to the extending file's folder.
- **include.** Top-level ``include:`` in short form (paths) and long form (``path`` as a string or
  list, ``env_file``); each included project reads the ``.env`` beside it, overridden by the
  including project's variables. A service name defined twice is a problem; the first one stays.
- **Dependencies.** ``depends_on`` in list or mapping form, plus the dependencies Compose adds
  itself: ``network_mode``/``ipc``/``pid: service:NAME``, ``volumes_from`` and ``links``, with the
  condition ``service_started``.
- **Ports.** Short (``"127.0.0.1:8080:80/udp"``, ``"[::1]:80:80"``, ``8080``) and long form; a
  range stays one entry (``"3000-3005"``) rather than one entry per port.

Files only ever come from inside the scanned root: links and ``../`` paths that leave it are
problems, not reads. Files over 1 MiB are not parsed.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from calcifer.catalog.compose_fields import (
    DEPENDENCY_CONDITIONS,
    SERVICE_KEYS,
    TOP_LEVEL_KEYS,
    Report,
    build_mapping,
    depends_on_mapping,
    finalize,
    key_value_mapping,
    merge_documents,
    merge_service,
    networks_mapping,
    parse_port,
    text,
    unknown_key_message,
    volume_text,
)
from calcifer.catalog.compose_interpolate import parse_env_file
from calcifer.catalog.compose_yaml import MAX_FILE_BYTES, load_yaml, location

COMPOSE_FILE_NAMES: tuple[str, ...] = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
)
OVERRIDE_FILE_NAMES: tuple[str, ...] = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
MAX_INCLUDE_DEPTH = 8
MAX_EXTENDS_DEPTH = 32
# Files one project may read, counting a file again in each included project that reads it:
# a hostile tree of includes could otherwise fan out exponentially.
MAX_FILE_READS = 256

_SKIPPED_DIRECTORIES = frozenset({"node_modules"})
_PROJECT_NAME_CHARS = re.compile(r"[^a-z0-9_-]")
_SERVICE_REFERENCE = re.compile(r"service:(.+)\Z")


@dataclass(frozen=True)
class ComposePort:
    """A published or exposed port. ``published``/``target`` may be ranges (``"3000-3005"``)."""

    published: str | None
    target: str
    protocol: str
    host_ip: str | None = None


@dataclass(frozen=True)
class ComposeService:
    """One service as Compose would run it, after overrides, ``extends`` and interpolation.

    ``compose_file`` is the file that declares the service, relative to the scanned root; ``build``
    is the build context as written (relative to that file's folder). ``environment_keys`` holds
    names only: values may be secrets.
    """

    name: str
    project: str
    compose_file: str
    image: str | None
    build: str | None
    ports: list[ComposePort]
    depends_on: list[str]
    depends_on_conditions: dict[str, str]
    labels: dict[str, str]
    networks: list[str]
    volumes: list[str]
    environment_keys: list[str]
    profiles: list[str]
    restart: str | None
    container_name: str | None
    command: str | None


@dataclass(frozen=True)
class ComposeProblem:
    """Something wrong in a file: path relative to the scanned root, 1-based line when known."""

    file: str
    line: int | None
    message: str
    warning: bool = False   # looks wrong (an unknown key); the services are still read
    refuses: bool = False   # Docker Compose would refuse the whole project for it


@dataclass
class ComposeProject:
    """A Compose project: its files (the main one first), services, top-level networks and volumes."""

    name: str
    files: list[str]
    services: list[ComposeService]
    networks: list[str]
    volumes: list[str]
    problems: list[ComposeProblem]

    @property
    def refused(self) -> bool:
        """True when Docker Compose would refuse to run this project (see the problems that say why)."""
        return any(problem.refuses for problem in self.problems)


def normalize_project_name(name: str) -> str:
    """Return ``name`` normalised as Compose does: lowercase, only ``[a-z0-9_-]``, no leading ``_``/``-``."""
    return _PROJECT_NAME_CHARS.sub("", name.lower()).lstrip("_-")


def find_compose_files(*, root: Path, max_depth: int = 6) -> list[Path]:
    """Return the Compose file of every project folder under ``root``, a folder before its subfolders.

    One file per folder: the first of ``COMPOSE_FILE_NAMES`` present (override files are found by
    ``load_project``). Hidden folders (``.git``...), ``node_modules``, folders more than
    ``max_depth`` levels below ``root`` and links leading outside ``root`` are skipped. Returns an
    empty list when ``root`` is not a folder. Never raises on unreadable folders.
    """
    try:
        real_root = root.resolve()
    except (OSError, RuntimeError):
        return []
    if not real_root.is_dir():
        return []
    found: list[Path] = []
    visited = {real_root}
    pending: list[tuple[Path, int]] = [(root, 0)]
    while pending:
        directory, depth = pending.pop()
        try:
            with os.scandir(directory) as iterator:
                entries = sorted(iterator, key=lambda entry: entry.name)
        except OSError:
            continue
        candidates: dict[str, Path] = {}
        for entry in entries:
            path = directory / entry.name
            if entry.name in COMPOSE_FILE_NAMES:
                if _inside(path, real_root) and _is_file(path):
                    candidates[entry.name] = path
                continue
            if entry.name.startswith(".") or entry.name in _SKIPPED_DIRECTORIES or depth >= max_depth:
                continue
            try:
                if not entry.is_dir():
                    continue
                real = path.resolve()
            except (OSError, RuntimeError):
                continue
            if real in visited or not real.is_relative_to(real_root):
                continue
            visited.add(real)
            pending.append((path, depth + 1))
        winner = next((candidates[name] for name in COMPOSE_FILE_NAMES if name in candidates), None)
        if winner is not None:
            found.append(winner)
    # A folder's project before those of its subfolders.
    return sorted(found, key=lambda path: path.parent.relative_to(root).parts)


def load_project(
    *,
    compose_file: Path,
    root: Path,
    env: dict[str, str] | None = None,
    active_profiles: Collection[str] = (),
    include_profiled: bool = True,
) -> ComposeProject:
    """Read the project of ``compose_file`` (with its override, ``.env``, extends and includes).

    ``root`` is the scanned folder: paths in the result are relative to it, and no file outside it
    is read. ``env`` overrides the ``.env`` file. See the module docstring for the profile rule.
    Returns the project, with every problem found in ``problems``; never raises on bad input.
    """
    try:
        relative = compose_file.relative_to(root)
    except ValueError:
        try:
            relative = compose_file.resolve().relative_to(root.resolve())
        except (ValueError, OSError, RuntimeError):
            root, relative = compose_file.parent, Path(compose_file.name)
    path = relative.as_posix()
    folder = (root / relative).parent
    folder_name = folder.name or _resolved_name(folder)
    return _load_project(
        reader=_DiskReader(root),
        path=path,
        env=env or {},
        active_profiles=active_profiles,
        include_profiled=include_profiled,
        folder_name=folder_name,
    )


def parse_compose_documents(
    *,
    files: dict[str, bytes],
    env: dict[str, str] | None = None,
    active_profiles: Collection[str] = (),
    include_profiled: bool = True,
    root_name: str = "",
) -> list[ComposeProject]:
    """Read every Compose project in an in-memory tree ``{repo-relative path: content}``.

    Projects are found by the base file names, one per folder, skipping hidden folders and
    ``node_modules`` as ``find_compose_files`` does; override, ``.env``, extends and include files
    are taken from the same dict. ``root_name`` names a project whose file sits at the root.
    Returns the projects sorted by file path; never raises on bad input.
    """
    reader = _MemoryReader(files)
    by_folder: dict[str, list[str]] = {}
    for path in reader.paths():
        parts = path.split("/")
        if parts[-1] not in COMPOSE_FILE_NAMES:
            continue
        if any(part.startswith(".") or part in _SKIPPED_DIRECTORIES for part in parts[:-1]):
            continue
        by_folder.setdefault(posixpath.dirname(path), []).append(parts[-1])
    projects = []
    for folder in sorted(by_folder, key=lambda name: name.split("/")):
        names = by_folder[folder]
        winner = next(name for name in COMPOSE_FILE_NAMES if name in names)
        projects.append(
            _load_project(
                reader=reader,
                path=posixpath.join(folder, winner),
                env=env or {},
                active_profiles=active_profiles,
                include_profiled=include_profiled,
                folder_name=posixpath.basename(folder) if folder else root_name,
            )
        )
    return projects


def discover(
    *,
    roots: list[Path],
    env: dict[str, str] | None = None,
    active_profiles: Collection[str] = (),
    include_profiled: bool = True,
) -> list[ComposeProject]:
    """Find and read every Compose project under each of ``roots`` (missing roots yield nothing).

    A folder reachable from two roots is read once, from the first. Paths in each project are
    relative to the root it was found under. Never raises on bad input.
    """
    projects: list[ComposeProject] = []
    seen: set[Path] = set()
    for root in roots:
        for compose_file in find_compose_files(root=root):
            real = compose_file.resolve()
            if real in seen:
                continue
            seen.add(real)
            projects.append(
                load_project(
                    compose_file=compose_file,
                    root=root,
                    env=env,
                    active_profiles=active_profiles,
                    include_profiled=include_profiled,
                )
            )
    return projects


# --- reading files ---------------------------------------------------------------------------------


class _Unreadable(Exception):
    """A file that cannot be read; the message completes the sentence "<path> ..."."""


class _Reader(Protocol):
    def is_file(self, path: str) -> bool: ...

    def read(self, path: str) -> bytes: ...


class _DiskReader:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._real_root = root.resolve()

    def is_file(self, path: str) -> bool:
        return _is_file(self._root / path)

    def read(self, path: str) -> bytes:
        try:
            real = (self._root / path).resolve(strict=True)
        except (OSError, RuntimeError):
            raise _Unreadable("was not found") from None
        if not real.is_relative_to(self._real_root):
            raise _Unreadable("is a link to a file outside the scanned folder; not read")
        if not real.is_file():
            raise _Unreadable("is not a regular file")
        try:
            with real.open("rb") as handle:
                # One byte past the limit is enough to know the file is too large.
                return handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise _Unreadable(f"cannot be read ({exc.strerror})") from None


class _MemoryReader:
    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files: dict[str, bytes] = {}
        for key, data in files.items():
            path = _normalise(key)
            if path is not None:
                self._files[path] = data

    def paths(self) -> list[str]:
        return list(self._files)

    def is_file(self, path: str) -> bool:
        return path in self._files

    def read(self, path: str) -> bytes:
        try:
            return self._files[path]
        except KeyError:
            raise _Unreadable("was not found") from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _inside(path: Path, real_root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(real_root)
    except (OSError, RuntimeError):
        return False


def _resolved_name(folder: Path) -> str:
    try:
        return folder.resolve().name
    except (OSError, RuntimeError):
        return ""


def _normalise(path: str) -> str | None:
    """A tree-relative POSIX path, or ``None`` when ``path`` is absolute or leaves the tree."""
    candidate = path.replace("\\", "/")
    if candidate.startswith("/") or re.match(r"[A-Za-z]:/", candidate):
        return None
    candidate = posixpath.normpath(candidate)
    if candidate in (".", "..") or candidate.startswith("../"):
        return None
    return candidate


def _relative_to_file(file: str, reference: str) -> str | None:
    return _normalise(posixpath.join(posixpath.dirname(file), reference))


# --- assembling a project --------------------------------------------------------------------------


@dataclass
class _Source:
    path: str
    document: dict[str, Any]
    service_lines: dict[str, int]


@dataclass
class _Model:
    services: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    name: Any = None


class _Session:
    """What one project load shares: the reader, the problems found and the files read."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.problems: list[ComposeProblem] = []
        self.files: list[str] = []
        self.reads_left = MAX_FILE_READS

    def problem(self, file: str, line: int | None, message: str, *, warning: bool = False,
                refuses: bool = False) -> None:
        self.problems.append(ComposeProblem(file=file, line=line or None, message=message, warning=warning,
                                            refuses=refuses))

    def problem_at(self, value: Any, fallback: tuple[str, int | None], message: str) -> None:
        """Report ``message`` where ``value`` was written, else at ``fallback`` (file, line)."""
        where = location(value) or fallback
        self.problem(where[0], where[1], message)

    def read(self, path: str) -> bytes | None:
        self.reads_left -= 1
        if self.reads_left < 0:
            if self.reads_left == -1:
                self.problem(path, None, f"more than {MAX_FILE_READS} files to read for one project; the rest skipped")
            return None
        try:
            data = self.reader.read(path)
        except _Unreadable as exc:
            self.problem(path, None, f"{path} {exc}")
            return None
        return data

    def environment(self, env_files: Iterable[str], overrides: Mapping[str, str], *, required: bool) -> dict[str, str]:
        """Variables from ``env_files`` (later files win), then ``overrides`` on top."""
        values: dict[str, str] = {}
        for env_file in env_files:
            if not required and not self.reader.is_file(env_file):
                continue
            data = self.read(env_file)
            if data is None:
                continue
            if len(data) > MAX_FILE_BYTES:
                self.problem(env_file, None, f"file is larger than {MAX_FILE_BYTES // 1024} KiB; not read")
                continue
            variables, issues = parse_env_file(data.decode("utf-8-sig", errors="replace"), environ=overrides)
            values.update(variables)
            for issue in issues:
                self.problem(env_file, issue.line, issue.message)
        values.update(overrides)
        return values


class _Scope:
    """One application model being assembled (the project, or a project it includes)."""

    def __init__(self, session: _Session, env: Mapping[str, str]) -> None:
        self.session = session
        self.env = env
        self._sources: dict[str, _Source | None] = {}

    def source(self, path: str) -> _Source | None:
        if path not in self._sources:
            self._sources[path] = self._load(path)
        return self._sources[path]

    def _load(self, path: str) -> _Source | None:
        if path not in self.session.files:
            self.session.files.append(path)
        data = self.session.read(path)
        if data is None:
            return None
        loaded, issues = load_yaml(data=data, file=path, env=self.env)
        for issue in issues:
            self.session.problem(path, issue.line, issue.message, refuses=issue.refuses)
        if loaded is None:
            return None
        for each in loaded.documents:
            self._check_keys(path, each)
        document = loaded.documents[0]
        for later in loaded.documents[1:]:
            # Several YAML documents in one file merge in order, like several files.
            document = merge_documents(finalize(document), later)
        return _Source(path=path, document=document, service_lines=loaded.service_lines)

    def _check_keys(self, path: str, document: dict[str, Any]) -> None:
        """Warn about keys Compose does not define, at the top level and in each service, with their line."""
        for key in document:
            if key not in TOP_LEVEL_KEYS and not key.startswith("x-"):
                where = location(document, key) or (path, None)
                self.session.problem(where[0], where[1], unknown_key_message(key, TOP_LEVEL_KEYS, "at the top level"),
                                     warning=True)
        services = document.get("services")
        if not isinstance(services, dict):
            return
        for name, definition in services.items():
            if not isinstance(definition, dict):
                continue
            for key in definition:
                if key not in SERVICE_KEYS and not key.startswith("x-"):
                    where = location(definition, key) or (path, None)
                    self.session.problem(where[0], where[1],
                                         unknown_key_message(key, SERVICE_KEYS, f"in service {name!r}"),
                                         warning=True)

    def assemble(self, files: list[str], include_chain: tuple[str, ...]) -> _Model:
        model = _Model()
        merged: dict[str, Any] | None = None
        for path in files:
            source = self.source(path)
            if source is None:
                continue
            document = dict(source.document)
            services = document.get("services")
            if isinstance(services, dict):
                document["services"] = {
                    name: self._extended(path, name, definition, ((path, name),))
                    for name, definition in services.items()
                }
                for name in services:
                    model.origins.setdefault(name, (path, source.service_lines.get(name)))
            elif services is not None:
                self.session.problem_at(services, (path, None), "services must be a mapping of names to definitions")
                del document["services"]
            merged = finalize(document) if merged is None else merge_documents(merged, document)
        if merged is None:
            return model
        services = merged.get("services")
        model.services = dict(services) if isinstance(services, dict) else {}
        model.name = merged.get("name")
        model.networks = self._resource_names(merged, "networks", files[0])
        model.volumes = self._resource_names(merged, "volumes", files[0])
        self._include(model, merged.get("include"), files[0], include_chain)
        return model

    def _resource_names(self, document: dict[str, Any], key: str, file: str) -> list[str]:
        value = document.get(key)
        if value is None:
            return []
        if not isinstance(value, dict):
            self.session.problem_at(value, (file, None), f"top-level {key} must be a mapping")
            return []
        return [str(name) for name in value]

    def _extended(self, path: str, name: str, definition: Any, chain: tuple[tuple[str, str], ...]) -> Any:
        """``definition`` with its ``extends`` resolved (recursively); as given when it has none."""
        if definition is None:
            return {}
        if not isinstance(definition, dict) or "extends" not in definition:
            return definition
        local = {key: value for key, value in definition.items() if key != "extends"}
        reference = finalize(definition["extends"])
        where = (path, self._service_line(path, name))
        file_reference: str | None = None
        if isinstance(reference, str):
            base_name = str(reference)
        elif isinstance(reference, dict) and text(reference.get("service")):
            base_name = text(reference.get("service")) or ""
            file_reference = text(reference.get("file"))
        else:
            self.session.problem_at(reference, where, f"service {name!r}: extends needs a service name")
            return local
        base_path = path
        if file_reference:
            resolved = _relative_to_file(path, file_reference)
            if resolved is None:
                self.session.problem_at(
                    reference.get("file"),
                    where,
                    f"service {name!r}: extends file {file_reference!r} is outside the scanned folder",
                )
                return local
            if not self.session.reader.is_file(resolved):
                self.session.problem_at(
                    reference.get("file"),
                    where,
                    f"service {name!r}: extends file {file_reference!r} was not found",
                )
                return local
            base_path = resolved
        if len(chain) > MAX_EXTENDS_DEPTH:
            self.session.problem(
                where[0], where[1], f"service {name!r}: extends nests more than {MAX_EXTENDS_DEPTH} deep"
            )
            return local
        if (base_path, base_name) in chain:
            cycle = " -> ".join(f"{service} ({file})" for file, service in (*chain, (base_path, base_name)))
            self.session.problem(where[0], where[1], f"service {name!r}: extends forms a cycle: {cycle}")
            return local
        source = self.source(base_path)
        if source is None:
            return local
        base_services = source.document.get("services")
        if not isinstance(base_services, dict) or base_name not in base_services:
            self.session.problem(
                where[0],
                where[1],
                f"service {name!r} extends {base_name!r}, which {base_path} does not define",
            )
            return local
        base = self._extended(base_path, base_name, base_services[base_name], (*chain, (base_path, base_name)))
        if not isinstance(base, dict):
            self.session.problem(where[0], where[1], f"service {name!r} extends {base_name!r}, which is not a mapping")
            return local
        base = finalize(base)
        if posixpath.dirname(base_path) != posixpath.dirname(path):
            base = _rebase_build(base, posixpath.dirname(base_path), posixpath.dirname(path))
        return merge_service(base, local)

    def _service_line(self, path: str, name: str) -> int | None:
        source = self._sources.get(path)
        return source.service_lines.get(name) if source is not None else None

    def _include(self, model: _Model, includes: Any, file: str, chain: tuple[str, ...]) -> None:
        if includes is None:
            return
        if not isinstance(includes, list):
            self.session.problem_at(includes, (file, None), "include must be a list")
            return
        for entry in includes:
            paths, env_files = self._include_entry(entry, file)
            if not paths:
                continue
            if paths[0] in chain or len(chain) > MAX_INCLUDE_DEPTH:
                self.session.problem_at(entry, (file, None), f"include of {paths[0]} forms a cycle or nests too deeply")
                continue
            if env_files is None:
                env_files, required = [posixpath.join(posixpath.dirname(paths[0]), ".env")], False
            else:
                required = True
            sub_scope = _Scope(self.session, self.session.environment(env_files, self.env, required=required))
            included = sub_scope.assemble(paths, (*chain, paths[0]))
            for name, definition in included.services.items():
                if name in model.services:
                    origin = included.origins.get(name, (paths[0], None))
                    self.session.problem(
                        origin[0], origin[1], f"service {name!r} is already defined by the including project"
                    )
                    continue
                model.services[name] = definition
                model.origins[name] = included.origins.get(name, (paths[0], None))
            model.networks.extend(n for n in included.networks if n not in model.networks)
            model.volumes.extend(v for v in included.volumes if v not in model.volumes)

    def _include_entry(self, entry: Any, file: str) -> tuple[list[str], list[str] | None]:
        """The files (first is the main one) and env files of one ``include`` entry; ``[]`` if unusable."""
        env_references: list[Any] | None = None
        if isinstance(entry, str):
            references: list[Any] = [entry]
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str | list):
            path_value = entry["path"]
            references = path_value if isinstance(path_value, list) else [path_value]
            env_value = entry.get("env_file")
            if env_value is not None:
                env_references = env_value if isinstance(env_value, list) else [env_value]
        else:
            self.session.problem_at(entry, (file, None), "an include entry needs a path")
            return [], None
        paths = self._include_paths(references, file, "included file")
        if len(paths) != len(references):
            return [], None
        env_files = None
        if env_references is not None:
            env_files = self._include_paths(env_references, file, "env file")
            if len(env_files) != len(env_references):
                return [], None
        return paths, env_files

    def _include_paths(self, references: list[Any], file: str, what: str) -> list[str]:
        paths = []
        for reference in references:
            reference_text = text(reference)
            resolved = _relative_to_file(file, reference_text) if reference_text else None
            if resolved is None:
                self.session.problem_at(
                    reference, (file, None), f"{what} {reference_text!r} is outside the scanned folder"
                )
            elif not self.session.reader.is_file(resolved):
                self.session.problem_at(reference, (file, None), f"{what} {reference_text!r} was not found")
            else:
                paths.append(resolved)
        return paths


def _rebase_build(service: dict[str, Any], from_dir: str, to_dir: str) -> dict[str, Any]:
    """Make a relative build context written in ``from_dir`` relative to ``to_dir`` instead."""
    build = service.get("build")
    mapping = build_mapping(build)
    if mapping is None:
        return service
    context = text(mapping.get("context")) or "."
    if context.startswith(("/", "~")) or "://" in context or context.startswith("git@"):
        return service
    joined = posixpath.normpath(posixpath.join(from_dir or ".", context))
    rebased = posixpath.relpath(joined, to_dir or ".")
    if isinstance(build, dict):
        return {**service, "build": {**mapping, "context": rebased}}
    return {**service, "build": rebased}


def _load_project(
    *,
    reader: _Reader,
    path: str,
    env: Mapping[str, str],
    active_profiles: Collection[str],
    include_profiled: bool,
    folder_name: str,
) -> ComposeProject:
    session, project_env, model, project_name = _assembled(reader, path, env, folder_name, None)
    if "COMPOSE_PROJECT_NAME" not in project_env and project_name != _project_name(project_env, None, folder_name):
        # The file names its project (``name:``): Compose interpolates with that name, so read it again.
        session, project_env, model, project_name = _assembled(reader, path, env, folder_name, project_name)
    services = _services(session, model, project_name)
    if not include_profiled:
        active = set(active_profiles)
        services = [s for s in services if not s.profiles or "*" in active or active.intersection(s.profiles)]
    problems = list(dict.fromkeys(session.problems))
    return ComposeProject(
        name=project_name,
        files=session.files,
        services=services,
        networks=model.networks,
        volumes=model.volumes,
        problems=problems,
    )


def _assembled(reader: _Reader, path: str, env: Mapping[str, str], folder_name: str,
               declared_name: str | None) -> tuple[_Session, dict[str, str], _Model, str]:
    """The project's files read and merged, with ``COMPOSE_PROJECT_NAME`` set for interpolation as Compose
    sets it (from the environment or ``.env``, else ``declared_name`` or the folder's name)."""
    session = _Session(reader)
    folder = posixpath.dirname(path)
    project_env = session.environment([posixpath.join(folder, ".env")], env, required=False)
    interpolation_env = project_env
    if "COMPOSE_PROJECT_NAME" not in project_env:
        interpolation_env = {**project_env,
                             "COMPOSE_PROJECT_NAME": _project_name(project_env, declared_name, folder_name)}
    present = [name for name in COMPOSE_FILE_NAMES if reader.is_file(posixpath.join(folder, name))]
    if len(present) > 1:
        session.problem(
            path,
            None,
            f"this folder has several Compose files ({', '.join(present)}); Compose reads only {present[0]}",
        )
    files = [path]
    override = next(
        (candidate for name in OVERRIDE_FILE_NAMES if reader.is_file(candidate := posixpath.join(folder, name))),
        None,
    )
    if override is not None:
        files.append(override)
    model = _Scope(session, interpolation_env).assemble(files, (path,))
    return session, project_env, model, _project_name(project_env, model.name, folder_name)


def _project_name(env: Mapping[str, str], declared: Any, folder_name: str) -> str:
    for candidate in (env.get("COMPOSE_PROJECT_NAME"), text(declared), folder_name):
        name = normalize_project_name(candidate or "")
        if name:
            return name
    return "default"


# --- from definitions to ComposeService -----------------------------------------------------------


def _services(session: _Session, model: _Model, project: str) -> list[ComposeService]:
    services: list[ComposeService] = []
    for name, definition in model.services.items():
        origin = model.origins.get(name, ("", None))
        if not isinstance(definition, dict):
            session.problem_at(
                definition, origin, f"service {name!r} must be a mapping, not {type(definition).__name__}"
            )
            continue
        services.append(_service(session, name, definition, origin, project))
    declared = set(model.services)
    for service in services:
        origin = model.origins.get(service.name, ("", None))
        definition = model.services[service.name]
        locations = _dependency_locations(definition)
        for dependency in service.depends_on:
            if dependency not in declared:
                where = locations.get(dependency, origin)
                session.problem(
                    where[0],
                    where[1],
                    f"service {service.name!r} depends on undefined service {dependency!r}",
                )
    return services


def _service(
    session: _Session, name: str, definition: dict[str, Any], origin: tuple[str, int | None], project: str
) -> ComposeService:
    def reporter(key: str | None) -> Report:
        # Where the attribute's key was written is the best line for a value that has none (8080).
        fallback = location(definition, key) or origin

        def report(value: Any, message: str) -> None:
            session.problem_at(value, fallback, f"service {name!r}: {message}")

        return report

    image = _scalar(definition, "image", reporter("image"))
    build_value = definition.get("build")
    build: str | None = None
    if build_value is not None:
        mapping = build_mapping(build_value)
        if mapping is None:
            reporter("build")(build_value, "build must be a path or a mapping")
        else:
            build = text(mapping.get("context")) or "."
    if not any(key in definition for key in ("image", "build", "provider")):
        session.problem(origin[0], origin[1], f"service {name!r}: has neither an image nor a build context; "
                        "Docker Compose refuses the project", refuses=True)

    report = reporter("depends_on")
    dependencies = depends_on_mapping(definition.get("depends_on"), report=report) or {}
    conditions: dict[str, str] = {}
    for dependency, settings in dependencies.items():
        condition = "service_started"
        if isinstance(settings, dict) and settings.get("condition") is not None:
            condition = text(settings.get("condition")) or condition
            if condition not in DEPENDENCY_CONDITIONS:
                report(settings.get("condition"), f"unknown depends_on condition {condition!r}")
        conditions[dependency] = condition
    for dependency in _implicit_dependencies(definition):
        conditions.setdefault(dependency, "service_started")

    labels = key_value_mapping(definition.get("labels"), report=reporter("labels"), what="labels") or {}
    environment = (
        key_value_mapping(definition.get("environment"), report=reporter("environment"), what="environment") or {}
    )
    networks = networks_mapping(definition.get("networks"), report=reporter("networks")) or {}
    restart = definition.get("restart")
    return ComposeService(
        name=name,
        project=project,
        compose_file=origin[0],
        image=image,
        build=build,
        ports=_ports(definition.get("ports"), reporter("ports")),
        depends_on=list(conditions),
        depends_on_conditions=conditions,
        labels={key: text(value) or "" for key, value in labels.items()},
        networks=list(networks),
        volumes=_volumes(definition.get("volumes"), reporter("volumes")),
        environment_keys=list(environment),
        profiles=_string_list(definition.get("profiles"), "profiles", reporter("profiles")),
        # YAML 1.1 readers turn `restart: no` into false; Compose means "no".
        restart="no" if restart is False else _scalar(definition, "restart", reporter("restart")),
        container_name=_scalar(definition, "container_name", reporter("container_name")),
        command=_command(definition.get("command"), reporter("command")),
    )


def _scalar(definition: dict[str, Any], key: str, report: Report) -> str | None:
    value = definition.get(key)
    if value is None:
        return None
    result = text(value)
    if result is None:
        report(value, f"{key} must be a single value")
    return result


def _ports(value: Any, report: Report) -> list[ComposePort]:
    if value is None:
        return []
    if not isinstance(value, list):
        report(value, "ports must be a list")
        return []
    ports = []
    for item in value:
        try:
            spec = parse_port(item)
        except ValueError as exc:
            report(item, str(exc))
            continue
        ports.append(
            ComposePort(published=spec.published, target=spec.target, protocol=spec.protocol, host_ip=spec.host_ip)
        )
    return ports


def _volumes(value: Any, report: Report) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        report(value, "volumes must be a list")
        return []
    volumes = []
    for item in value:
        volume = volume_text(item)
        if volume is None:
            report(item, "a volume must be a string or a mapping with a target")
        else:
            volumes.append(volume)
    return volumes


def _string_list(value: Any, key: str, report: Report) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        item_text = text(item)
        if item_text is None:
            report(item, f"{key} must be a list of strings")
        elif item_text not in result:
            result.append(item_text)
    return result


def _command(value: Any, report: Report) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        parts = [text(item) for item in value]
        if any(part is None for part in parts):
            report(value, "command must be a string or a list of strings")
        return shlex.join(part for part in parts if part is not None)
    result = text(value)
    if result is None:
        report(value, "command must be a string or a list of strings")
    return result


def _implicit_dependencies(definition: dict[str, Any]) -> list[str]:
    """Services Compose makes this one depend on without ``depends_on`` saying so."""
    found: list[str] = []
    for key in ("network_mode", "ipc", "pid"):
        match = _SERVICE_REFERENCE.match(text(definition.get(key)) or "")
        if match:
            found.append(match.group(1))
    volumes_from = definition.get("volumes_from")
    for item in volumes_from if isinstance(volumes_from, list) else []:
        reference = text(item) or ""
        if reference and not reference.startswith("container:"):
            found.append(reference.removeprefix("service:").split(":")[0])
    links = definition.get("links")
    for item in links if isinstance(links, list) else []:
        reference = text(item) or ""
        if reference:
            found.append(reference.split(":")[0])
    return found


def _dependency_locations(definition: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Where each dependency name of ``definition`` was written, when known."""
    found: dict[str, tuple[str, int]] = {}
    depends_on = definition.get("depends_on")
    if isinstance(depends_on, list):
        for item in depends_on:
            where = location(item)
            if isinstance(item, str) and where is not None:
                found.setdefault(str(item), where)
    elif isinstance(depends_on, dict):
        for name in depends_on:
            where = location(depends_on, name)
            if where is not None:
                found.setdefault(str(name), where)
    for key in ("network_mode", "ipc", "pid", "volumes_from", "links"):
        value = definition.get(key)
        for item in value if isinstance(value, list) else [value]:
            where = location(item)
            if where is None:
                continue
            for name in _implicit_dependencies({key: [item] if isinstance(value, list) else item}):
                found.setdefault(name, where)
    return found

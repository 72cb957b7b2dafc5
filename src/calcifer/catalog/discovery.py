"""Compose discovery: the services Compose files declare, proposed as catalog services, and accepted
through a work item.

Where Compose files are read:

- **main of the managed repository**, straight from git objects (``gitrepo.list_files_at`` and
  ``read_file_at`` at one commit, then ``compose.parse_compose_documents``). Compose files, their
  overrides, ``.env`` files and the YAML files they may ``extends``/``include`` are read; YAML in
  Calcifer's own ``catalog/`` and ``docs/`` folders is not. A Compose file that another project
  includes is read as part of that project only, not as a project of its own.
- **each folder of the ``compose_dirs`` setting**, on disk (``compose.discover``).

No variable comes from the process environment: only each project's ``.env``.

Mapping rule (one compose service → one proposed catalog service):

- **slug**: the service name lower-cased, every run of characters other than ``a-z0-9`` turned into
  one dash, trimmed to 63 characters (``My_App`` → ``my-app``). When the same slug comes from two or
  more Compose projects (``grafana`` in ``monitoring`` and in ``media``), every one of them is
  prefixed with its normalised project name instead (``monitoring-grafana``, ``media-grafana``); a
  slug still taken gets ``-2``, ``-3``... in file order. A service already in the catalog keeps its
  slug: a catalog service whose ``deployment`` names the same ``compose_file`` and
  ``compose_service`` is matched first, whatever its slug; otherwise the rule's slug is looked up.
- **name**: the service name. **kind**: ``container``. **status**: active. **host**: left out
  (Compose does not say which machine runs it).
- **description**: the image (``prom/prometheus:v2.53.0``), or ``Built from <context>``.
- **ports**: one per published port, deduplicated by number and protocol: ``number`` is the published
  host port, else the container port (a range counts by its first port); protocol ``tcp`` or ``udp``
  (an ``sctp`` port is left out and reported); purpose ``compose``.
- **depends_on**: the service's ``depends_on`` (and the dependencies Compose adds for
  ``network_mode: service:x``, ``volumes_from``, ``links``), mapped to the slugs of the same project.
- **deployment**: ``{type: compose, compose_file, compose_project, compose_service, image}``;
  ``compose_file`` is the project's main file: repo-relative for main, absolute for ``compose_dirs``.
- **tags**: exactly one, ``compose:<project>``. Labels are not mapped: they are mostly routing rules
  for proxies and would flood the tag list.

Groups:

- **new**: no catalog service has the slug.
- **drifted**: the matched catalog service differs in what Compose decides: ``kind``, ``ports``
  (number/protocol; the purpose is a person's and kept), ``depends_on`` (dependencies outside the
  project are a person's and kept), ``deployment.type/compose_file/compose_project/compose_service/
  image`` and the ``compose:`` tag. Name, description, host, status, URLs, notes and the rest belong
  to people: never compared, never overwritten. Each difference is one ``{field, catalog, compose}``.
- **missing**: a catalog service (not retired) deployed by ``compose`` whose ``compose_file`` was
  scanned (a file of a project read on main, or a path inside an existing ``compose_dirs`` folder)
  but which no discovered service matches. Accepting it retires it (``status: retired``); the file
  stays, so its history does too.
- **unchanged**: matched, no difference.

Accepting a selection writes all the files on one work item's branch (an open one, a new one, or a
standard change merged at once) in **one** commit with **one** CHANGES.md entry.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.auth.models import User
from calcifer.catalog import compose, index
from calcifer.catalog.choices import DeploymentType, ServiceKind, ServiceStatus, Severity
from calcifer.catalog.models import CatalogService
from calcifer.catalog.schemas import MAX_ACCEPT, ServiceSpec, spec_document
from calcifer.catalog.service import validate_service
from calcifer.catalog.yamlio import apply_spec, load_plain
from calcifer.changelog.choices import ChangeType
from calcifer.errors import Conflict, DomainError, Invalid, NotFound
from calcifer.work import service as work
from calcifer.work.choices import OPEN_STATUSES, WorkAction
from calcifer.work.models import WorkItem
from calcifer.work.schemas import WorkItemCreate

log = logging.getLogger("calcifer.catalog.discovery")

SOURCE_REPO = "repo"
SOURCE_DIR = "dir"
PORT_PURPOSE = "compose"
TAG_PREFIX = "compose:"
MAX_SLUG = 63
# A scan reads at most this many files from main and proposes at most this many services: beyond
# that a problem says so, rather than a request that never ends.
MAX_MAIN_FILES = 5000
MAX_MAIN_BYTES = 64 * 1024 * 1024
MAX_SERVICES = 2000
ENTRY_MAX = 300
# The folders Calcifer itself writes: their YAML is catalog and docs, never Compose.
_OWN_FOLDERS = ("catalog", "docs")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_COMPOSE_NAMES = frozenset((*compose.COMPOSE_FILE_NAMES, *compose.OVERRIDE_FILE_NAMES))

# Every field drift compares, in the order shown.
DRIFT_FIELDS = ("kind", "ports", "depends_on", "deployment.type", "deployment.compose_file",
                "deployment.compose_project", "deployment.compose_service", "deployment.image", "tags")


# -- results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One compose service as discovery found it; ``compose_file`` is its project's main file."""

    service: compose.ComposeService
    project: str
    compose_file: str
    source: str  # "repo" (main) or "dir" (a compose_dirs folder)


@dataclass(frozen=True)
class FieldChange:
    field: str
    catalog: Any
    compose: Any

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "catalog": self.catalog, "compose": self.compose}


@dataclass
class Proposal:
    """A compose service as a catalog service: the whole spec to write, and how it differs."""

    slug: str
    found: Found
    spec: dict[str, Any]
    catalog_file: str | None = None  # the catalog file when the slug is in the catalog
    changes: list[FieldChange] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)  # the spec's validation errors
    notes: list[str] = field(default_factory=list)
    # Slugs whose dependency edges compose decides: the project's services, and catalog services
    # deployed from the same compose file (a removed one included).
    managed: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        service = self.found.service
        return {"slug": self.slug, "name": service.name, "project": self.found.project,
                "compose_file": self.found.compose_file, "compose_service": service.name,
                "source": self.found.source, "image": service.image, "profiles": list(service.profiles),
                "catalog_file": self.catalog_file, "changes": [c.as_dict() for c in self.changes],
                "spec": self.spec, "errors": self.errors, "notes": self.notes}


@dataclass(frozen=True)
class Missing:
    """A catalog service deployed by compose whose compose service is gone."""

    slug: str
    name: str
    file: str
    compose_file: str
    compose_service: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "file": self.file, "compose_file": self.compose_file,
                "compose_service": self.compose_service, "reason": self.reason}


@dataclass(frozen=True)
class DiscoveryProblem:
    file: str
    line: int | None
    message: str
    source: str
    severity: str = Severity.ERROR.value  # "warning": looks wrong (an unknown key), the services are read

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message, "source": self.source,
                "severity": self.severity}


@dataclass
class Discovery:
    commit: str
    compose_files: list[str]
    projects: int
    services: int
    duration_ms: int
    new: list[Proposal]
    drifted: list[Proposal]
    missing: list[Missing]
    unchanged: list[Proposal]
    problems: list[DiscoveryProblem]
    compose_dirs: list[str]

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "drifted": len(self.drifted), "missing": len(self.missing),
                "unchanged": len(self.unchanged), "problems": len(self.problems)}

    def groups(self) -> dict[str, str]:
        """Each slug's group: new, drifted, missing or unchanged."""
        found = {m.slug: "missing" for m in self.missing}
        for name, group in (("unchanged", self.unchanged), ("drifted", self.drifted), ("new", self.new)):
            found.update((p.slug, name) for p in group)
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "scanned": {"compose_files": self.compose_files, "compose_dirs": self.compose_dirs,
                        "projects": self.projects, "services": self.services, "duration_ms": self.duration_ms},
            "counts": self.counts(),
            "new": [p.as_dict() for p in self.new],
            "drifted": [p.as_dict() for p in self.drifted],
            "missing": [m.as_dict() for m in self.missing],
            "unchanged": [p.slug for p in self.unchanged],
            "problems": [p.as_dict() for p in self.problems],
        }


# -- slugs ------------------------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """``text`` as a catalog slug: lowercase, runs of other characters as one dash, at most 63 long."""
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-") or "service"


def _join(*parts: str) -> str:
    return slugify("-".join(parts))


def _with_suffix(slug: str, number: int) -> str:
    suffix = f"-{number}"
    return slug[:MAX_SLUG - len(suffix)].rstrip("-") + suffix


def assign_slugs(found: Sequence[Found], bound: dict[tuple[str, str], str]) -> list[str]:
    """The slug of each found service, by the module's rule; ``bound`` maps (compose_file, service)
    to the slug of the catalog service deployed from it."""
    slugs: list[str | None] = [None] * len(found)
    taken: set[str] = set()
    for position, item in enumerate(found):
        slug = bound.get((item.compose_file, item.service.name))
        if slug is not None and slug not in taken:
            slugs[position] = slug
            taken.add(slug)
    projects_by_base: dict[str, set[str]] = {}
    for item in found:
        projects_by_base.setdefault(slugify(item.service.name), set()).add(item.compose_file)
    for position, item in enumerate(found):
        if slugs[position] is not None:
            continue
        base = slugify(item.service.name)
        prefixed = _join(item.project, base)
        candidate = base if len(projects_by_base[base]) == 1 else prefixed
        number = 1
        while candidate in taken:
            number += 1
            candidate = _with_suffix(prefixed, number)
        slugs[position] = candidate
        taken.add(candidate)
    return [slug or "" for slug in slugs]


# -- reading compose files ---------------------------------------------------------------------------------


def _wanted_on_main(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    if name in _COMPOSE_NAMES:
        return True
    if parts[0] in _OWN_FOLDERS and len(parts) > 1:
        return False
    return name == ".env" or name.endswith((".env", ".yml", ".yaml"))


def _main_files(repo_path: Path, commit: str) -> tuple[dict[str, bytes], list[DiscoveryProblem]]:
    problems: list[DiscoveryProblem] = []
    paths = [p for p in git.list_files_at(repo_path=repo_path, ref=commit) if _wanted_on_main(p)]
    # Compose files first, so a limit never drops a project's own file for someone's YAML.
    paths.sort(key=lambda p: (p.rpartition("/")[2] not in _COMPOSE_NAMES, p))
    files: dict[str, bytes] = {}
    total = 0
    for path in paths:
        if len(files) >= MAX_MAIN_FILES or total >= MAX_MAIN_BYTES:
            problems.append(DiscoveryProblem("", None, f"main has more Compose-related files than a scan reads "
                                             f"({MAX_MAIN_FILES:,} files or {MAX_MAIN_BYTES >> 20} MiB); "
                                             "the rest were not read", SOURCE_REPO))
            break
        data = git.read_file_at(repo_path=repo_path, path=path, ref=commit)
        if data is not None:
            files[path] = data
            total += len(data)
    return files, problems


def _standalone(projects: list[compose.ComposeProject]) -> list[compose.ComposeProject]:
    """Projects whose main file no other project includes (an included file is read as part of it)."""
    files_of = {p.files[0]: p.files for p in projects if p.files}
    included: set[str] = set()
    for project in projects:
        for path in project.files[1:]:
            # Two files including each other (a cycle, reported) both stay.
            if path in files_of and project.files[0] not in files_of[path]:
                included.add(path)
    return [p for p in projects if p.files and p.files[0] not in included]


@dataclass
class _Scan:
    found: list[Found] = field(default_factory=list)
    problems: list[DiscoveryProblem] = field(default_factory=list)
    compose_files: list[str] = field(default_factory=list)
    scanned_files: set[str] = field(default_factory=set)
    dir_roots: list[Path] = field(default_factory=list)
    refused_files: set[str] = field(default_factory=set)
    projects: int = 0

    def add(self, projects: Iterable[compose.ComposeProject], source: str, to_path: Callable[[str], str]) -> None:
        for project in projects:
            self.projects += 1
            main = to_path(project.files[0])
            self.compose_files.append(main)
            self.scanned_files.update(to_path(path) for path in project.files)
            for problem in project.problems:
                self.problems.append(DiscoveryProblem(
                    to_path(problem.file) if problem.file else main, problem.line, problem.message, source,
                    Severity.WARNING.value if problem.warning else Severity.ERROR.value))
            if project.refused:
                # Compose would not run it: its services are listed as problems, never offered (nor missing).
                self.refused_files.update(to_path(path) for path in project.files)
                names = ", ".join(service.name for service in project.services[:20])
                self.problems.append(DiscoveryProblem(main, None, "Docker Compose refuses this project (see the "
                                                      f"problems above), so its services are not offered: {names}",
                                                      source))
                continue
            for service in project.services:
                if len(self.found) >= MAX_SERVICES:
                    self.problems.append(DiscoveryProblem(main, None, f"more than {MAX_SERVICES:,} compose "
                                                          "services: the rest were not read", source))
                    return
                self.found.append(Found(service=service, project=project.name, compose_file=main, source=source))


def _under(root: Path) -> Callable[[str], str]:
    """Turns a path relative to a compose_dirs folder into its absolute path."""
    return lambda path: (root / path).as_posix()


def _scan_files(*, repo_path: Path, commit: str, compose_dirs: Sequence[Path]) -> _Scan:
    scan = _Scan()
    files, problems = _main_files(repo_path, commit)
    scan.problems += problems
    scan.add(_standalone(compose.parse_compose_documents(files=files)), SOURCE_REPO, lambda path: path)
    seen: set[Path] = set()
    for configured in compose_dirs:
        root = configured.expanduser()
        try:
            root = root.resolve()
        except (OSError, RuntimeError):
            pass
        if not root.is_dir():
            scan.problems.append(DiscoveryProblem(str(root), None, "this compose_dirs folder does not exist "
                                                  "or is not a folder: nothing was read from it", SOURCE_DIR))
            continue
        scan.dir_roots.append(root)
        projects = []
        for project in compose.discover(roots=[root]):
            real = (root / project.files[0]).resolve() if project.files else root
            if project.files and real not in seen:
                seen.add(real)
                projects.append(project)
        scan.add(_standalone(projects), SOURCE_DIR, _under(root))
    return scan


# -- mapping ------------------------------------------------------------------------------------------------


def _port_number(value: str) -> int | None:
    first = value.partition("-")[0]
    return int(first) if first.isdigit() else None


def compose_ports(service: compose.ComposeService) -> tuple[list[dict[str, Any]], list[str]]:
    """The service's ports as catalog ports (see the module's rule), and notes on those left out."""
    ports: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: set[tuple[int, str]] = set()
    for port in service.ports:
        written = port.published or port.target
        number = _port_number(written)
        if port.protocol not in ("tcp", "udp"):
            notes.append(f"port {written}/{port.protocol} left out: the catalog records tcp and udp ports")
            continue
        if number is None or not 1 <= number <= 65535:
            notes.append(f"port {written!r} left out: not a port number")
            continue
        if (number, port.protocol) in seen:
            continue
        seen.add((number, port.protocol))
        purpose = PORT_PURPOSE if "-" not in written else f"{PORT_PURPOSE} {written}"
        ports.append({"number": number, "protocol": port.protocol, "purpose": purpose})
    return ports, notes


def compose_tag(project: str) -> str:
    return (TAG_PREFIX + project)[:63]


def _deployment(found: Found) -> dict[str, Any]:
    values = {"type": DeploymentType.COMPOSE.value, "compose_file": found.compose_file,
              "compose_project": found.project, "compose_service": found.service.name,
              "image": found.service.image}
    return {key: value for key, value in values.items() if value is not None}


def proposed_spec(found: Found, slug: str, depends_on: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The whole catalog spec for a compose service that is not in the catalog yet, and notes."""
    service = found.service
    ports, notes = compose_ports(service)
    description = service.image or (f"Built from {service.build}" if service.build else "")
    spec = {"name": service.name, "slug": slug, "kind": ServiceKind.CONTAINER.value, "description": description,
            "ports": ports, "deployment": _deployment(found), "tags": [compose_tag(found.project)],
            "depends_on": depends_on}
    return spec, notes


def _ordered_merge(kept: list[Any], wanted: list[Any]) -> list[Any]:
    """``wanted``, in the order of ``kept`` for what both hold, new ones after (keeps file diffs small)."""
    return [item for item in kept if item in wanted] + [item for item in wanted if item not in kept]


def merged_spec(base: dict[str, Any], found: Found, slug: str, depends_on: list[str],
                project_slugs: set[str]) -> tuple[dict[str, Any], list[str]]:
    """``base`` (a catalog service document) with what Compose decides brought up to date."""
    spec = dict(base)
    spec["slug"] = slug
    spec["kind"] = ServiceKind.CONTAINER.value
    ports, notes = compose_ports(found.service)
    old_ports = [p for p in base.get("ports") or [] if isinstance(p, dict)]
    purposes = {(p.get("number"), p.get("protocol") or "tcp"): p.get("purpose") for p in old_ports}
    keys = _ordered_merge([(p.get("number"), p.get("protocol") or "tcp") for p in old_ports],
                          [(p["number"], p["protocol"]) for p in ports])
    new_ports = []
    for number, protocol in keys:
        purpose = purposes.get((number, protocol))
        new_ports.append({"number": number, "protocol": protocol,
                          "purpose": purpose if purpose else PORT_PURPOSE})
    spec["ports"] = new_ports
    old_depends = [d for d in base.get("depends_on") or [] if isinstance(d, str)]
    # Dependencies outside the project were written by a person: they stay.
    wanted = depends_on + [d for d in old_depends if d not in project_slugs and d not in depends_on]
    spec["depends_on"] = _ordered_merge(old_depends, wanted)
    deployment = base.get("deployment")
    if isinstance(deployment, dict) and deployment.get("type") == DeploymentType.COMPOSE.value:
        updated = dict(deployment)
        for key in ("compose_file", "compose_project", "compose_service", "image"):
            updated.pop(key, None)
        updated.update(_deployment(found))
    else:
        updated = _deployment(found)
        if isinstance(deployment, dict) and deployment.get("notes"):
            updated["notes"] = deployment["notes"]
    spec["deployment"] = updated
    tag = compose_tag(found.project)
    old_tags = [t for t in base.get("tags") or [] if isinstance(t, str)]
    spec["tags"] = [t for t in old_tags if not t.startswith(TAG_PREFIX) or t == tag]
    if tag not in spec["tags"]:
        spec["tags"].append(tag)
    return spec, notes


def _port_texts(ports: Any) -> list[str]:
    return [f"{p.get('number')}/{p.get('protocol') or 'tcp'}" for p in ports or [] if isinstance(p, dict)]


def _value(spec: dict[str, Any], name: str) -> Any:
    if name == "ports":
        return _port_texts(spec.get("ports"))
    if name.startswith("deployment."):
        deployment = spec.get("deployment")
        return deployment.get(name.partition(".")[2]) if isinstance(deployment, dict) else None
    return spec.get(name)


def differences(catalog: dict[str, Any], proposed: dict[str, Any]) -> list[FieldChange]:
    """What Compose decides that differs between the catalog's spec and the proposed one.

    Lists compare as sets (their order is a person's); ``tags`` compares only ``compose:`` tags.
    """
    changes = []
    for name in DRIFT_FIELDS:
        old, new = _value(catalog, name), _value(proposed, name)
        if name == "tags":
            old = [t for t in old or [] if isinstance(t, str) and t.startswith(TAG_PREFIX)]
            new = [t for t in new or [] if isinstance(t, str) and t.startswith(TAG_PREFIX)]
        if isinstance(new, list):
            if sorted(map(str, old or [])) != sorted(map(str, new)):
                changes.append(FieldChange(name, list(old or []), new))
        elif (old or None) != (new or None):
            changes.append(FieldChange(name, old, new))
    return changes


def _spec_errors(slug: str, spec: dict[str, Any]) -> list[dict[str, str]]:
    try:
        validate_service(slug=slug, spec=spec)
    except Invalid as exc:
        details = exc.details if isinstance(exc.details, list) else []
        return [{"path": str(d.get("path", "")), "message": str(d.get("message", ""))} for d in details] or [
            {"path": "", "message": exc.message}]
    return []


# -- scanning ------------------------------------------------------------------------------------------------


def _catalog(session: Session) -> list[CatalogService]:
    return list(session.scalars(select(CatalogService).order_by(CatalogService.slug)))


def _compose_deployment(row: CatalogService) -> dict[str, Any] | None:
    deployment = (row.spec or {}).get("deployment")
    if isinstance(deployment, dict) and deployment.get("type") == DeploymentType.COMPOSE.value:
        return deployment
    return None


def _inside(path: str, roots: list[Path]) -> bool:
    if not path.startswith("/"):
        return False
    candidate = Path(path)
    return any(candidate.is_relative_to(root) for root in roots)


def scan(*, session: Session, repo_path: Path, compose_dirs: Sequence[Path]) -> Discovery:
    """Read every Compose project on main and in ``compose_dirs`` and compare it with the catalog.

    The catalog index is brought up to main first (a no-op when it already mirrors main), so both
    sides are read at the same commit. Bad Compose files never raise: they are ``problems`` with file
    and line. Raises NotFound when the managed repository is gone.
    """
    started = time.perf_counter()
    commit = git.main_head(repo_path=repo_path)
    index.sync_from_git(session=session, repo_path=repo_path)
    files = _scan_files(repo_path=repo_path, commit=commit, compose_dirs=compose_dirs)
    rows = _catalog(session)
    bound: dict[tuple[str, str], str] = {}
    managed: dict[str, set[str]] = {}
    for row in rows:
        deployment = _compose_deployment(row)
        if deployment and deployment.get("compose_file"):
            managed.setdefault(str(deployment["compose_file"]), set()).add(row.slug)
            if deployment.get("compose_service"):
                bound.setdefault((str(deployment["compose_file"]), str(deployment["compose_service"])), row.slug)
    slugs = assign_slugs(files.found, bound)
    new, drifted, unchanged = _compare(files.found, slugs, {row.slug: row for row in rows}, managed)
    return Discovery(commit=commit, compose_files=files.compose_files, projects=files.projects,
                     services=len(files.found), duration_ms=int((time.perf_counter() - started) * 1000),
                     new=new, drifted=drifted, missing=_missing(rows, set(slugs), files),
                     unchanged=unchanged, problems=files.problems,
                     compose_dirs=[str(root) for root in files.dir_roots])


def _compare(found: list[Found], slugs: list[str], catalog: dict[str, CatalogService],
             managed: dict[str, set[str]]) -> tuple[list[Proposal], list[Proposal], list[Proposal]]:
    """Each found service as a proposal: new, drifted or unchanged."""
    by_project: dict[str, dict[str, str]] = {}
    for item, slug in zip(found, slugs, strict=True):
        by_project.setdefault(item.compose_file, {})[item.service.name] = slug
    new: list[Proposal] = []
    drifted: list[Proposal] = []
    unchanged: list[Proposal] = []
    for item, slug in zip(found, slugs, strict=True):
        names = by_project[item.compose_file]
        depends_on = list(dict.fromkeys(names[d] for d in item.service.depends_on if d in names and names[d] != slug))
        project = frozenset(names.values()) | managed.get(item.compose_file, set())
        row = catalog.get(slug)
        if row is None:
            spec, notes = proposed_spec(item, slug, depends_on)
            new.append(Proposal(slug, item, spec, notes=notes, errors=_spec_errors(slug, spec), managed=project))
            continue
        spec, notes = merged_spec(row.spec, item, slug, depends_on, set(project))
        changes = differences(row.spec, spec)
        proposal = Proposal(slug, item, spec, catalog_file=row.file, changes=changes, notes=notes, managed=project)
        if changes:
            proposal.errors = _spec_errors(slug, spec)
            drifted.append(proposal)
        else:
            unchanged.append(proposal)
    return new, drifted, unchanged


def _missing(rows: list[CatalogService], claimed: set[str], files: _Scan) -> list[Missing]:
    """Catalog services deployed from a scanned compose file that no found service matches."""
    missing = []
    for row in rows:
        deployment = _compose_deployment(row)
        if deployment is None or row.slug in claimed or row.status == ServiceStatus.RETIRED.value:
            continue
        compose_file = str(deployment.get("compose_file") or "")
        service_name = deployment.get("compose_service")
        if compose_file in files.refused_files:
            continue  # unreadable for now, not gone
        if compose_file in files.scanned_files:
            reason = (f"{compose_file} no longer declares {service_name!r}" if service_name
                      else f"no service of {compose_file} maps to {row.slug!r}")
        elif _inside(compose_file, files.dir_roots):
            reason = f"{compose_file} no longer exists"
        else:
            continue
        missing.append(Missing(row.slug, row.name, row.file, compose_file,
                               str(service_name) if service_name else None, reason))
    return missing


# -- writing many services in one commit ----------------------------------------------------------------------


@dataclass(frozen=True)
class PutResult:
    work_item_id: int
    commit: str
    paths: list[str]
    added: list[str]
    changed: list[str]
    retired: list[str]
    entry: str


def _plain(text: str | None) -> dict[str, Any] | None:
    if not text or not text.strip():
        return None
    try:
        value = load_plain(text)
    except Invalid:
        return None
    return value if isinstance(value, dict) else None


def _open_item(session: Session, item_id: int) -> WorkItem:
    item = work.get_work_item(session=session, item_id=item_id)
    if item.status not in OPEN_STATUSES:
        raise Conflict(f"Work item #{item.id} is {item.status}; choose an open work item or start one.",
                       code="not_open")
    return item


def _branch_path(worktree: Path, slug: str) -> str:
    """The service's file on the branch: an existing ``.yml`` is kept, else ``<slug>.yaml``."""
    for suffix in (".yaml", ".yml"):
        path = f"catalog/services/{slug}{suffix}"
        if (worktree / path).is_file():
            return path
    return index.service_file(slug)


def _read(worktree: Path, path: str) -> str | None:
    try:
        return git.read_worktree_file(worktree_path=worktree, path=path)
    except NotFound:
        return None


def validate_specs(specs: Sequence[tuple[str, dict[str, Any]]]) -> list[ServiceSpec]:
    """Validate every spec; raises Invalid listing every error of every spec (``details``: slug, path,
    message), or when the list is empty or names a slug twice."""
    if not specs:
        raise Invalid("Select at least one service.", details=[{"slug": "", "path": "slugs",
                                                                "message": "nothing selected"}])
    errors: list[dict[str, str]] = []
    models: list[ServiceSpec] = []
    seen: set[str] = set()
    for slug, spec in specs:
        if slug in seen:
            errors.append({"slug": slug, "path": "slug", "message": "selected twice"})
            continue
        seen.add(slug)
        try:
            models.append(validate_service(slug=slug, spec=spec))
        except Invalid as exc:
            details = exc.details if isinstance(exc.details, list) else [{"path": "", "message": exc.message}]
            errors += [{"slug": slug, "path": str(d.get("path", "")), "message": str(d.get("message", ""))}
                       for d in details]
    if errors:
        slugs = list(dict.fromkeys(e["slug"] for e in errors))
        raise Invalid(f"{len(slugs)} of the services are not valid ({', '.join(slugs[:10])}): "
                      + "; ".join(f"{e['slug']} {e['path'] or '(root)'}: {e['message']}" for e in errors[:5]),
                      details=errors)
    return models


def _listing(slugs: Sequence[str], room: int) -> str:
    """``a, b, c`` cut to fit ``room`` characters, ending ``and N more`` when cut."""
    shown: list[str] = []
    for position, slug in enumerate(slugs):
        rest = len(slugs) - position - 1
        tail = f" and {rest} more" if rest else ""
        if len(", ".join([*shown, slug])) + len(tail) > room:
            return ", ".join(shown) + f" and {len(slugs) - len(shown)} more"
        shown.append(slug)
    return ", ".join(shown)


def changelog_entry(added: Sequence[str], changed: Sequence[str], retired: Sequence[str]) -> tuple[ChangeType, str]:
    """The one CHANGES.md entry for a batch: ``Added N services from compose: a, b, c``."""
    slugs = [*added, *changed, *retired]
    count = len(slugs)
    noun = "service" if count == 1 else "services"
    if added and not changed and not retired:
        head, kind = f"Added {count} {noun} from compose", ChangeType.ADDED
    elif retired and not added and not changed:
        head, kind = f"Retired {count} {noun} no longer in compose", ChangeType.DEPRECATED
    elif changed and not added and not retired:
        head, kind = f"Updated {count} {noun} from compose", ChangeType.CHANGED
    else:
        parts = [f"{len(group)} {verb}" for group, verb in ((added, "added"), (changed, "updated"),
                                                            (retired, "retired")) if group]
        head, kind = f"Updated {count} {noun} from compose ({', '.join(parts)})", ChangeType.CHANGED
    return kind, f"{head}: {_listing(slugs, ENTRY_MAX - len(head) - 2)}"


def put_services(*, session: Session, actor: User, item_id: int, specs: list[tuple[str, dict[str, Any]]],
                 workspace: work.Workspace) -> PutResult:
    """Write many service files on a work item's branch and commit them once, with one changelog entry.

    Every spec is validated first: Invalid lists every error of every spec and nothing is written.
    Each file keeps a person's comments and key order (``yamlio.apply_spec``). Raises Conflict when
    the work item is not open or nothing changes. A failure while committing puts the files back as
    they were.
    """
    models = validate_specs(specs)
    item = _open_item(session, item_id)
    worktree = work.worktree_of(item)
    plan: list[tuple[str, str | None, str]] = []
    added: list[str] = []
    changed: list[str] = []
    retired: list[str] = []
    for model in models:
        path = _branch_path(worktree, model.slug)
        before = _read(worktree, path)
        original = _plain(before)
        try:
            text = apply_spec(before, spec_document(model, original=original))
        except Invalid as exc:
            raise Invalid(f"{path} on the branch of #{item.id} does not parse: {exc.message}; fix it first.",
                          details=[{"slug": model.slug, "path": path, "message": exc.message}]) from exc
        if text == before:
            continue
        plan.append((path, before, text))
        if before is None:
            added.append(model.slug)
        elif model.status == ServiceStatus.RETIRED and (original or {}).get("status") != "retired":
            retired.append(model.slug)
        else:
            changed.append(model.slug)
    if not plan:
        raise Conflict("The selected services already read like that on the branch of "
                       f"#{item.id}: nothing to commit.", code="nothing_to_commit")
    entry_type, entry_text = changelog_entry(added, changed, retired)
    paths = [path for path, _, _ in plan]
    written: list[tuple[str, str | None]] = []
    try:
        for path, before, text in plan:
            git.write_worktree_file(worktree_path=worktree, path=path, content=text)
            written.append((path, before))
        message = entry_text + "\n\n" + "\n".join(f"- {path}" for path in paths)
        commit = work.commit(session=session, actor=actor, item_id=item.id, workspace=workspace, message=message,
                             files=paths, entry_type=entry_type, entry_text=entry_text)
    except BaseException:
        for path, before in reversed(written):
            try:
                if before is None:
                    git.delete_worktree_file(worktree_path=worktree, path=path)
                else:
                    git.write_worktree_file(worktree_path=worktree, path=path, content=before)
            except DomainError:
                log.exception("could not put %s back on the branch of #%s", path, item.id)
        raise
    return PutResult(item.id, commit, paths, added, changed, retired, entry_text)


# -- accepting a selection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptResult:
    work_item_id: int
    commit: str
    merged: bool
    merge_commit: str | None
    paths: list[str]
    added: list[str]
    changed: list[str]
    retired: list[str]
    entry: str
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"work_item_id": self.work_item_id, "commit": self.commit, "merged": self.merged,
                "merge_commit": self.merge_commit, "paths": self.paths, "added": self.added,
                "changed": self.changed, "retired": self.retired, "changelog": self.entry,
                "warnings": self.warnings}


def _selection(discovery: Discovery, slugs: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(s.strip() for s in slugs if isinstance(s, str) and s.strip()))
    if not cleaned:
        raise Invalid("Select at least one service to accept.",
                      details=[{"slug": "", "path": "slugs", "message": "nothing selected"}])
    if len(cleaned) > MAX_ACCEPT:
        raise Invalid(f"Accept at most {MAX_ACCEPT} services at once ({len(cleaned)} selected).")
    errors = []
    groups = discovery.groups()
    for slug in cleaned:
        group = groups.get(slug)
        if group is None:
            errors.append({"slug": slug, "path": "slugs",
                           "message": "not a new, drifted or missing service in the latest scan"})
        elif group == "unchanged":
            errors.append({"slug": slug, "path": "slugs", "message": "already matches its compose service"})
    if errors:
        raise Invalid(f"{len(errors)} selected slug(s) are not proposed by compose discovery: "
                      + ", ".join(e["slug"] for e in errors[:20]) + ". Scan again and choose from the list.",
                      code="not_proposed", details=errors)
    return cleaned


def _document_for(workspace: work.Workspace, item: WorkItem | None, slug: str,
                  row_file: str | None) -> dict[str, Any] | None:
    """The service's current document: on the work item's branch when it has one, else on main."""
    if item is not None:
        worktree = work.worktree_of(item)
        text = _read(worktree, _branch_path(worktree, slug))
        if text is not None:
            return _plain(text)
    if row_file is None:
        return None
    data = git.read_file_at(repo_path=workspace.repo_path, path=row_file)
    return _plain(data.decode("utf-8-sig", "replace")) if data is not None else None


def _specs(workspace: work.Workspace, discovery: Discovery, item: WorkItem | None,
           slugs: list[str]) -> list[tuple[str, dict[str, Any]]]:
    proposals = {p.slug: p for p in (*discovery.new, *discovery.drifted)}
    missing = {m.slug: m for m in discovery.missing}
    specs = []
    for slug in slugs:
        if slug in missing:
            document = _document_for(workspace, item, slug, missing[slug].file)
            if document is None:
                raise NotFound(f"The file of {slug} is gone from the branch; scan again.")
            specs.append((slug, {**document, "status": ServiceStatus.RETIRED.value}))
            continue
        proposal = proposals[slug]
        document = _document_for(workspace, item, slug, proposal.catalog_file)
        if document is None:
            specs.append((slug, proposal.spec))
        else:
            # Brought up to date on the branch's version, so edits already made there are kept.
            depends = [d for d in proposal.spec.get("depends_on") or [] if d in proposal.managed]
            spec, _ = merged_spec(document, proposal.found, slug, depends, set(proposal.managed))
            specs.append((slug, spec))
    return specs


def _warnings(session: Session, specs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    known = set(index.all_slugs(session=session)) | {slug for slug, _ in specs}
    warnings = []
    for slug, spec in specs:
        unknown = [d for d in spec.get("depends_on") or [] if d not in known]
        if unknown:
            warnings.append(f"{slug} depends on {', '.join(unknown)}, not in the catalog yet: accept "
                            f"{'it' if len(unknown) == 1 else 'them'} too, or the catalog reports an unknown "
                            "dependency.")
    return warnings


def _title(title: str, slugs: list[str]) -> str:
    title = " ".join((title or "").split())
    if title:
        return title[:200]
    if len(slugs) == 1:
        return f"Import {slugs[0]} from compose"
    return f"Import {len(slugs)} services from compose"


def accept(
    *, session: Session, actor: User, workspace: work.Workspace, compose_dirs: Sequence[Path],
    slugs: Sequence[str], work_item_id: int | None, title: str, categories: list[str], apply_now: bool = False,
) -> AcceptResult:
    """Write the selected proposals (by slug, from a fresh scan) through a work item in one commit.

    ``work_item_id`` names an open work item; None starts a new one titled ``title``; ``apply_now``
    makes it a standard change (created, committed, documented, merged and completed at once).
    Everything is checked before anything is written: Invalid lists every slug that is not proposed
    and every invalid spec; Conflict when the work item is not open or standard changes are off.
    A new work item is cancelled again if writing fails, so nothing is left half-done.
    """
    if apply_now and work_item_id is not None:
        raise Invalid("Either choose a work item or apply now as a standard change, not both.")
    if apply_now:
        work.require_standard_changes(session=session)
    discovery = scan(session=session, repo_path=workspace.repo_path, compose_dirs=compose_dirs)
    selected = _selection(discovery, slugs)
    item = _open_item(session, work_item_id) if work_item_id is not None else None
    specs = _specs(workspace, discovery, item, selected)
    validate_specs(specs)
    warnings = _warnings(session, specs)
    if item is not None:
        result = put_services(session=session, actor=actor, item_id=item.id, specs=specs, workspace=workspace)
        return AcceptResult(item.id, result.commit, False, None, result.paths, result.added, result.changed,
                            result.retired, result.entry, warnings)
    groups = discovery.groups()
    action = WorkAction.NEW if all(groups.get(slug) == "new" for slug in selected) else WorkAction.CHANGE
    name = _title(title, selected)
    category = "service" if "service" in categories else categories[0]  # a standard change overrides it
    files = sorted({p.found.compose_file for p in (*discovery.new, *discovery.drifted) if p.slug in selected}
                   | {m.compose_file for m in discovery.missing if m.slug in selected})
    description = ("Accepted from compose discovery (main at " + discovery.commit[:10] + "): "
                   + ", ".join(selected[:50]) + ("..." if len(selected) > 50 else "") + ".\n\nCompose files: "
                   + ", ".join(files[:20]))
    data = WorkItemCreate(title=name, category=category, action=action, description=description[:20_000],
                          service=selected[0] if len(selected) == 1 else None)

    def write(item: WorkItem) -> PutResult:
        return put_services(session=session, actor=actor, item_id=item.id, specs=specs, workspace=workspace)

    if apply_now:
        merged, result = work.run_standard_change(
            session=session, actor=actor, workspace=workspace, categories=categories, data=data, change=write,
            notes=lambda written: f"Standard change from compose discovery: {written.entry}")
        return AcceptResult(merged.id, result.commit, True, merged.merge_commit, result.paths, result.added,
                            result.changed, result.retired, result.entry, warnings)
    new_item = work.create_work_item(session=session, actor=actor, workspace=workspace, categories=categories,
                                     data=data)
    try:
        result = write(new_item)
    except DomainError:
        session.rollback()
        work.cancel(session=session, actor=actor, item_id=new_item.id, workspace=workspace, confirm=True)
        raise
    return AcceptResult(new_item.id, result.commit, False, None, result.paths, result.added, result.changed,
                        result.retired, result.entry, warnings)

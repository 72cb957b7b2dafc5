"""Layering, checked on the source with ``ast`` (each finding reported with its module and line):

- ``calcifer.gitrepo`` is the only door into the git layer: no module outside gitrepo/ imports pygit2 or a
  gitrepo submodule (``calcifer.gitrepo.service``, ``calcifer.gitrepo._repo``, ``from calcifer.gitrepo
  import service``...);
- a slice reads another slice's data through that slice's functions or declared read models: it imports
  no other slice's ``models`` or ORM classes, but for the exceptions listed below with their reasons.
"""

from __future__ import annotations

import ast
from pathlib import Path

import calcifer

PACKAGE_DIR = Path(calcifer.__file__).parent
GITREPO_DIR = PACKAGE_DIR / "gitrepo"
GITREPO_SUBMODULES = frozenset(
    path.stem if path.is_file() else path.name
    for path in GITREPO_DIR.iterdir()
    if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _crossings(path: Path, module: str) -> list[str]:
    """Each import in ``path`` (the module named ``module``) that goes around ``calcifer.gitrepo``'s public
    API, as 'module:line: imports what'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, path.name == "__init__.py")
            names = [target]
            if target == "calcifer.gitrepo":
                names += [f"{target}.{alias.name}" for alias in node.names if alias.name in GITREPO_SUBMODULES]
            elif target == "calcifer":
                names += [f"calcifer.{alias.name}" for alias in node.names if alias.name == "pygit2"]
        for name in names:
            if name == "pygit2" or name.startswith("pygit2."):
                found.append(f"{module}:{node.lineno}: imports {name} (use calcifer.gitrepo)")
            elif name.startswith("calcifer.gitrepo."):
                found.append(f"{module}:{node.lineno}: imports {name} (use calcifer.gitrepo's public names)")
    return found


def _modules_outside_gitrepo() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if GITREPO_DIR not in p.parents)


def test_no_module_outside_gitrepo_imports_pygit2_or_a_gitrepo_submodule() -> None:
    modules = _modules_outside_gitrepo()
    assert len(modules) > 50  # the walk really found the package
    crossings = [line for path in modules for line in _crossings(path, _module_name(path))]
    assert crossings == [], "imports around calcifer.gitrepo:\n" + "\n".join(crossings)


def test_the_layer_check_names_each_way_around_the_door(tmp_path: Path) -> None:
    # The check must recognise every spelling it forbids, wherever in a module the import sits.
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import pygit2\n"
        "from pygit2.enums import FileMode\n"
        "from calcifer.gitrepo._repo import bare_repo\n"
        "from calcifer.gitrepo import service as git\n"
        "from calcifer.gitrepo import MAIN, read_file_at\n"
        "def later():\n"
        "    import calcifer.gitrepo.paths\n"
        "    from .gitrepo import merge\n",
        encoding="utf-8",
    )
    crossings = _crossings(probe, "calcifer.probe")
    assert [line.split(": imports ")[1].split(" ")[0] for line in crossings] == [
        "pygit2",
        "pygit2.enums",
        "calcifer.gitrepo._repo",
        "calcifer.gitrepo.service",
        "calcifer.gitrepo.paths",
        "calcifer.gitrepo.merge",
    ]


# -- slices read each other's data through functions and declared read models -------------------------------------
#
# A module of slice A may not import slice B's ``models`` module or B's ORM classes (whatever module it
# imports them through), except:
# - TYPE_ONLY classes, named only in annotations: objects B's own functions and hooks hand over, whose
#   attributes the receiver reads; a class named anywhere else (``select(WorkItem)``, ``WorkItem.status``,
#   ``isinstance``) could be a query of B's table and is reported;
# - EXCEPTIONS, a module that queries B's tables, each with its reason.

NOT_SLICES = frozenset({"migrations"})  # Alembic's history owns every table's schema by definition
TYPE_ONLY: dict[tuple[str, str], str] = {
    ("auth", "User"): "the signed-in actor every service receives (deps.CurrentUser), and the author, "
                      "assignee and reviewer of work items (foreign keys to users)",
    ("work", "WorkItem"): "the work item work.service hands to merge rules, after-merge files, work-item "
                          "hooks and the slices that change files in its worktree",
}
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("calcifer.monitoring.service", "catalog"):
        "the /monitoring list filters and sorts endpoints by catalog fields (service, tag, name) and by "
        "status in one SQL query joining monitor_states with the catalog index (bench/monitor_scale.py)",
    ("calcifer.monitoring.queries", "catalog"):
        "monitoring's read model: the live state of endpoints and services joins monitor_states with the "
        "catalog index's endpoints in one query for a whole page",
    ("calcifer.monitoring.scheduler", "catalog"):
        "the scheduler loads the catalog index's endpoint columns it checks, and its generation "
        "(CatalogState), in one query per reload",
    ("calcifer.monitoring.locations", "catalog"):
        "what each location checks and its verdict rule come from the catalog index's endpoint columns and "
        "spec (locations, verdict), in one query per catalog generation (the scheduler's own read)",
    ("calcifer.work.service", "auth"):
        "the work list filters by the assignee's username in its one query (a join on users, which "
        "work_items.assignee_id references)",
}


def _slice_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[0] != "calcifer" or parts[1] in NOT_SLICES:
        return None
    return parts[1] if (PACKAGE_DIR / parts[1] / "__init__.py").is_file() else None


def _orm_classes() -> dict[str, set[str]]:
    """``{slice: names of its ORM classes}``: classes deriving from ``Base`` in its models module(s)."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE_DIR.glob("*/models.py")) + sorted(PACKAGE_DIR.glob("*/models/*.py")):
        owner = path.relative_to(PACKAGE_DIR).parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "Base" for b in node.bases):
                found.setdefault(owner, set()).add(node.name)
    return found


ORM_CLASSES = _orm_classes()


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (arguments, returns, annotated assignments)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            roots += [a.annotation for a in every if a is not None and a.annotation is not None]
            if node.returns is not None:
                roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(inner) for root in roots for inner in ast.walk(root)}


def _foreign_reads(path: Path, module: str) -> list[str]:
    """Each import of another slice's models or ORM classes in ``path`` that the rules above do not allow,
    and each use outside annotations of a type-only class, as 'module:line: what'."""
    own = _slice_of(module)
    if own is None:
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    type_only: dict[str, str] = {}  # local name -> "slice.Class"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(alias.name, None, alias) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path.name == "__init__.py")
            targets = [(base, alias.name, alias) for alias in node.names]
        else:
            continue
        for target, name, alias in targets:
            full = f"{target}.{name}" if name else target
            owner = _slice_of(full) if full.startswith("calcifer.") else None
            if owner is None or owner == own:
                continue
            in_models = full.split(".")[2] == "models"
            is_class = name in ORM_CLASSES.get(owner, set())
            if not in_models and not is_class:
                continue
            if (module, owner) in EXCEPTIONS:
                continue
            if is_class and (owner, name) in TYPE_ONLY:
                type_only[alias.asname or name] = f"{owner}.{name}"
                continue
            found.append(f"{module}:{node.lineno}: imports {full} (read {owner}'s data through its functions "
                         "or a declared read model)")
    if type_only:
        in_annotation = _annotation_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in type_only and id(node) not in in_annotation:
                found.append(f"{module}:{node.lineno}: uses {type_only[node.id]} outside an annotation "
                             "(it may be named only as a type)")
    return found


def test_no_slice_reads_another_slices_tables_but_the_declared_exceptions() -> None:
    modules = sorted(PACKAGE_DIR.rglob("*.py"))
    assert {"auth", "catalog", "work", "monitoring"} <= ORM_CLASSES.keys()  # the scan found the models
    crossings = [line for path in modules for line in _foreign_reads(path, _module_name(path))]
    assert crossings == [], "reads of another slice's tables:\n" + "\n".join(crossings)


def test_the_slice_check_names_each_way_into_another_slices_tables(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from calcifer.catalog.models import CatalogService\n"
        "from calcifer.catalog import models as catalog_models\n"
        "from calcifer.catalog.index import CatalogEndpoint\n"
        "import calcifer.work.models\n"
        "from calcifer.work.models import WorkItem\n"
        "from ..auth.models import User\n"
        "from calcifer.search.models import SearchDocument\n"
        "def later(item: WorkItem, actor: User) -> list[WorkItem]:\n"
        "    return select(WorkItem).where(WorkItem.id == item.id)\n",
        encoding="utf-8",
    )
    crossings = _foreign_reads(probe, "calcifer.search.probe")
    assert [line.split(": ", 1)[1].split(" (")[0] for line in crossings] == [
        "imports calcifer.catalog.models.CatalogService",
        "imports calcifer.catalog.models",
        "imports calcifer.catalog.index.CatalogEndpoint",
        "imports calcifer.work.models",
        "uses work.WorkItem outside an annotation",
        "uses work.WorkItem outside an annotation",
    ]

"""Layering: ``calcifer.gitrepo`` is the only door into the git layer.

Every module of src/calcifer outside gitrepo/ is parsed with ``ast``; an import of pygit2, of a gitrepo
submodule (``calcifer.gitrepo.service``, ``calcifer.gitrepo._repo``...) or of a submodule through
``from calcifer.gitrepo import service`` is reported with its module and line.
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

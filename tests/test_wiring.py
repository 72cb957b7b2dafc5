"""How the slices are put together: one composition root (``calcifer.wiring``), no import cycles, nothing
registered by being imported, the after-merge steps in their listed order, and a scheduler that leaves
the web process's interpreter settings alone."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from calcifer import wiring
from calcifer.app import create_app, prepare
from calcifer.events import MainMoved
from calcifer.monitoring import scheduler as scheduler_module
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.runner import SchedulerThread
from calcifer.web.context import AppContext
from calcifer.work import service as work_service
from tests.conftest import Cast, drop_schema, make_settings
from tests.monitoring.scheduler_helpers import endpoint_row, put_endpoints, state_of, targets, wait_until
from tests.search.helpers import land

SRC = Path(__file__).resolve().parents[1] / "src"


# -- the import graph ---------------------------------------------------------------------------------

def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, also inside functions (a lazy import still depends at run time); imports
    only for type checkers are left out."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        else:
            yield from _imports(node)


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """module -> the calcifer modules it imports, read from the source with ``ast``."""
    files = {_module_name(path, root): path for path in (root / "calcifer").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in files)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in files:  # `from package import module`
                    found.add(f"{base}.{alias.name}")
                elif base in files:
                    found.add(base)
        graph[module] = found - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_no_two_modules_of_calcifer_import_each_other_even_through_others() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_names_a_cycle_hidden_in_a_function_body(tmp_path: Path) -> None:
    package = tmp_path / "calcifer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from calcifer import b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from calcifer import c\n"
                                  "def later():\n    from calcifer.c import thing\n")
    (package / "c.py").write_text("import calcifer.a\n")
    assert find_cycle(import_graph(tmp_path)) == ["calcifer.a", "calcifer.b", "calcifer.c", "calcifer.a"]
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from calcifer import c\n")
    assert find_cycle(import_graph(tmp_path)) is None


# -- nothing registers by being imported ---------------------------------------------------------------

def test_importing_every_module_registers_nothing_until_wiring_runs() -> None:
    # A fresh interpreter: this test process has been wired by other tests' fixtures.
    script = textwrap.dedent("""
        import importlib, json, pkgutil
        import calcifer
        for info in pkgutil.walk_packages(calcifer.__path__, "calcifer."):
            if info.name not in ("calcifer.asgi", "calcifer.__main__"):  # importing them runs the app
                importlib.import_module(info.name)
        from calcifer import background, wiring
        from calcifer.catalog import service as catalog
        from calcifer.monitoring import checks, hooks
        from calcifer.notify import channels
        from calcifer.remote import service as remote
        from calcifer.work import reviews
        from calcifer.work import service as work
        def names(items):
            if isinstance(items, dict):
                return list(items)
            return [getattr(item, "__qualname__", repr(item)) for item in items]
        lists = {"merge rules": work.MERGE_RULES, "merge files": work.MERGE_EXTRA_FILES,
                 "after-merge steps": work.AFTER_MERGE_STEPS, "work-item hooks": work.WORK_ITEM_CHANGED_HOOKS,
                 "initial files": work.INITIAL_FILE_PROVIDERS, "catalog added": catalog.ADDED_HOOKS,
                 "status subscribers": hooks.STATUS_CHANGE_HOOKS, "maintenance": hooks.MAINTENANCE_PROVIDERS,
                 "background services": background.SERVICES, "check types": checks.REGISTRY,
                 "integration rules": remote.INTEGRATION_RULES, "resolution rules": work.RESOLUTION_RULES,
                 "channel types": channels.CHANNEL_TYPES, "review hooks": reviews.REVIEW_EVENT_HOOKS}
        before = {name: names(items) for name, items in lists.items()}
        wiring.wire()
        after = {name: names(items) for name, items in lists.items()}
        print(json.dumps({"before": before, "after": after}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert {name: items for name, items in found["before"].items() if items} == {}
    after = found["after"]
    assert after["after-merge steps"] == [step.__qualname__ for step in wiring.AFTER_MERGE_STEPS]
    assert after["status subscribers"] == ["record_incidents", "queue_status_notifications",
                                           "record_status_changes"]
    assert after["background services"] == ["monitoring-scheduler", "probe-watch", "backups", "notifier",
                                             "webhooks", "remote-sync", "plugin-events", "inbox"]
    # The built-in channel type, registered by the wiring like a plugin's.
    assert len(after["channel types"]) == 1 and "AppriseChannel" in after["channel types"][0]
    assert after["review hooks"] == ["record_review"]
    assert {"http", "tcp", "icmp", "dns", "push"} <= set(after["check types"])
    assert all(after[name] for name in ("merge rules", "merge files", "work-item hooks", "initial files",
                                        "catalog added", "maintenance", "integration rules", "resolution rules"))


def test_a_plugin_entry_point_joins_the_built_in_lists_and_a_broken_one_is_left_out(
        monkeypatch: Any, caplog: Any) -> None:
    from importlib.metadata import EntryPoint

    def needs_a_ticket(*, session: Any, item: Any, workspace: Any) -> list[Any]:
        return []

    def extra_rule(built: wiring.Wiring) -> None:
        built.merge_rules.append(needs_a_ticket)

    def broken(built: wiring.Wiring) -> None:
        raise RuntimeError("plugin bug")

    plugins = {"tickets": extra_rule, "broken": broken}
    monkeypatch.setitem(sys.modules, "fake_plugins", type(sys)("fake_plugins"))
    for name, function in plugins.items():
        setattr(sys.modules["fake_plugins"], name, function)
    points = [EntryPoint(name, f"fake_plugins:{name}", wiring.PLUGIN_GROUP) for name in plugins]
    monkeypatch.setattr(wiring, "entry_points", lambda group: points if group == wiring.PLUGIN_GROUP else [])

    built = wiring.build()
    assert built.merge_rules == [*wiring.MERGE_RULES, needs_a_ticket]
    assert built.after_merge_steps == list(wiring.AFTER_MERGE_STEPS)
    assert "plugin fake_plugins:broken could not be wired" in caplog.text


# -- the after-merge pipeline -------------------------------------------------------------------------

SERVICE = "name: Kiwi\nslug: kiwi\nkind: container\ndescription: berries\n"


def test_after_merge_steps_run_in_the_listed_order_each_receiving_what_the_one_before_found(
        ctx: AppContext, cast: Cast, monkeypatch: Any) -> None:
    seen: list[tuple[str, MainMoved]] = []

    def recorded(step: work_service.AfterMergeStep) -> work_service.AfterMergeStep:
        def run(*, session: Any, repo_path: Path, change: MainMoved) -> MainMoved | None:
            seen.append((step.__module__, change))
            return step(session=session, repo_path=repo_path, change=change)
        return run

    monkeypatch.setattr(work_service, "AFTER_MERGE_STEPS", [recorded(step) for step in wiring.AFTER_MERGE_STEPS])
    land(cast.editor, {"catalog/services/kiwi.yaml": SERVICE}, entry="Added the kiwi service")

    assert [module for module, _ in seen] == ["calcifer.catalog.service", "calcifer.docs.index_sync",
                                              "calcifer.search.index_sync", "calcifer.outbox.service",
                                              "calcifer.remote.service"]
    catalog_step, docs_step, search_step, _outbox_step, _push_step = (change for _, change in seen)
    # What changed on main, path by path with its blob id: the service file and the changelog.
    assert catalog_step.paths is not None and catalog_step.paths["catalog/services/kiwi.yaml"]
    assert "CHANGES.md" in catalog_step.paths and catalog_step.catalog is None
    # The catalog's sync handed on the rows it rewrote; later steps received them as an argument.
    assert docs_step.catalog is not None and docs_step.catalog.services == frozenset({"kiwi"})
    assert search_step.catalog == docs_step.catalog
    found = cast.editor.get("/api/v1/search", params={"q": "kiwi", "kind": "service"}).json()
    assert [hit["key"] for hit in found["items"]] == ["kiwi"]


# -- interpreter tuning stays in the scheduler's process -----------------------------------------------

def test_a_scheduler_in_the_web_app_leaves_the_switch_interval_and_collector_thresholds_alone(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", monitor_in_web=True)
    ctx = prepare(settings)
    switch, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(0.005)
    gc.set_threshold(700, 10, 10)
    try:
        with targets() as net:
            put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options={"expect_banner": "HELLO"})])
            with TestClient(create_app(ctx=ctx)):
                # A result means the scheduler is past its start-up (where it would tune).
                wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.UP, timeout=60,
                           what="a result")
                assert sys.getswitchinterval() == 0.005
                assert gc.get_threshold() == (700, 10, 10)
    finally:
        sys.setswitchinterval(switch)
        gc.set_threshold(*thresholds)
        ctx.engine.dispose()
        drop_schema(settings)


def test_a_scheduler_told_it_owns_its_process_tunes_the_interpreter_and_puts_it_back_when_it_stops(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    ctx = prepare(settings)
    switch, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(0.005)
    gc.set_threshold(700, 10, 10)
    try:
        with targets() as net:
            put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options={"expect_banner": "HELLO"})])
            runner = SchedulerThread(ctx, tune_interpreter=True).start()
            try:
                wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.UP, timeout=60,
                           what="a result")
                assert sys.getswitchinterval() == scheduler_module.SWITCH_INTERVAL
                assert gc.get_threshold() == scheduler_module.GC_THRESHOLDS
            finally:
                runner.stop()
        assert sys.getswitchinterval() == 0.005
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        sys.setswitchinterval(switch)
        gc.set_threshold(*thresholds)
        ctx.engine.dispose()
        drop_schema(settings)

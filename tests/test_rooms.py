"""Every slice has the same rooms (STYLE.md): a reader who knows where one slice keeps its enums, its API
shapes and its pages finds them in the same place in every other slice."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from enum import Enum
from types import ModuleType

from fastapi.routing import APIRoute
from pydantic import BaseModel

import calcifer
from calcifer.app import ROUTERS

SLICES = ("audit", "auth", "backup", "catalog", "changelog", "docs", "gitrepo", "monitoring", "notify", "plugins",
          "prefs", "search", "web", "work")


def _slice_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.walk_packages(calcifer.__path__, prefix="calcifer."):
        parts = info.name.split(".")
        if len(parts) >= 3 and parts[1] in SLICES:
            modules.append(importlib.import_module(info.name))
    return modules


def _defined_here(module: ModuleType, base: type) -> list[str]:
    return [name for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__]


def test_the_changelog_page_and_apis_are_served_by_the_changelog_slice() -> None:
    served_by = {route.path: route.endpoint.__module__ for router in ROUTERS for route in router.routes
                 if isinstance(route, APIRoute) and "changelog" in route.path}
    assert served_by == {"/changelog": "calcifer.changelog.routes",
                         "/api/v1/changelog": "calcifer.changelog.routes",
                         "/api/v1/changelog/entries": "calcifer.changelog.routes"}


def test_enums_of_a_slice_are_defined_in_its_choices_module() -> None:
    misplaced = {m.__name__: _defined_here(m, Enum) for m in _slice_modules()
                 if not m.__name__.endswith(".choices")}
    assert {name: enums for name, enums in misplaced.items() if enums} == {}


def test_no_route_or_service_module_defines_its_own_pydantic_shapes() -> None:
    # Check types keep their options model beside the check (monitoring/checks/), so only these rooms count.
    rooms = [m for m in _slice_modules()
             if m.__name__.rsplit(".", 1)[-1] in ("service", "routes") or m.__name__.endswith("_routes")]
    misplaced = {m.__name__: _defined_here(m, BaseModel) for m in rooms}
    assert {name: shapes for name, shapes in misplaced.items() if shapes} == {}

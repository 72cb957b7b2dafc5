"""The check-type registry: the only place that maps an endpoint ``type`` to code.

Built-in types register exactly like plugins: through the ``calcifer.checks`` entry point group
(see pyproject.toml). ``REGISTRY`` is filled on first use by ``load()``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from calcifer.monitoring.checks.base import CheckType

log = logging.getLogger("calcifer.monitoring")

ENTRY_POINT_GROUP = "calcifer.checks"
REGISTRY: dict[str, CheckType] = {}
_loaded = False


def register(check_type: type[CheckType]) -> type[CheckType]:
    """Add a check type (also usable as a class decorator). A later registration of a kind wins."""
    REGISTRY[check_type.kind] = check_type()
    return check_type


def load() -> dict[str, CheckType]:
    """Register every check type named by the ``calcifer.checks`` entry points (once)."""
    global _loaded
    if not _loaded:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register(point.load())
            except Exception:  # a broken plugin must not take monitoring down
                log.exception("check type plugin %s could not be loaded", point.value)
        _loaded = True
    return REGISTRY


def get(kind: str) -> CheckType | None:
    return load().get(kind)

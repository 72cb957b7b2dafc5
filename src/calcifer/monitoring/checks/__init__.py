"""The check-type registry: the only place that maps an endpoint ``type`` to code.

Built-in types register exactly like plugins: through the ``calcifer.checks`` entry point group
(see pyproject.toml). ``REGISTRY`` is filled on first use by ``load()``. Registering a type also
registers its options validator with the catalog (``calcifer.catalog.schemas.OPTION_VALIDATORS``), so
an endpoint file with bad ``options:`` is refused with the field's path.
"""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points
from typing import Any

from calcifer.catalog.choices import EndpointType
from calcifer.catalog.schemas import OPTION_VALIDATORS, PLUGIN_ENDPOINT_TYPES, EndpointTypeRules
from calcifer.monitoring.checks.base import CheckType

log = logging.getLogger("calcifer.monitoring")

ENTRY_POINT_GROUP = "calcifer.checks"
_KIND = re.compile(r"[a-z][a-z0-9-]{0,15}")
REGISTRY: dict[str, CheckType] = {}
_loaded = False


def _options_validator(check_type: CheckType) -> Any:
    def validate(raw: dict[str, Any]) -> dict[str, Any]:
        # Keep only what the file says (normalised): defaults written back would bloat every file.
        return check_type.parse_options(raw).model_dump(mode="json", exclude_unset=True)

    return validate


def register(check_type: type[CheckType]) -> type[CheckType]:
    """Add a check type (also usable as a class decorator). A later registration of a kind wins."""
    if not _KIND.fullmatch(getattr(check_type, "kind", "")):
        # The catalog index stores the type in 16 characters.
        raise ValueError(f"check type {check_type.__name__}: kind must be 1-16 lowercase letters, digits or "
                         "dashes, starting with a letter")
    instance = check_type()
    REGISTRY[check_type.kind] = instance
    OPTION_VALIDATORS[check_type.kind] = _options_validator(instance)
    if check_type.kind not in {kind.value for kind in EndpointType}:  # a plugin's own type
        PLUGIN_ENDPOINT_TYPES[check_type.kind] = EndpointTypeRules(
            needs_target=check_type.needs_target, needs_port=check_type.needs_port,
            target_is_url=check_type.target_is_url)
    return check_type


def load() -> dict[str, CheckType]:
    """Register every check type named by the ``calcifer.checks`` entry points (once)."""
    global _loaded
    if not _loaded:
        _loaded = True  # set first: validating a catalog file while loading must not recurse
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register(point.load())
            except Exception:  # a broken plugin must not take monitoring down
                log.exception("check type plugin %s could not be loaded", point.value)
    for kind, instance in REGISTRY.items():  # put back a validator someone removed (tests swap them)
        if kind not in OPTION_VALIDATORS:
            OPTION_VALIDATORS[kind] = _options_validator(instance)
    return REGISTRY


def get(kind: str) -> CheckType | None:
    return load().get(kind)

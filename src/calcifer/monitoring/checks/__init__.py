"""The check-type registry: the only place that maps an endpoint ``type`` to code, and what each type
needs from a catalog endpoint (target, port). The catalog asks it (``endpoint_types``,
``option_validator``) when it validates a file, so a bad ``options:`` is refused with the field's path.

Built-in types register exactly like plugins: through the ``calcifer.checks`` entry point group
(see pyproject.toml). ``REGISTRY`` is filled on first use by ``load()`` (``calcifer.wiring`` calls it at
start); importing this module registers nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from calcifer.catalog.choices import EndpointType
from calcifer.monitoring.checks.base import CheckType
from calcifer.plugins import registry as plugins

log = logging.getLogger("calcifer.monitoring")

ENTRY_POINT_GROUP = "calcifer.checks"
_KIND = re.compile(r"[a-z][a-z0-9-]{0,15}")
REGISTRY: dict[str, CheckType] = {}
# The distribution each kind came from (``calcifer`` for the built-ins): a disabled plugin's kinds are refused.
OWNERS: dict[str, str] = {}
_loaded = False

# Validates an endpoint's ``options`` mapping: returns the cleaned mapping, or raises ValueError (a
# pydantic ValidationError is one) whose message says what to fix.
OptionValidator = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class EndpointTypeRules:
    """What an endpoint of a type must say besides its options."""

    needs_target: bool = True
    needs_port: bool = False
    target_is_url: bool = False


# The built-in types' rules live with `EndpointType` (the catalog's published enum).
_BUILTIN_TYPE_RULES = {kind.value: EndpointTypeRules(needs_target=kind.needs_target, needs_port=kind.needs_port,
                                                      target_is_url=kind.target_is_url) for kind in EndpointType}


def _options_validator(check_type: CheckType) -> OptionValidator:
    def validate(raw: dict[str, Any]) -> dict[str, Any]:
        # Keep only what the file says (normalised): defaults written back would bloat every file.
        return check_type.parse_options(raw).model_dump(mode="json", exclude_unset=True)

    return validate


def register(check_type: type[CheckType], *, plugin: str = plugins.BUILTIN) -> type[CheckType]:
    """Add a check type (``plugin``: the distribution it came from). A later registration of a kind wins."""
    if not _KIND.fullmatch(getattr(check_type, "kind", "")):
        # The catalog index stores the type in 16 characters.
        raise ValueError(f"check type {check_type.__name__}: kind must be 1-16 lowercase letters, digits or "
                         "dashes, starting with a letter")
    REGISTRY[check_type.kind] = check_type()
    OWNERS[check_type.kind] = plugin
    return check_type


def load() -> dict[str, CheckType]:
    """Register every check type named by the ``calcifer.checks`` entry points (once)."""
    global _loaded
    if not _loaded:
        _loaded = True  # set first: validating a catalog file while loading must not recurse
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                register(point.load(), plugin=point.dist.name if point.dist is not None else plugins.BUILTIN)
            except Exception:  # a broken plugin must not take monitoring down
                log.exception("check type plugin %s could not be loaded", point.value)
    return REGISTRY


def get(kind: str) -> CheckType | None:
    """The check type of ``kind``; None when nobody registered it or its plugin is disabled."""
    check = load().get(kind)
    return check if check is not None and plugins.enabled(OWNERS.get(kind, plugins.BUILTIN)) else None


def disabled_plugin(kind: str) -> str | None:
    """The disabled plugin that provides ``kind``, or None (enabled, built-in or unknown)."""
    load()
    owner = OWNERS.get(kind)
    return owner if owner is not None and not plugins.enabled(owner) else None


def endpoint_types() -> dict[str, EndpointTypeRules]:
    """Every endpoint type a catalog file may use and what it needs: the built-in ones, then the
    plugins' (registry loaded)."""
    plugins = {kind: EndpointTypeRules(needs_target=check.needs_target, needs_port=check.needs_port,
                                       target_is_url=check.target_is_url)
               for kind, check in load().items() if kind not in _BUILTIN_TYPE_RULES and get(kind) is not None}
    return _BUILTIN_TYPE_RULES | plugins


def type_rules(kind: str) -> EndpointTypeRules | None:
    """What an endpoint of type ``kind`` needs, or None for a type nobody registered."""
    # Built-in types never need the registry loaded here (their options validators load it on demand).
    return _BUILTIN_TYPE_RULES.get(kind) or endpoint_types().get(kind)


def option_validator(kind: str) -> OptionValidator | None:
    """The validator of an endpoint's ``options`` for type ``kind`` (None: no such check type)."""
    check = get(kind)
    return _options_validator(check) if check is not None else None


def options_schema(kind: str) -> dict[str, Any] | None:
    """The JSON Schema of type ``kind``'s ``options:`` (its Options model), which the endpoint form is
    generated from; None for a type nobody registered."""
    check = get(kind)
    return check.Options.model_json_schema() if check is not None else None

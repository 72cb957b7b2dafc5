"""Compose service attributes: their short and long forms, and the rules for merging two definitions.

One set of merge rules serves both an override file (``compose.override.yaml``) and ``extends``; the
Compose specification's two descriptions agree on everything this catalog reads:

- mappings merge key by key, the later definition winning; ``environment``, ``labels``,
  ``annotations``, ``sysctls``, ``depends_on``, ``networks`` and ``build`` are first brought to their
  mapping form, so a list in one file and a mapping in the other still merge by key;
- ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced, never appended;
- ``ports`` are unique by (host IP, published, target, protocol); ``volumes``, ``secrets`` and
  ``configs`` by their target path: a later entry with the same key replaces the earlier one;
- other sequences are appended, dropping exact repeats of plain values;
- ``!reset`` removes a value and ``!override`` replaces it without merging.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from calcifer.catalog.compose_yaml import RESET, LocatedDict, LocatedList, Override, relocate

Report = Callable[[Any, str], None]
"""Called with the offending value (a ``Located`` string when possible) and a sentence."""

DEPENDENCY_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

_PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?\Z")
_REPLACED = frozenset({"command", "entrypoint"})
_KEY_VALUE_ATTRIBUTES = frozenset({"environment", "labels", "annotations", "sysctls"})
_TARGETED_ATTRIBUTES = frozenset({"volumes", "secrets", "configs"})


# The keys the Compose Specification defines (x-* extensions aside); any other key is most likely a typo
# (``port:``, ``depend_on:``) that Compose would stop at.
TOP_LEVEL_KEYS = frozenset({"version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
                            "models"})
SERVICE_KEYS = frozenset({
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "driver_opts", "entrypoint",
    "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "label_file", "labels", "links", "logging",
    "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "models", "network_mode",
    "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start",
    "pre_stop", "privileged", "profiles", "provider", "pull_policy", "pull_refresh_after", "read_only", "restart",
    "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
    "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user", "userns_mode", "uts", "volumes",
    "volumes_from", "working_dir",
})


def unknown_key_message(key: str, known: frozenset[str], where: str) -> str:
    """A sentence for an unknown ``key``, naming the closest known one when there is one."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r} {where}: Compose does not know it{hint}"


class PortSpec(NamedTuple):
    """One ``ports`` entry; ``published`` and ``target`` may be ranges such as ``"3000-3005"``."""

    host_ip: str | None
    published: str | None
    target: str
    protocol: str


def _ignore(value: Any, message: str) -> None:
    return None


def text(value: Any) -> str | None:
    """Return a scalar as Compose would write it (``True`` -> ``"true"``); ``None`` for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    return None


def key_value_mapping(value: Any, *, report: Report = _ignore, what: str = "value") -> dict[str, Any] | None:
    """Bring ``environment``/``labels``-like values to a mapping; ``None`` when ``value`` is neither form.

    A list item ``"KEY=VALUE"`` gives ``KEY: "VALUE"``; ``"KEY"`` alone gives ``KEY: None``.
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for item in value:
            item_text = text(item)
            if item_text is None or isinstance(item, bool):
                report(item, f"{what} list entries must be KEY=VALUE strings")
                continue
            key, sep, rest = item_text.partition("=")
            if not key.strip():
                report(item, f"{what} entry {item_text!r} has no name")
                continue
            result[key.strip()] = rest if sep else None
        return result
    report(value, f"{what} must be a mapping or a list")
    return None


def depends_on_mapping(value: Any, *, report: Report = _ignore) -> dict[str, Any] | None:
    """Bring ``depends_on`` to its long form: ``{name: {"condition": ...}, ...}``; ``None`` if invalid."""
    if value is None:
        return {}
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for item in value:
            name = text(item)
            if name is None or isinstance(item, bool):
                report(item, "depends_on entries must be service names")
                continue
            result[name] = {"condition": "service_started"}
        return result
    if isinstance(value, dict):
        return {str(key): (item if item is not None else {}) for key, item in value.items()}
    report(value, "depends_on must be a list of service names or a mapping")
    return None


def networks_mapping(value: Any, *, report: Report = _ignore) -> dict[str, Any] | None:
    """Bring a service's ``networks`` to a mapping of network name to settings; ``None`` if invalid."""
    if value is None:
        return {}
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for item in value:
            name = text(item)
            if name is None or isinstance(item, bool):
                report(item, "networks entries must be network names")
                continue
            result[name] = None
        return result
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    report(value, "networks must be a list or a mapping")
    return None


def build_mapping(value: Any) -> dict[str, Any] | None:
    """Bring ``build`` to its long form (``"dir"`` -> ``{"context": "dir"}``); ``None`` if invalid."""
    if isinstance(value, str):
        return {"context": value}
    if isinstance(value, dict):
        return dict(value)
    return None


def parse_port(value: Any) -> PortSpec:
    """Parse one ``ports`` entry, short (``"127.0.0.1:8080:80/udp"``, ``8080``) or long (a mapping).

    Raises ``ValueError`` with a sentence when the entry is malformed.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"port {value!r} is not a port")
    if isinstance(value, int):
        return PortSpec(None, None, _port_number(str(value)), "tcp")
    if isinstance(value, str):
        return _parse_short_port(str(value))
    if isinstance(value, dict):
        target = text(value.get("target"))
        if target is None:
            raise ValueError("a long-form port needs a target")
        published = text(value.get("published"))
        protocol = (text(value.get("protocol")) or "tcp").lower()
        host_ip = text(value.get("host_ip")) or None
        spec = PortSpec(
            host_ip,
            _port_number(published) if published else None,
            _port_number(target),
            protocol,
        )
        _check_ranges(spec, f"port {published}:{target}")
        return spec
    raise ValueError("a port must be a string, a number or a mapping")


def _parse_short_port(raw: str) -> PortSpec:
    spec = raw.strip()
    protocol = "tcp"
    if "/" in spec:
        spec, protocol = spec.rsplit("/", 1)
        protocol = protocol.strip().lower()
        if not protocol:
            raise ValueError(f"port {raw!r} has an empty protocol")
    host_ip: str | None = None
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0 or not spec[end + 1 :].startswith(":"):
            raise ValueError(f"port {raw!r} has a malformed [IPv6] address")
        host_ip = spec[1:end]
        parts = spec[end + 2 :].split(":")
        if len(parts) != 2:
            raise ValueError(f"port {raw!r} needs HOST_PORT:CONTAINER_PORT after the address")
        published, target = parts
    else:
        parts = spec.split(":")
        if len(parts) == 1:
            published, target = "", parts[0]
        elif len(parts) == 2:
            published, target = parts
        else:
            host_ip = ":".join(parts[:-2])
            published, target = parts[-2], parts[-1]
    try:
        result = PortSpec(host_ip or None, _port_number(published) if published else None, _port_number(target),
                          protocol)
    except ValueError as exc:
        raise ValueError(f"port {raw!r}: {exc}") from None
    _check_ranges(result, f"port {raw!r}")
    return result


def _range_length(raw: str) -> int:
    low, _, high = raw.partition("-")
    return int(high) - int(low) + 1 if high else 1


def _check_ranges(spec: PortSpec, what: str) -> None:
    # Docker maps a host range onto one container port, but a container range needs a host range of
    # the same length; Compose refuses "8000-8001:80-82".
    if spec.published is None:
        return
    target, published = _range_length(spec.target), _range_length(spec.published)
    if target > 1 and target != published:
        raise ValueError(f"{what}: the host range has {published} port(s) but the container range has {target}; "
                         "they must be the same length")


def _port_number(raw: str) -> str:
    match = _PORT.match(raw.strip())
    if match is None:
        raise ValueError(f"{raw!r} is not a port number or range")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if high > 65535 or low > high:
        raise ValueError(f"{raw!r} is not a port number or range")
    return raw.strip()


def volume_target(value: Any) -> str | None:
    """The container path of a ``volumes`` entry (its unique key when merging), or ``None``."""
    if isinstance(value, dict):
        return text(value.get("target"))
    if isinstance(value, str):
        parts = _volume_parts(str(value))
        if len(parts) == 1:
            return parts[0]
        return parts[1]
    return None


def volume_text(value: Any) -> str | None:
    """A ``volumes`` entry in short form: as written, or ``source:target[:ro]`` from the long form."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        target = text(value.get("target"))
        if target is None:
            return None
        source = text(value.get("source"))
        kind = text(value.get("type"))
        short = f"{source}:{target}" if source and kind != "tmpfs" else target
        return f"{short}:ro" if value.get("read_only") is True else short
    return None


def _volume_parts(spec: str) -> list[str]:
    parts = spec.split(":")
    # A Windows drive letter ("C:\data:/data") is not a separator.
    if len(parts) > 2 and len(parts[0]) == 1 and parts[0].isalpha() and parts[1][:1] in ("\\", "/"):
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    return parts


def _target_key(attribute: str, value: Any) -> Any:
    if attribute == "volumes":
        return volume_target(value)
    # secrets and configs: the short form names the resource, mounted at a path of the same name.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return text(value.get("target")) or text(value.get("source"))
    return None


def _port_key(value: Any) -> Any:
    try:
        return parse_port(value)
    except ValueError:
        return text(value)


def finalize(value: Any) -> Any:
    """Return ``value`` with merge tags applied alone: ``!reset`` entries dropped, ``!override`` unwrapped."""
    if isinstance(value, Override):
        return finalize(value.value)
    if isinstance(value, dict):
        mapping = {key: finalize(item) for key, item in value.items() if item is not RESET}
        return relocate(LocatedDict(mapping), value) if isinstance(value, LocatedDict) else mapping
    if isinstance(value, list):
        items = [finalize(item) for item in value if item is not RESET]
        return relocate(LocatedList(items), value) if isinstance(value, LocatedList) else items
    if value is RESET:
        return None
    return value


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge service definition ``over`` onto ``base`` (already finalized); return a new mapping."""
    result = dict(base)
    for key, value in over.items():
        if value is RESET:
            result.pop(key, None)
        elif isinstance(value, Override) or result.get(key) is None or key in _REPLACED:
            result[key] = finalize(value)
        else:
            result[key] = _merge_attribute(key, result[key], value)
    return result


def _merge_attribute(key: str, old: Any, new: Any) -> Any:
    normalise: Callable[[Any], dict[str, Any] | None] | None = None
    if key in _KEY_VALUE_ATTRIBUTES:
        normalise = key_value_mapping
    elif key == "depends_on":
        normalise = depends_on_mapping
    elif key == "networks":
        normalise = networks_mapping
    elif key == "build":
        normalise = build_mapping
    if normalise is not None:
        old_mapping, new_mapping = normalise(old), normalise(new)
        if old_mapping is None or new_mapping is None:
            return finalize(new)
        return merge_values(old_mapping, new_mapping)
    if key == "healthcheck" and isinstance(old, dict) and isinstance(new, dict):
        merged = merge_values(old, {k: v for k, v in new.items() if k != "test"})
        if "test" in new:
            if new["test"] is RESET:
                merged.pop("test", None)
            else:
                merged["test"] = finalize(new["test"])
        return merged
    if key == "ports" and isinstance(old, list) and isinstance(new, list):
        return _merge_unique(old, new, _port_key)
    if key in _TARGETED_ATTRIBUTES and isinstance(old, list) and isinstance(new, list):
        return _merge_unique(old, new, lambda item: _target_key(key, item))
    return merge_values(old, new)


def merge_values(old: Any, new: Any) -> Any:
    """The generic rule: mappings merge by key, lists append (no repeated plain values), else replace."""
    if isinstance(new, Override):
        return finalize(new.value)
    if isinstance(old, dict) and isinstance(new, dict):
        result = dict(old)
        for key, value in new.items():
            if value is RESET:
                result.pop(key, None)
            elif key in result and result[key] is not None:
                result[key] = merge_values(result[key], value)
            else:
                result[key] = finalize(value)
        return result
    if isinstance(old, list) and isinstance(new, list):
        result_list = list(old)
        for item in new:
            if item is RESET:
                continue
            item = finalize(item)
            if isinstance(item, dict | list) or item not in result_list:
                result_list.append(item)
        return result_list
    return finalize(new)


def _merge_unique(old: list[Any], new: list[Any], key_of: Callable[[Any], Any]) -> list[Any]:
    result = list(old)
    index: dict[Any, int] = {}
    for position, item in enumerate(result):
        key = key_of(item)
        if key is not None:
            index.setdefault(key, position)
    for item in new:
        if item is RESET:
            continue
        item = finalize(item)
        key = key_of(item)
        if key is not None and key in index:
            result[index[key]] = item
        else:
            if key is not None:
                index[key] = len(result)
            result.append(item)
    return result


def merge_documents(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge a whole Compose document ``over`` onto ``base`` (already finalized); return a new mapping.

    Services merge with ``merge_service``; every other top-level key with the generic rule.
    """
    result = dict(base)
    for key, value in over.items():
        if value is RESET:
            result.pop(key, None)
        elif key == "services" and isinstance(value, dict) and isinstance(result.get(key), dict):
            services = dict(result[key])
            for name, definition in value.items():
                if definition is RESET:
                    services.pop(name, None)
                elif isinstance(definition, dict) and isinstance(services.get(name), dict):
                    services[name] = merge_service(services[name], definition)
                else:
                    services[name] = finalize(definition)
            result[key] = services
        elif key in result and result[key] is not None:
            result[key] = merge_values(result[key], value)
        else:
            result[key] = finalize(value)
    return result

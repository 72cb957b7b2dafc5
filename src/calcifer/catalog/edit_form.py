"""The service and endpoint forms: which fields they show, the spec a posted form stands for, and the
type-specific option fields generated from each check type's options model (its JSON Schema).

A form never owns the whole file: the spec it posts is its fields laid over the document it was opened
with, so keys the form does not show (``resources:``, a hand-written key, an option it cannot draw)
stay as they were; ``yamlio.apply_spec`` then keeps comments and key order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from calcifer.catalog.choices import Protocol, ServiceKind, ServiceStatus
from calcifer.catalog.schemas import endpoint_types, options_schema
from calcifer.catalog.yamlio import load_plain
from calcifer.errors import Invalid

SERVICE_FIELDS = ("name", "slug", "kind", "description", "host", "status", "depends_on", "tags", "ports", "links")
ENDPOINT_FIELDS = ("name", "slug", "service", "type", "target", "port", "interval", "timeout", "retries",
                   "enabled", "options")
KINDS = [(k.value, k.value.replace("_", " ")) for k in ServiceKind]
STATUSES = [(s.value, s.value) for s in ServiceStatus]
PROTOCOLS = [(p.value, p.value.upper()) for p in Protocol]

# A form post's fields: every value of every name (``depends_on`` is a multi-select).
FormFields = Mapping[str, Sequence[str]]


def form_fields(kind: str) -> tuple[str, ...]:
    return SERVICE_FIELDS if kind == "service" else ENDPOINT_FIELDS


def other_keys(kind: str, spec: Mapping[str, Any]) -> list[str]:
    """Top-level keys of the document the form does not show (kept as they are when it is saved)."""
    shown = form_fields(kind)
    return [str(key) for key in spec if key not in shown]


# -- option fields from a check type's JSON Schema ---------------------------------------------------


@dataclass(frozen=True)
class OptionField:
    """One field of a check type's options, as the form draws it. ``widget``: select, number, text,
    textarea, lines (a list, one item a line), pairs (a mapping, ``name: value`` a line) or yaml (any
    value, read as YAML)."""

    name: str
    label: str
    help: str
    widget: str
    choices: list[tuple[str, str]] = field(default_factory=list)
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class OptionSet:
    type: str
    fields: list[OptionField]


def _types(schema: Mapping[str, Any]) -> list[str]:
    if "anyOf" in schema:
        return [t for part in schema["anyOf"] for t in _types(part)]
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


def _option_field(name: str, schema: Mapping[str, Any]) -> OptionField:
    label = str(schema.get("title") or name.replace("_", " ").capitalize())
    label = label[0] + label[1:].lower()
    help_text = str(schema.get("description") or "")
    types = [t for t in _types(schema) if t != "null"]
    base: dict[str, Any] = {"name": name, "label": label}
    if "enum" in schema:
        default = schema.get("default")
        blank = [("", f"default ({default})")] if default is not None else [("", "(not set)")]
        return OptionField(**base, help=help_text, widget="select",
                           choices=blank + [(str(v), str(v)) for v in schema["enum"]])
    if types == ["boolean"]:
        default = "yes" if schema.get("default") else "no"
        return OptionField(**base, help=help_text, widget="select",
                           choices=[("", f"default ({default})"), ("true", "yes"), ("false", "no")])
    if types in (["integer"], ["number"]):
        return OptionField(**base, help=help_text, widget="number", integer=types == ["integer"],
                           minimum=schema.get("minimum"), maximum=schema.get("maximum"))
    if types == ["string"]:
        long = int(schema.get("maxLength") or 0) > 10_000
        return OptionField(**base, help=help_text, widget="textarea" if long else "text")
    if types == ["array"]:
        return OptionField(**base, widget="lines", help=(help_text + " One a line.").strip())
    if types == ["object"]:
        return OptionField(**base, widget="pairs", help=(help_text + " One “name: value” a line.").strip())
    return OptionField(**base, widget="yaml", help=(help_text + " Read as YAML: 42, true, \"text\".").strip())


def option_sets() -> list[OptionSet]:
    """The option fields of every endpoint type, in the registry's order (types without options too)."""
    sets = []
    for kind in endpoint_types():
        schema = options_schema(kind) or {}
        properties = schema.get("properties") or {}
        sets.append(OptionSet(kind, [_option_field(name, prop) for name, prop in properties.items()]))
    return sets


def option_text(option: OptionField, value: Any) -> str:
    """A value of the options mapping as its form field shows it."""
    if value is None:
        return ""
    if option.widget == "lines" and isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if option.widget == "pairs" and isinstance(value, dict):
        return "\n".join(f"{key}: {item}" for key, item in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if option.widget == "yaml":
        return json.dumps(value)  # JSON reads back as the same YAML value
    return str(value)


# -- a posted form as a spec -------------------------------------------------------------------------


def _one(form: FormFields, name: str) -> str:
    values = form.get(name) or []
    return str(values[-1]).replace("\r\n", "\n") if values else ""


def _number(text: str, *, integer: bool = True) -> int | float | str:
    """The number typed, or the text itself so that validation says what is wrong with it, at its field."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    if not integer:
        try:
            return float(text)
        except ValueError:
            pass
    return text


def _put(spec: dict[str, Any], key: str, value: Any) -> None:
    if value in ("", None, [], {}):
        spec.pop(key, None)
    else:
        spec[key] = value


def _rows(form: FormFields, prefix: str) -> list[int]:
    found = {int(m.group(1)) for name in form for m in [re.fullmatch(rf"{prefix}-(\d{{1,4}})-\w+", name)] if m}
    return sorted(found)


# The row editors: (name, columns, column defaults a blank row may still hold).
ROW_EDITORS: tuple[tuple[str, tuple[str, ...], Mapping[str, str]], ...] = (
    ("ports", ("number", "protocol", "purpose"), {"protocol": Protocol.TCP.value}),
    ("links", ("label", "url"), {}),
)


def _kept_rows(form: FormFields, prefix: str, columns: Sequence[str],
               defaults: Mapping[str, str]) -> list[tuple[int, dict[str, str]]]:
    """The rows ``<prefix>-<n>-<column>`` that are not blank, with their place ``n`` on the form."""
    kept = []
    for n in _rows(form, prefix):
        values = {column: _one(form, f"{prefix}-{n}-{column}").strip() for column in columns}
        if any(v for c, v in values.items() if c not in defaults):
            kept.append((n, values))
    return kept


def _row_list(form: FormFields, prefix: str, base: Any, columns: Sequence[str],
              defaults: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows laid over the document's rows at the same place; blank rows dropped."""
    had = base if isinstance(base, list) else []
    rows: list[dict[str, Any]] = []
    for n, values in _kept_rows(form, prefix, columns, defaults):
        row = dict(had[n]) if n < len(had) and isinstance(had[n], dict) else {}
        for column, value in values.items():
            default = defaults.get(column)
            if default is not None and value == default and column not in row:
                continue  # the default stays unwritten, as the person left it
            _put(row, column, _number(value) if column == "number" else value)
        rows.append(row)
    return rows


def form_path(kind: str, form: FormFields, path: str | None) -> str | None:
    """A document path (``ports.1.number``) as the posted form names its place (``ports.2.number`` when
    the row before it was left blank): where the form shows that field."""
    parts = (path or "").split(".")
    if kind != "service" or len(parts) < 2 or not parts[1].isdigit():
        return path
    for name, columns, defaults in ROW_EDITORS:
        if parts[0] == name:
            places = [n for n, _ in _kept_rows(form, name, columns, defaults)]
            if int(parts[1]) < len(places):
                parts[1] = str(places[int(parts[1])])
    return ".".join(parts)


def _tags(text: str) -> list[str]:
    return [tag for tag in re.split(r"[\s,]+", text) if tag]


def _option_value(option: OptionField, text: str) -> Any:
    text = text.strip() if option.widget not in ("textarea", "text") else text
    if not text.strip():
        return None
    if option.widget == "number":
        return _number(text, integer=option.integer)
    if option.widget == "select" and text in ("true", "false") and option.choices[1][0] == "true":
        return text == "true"
    if option.widget == "lines":
        return [int(line) if line.strip().isdigit() else line.strip() for line in text.splitlines() if line.strip()]
    if option.widget == "pairs":
        pairs: dict[str, str] = {}
        for line in text.splitlines():
            name, _, value = line.partition(":")
            if name.strip():
                pairs[name.strip()] = value.strip()
        return pairs
    if option.widget == "yaml":
        try:
            return load_plain(text)
        except Invalid:
            return text
    return text


def _options(form: FormFields, kind: str, base: dict[str, Any]) -> dict[str, Any]:
    had = base.get("options")
    # Options of another type would not fit the new one: a changed type starts from none.
    options = dict(had) if isinstance(had, dict) and str(base.get("type")) == kind else {}
    for option_set in option_sets():
        if option_set.type != kind:
            continue
        for option in option_set.fields:
            _put(options, option.name, _option_value(option, _one(form, f"opt-{kind}-{option.name}")))
    return options


def spec_from_form(kind: str, form: FormFields, base: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``kind`` spec a posted form stands for: its fields laid over ``base`` (the document it was
    opened with), a cleared field removed, keys the form does not show kept. Typed values that are not
    numbers stay text, so validation names the field."""
    spec: dict[str, Any] = dict(base or {})
    for name in ("name", "slug"):
        _put(spec, name, _one(form, name).strip())
    if kind == "service":
        _put(spec, "kind", _one(form, "kind"))
        _put(spec, "description", _one(form, "description").strip())
        _put(spec, "host", _one(form, "host").strip())
        status = _one(form, "status")
        if status != ServiceStatus.ACTIVE or "status" in spec:
            _put(spec, "status", status)
        _put(spec, "depends_on", [slug for slug in form.get("depends_on") or [] if slug])
        _put(spec, "tags", _tags(_one(form, "tags")))
        for name, columns, defaults in ROW_EDITORS:
            _put(spec, name, _row_list(form, name, spec.get(name), columns, defaults))
        return spec
    _put(spec, "service", _one(form, "service").strip())
    endpoint_type = _one(form, "type")
    _put(spec, "options", _options(form, endpoint_type, spec))
    _put(spec, "type", endpoint_type)
    # "target" names the work item the page writes to; the check's target is posted as check_target
    _put(spec, "target", _one(form, "check_target").strip())
    for name, integer in (("port", True), ("interval", True), ("timeout", False), ("retries", True)):
        text = _one(form, name).strip()
        _put(spec, name, _number(text, integer=integer) if text else None)
    enabled = _one(form, "enabled") == "yes"
    if not enabled or "enabled" in spec:
        spec["enabled"] = enabled
    return spec


def plain_document(text: str) -> dict[str, Any] | None:
    """The document as plain values when the form can show it (a mapping that parses), else None."""
    try:
        data = load_plain(text) if text.strip() else {}
    except Invalid:
        return None
    return data if isinstance(data, dict) else None


# -- where a problem shows in the form -----------------------------------------------------------------


def slot_paths(kind: str, spec: Mapping[str, Any], endpoint_type: str | None) -> set[str]:
    """The paths the form has an error slot for (a field, a row's field, a fieldset)."""
    slots = set(form_fields(kind))
    if kind == "service":
        for name, columns in (("ports", ("number", "protocol", "purpose")), ("links", ("label", "url"))):
            rows = spec.get(name)
            for n in range(len(rows) + 1 if isinstance(rows, list) else 1):
                slots.update(f"{name}.{n}.{column}" for column in columns)
    else:
        for option_set in option_sets():
            if option_set.type == endpoint_type:
                slots.update(f"options.{option.name}" for option in option_set.fields)
    return slots


def slot_of(path: str | None, slots: set[str]) -> str | None:
    """The nearest slot of ``path``: itself, or the closest enclosing field that has one (None: only the
    summary shows it)."""
    parts = (path or "").split(".")
    while parts and parts[0]:
        candidate = ".".join(parts)
        if candidate in slots:
            return candidate
        parts.pop()
    return None

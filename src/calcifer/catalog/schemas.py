"""The shape of catalog files: pydantic models that validate them and publish their JSON Schema.

``ServiceSpec`` is one ``catalog/services/<slug>.yaml``; ``EndpointSpec`` one
``catalog/endpoints/<slug>.yaml`` or one entry of a service's ``endpoints:`` list. The published JSON
Schema is generated from these same models, so the editor's schema and the code cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from calcifer.catalog.choices import (
    DeploymentType,
    EndpointType,
    Protocol,
    ServiceKind,
    ServiceStatus,
)
from calcifer.errors import Invalid
from calcifer.monitoring import checks
from calcifer.monitoring.checks import EndpointTypeRules, OptionValidator
from calcifer.monitoring.checks.address import HOST_PORT_EXAMPLE, IPV6_EXAMPLE, is_bare_ipv6, split_host_port
from calcifer.urls import WEB_URL_PATTERN, url_problem

MAX_ACCEPT = 500  # services accepted from one discovery scan

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,62}$"
SLUG_HELP = "use 1-63 lowercase letters, digits and dashes, starting with a letter or digit (e.g. grafana)"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

def option_validator(kind: str) -> OptionValidator | None:
    """The options validator of endpoint type ``kind``, asked of the check-type registry."""
    return checks.option_validator(kind)


def options_schema(kind: str) -> dict[str, Any] | None:
    """The JSON Schema of endpoint type ``kind``'s options, asked of the check-type registry (None: unknown)."""
    return checks.options_schema(kind)


def endpoint_types() -> dict[str, EndpointTypeRules]:
    """Every endpoint type a catalog file may use (the check-type registry owns them)."""
    return checks.endpoint_types()


def _type_rules(kind: str) -> EndpointTypeRules:
    rules = checks.type_rules(kind)
    assert rules is not None  # the type was validated against endpoint_types() first
    return rules


def _endpoint_type(value: str) -> str:
    try:
        return EndpointType(value)
    except ValueError:
        pass
    known = endpoint_types()
    if value not in known:
        disabled = checks.disabled_plugin(value)
        if disabled:
            raise ValueError(f"endpoint type {value!r} comes from the plugin {disabled!r}, which is disabled "
                             "(Settings → Integrations): enable the plugin or change the endpoint's type")
        raise ValueError(f"unknown endpoint type {value!r}: use one of {', '.join(map(repr, known))} (or install the "
                         "check-type plugin that provides it)")
    return value


def known_endpoint_type(value: str) -> str:
    """``value`` when it is an endpoint type (built-in or a plugin's); Invalid naming the types otherwise."""
    known = endpoint_types()
    if value not in known:
        raise Invalid(f"Unknown endpoint type {value[:40]!r}; use one of {', '.join(map(repr, known))}.",
                      code="bad_type", details=[{"field": "type", "message": "unknown endpoint type"}])
    return value


def _slug(value: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise ValueError(f"{value!r} is not a valid slug: {SLUG_HELP}")
    return value


def _tag(value: str) -> str:
    if not re.fullmatch(TAG_PATTERN, value):
        raise ValueError(f"{value!r} is not a valid tag: use 1-63 letters, digits or _ . : / + - "
                         "(no spaces), starting with a letter or digit")
    return value


def _url(value: str) -> str:
    # Catalog URLs become links on the service page: only web URLs (never javascript:, data:, ...).
    problem = url_problem(value)
    if problem:
        raise ValueError(f"{problem}, e.g. https://grafana.example.org")
    return value


def _line(value: str) -> str:
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError("use one line of text without control characters")
    return value


def _text(value: str) -> str:
    if _CONTROL_MULTILINE.search(value):
        raise ValueError("remove control characters")
    return value


Slug = Annotated[str, AfterValidator(_slug),
                 WithJsonSchema({"type": "string", "pattern": SLUG_PATTERN, "maxLength": 63})]
Tag = Annotated[str, AfterValidator(_tag), WithJsonSchema({"type": "string", "pattern": TAG_PATTERN})]
Url = Annotated[str, Field(max_length=2048), AfterValidator(_url),
                WithJsonSchema({"type": "string", "format": "uri", "pattern": WEB_URL_PATTERN,
                                "maxLength": 2048})]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_line)]
Line = Annotated[str, Field(max_length=200), AfterValidator(_line)]
Text = Annotated[str, AfterValidator(_text)]
# A built-in type comes back as its `EndpointType`; a plugin's as the plain string.
EndpointTypeName = Annotated[str, AfterValidator(_endpoint_type),
                             WithJsonSchema({"type": "string", "enum": [kind.value for kind in EndpointType],
                                             "description": "The check type (plugins may add more)."})]
Amount = Annotated[int | float | str | None,
                   WithJsonSchema({"type": ["integer", "number", "string", "null"]})]


def _spec_error(title: str, errors: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """A ValidationError whose errors sit at the given paths (raised inside an ``after`` validator)."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError("spec", "{message}", {"message": message}), loc=loc,
                         input=None)
        for loc, message in errors
    ])


def _duplicates(values: list[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    found = []
    for index, value in enumerate(values):
        if value in seen:
            found.append((index, value))
        seen.add(value)
    return found


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PortSpec(_Spec):
    """A port the service listens on."""

    number: int = Field(ge=1, le=65535)
    protocol: Protocol = Protocol.TCP
    purpose: Line = ""


class ResourcesSpec(_Spec):
    """What the service is given, as numbers or free text (e.g. ``cpu: 2``, ``memory: 4 GiB``)."""

    cpu: Amount = None
    memory: Amount = None
    disk: Amount = None


class DeploymentSpec(_Spec):
    """How the service is deployed; only the fields of its ``type`` are usually set."""

    type: DeploymentType
    compose_file: str | None = Field(default=None, max_length=1024,
                                     description="Path of the compose file (in this or another repository).")
    compose_project: str | None = Field(default=None, max_length=200)
    compose_service: str | None = Field(default=None, max_length=200)
    image: str | None = Field(default=None, max_length=500, description="Container image.")
    systemd_unit: str | None = Field(default=None, max_length=200)
    namespace: str | None = Field(default=None, max_length=200, description="Kubernetes namespace.")
    manifest: str | None = Field(default=None, max_length=1024,
                                 description="Path of the Kubernetes manifest.")
    notes: Text = Field(default="", max_length=10_000)


class LinkSpec(_Spec):
    """A link on the page; ``kind: grafana`` (a dashboard URL, .../d/UID/name) also embeds the dashboard's
    ``panels`` (panel ids) as frames, with ``variables`` as its template variables (``var-NAME``)."""

    label: Name
    url: Url
    kind: Literal["link", "grafana"] = "link"
    panels: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(
        default_factory=list, max_length=20, description="Grafana panel ids to embed (kind grafana).")
    variables: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")], Annotated[str, Field(max_length=200)]] = (
        Field(default_factory=dict, max_length=20, description="Grafana template variables (kind grafana)."))

    @model_validator(mode="after")
    def _grafana(self) -> LinkSpec:
        if self.kind == "grafana":
            if "/d/" not in self.url:
                raise ValueError("a grafana link's url is a dashboard URL, e.g. "
                                 "https://grafana.example.org/d/abc123/hosts")
        elif self.panels or self.variables:
            raise ValueError("panels and variables belong to links of kind grafana: add kind: grafana")
        return self


class KumaLink(_Spec):
    """The Uptime Kuma monitor an endpoint was imported from (a re-import updates this endpoint); with
    ``url``, the endpoint's page also shows the monitor's status in that Kuma (its public status badge)."""

    monitor: int = Field(ge=1, le=2**31 - 1, description="The monitor's id in Uptime Kuma.")
    url: Url | None = Field(default=None, description="Uptime Kuma's address (https://kuma.example.org).")


class EndpointSpec(_Spec):
    """One monitored endpoint: how to reach it and how often to check it."""

    model_config = ConfigDict(extra="forbid", title="Endpoint")

    name: Name
    slug: Slug
    service: Slug | None = Field(default=None, description="Slug of the service this endpoint belongs to "
                                 "(left out when listed inside the service's file).")
    type: EndpointTypeName
    target: str | None = Field(default=None, max_length=2048,
                               description="Host name or address; a URL for http endpoints. Types that need "
                               "a port also take host:port (db.internal:5432, [2001:db8::1]:5432).")
    port: int | None = Field(default=None, ge=1, le=65535)
    interval: int = Field(default=60, ge=1, le=86_400, description="Seconds between checks.")
    timeout: float = Field(default=10, gt=0, le=300, description="Seconds before a check gives up.")
    retries: int = Field(default=1, ge=0, le=10,
                         description="Failed checks retried before the endpoint counts as down.")
    options: dict[str, Any] = Field(default_factory=dict, description="Settings of the check type.")
    enabled: bool = True
    tags: list[Tag] = Field(default_factory=list, description="Free labels (e.g. `production`, `team:ops`).")
    kuma: KumaLink | None = Field(default=None, description="The Uptime Kuma monitor this endpoint came from.")
    links: list[LinkSpec] = Field(default_factory=list, description="Links (and Grafana dashboards) on its page.")
    locations: list[Slug] = Field(default_factory=lambda: ["local"], min_length=1, max_length=20,
                                  description="Where it is checked from: `local` (the server's own scheduler) "
                                  "and/or the locations of remote probes (e.g. [local, fra-vps]).")
    verdict: Literal["half", "any", "all", "majority"] = Field(
        default="half", description="With several locations: down when at least half (`half`), any one (`any`), "
        "every one (`all`) or more than half (`majority`) of the locations that reported recently see it down.")

    @field_validator("target")
    @classmethod
    def _target_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if _CONTROL.search(value) or " " in value:
            raise ValueError("write the target without spaces or control characters")
        return value or None

    @model_validator(mode="after")
    def _fits_type(self) -> EndpointSpec:
        errors: list[tuple[tuple[str | int, ...], str]] = []
        kind = str(self.type)
        rules = _type_rules(kind)
        if rules.needs_target and not self.target:
            errors.append((("target",), f"a {kind} endpoint needs a target"
                           + (" URL (e.g. https://grafana.example.org/health)" if rules.target_is_url
                              else " host name or address")))
        target_problem = url_problem(self.target) if rules.target_is_url and self.target else None
        if target_problem:
            errors.append((("target",), f"an {kind} endpoint's target: {target_problem}"))
        if rules.needs_port and not rules.target_is_url:
            errors += self._take_port_from_target(kind)
        validator = option_validator(kind)
        if validator is not None:
            try:
                self.options = validator(dict(self.options))
            except ValidationError as exc:
                errors += [(("options", *err["loc"]), _message(err)) for err in exc.errors()]
            except ValueError as exc:
                errors.append((("options",), str(exc)))
        for index, value in _duplicates(list(self.locations)):
            errors.append((("locations", index), f"location {value!r} is listed twice"))
        if errors:
            raise _spec_error("Endpoint", errors)
        return self


    def _take_port_from_target(self, kind: str) -> list[tuple[tuple[str | int, ...], str]]:
        # `target: db.internal:5432` is how people write a TCP address: the index, the checks and the
        # pages see the host in `target` and the port in `port`, as if written apart.
        if self.target:
            try:
                host, port = split_host_port(self.target)
            except ValueError as exc:
                return [(("target",), f"a {kind} endpoint's target: {exc}")]
            if port is not None and self.port is not None and port != self.port:
                return [(("port",), f"the target says port {port} and port says {self.port}: give the port "
                                    f"once, e.g. target: {host if ':' not in host else f'[{host}]'}:{port}")]
            self.target = host
            if port is not None:
                self.port = port
        if self.port is not None:
            return []
        if self.target and is_bare_ipv6(self.target):
            how = (f"write the IPv6 address in brackets followed by the port (e.g. {IPV6_EXAMPLE}) or set "
                   "port: 5432")
        else:
            how = f"write the target as host:port (e.g. {HOST_PORT_EXAMPLE}) or set port: 5432"
        return [(("port",), f"a {kind} endpoint needs a port: {how}")]


class ServiceSpec(_Spec):
    """One service: something that runs (a container, a VM, a switch, a SaaS) and what it needs."""

    model_config = ConfigDict(extra="forbid", title="Service")

    name: Name
    slug: Slug
    kind: ServiceKind
    host: Slug | None = Field(default=None, description="Slug of the service this one runs on.")
    description: Text = Field(default="", max_length=10_000)
    status: ServiceStatus = ServiceStatus.ACTIVE
    urls: list[Url] = Field(default_factory=list)
    ports: list[PortSpec] = Field(default_factory=list)
    resources: ResourcesSpec | None = None
    deployment: DeploymentSpec | None = None
    repository: str | None = Field(default=None, max_length=2048,
                                   description="Path or remote of the repository holding its code or config.")
    owner: Line | None = None
    tags: list[Tag] = Field(default_factory=list)
    links: list[LinkSpec] = Field(default_factory=list)
    depends_on: list[Slug] = Field(default_factory=list, description="Slugs of the services it needs.")
    notes: Text = Field(default="", max_length=100_000)
    endpoints: list[EndpointSpec] = Field(default_factory=list,
                                          description="Endpoints of this service (or one file each in "
                                          "catalog/endpoints/).")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSpec:
        errors: list[tuple[tuple[str | int, ...], str]] = []
        if self.host == self.slug:
            errors.append((("host",), "a service cannot be its own host"))
        for index, value in enumerate(self.depends_on):
            if value == self.slug:
                errors.append((("depends_on", index), "a service cannot depend on itself"))
        for field, values in (("depends_on", self.depends_on), ("tags", self.tags),
                              ("urls", self.urls)):
            for index, value in _duplicates(values):
                errors.append(((field, index), f"{value!r} is listed twice"))
        for index, value in _duplicates([endpoint.slug for endpoint in self.endpoints]):
            errors.append((("endpoints", index, "slug"), f"endpoint {value!r} is listed twice"))
        for index, endpoint in enumerate(self.endpoints):
            if endpoint.service is not None and endpoint.service != self.slug:
                errors.append((("endpoints", index, "service"),
                               f"listed under service {self.slug!r}: leave service out or set it to "
                               f"{self.slug!r}"))
        if errors:
            raise _spec_error("Service", errors)
        return self


# -- JSON Schema and errors --------------------------------------------------------------------------

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _published(model: type[BaseModel], description: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "description": description}


def _with_endpoint_types(endpoint_schema: dict[str, Any]) -> None:
    # The installed check-type plugins' types are valid too.
    endpoint_schema["properties"]["type"]["enum"] = list(endpoint_types())


def service_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``catalog/services/<slug>.yaml`` (generated from ``ServiceSpec``)."""
    schema = _published(ServiceSpec, "A Calcifer service: catalog/services/<slug>.yaml")
    _with_endpoint_types(schema["$defs"]["EndpointSpec"])
    return schema


def endpoint_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``catalog/endpoints/<slug>.yaml`` (generated from ``EndpointSpec``)."""
    schema = _published(EndpointSpec, "A Calcifer endpoint: catalog/endpoints/<slug>.yaml")
    _with_endpoint_types(schema)
    return schema


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown field: remove it or check its spelling"
    message = str(error.get("msg", "invalid value"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return message


def spec_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a ValidationError into ``[{"path": "ports.0.number", "message": ...}]`` (path "" = whole file)."""
    return [{"path": ".".join(str(part) for part in err["loc"]), "message": _message(err)}
            for err in exc.errors(include_url=False)]


# -- writing specs back to files ---------------------------------------------------------------------

def _tidy(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 10.0 seconds reads better as 10
    if isinstance(value, dict):
        return {key: _tidy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    return value


def _keep_like(minimal: Any, full: Any, original: Any) -> Any:
    if isinstance(full, dict) and isinstance(minimal, dict):
        had = original if isinstance(original, Mapping) else {}
        result = {}
        for key, value in full.items():
            if key in minimal:
                result[key] = _keep_like(minimal[key], value, had.get(key))
            elif key in had:
                result[key] = value  # a default the person wrote out stays written out
        return result
    if isinstance(full, list) and isinstance(minimal, list) and len(full) == len(minimal):
        had_items = original if isinstance(original, list) else []
        return [_keep_like(small, big, had_items[i] if i < len(had_items) else None)
                for i, (small, big) in enumerate(zip(minimal, full, strict=True))]
    return minimal


def spec_document(spec: BaseModel, *, original: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The mapping to write for ``spec``: fields left at their defaults are left out, except those the
    ``original`` document (the file as it was) spelled out. Pass the result to ``yamlio.apply_spec``.
    """
    full = spec.model_dump(mode="json")
    minimal = spec.model_dump(mode="json", exclude_defaults=True)
    return dict(_tidy(_keep_like(minimal, full, original)))


# -- public shapes of the index (API responses) ------------------------------------------------------

class ServiceSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    kind: str
    host: str | None
    status: str
    description: str
    owner: str | None
    tags: list[str]
    depends_on: list[str]
    file: str
    commit_id: str
    updated_at: dt.datetime


class ServicePublic(ServiceSummary):
    spec: dict[str, Any]


class EndpointPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    service: str | None
    type: str
    target: str | None
    port: int | None
    interval: int
    timeout: float
    retries: int
    enabled: bool
    options: dict[str, Any]
    file: str
    line: int
    # Live state from monitoring's read model (monitoring.queries); unknown until first checked.
    status: str = Field("unknown", description="up, down, degraded, paused (disabled or paused by hand) or unknown")
    status_since: dt.datetime | None = None
    last_checked_at: dt.datetime | None = None
    latency_ms: float | None = None
    uptime_24h: float | None = Field(None, description="Share of checks that passed in the last 24 hours (0..1), "
                                                       "checks during maintenance left out; null: no checks")


class ProblemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    file: str
    line: int
    severity: str
    code: str
    message: str


class ServiceListPublic(BaseModel):
    items: list[ServiceSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ServiceDetailPublic(ServicePublic):
    host_chain: list[str] = Field(description="The hosts it runs on, nearest first.")
    upstream: list[str] = Field(description="Everything it needs, transitively.")
    downstream: list[str] = Field(description="Everything that needs it, transitively.")
    endpoints: list[EndpointPublic]


class ImpactPublic(BaseModel):
    slug: str
    direct: list[str]
    transitive: list[str]
    count: int


class EndpointListPublic(BaseModel):
    items: list[EndpointPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ProblemListPublic(BaseModel):
    items: list[ProblemPublic]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null on "
                                                              "the last.")


class GraphNodePublic(BaseModel):
    id: str
    label: str
    kind: str
    status: str
    host: str | None


class GraphEdgePublic(BaseModel):
    source: str
    target: str
    kind: str = Field(description="depends_on or host")


class GraphPublic(BaseModel):
    nodes: list[GraphNodePublic]
    edges: list[GraphEdgePublic]
    truncated: bool


class SyncPublic(BaseModel):
    commit: str
    services: int
    endpoints: int
    problems: int
    duration_ms: int


class CatalogChangePublic(BaseModel):
    work_item_id: int
    commit: str
    path: str
    operation: str = Field(description="created, updated or deleted")


class ScannedPublic(BaseModel):
    compose_files: list[str]
    compose_dirs: list[str]
    projects: int
    services: int
    duration_ms: int


class FieldChangePublic(BaseModel):
    field: str
    catalog: Any
    compose: Any


class ProposalPublic(BaseModel):
    slug: str
    name: str
    project: str | None
    compose_file: str
    compose_service: str
    source: str
    image: str | None
    profiles: list[str]
    catalog_file: str | None
    changes: list[FieldChangePublic]
    spec: dict[str, Any]
    errors: list[dict[str, Any]]
    notes: list[str]


class MissingPublic(BaseModel):
    slug: str
    name: str
    file: str
    compose_file: str | None
    compose_service: str | None
    reason: str


class DiscoveryProblemPublic(BaseModel):
    file: str
    line: int | None
    message: str
    source: str
    severity: str = Field(description="error: the project cannot be read as Compose would; warning: looks wrong")


class DiscoveryPublic(BaseModel):
    commit: str
    scanned: ScannedPublic
    counts: dict[str, int] = Field(description="Each list's total over the whole scan, not only this page.")
    new: list[ProposalPublic]
    drifted: list[ProposalPublic]
    missing: list[MissingPublic]
    unchanged: list[str]
    problems: list[DiscoveryProblemPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class AcceptedPublic(BaseModel):
    work_item_id: int
    commit: str
    merged: bool
    merge_commit: str | None
    paths: list[str]
    added: list[str]
    changed: list[str]
    retired: list[str]
    changelog: str | None
    warnings: list[str]


class StandardChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str = Field(description="create, update or delete")
    kind: str = Field(description="service or endpoint")
    slug: str
    spec: dict[str, Any] | None = None
    summary: str = Field(max_length=200, description="One line; becomes the work item's notes.")


class GraphHealth(BaseModel):
    services: dict[str, str] = Field(description="service slug → worst status of its endpoints "
                                                 "(down, degraded, unknown, up, paused)")


class CatalogWrite(BaseModel):
    """The body of the catalog edit routes: the whole spec under ``spec``, as a standard change carries it."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, Any] = Field(description="The whole service or endpoint, as its YAML file holds it.")


class ValidateRequest(BaseModel):
    """A document to validate as the editor would write it: YAML ``text`` or a ``spec``, one of the two."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=1_000_000, description="The file as YAML.")
    spec: dict[str, Any] | None = Field(default=None, description="The file as a mapping.")
    original_slug: str | None = Field(default=None, max_length=63,
                                      description="Slug of the file being edited (default: the document's "
                                                  "own slug); the document replaces that file.")
    new: bool = Field(default=False, description="A new file: its slug must not be taken already.")


class DocumentProblemPublic(BaseModel):
    code: str = Field(description="The merge check's problem code, e.g. schema, unknown_dependency, cycle.")
    message: str
    field: str | None = Field(description="Dotted path of the field, e.g. ports.0.number; null: the whole "
                                          "document (or another file, named in the message).")
    severity: str = Field(description="error: the file would not load (the merge is refused); warning: "
                                      "it loads but looks wrong")
    line: int | None = Field(default=None, description="Line in the YAML text (1-based); null for another file.")


class ValidationPublic(BaseModel):
    ok: bool = Field(description="True when there is no error (warnings may remain).")
    problems: list[DocumentProblemPublic] = Field(description="Errors first, then warnings.")


class EditCheckPublic(ValidationPublic):
    text: str = Field(description="The YAML the edit page's fields stand for (what its YAML tab shows).")


class AcceptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slugs: list[str] = Field(max_length=MAX_ACCEPT,
                             description="Slugs from the scan's new, drifted or missing lists.")
    work_item_id: int | None = Field(default=None, description="An open work item; null starts a new one.")
    title: str = Field(default="", max_length=200, description="Title of the new work item (optional).")
    apply_now: bool = Field(default=False, description="A standard change: merged and completed at once.")

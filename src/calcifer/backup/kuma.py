"""Import from Uptime Kuma: a 1.x JSON backup file (Settings → Backup → Export in Kuma 1.x) or a 2.x data
directory (its SQLite ``kuma.db``, read by ``kuma_db``) becomes catalog endpoints and services written into
one work item, ready to review and merge.

Mapped monitor types: ``http``, ``keyword``, ``json-query`` (→ http), ``port`` (→ tcp), ``ping``
(→ icmp), ``dns``, ``push``, ``postgres``, ``redis``, ``mqtt``, ``snmp``, ``smtp`` and ``grpc-keyword``
(→ grpc, when it asks the standard health service); ``group`` monitors become catalog services (their
children's endpoints name them). Kuma tags become endpoint tags (``name`` or ``name:value``); maintenance
windows become Calcifer maintenance windows; notifications become disabled notification channels.
Everything else (docker, steam, other databases, ...) and every setting without an equivalent is listed
in the report, never silently dropped (see docs/backup.md). Credentials (database passwords, MQTT
passwords, SNMP communities) are never written into git: each is listed, to be given by an environment
variable named in the endpoint's options.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from sqlalchemy.orm import Session

from calcifer.auth.models import User
from calcifer.backup import jsonsafe
from calcifer.catalog import index
from calcifer.catalog import queries as catalog_queries
from calcifer.catalog.schemas import TAG_PATTERN, EndpointSpec, ServiceSpec, spec_document, spec_errors
from calcifer.catalog.yamlio import apply_spec
from calcifer.changelog.choices import ChangeType
from calcifer.errors import Conflict, Invalid
from calcifer.notify import service as notify
from calcifer.work import queries as work_queries
from calcifer.work import service as work
from calcifer.work.choices import WorkAction
from calcifer.work.models import WorkItem
from calcifer.work.schemas import WorkItemCreate

WORK_ITEM_TITLE = "Import from Uptime Kuma"
MAX_FILE_BYTES = 50 * 1024 * 1024
ENTRY_MAX = 300
KUMA_TIMEOUT_SHARE = 0.8  # Kuma's timeout when none is set: this share of the interval
HTTP_TYPES = {"http", "keyword", "json-query"}
SERVICE_TYPES = {"postgres", "redis", "mqtt", "snmp", "smtp", "grpc-keyword"}
MAPPED_TYPES = HTTP_TYPES | {"port", "ping", "dns", "push"} | SERVICE_TYPES
CREDENTIALS_NOTE = "credentials are never written into git"
# Kuma's SNMP comparison (jsonPathOperator) → the snmp check's operator
_SNMP_OPERATORS = {"==": "eq", "!=": "ne", "<": "lt", ">": "gt", "contains": "contains"}
GRPC_HEALTH_SERVICE = "grpc.health.v1.Health"
_SIMPLE_PATH = re.compile(r"^(\$\.)?[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[\d+\])*)*$")
_STATUS = re.compile(r"^\d{3}(-\d{3})?$")


@dataclass
class MappedEndpoint:
    kuma_id: Any
    kuma_name: str
    kuma_type: str
    spec: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # settings that were not carried over
    notification_ids: list[str] = field(default_factory=list)
    updates: str | None = None  # the file of the endpoint an earlier import made (None: a new endpoint)

    @property
    def slug(self) -> str:
        return str(self.spec["slug"])


@dataclass
class Skipped:
    kuma_id: Any
    name: str
    kind: str
    reason: str


@dataclass
class MappedChannel:
    kuma_id: str
    name: str
    kind: str
    url: str


@dataclass
class MappedGroup:
    kuma_id: Any
    name: str
    slug: str
    spec: dict[str, Any]
    existing: bool  # a service of that slug is in the catalog already: used, not written


@dataclass
class MappedTag:
    name: str
    tags: list[str]  # the endpoint (and service) tags it became
    endpoints: list[str]


@dataclass
class PlannedWindow:
    kuma_id: Any
    title: str
    data: dict[str, Any]  # the fields of monitoring.schemas.WindowCreate
    note: str = ""


@dataclass
class KumaReport:
    kuma_version: str = ""
    endpoints: list[MappedEndpoint] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    channels: list[MappedChannel] = field(default_factory=list)
    channels_skipped: list[Skipped] = field(default_factory=list)
    channels_created: list[str] = field(default_factory=list)
    channels_existing: list[str] = field(default_factory=list)  # made by an earlier import: left as they are
    unchanged: list[MappedEndpoint] = field(default_factory=list)  # imported before, nothing new to write
    groups: list[MappedGroup] = field(default_factory=list)
    tags: list[MappedTag] = field(default_factory=list)
    tags_skipped: list[Skipped] = field(default_factory=list)
    maintenance: list[PlannedWindow] = field(default_factory=list)  # mapped (created by import_kuma)
    maintenance_skipped: list[Skipped] = field(default_factory=list)
    maintenance_created: list[str] = field(default_factory=list)
    maintenance_existing: list[str] = field(default_factory=list)  # an earlier import made them
    work_item_id: int | None = None
    branch: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kuma_version": self.kuma_version, "work_item_id": self.work_item_id, "branch": self.branch,
            "endpoints": [{"slug": e.slug, "name": e.kuma_name, "kuma_type": e.kuma_type, "type": e.spec["type"],
                           "action": "updated" if e.updates else "added", "tags": e.tags,
                           "not_carried_over": e.notes} for e in self.endpoints],
            "unchanged": [{"slug": e.slug, "name": e.kuma_name} for e in self.unchanged],
            "skipped_monitors": [vars(s) for s in self.skipped],
            "notification_channels": [{"name": c.name, "kind": c.kind, "url": mask_url(c.url)}
                                      for c in self.channels],
            "channels_created": self.channels_created,
            "channels_existing": self.channels_existing,
            "skipped_notifications": [vars(s) for s in self.channels_skipped],
            "groups": [{"name": g.name, "service": g.slug, "action": "existing" if g.existing else "added"}
                       for g in self.groups],
            "tags": [vars(t) for t in self.tags],
            "skipped_tags": [vars(s) for s in self.tags_skipped],
            "maintenance": [{"title": w.title, "kind": w.data["kind"], "cron": w.data.get("cron"),
                             "endpoints": w.data.get("endpoints", []), "services": w.data.get("services", []),
                             "note": w.note,
                             "action": ("created" if w.title in self.maintenance_created else "existing"
                                        if w.title in self.maintenance_existing else "planned")}
                            for w in self.maintenance],
            "skipped_maintenance": [vars(s) for s in self.maintenance_skipped],
        }


# -- reading the file -----------------------------------------------------------------------------------------

def read_backup(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Invalid(f"{path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a Kuma backup.")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path.name} is not UTF-8 text ({exc.reason}); export the backup from Uptime Kuma 1.x "
                      "(Settings → Backup → Export).") from exc
    try:
        data = jsonsafe.loads(text, what=path.name)
    except Invalid as exc:
        raise Invalid(f"{exc.message} Export the backup from Uptime Kuma 1.x (Settings → Backup → "
                      "Export).") from exc
    if not isinstance(data, dict) or not isinstance(data.get("monitorList"), list):
        raise Invalid(f"{path.name} is not an Uptime Kuma 1.x backup: it has no monitorList.")
    return data


def read_source(path: Path) -> dict[str, Any]:
    """A Kuma 2.x data directory or kuma.db (recognised by its SQLite header), else a 1.x JSON backup."""
    from calcifer.backup import kuma_db

    if not path.exists():
        raise Invalid(f"{path} does not exist: give a Kuma 1.x JSON backup, or Uptime Kuma 2.x's data directory "
                      "or its kuma.db.")
    db = kuma_db.locate(path)
    return kuma_db.read_db(db) if db is not None else read_backup(path)


# -- slugs ---------------------------------------------------------------------------------------------------------

def _ascii(text: str) -> str:
    """The ASCII letters NFKD leaves of ``text``, one character at a time.

    Normalising the whole string reorders runs of combining marks by an insertion sort, quadratic in
    the run's length (a 20,000-character name took 3 s); the marks are dropped here anyway, and NFKD
    never composes, so decomposing each character alone gives the same letters in linear time."""
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    return "".join(out)


def slugify(text: str, *, max_length: int = 63) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")[:max_length].rstrip("-")
    return slug or "endpoint"


def unique_slug(base: str, taken: set[str]) -> str:
    slug = base
    counter = 2
    while slug in taken:
        suffix = f"-{counter}"
        slug = base[:63 - len(suffix)].rstrip("-") + suffix
        counter += 1
    taken.add(slug)
    return slug


# -- monitors → endpoints ------------------------------------------------------------------------------------

def _list(value: Any) -> list[Any]:
    """A list field of the backup as a list (a hand-edited file may hold anything there)."""
    return value if isinstance(value, list) else []


def _int(value: Any, default: int, low: int, high: int) -> tuple[int, bool]:
    """(value clamped into [low, high], whether it had to be changed)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default, value not in (None, "")
    clamped = max(low, min(high, number))
    return clamped, clamped != number


def _statuses(value: Any) -> tuple[list[int | str], list[str]]:
    accepted: list[int | str] = []
    dropped: list[str] = []
    for raw in _list(value):
        text = str(raw).strip()
        if not _STATUS.fullmatch(text):
            dropped.append(text)
        elif "-" in text:
            accepted.append(text)
        else:
            accepted.append(int(text))
    return accepted or ["200-299"], dropped


def _headers(value: Any) -> tuple[dict[str, str], str | None]:
    if value in (None, ""):
        return {}, None
    try:
        parsed = jsonsafe.loads(value, what="headers") if isinstance(value, str) else value
    except Invalid:
        return {}, "headers are not a JSON object"
    if not isinstance(parsed, dict):
        return {}, "headers are not a JSON object"
    return {str(k): str(v) for k, v in parsed.items()}, None


def _expected(value: Any) -> Any:
    """Kuma compares the JSON value's text with expectedValue; numbers and booleans compare as such here."""
    if not isinstance(value, str):
        return value
    try:
        parsed = jsonsafe.loads(value, what="expectedValue")
    except Invalid:
        return value
    return parsed if isinstance(parsed, bool | int | float) else value


def tag_text(name: str, value: str = "") -> str | None:
    """Kuma's tag (any text) as a Calcifer tag ``name`` or ``name:value`` (letters, digits, ``_ . : / + -``,
    at most 63), runs of anything else becoming ``-``; None when nothing usable is left."""
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.:/+-]+", "-", _ascii(text)).strip("-_.:/+")

    text = clean(name)
    if text and clean(value):
        text = f"{text}:{clean(value)}"
    text = text[:63]
    return text if text and re.fullmatch(TAG_PATTERN, text) else None


def _kuma_tags(monitor: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, value) of each tag on a monitor."""
    tags = []
    for tag in _list(monitor.get("tags")):
        if isinstance(tag, dict) and tag.get("name"):
            tags.append((str(tag["name"]), str(tag.get("value") or "").strip()))
        elif isinstance(tag, str):
            tags.append((tag, ""))
    return tags


def _tags(monitor: dict[str, Any]) -> list[str]:
    tags: list[str] = []
    for name, value in _kuma_tags(monitor):
        text = tag_text(name, value)
        if text is not None and text not in tags:
            tags.append(text)
    return tags


def map_monitor(monitor: dict[str, Any], slug: str) -> tuple[dict[str, Any] | None, list[str], str | None]:
    """(endpoint spec, settings not carried over, reason it cannot be mapped at all)."""
    kind = str(monitor.get("type") or "")
    if kind not in MAPPED_TYPES:
        return None, [], f"monitor type {kind or '(none)'!r} has no Calcifer check type"
    if monitor.get("upsideDown") in (True, 1):
        return None, [], "upside-down mode (down counts as up) has no equivalent"
    notes: list[str] = []
    interval, changed = _int(monitor.get("interval"), 60, 1, 86_400)
    if changed:
        notes.append(f"interval {monitor.get('interval')!r} clamped to {interval}")
    retries, changed = _int(monitor.get("maxretries"), 0, 0, 10)
    if changed:
        notes.append(f"maxretries {monitor.get('maxretries')!r} clamped to {retries}")
    spec: dict[str, Any] = {"name": (str(monitor.get("name") or slug).strip() or slug)[:200], "slug": slug,
                            "interval": interval, "retries": retries}
    if monitor.get("timeout") not in (None, "", 0):
        timeout, changed = _int(monitor.get("timeout"), 10, 1, 300)
        spec["timeout"] = timeout
        if changed:
            notes.append(f"timeout {monitor.get('timeout')!r} clamped to {timeout}")
    elif kind != "push":
        # Kuma left the field out (before 1.21 it had none): its checks then give up after 0.8 × interval,
        # not after Calcifer's default of 10 s.
        timeout = max(1, min(300, round(interval * KUMA_TIMEOUT_SHARE)))
        spec["timeout"] = timeout
        notes.append(f"timeout not in the backup: {timeout} s, Kuma's own default of 0.8 × the interval"
                     + (" (at most 300 s)" if interval * KUMA_TIMEOUT_SHARE > 300 else ""))
    if monitor.get("active") in (False, 0):
        spec["enabled"] = False
    if retries and monitor.get("retryInterval") and monitor.get("retryInterval") != monitor.get("interval"):
        notes.append("retryInterval (Calcifer retries at the normal interval)")
    if monitor.get("resendInterval"):
        notes.append("resendInterval (notification repeats)")
    options: dict[str, Any] = {}
    if kind in HTTP_TYPES:
        spec.update(type="http", target=str(monitor.get("url") or "").strip())
        method = str(monitor.get("method") or "GET").upper()
        if method != "GET":
            options["method"] = method
        headers, problem = _headers(monitor.get("headers"))
        if problem:
            notes.append(problem)
        if headers:
            options["headers"] = headers
        if monitor.get("body"):
            options["body"] = str(monitor["body"])
        accepted, dropped = _statuses(monitor.get("accepted_statuscodes"))
        if accepted != ["200-299"]:
            options["accepted_status"] = accepted
        if dropped:
            notes.append("accepted status codes " + ", ".join(dropped))
        if monitor.get("ignoreTls") in (True, 1):
            options["verify_tls"] = False
        if monitor.get("maxredirects") == 0:
            options["follow_redirects"] = False
        if monitor.get("authMethod") not in (None, "", "null") or monitor.get("basic_auth_user"):
            notes.append("authentication (credentials are never written into git: add them by hand)")
        if kind == "keyword":
            keyword = str(monitor.get("keyword") or "")
            if not keyword:
                return None, notes, "keyword monitor without a keyword"
            options["keyword_absent" if monitor.get("invertKeyword") in (True, 1) else "keyword"] = keyword
        if kind == "json-query":
            path = str(monitor.get("jsonPath") or "").strip()
            if not _SIMPLE_PATH.fullmatch(path):
                return None, notes, (f"JSON query {path!r} is a JSONata expression, not a dotted path "
                                     "Calcifer can follow")
            options["json_path"] = path
            if monitor.get("expectedValue") not in (None, ""):
                options["json_equals"] = _expected(monitor.get("expectedValue"))
            if monitor.get("jsonPathOperator") not in (None, "", "=="):
                return None, notes, f"JSON comparison {monitor.get('jsonPathOperator')!r} has no equivalent"
    elif kind == "port":
        spec.update(type="tcp", target=str(monitor.get("hostname") or "").strip(), port=monitor.get("port"))
    elif kind == "ping":
        spec.update(type="icmp", target=str(monitor.get("hostname") or "").strip())
        if monitor.get("packetSize") not in (None, 56):
            notes.append(f"packetSize {monitor.get('packetSize')}")
    elif kind == "dns":
        spec.update(type="dns", target=str(monitor.get("hostname") or "").strip())
        record = str(monitor.get("dns_resolve_type") or "A").upper()
        if record != "A":
            options["record_type"] = record
        server = str(monitor.get("dns_resolve_server") or "").strip()
        port = monitor.get("port")
        if server:
            options["resolver"] = f"{server}:{port}" if port not in (None, "", 53) and ":" not in server else server
    elif kind == "push":
        spec["type"] = "push"
        notes.append("push token: the pushing side must call Calcifer's push URL for this endpoint instead")
    elif kind in SERVICE_TYPES:
        reason = _map_service(kind, monitor, spec, options, notes)
        if reason:
            return None, notes, reason
    if options:
        spec["options"] = options
    return spec, notes, None


def _host(monitor: dict[str, Any]) -> str:
    return str(monitor.get("hostname") or "").strip()


def _port(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return port if 1 <= port <= 65535 else None


def _secret_note(what: str, option: str) -> str:
    return (f"{what} ({CREDENTIALS_NOTE}: put it in an environment variable of Calcifer and name it in "
            f"options.{option})")


def _map_service(kind: str, monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
                 notes: list[str]) -> str | None:
    """Fill ``spec``/``options`` for Kuma's service monitors; the reason when one cannot be mapped."""
    mapper = {"postgres": _map_postgres, "redis": _map_redis, "mqtt": _map_mqtt, "snmp": _map_snmp,
              "smtp": _map_smtp, "grpc-keyword": _map_grpc}[kind]
    return mapper(monitor, spec, options, notes)


def _connection(monitor: dict[str, Any], spec: dict[str, Any], *, kind: str, label: str,
                schemes: tuple[str, ...]) -> tuple[Any, str | None]:
    """The monitor's parsed connection string with ``spec``'s type, target and port set from it; or the
    reason it cannot be mapped."""
    parts = urlsplit(str(monitor.get("databaseConnectionString") or "").strip())
    if parts.scheme not in schemes or not parts.hostname:
        return None, f"{label} monitor without a {schemes[0]}:// connection string"
    try:
        port = parts.port
    except ValueError:
        return None, f"{label} monitor whose connection string has no valid port"
    spec.update(type=kind, target=parts.hostname)
    if port:
        spec["port"] = port
    return parts, None


def _map_postgres(monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
                  notes: list[str]) -> str | None:
    parts, unmapped = _connection(monitor, spec, kind="postgres", label="PostgreSQL",
                                  schemes=("postgres", "postgresql"))
    if unmapped:
        return unmapped
    if parts.username:
        options["user"] = unquote(parts.username)
    database = unquote(parts.path.lstrip("/"))
    if database:
        options["database"] = database
    if parts.query:  # sslmode and the like, without the password
        options["dsn"] = f"postgresql://?{parts.query}"
    if parts.password:
        notes.append(_secret_note("the password", "password_env"))
    query = str(monitor.get("databaseQuery") or "").strip()
    if query:
        options["query"] = query
    return None


def _map_redis(monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
               notes: list[str]) -> str | None:
    parts, unmapped = _connection(monitor, spec, kind="redis", label="Redis", schemes=("redis", "rediss"))
    if unmapped:
        return unmapped
    if parts.scheme == "rediss":
        options["tls"] = True
        if monitor.get("ignoreTls") in (True, 1):
            options["verify_tls"] = False
    database = parts.path.strip("/")
    if database.isdigit() and int(database):
        options["database"] = int(database)
    if parts.password:
        if parts.username and unquote(parts.username) != "default":
            notes.append(f"ACL user {unquote(parts.username)!r} and its password: set options.user and "
                         "options.password_env")
        notes.append(_secret_note("the AUTH password", "password_env"))
    return None


def _map_mqtt(monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
              notes: list[str]) -> str | None:
    host = _host(monitor)
    scheme, found, rest = host.partition("://")
    if found:
        if scheme not in ("mqtt", "mqtts"):
            return f"MQTT over {scheme}:// (websockets) has no equivalent: the mqtt check speaks MQTT over TCP"
        host = rest
        if scheme == "mqtts":
            options["tls"] = True
    spec.update(type="mqtt", target=host.split("/")[0])
    if _port(monitor.get("port")) is not None:
        spec["port"] = _port(monitor.get("port"))
    if monitor.get("mqttUsername"):
        options["username"] = str(monitor["mqttUsername"])
    if monitor.get("mqttPassword"):
        notes.append(_secret_note("the password", "password_env"))
    topic = str(monitor.get("mqttTopic") or "").strip()
    if topic:
        options["topic"] = topic
        check_type = str(monitor.get("mqttCheckType") or "keyword")
        if check_type == "json-query":
            return "MQTT monitor with a JSON query on the payload has no equivalent (payloads are compared as text)"
        message = str(monitor.get("mqttSuccessMessage") or "")
        if message:  # Kuma's keyword check: the payload contains the text
            options["operator"] = "contains"
            options["expected"] = message
    return None


def _map_snmp(monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
              notes: list[str]) -> str | None:
    oid = str(monitor.get("snmpOid") or "").strip()
    if not oid:
        return "SNMP monitor without an OID"
    spec.update(type="snmp", target=_host(monitor))
    if _port(monitor.get("port")) not in (None, 161):
        spec["port"] = _port(monitor.get("port"))
    version = str(monitor.get("snmpVersion") or "2c")
    if version != "2c":
        options["version"] = version
    community = str(monitor.get("radiusPassword") or "")  # where Kuma keeps the community
    if community and community != "public":
        notes.append(_secret_note("the community", "community_env"))
    options["oid"] = oid
    expected = monitor.get("expectedValue")
    if expected not in (None, ""):
        operator = str(monitor.get("jsonPathOperator") or "==")
        value = _expected(expected)
        value = value if isinstance(value, int | float) and not isinstance(value, bool) else str(expected)
        if operator in _SNMP_OPERATORS:
            options["operator"] = _SNMP_OPERATORS[operator]
        elif operator in ("<=", ">=") and isinstance(value, int):
            options["operator"] = "lt" if operator == "<=" else "gt"
            value = value + 1 if operator == "<=" else value - 1
            notes.append(f"comparison {operator} {expected} written as {options['operator']} {value}")
        else:
            return f"SNMP comparison {operator!r} with {expected!r} has no equivalent"
        if options["operator"] == "eq":
            del options["operator"]
        options["expected"] = value
    return None


def _map_smtp(monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
              notes: list[str]) -> str | None:
    spec.update(type="smtp", target=_host(monitor))
    if _port(monitor.get("port")) is not None:
        spec["port"] = _port(monitor.get("port"))
    security = str(monitor.get("smtpSecurity") or "")
    if security == "secure":
        options["tls"] = "implicit"
    elif security == "starttls":
        options["tls"] = "starttls"
    elif security != "nostarttls":
        notes.append("Kuma upgraded to STARTTLS when the server offered it; the check stays plain unless "
                     "options.tls is starttls")
    if options.get("tls") and monitor.get("ignoreTls") in (True, 1):
        options["verify_tls"] = False
    return None


def _map_grpc(monitor: dict[str, Any], spec: dict[str, Any], options: dict[str, Any],
              notes: list[str]) -> str | None:
    service = str(monitor.get("grpcServiceName") or "").strip()
    method = str(monitor.get("grpcMethod") or "").strip()
    if service.rsplit(".", 1)[-1] != "Health" or method.lower() != "check":
        return (f"gRPC call {service or '?'}/{method or '?'}: the grpc check asks only the standard health "
                f"service ({GRPC_HEALTH_SERVICE}/Check)")
    url = str(monitor.get("grpcUrl") or "").strip()
    url = url.partition("://")[2] if "://" in url else url
    host, _, port_text = url.rpartition(":")
    port = _port(port_text)
    if not host or port is None:
        return "gRPC monitor without host:port in grpcUrl"
    spec.update(type="grpc", target=host.strip("[]"), port=port)
    body = monitor.get("grpcBody")
    try:
        request = jsonsafe.loads(body, what="grpcBody") if isinstance(body, str) and body.strip() else {}
    except Invalid:
        request = {}
    if isinstance(request, dict) and request.get("service"):
        options["service"] = str(request["service"])
    if monitor.get("grpcEnableTls") in (True, 1):
        options["tls"] = True
    keyword = str(monitor.get("keyword") or "")
    if monitor.get("invertKeyword") in (True, 1) or (keyword and keyword.upper() not in ("SERVING", "1")):
        notes.append(f"keyword {keyword!r}{' (inverted)' if monitor.get('invertKeyword') in (True, 1) else ''}: "
                     "the grpc check is up when the status is SERVING")
    if monitor.get("grpcMetadata") not in (None, "", "{}"):
        notes.append("gRPC metadata (request headers)")
    return None


def _validate(spec: dict[str, Any]) -> str | None:
    try:
        EndpointSpec.model_validate(spec)
    except ValidationError as exc:
        return "; ".join(f"{e['path'] or '(root)'}: {e['message']}" for e in spec_errors(exc)[:5])
    return None


# -- notifications → apprise URLs ---------------------------------------------------------------------------

def mask_url(url: str) -> str:
    """An apprise URL fit to show: the scheme and host, the rest hidden (it holds tokens)."""
    scheme, _, rest = url.partition("://")
    host = re.split(r"[/?@:]", rest, maxsplit=1)[0] if rest else ""
    return f"{scheme}://{host[:3]}…" if host else f"{scheme}://…"


def _webhook_parts(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.scheme, parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")


def _priority(value: Any, *, high: int = 5) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= high else None


def map_notification(config: dict[str, Any]) -> tuple[str | None, str]:
    """(apprise URL, or None and why not) for one Kuma notification's config."""
    kind = str(config.get("type") or "")
    if kind == "discord":
        match = re.search(r"/api/webhooks/(\d+)/([A-Za-z0-9_-]+)", str(config.get("discordWebhookUrl") or ""))
        if match:
            return f"discord://{match.group(1)}/{match.group(2)}", ""
        return None, "Discord notification without a webhook URL"
    if kind == "slack":
        match = re.search(r"hooks\.slack\.com/services/([A-Za-z0-9]+)/([A-Za-z0-9]+)/([A-Za-z0-9]+)",
                          str(config.get("slackwebhookURL") or ""))
        if match:
            return f"slack://{match.group(1)}/{match.group(2)}/{match.group(3)}", ""
        return None, "Slack notification without an incoming-webhook URL"
    if kind == "ntfy":
        server = _webhook_parts(str(config.get("ntfyserverurl") or "https://ntfy.sh"))
        topic = str(config.get("ntfytopic") or "").strip()
        if server is None or not topic:
            return None, "ntfy notification without a server URL and topic"
        scheme = "ntfys" if server[0] == "https" else "ntfy"
        auth = ""
        if config.get("ntfyusername"):
            user = quote(str(config["ntfyusername"]), safe="")
            auth = f"{user}:{quote(str(config.get('ntfypassword') or ''), safe='')}@"
        url = f"{scheme}://{auth}{server[1].rstrip('/')}/{quote(topic, safe='')}"
        if config.get("ntfyPriority"):
            priority = _priority(config["ntfyPriority"])
            if priority is None:
                return None, f"ntfy priority {str(config['ntfyPriority'])[:20]!r} is not a number from 1 to 5"
            url += f"?priority={priority}"
        return url, ""
    if kind == "gotify":
        server = _webhook_parts(str(config.get("gotifyserverurl") or ""))
        token = str(config.get("gotifyapplicationToken") or "").strip()
        if server is None or not token:
            return None, "Gotify notification without a server URL and application token"
        scheme = "gotifys" if server[0] == "https" else "gotify"
        url = f"{scheme}://{server[1].rstrip('/')}/{quote(token, safe='')}"
        if config.get("gotifyPriority") not in (None, ""):
            priority = _priority(config["gotifyPriority"], high=10)
            if priority is None:
                return None, f"Gotify priority {str(config['gotifyPriority'])[:20]!r} is not a number from 0 to 10"
            url += f"?priority={priority}"
        return url, ""
    if kind == "telegram":
        token = str(config.get("telegramBotToken") or "").strip()
        chat = str(config.get("telegramChatID") or "").strip()
        if not token or not chat:
            return None, "Telegram notification without a bot token and chat id"
        return f"tgram://{token}/{chat}", ""
    if kind == "webhook":
        parts = _webhook_parts(str(config.get("webhookURL") or ""))
        if parts is None:
            return None, "webhook notification without an http(s) URL"
        content = str(config.get("webhookContentType") or "json")
        if content == "form-data":
            scheme = "forms" if parts[0] == "https" else "form"
        elif content == "json":
            scheme = "jsons" if parts[0] == "https" else "json"
        else:
            return None, f"webhook with a {content} body template has no apprise equivalent"
        return f"{scheme}://{parts[1]}", ""
    return None, f"notification type {kind or '(none)'!r} has no mapping to an apprise URL"


def _notifications(data: dict[str, Any], report: KumaReport) -> None:
    for entry in _list(data.get("notificationList")):
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name") or f"notification {entry.get('id')}")
        config = entry.get("config")
        try:
            parsed = jsonsafe.loads(config, what="config") if isinstance(config, str) else (config or {})
        except Invalid:
            parsed = None
        if not isinstance(parsed, dict):
            report.channels_skipped.append(Skipped(entry.get("id"), name, "?", "its config is not JSON"))
            continue
        url, reason = map_notification(parsed)
        kind = str(parsed.get("type") or "?")
        if url is None:
            report.channels_skipped.append(Skipped(entry.get("id"), name, kind, reason))
        else:
            report.channels.append(MappedChannel(kuma_id=str(entry.get("id")), name=name, kind=kind, url=url))


# -- maintenance windows --------------------------------------------------------------------------------------

_UTC_NAMES = {"", "UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"}
RECURRING_STRATEGIES = {"cron", "recurring-interval", "recurring-weekday", "recurring-day-of-month"}


def _when(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC)


def _minutes_between(start: Any, end: Any) -> int | None:
    """Kuma's calcDuration: end_time - start_time (HH:MM), plus a day when negative, in minutes."""
    try:
        h1, m1 = (int(x) for x in str(start).split(":")[:2])
        h2, m2 = (int(x) for x in str(end).split(":")[:2])
    except ValueError:
        return None
    minutes = (h2 * 60 + m2) - (h1 * 60 + m1)
    return minutes + 24 * 60 if minutes < 0 else minutes


def _days(value: Any) -> list[Any]:
    """weekdays / days_of_month: a list, or the JSON text of one as the maintenance table stores it."""
    if isinstance(value, str):
        try:
            value = jsonsafe.loads(value, what="days")
        except Invalid:
            return []
    return _list(value)


def _kuma_cron(window: dict[str, Any], strategy: str) -> str:
    """The cron expression Kuma generates for a recurring strategy (maintenance.js generateCron), when the
    row does not hold it yet (Kuma writes it when it first runs the window)."""
    try:
        hour, minute = (int(x) for x in str(window.get("start_time") or "").split(":")[:2])
    except ValueError:
        return ""
    if strategy == "recurring-interval":
        return f"{minute} {hour} * * *"
    if strategy == "recurring-weekday":
        days = sorted(int(d) for d in _days(window.get("weekdays")) if str(d).isdigit())
        return f"{minute} {hour} * * {','.join(map(str, days))}" if days else ""
    days_of_month = []
    for day in _days(window.get("days_of_month")):
        text = "L" if day == "lastDay1" else str(day)
        if text not in days_of_month:
            days_of_month.append(text)
    return f"{minute} {hour} {','.join(days_of_month)} * *" if days_of_month else ""


def map_maintenance(window: dict[str, Any], *, now: dt.datetime) -> tuple[dict[str, Any] | None, str]:
    """(WindowCreate fields without the scope, a note) or (None, why it cannot be mapped)."""
    from calcifer.cron import cron_problem
    from calcifer.monitoring.schemas import MAX_DURATION_MINUTES

    strategy = str(window.get("strategy") or "single")
    if window.get("active") in (False, 0):
        return None, "paused (inactive) in Kuma"
    if strategy == "manual":
        return None, ("manual strategy: Kuma starts and stops it by hand; Calcifer's windows have a schedule "
                      "(start a one-off window under Maintenance when needed)")
    zone_name = str(window.get("timezone") or "").strip()
    note = ""
    zone: dt.tzinfo = dt.UTC
    if zone_name == "SAME_AS_SERVER":
        note = "Kuma used its server's time zone: times taken as UTC"
    elif zone_name not in _UTC_NAMES:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            return None, f"unknown time zone {zone_name[:60]!r}"
    start, end = _when(window.get("start_date"), zone), _when(window.get("end_date"), zone)
    if strategy == "single":
        if start is None or end is None or end <= start:
            return None, "a single window without a valid start and end date"
        if end <= now:
            return None, f"ended on {end:%Y-%m-%d %H:%M} UTC (in the past)"
        return {"kind": "one_off", "starts_at": start, "ends_at": end}, note
    if strategy not in RECURRING_STRATEGIES:
        return None, f"strategy {strategy[:40]!r} is not one Calcifer knows"
    if zone is not dt.UTC:
        return None, (f"its times are in {zone_name}: Calcifer's recurring windows are UTC cron expressions, "
                      "which cannot follow that zone's clock changes")
    if strategy == "recurring-interval" and str(window.get("interval_day") or "1") != "1":
        return None, f"every {window.get('interval_day')} days has no cron equivalent"
    cron = " ".join(str(window.get("cron") or "").split()) or (
        "" if strategy == "cron" else _kuma_cron(window, strategy))
    if not cron:
        return None, "no schedule (cron, weekdays or days of the month) in Kuma"
    problem = cron_problem(cron)
    if problem is not None:
        return None, f"cron {cron!r}: {problem}"
    seconds = window.get("duration")
    minutes = (-(-int(seconds) // 60) if isinstance(seconds, int | float) and seconds > 0
               else _minutes_between(window.get("start_time"), window.get("end_time")))
    if not minutes or minutes < 1:
        return None, "no duration"
    if minutes > MAX_DURATION_MINUTES:
        return None, f"lasts {minutes} minutes, longer than Calcifer's {MAX_DURATION_MINUTES}"
    if end is not None and end <= now:
        return None, f"its date range ended on {end:%Y-%m-%d} (in the past)"
    return {"kind": "recurring", "cron": cron, "duration_minutes": minutes, "starts_at": start, "ends_at": end}, note


def window_title(title: str) -> str:
    return " ".join(f"{title} (Uptime Kuma)".split())[:200]


def _maintenance(data: dict[str, Any], report: KumaReport, *, now: dt.datetime) -> None:
    by_monitor = {e.kuma_id: e.slug for e in [*report.endpoints, *report.unchanged]}
    by_group = {g.kuma_id: g.slug for g in report.groups}
    for window in _list(data.get("maintenanceList")):
        if not isinstance(window, dict):
            continue
        title = str(window.get("title") or f"maintenance {window.get('id')}")
        fields, reason = map_maintenance(window, now=now)
        if fields is None:
            report.maintenance_skipped.append(Skipped(window.get("id"), title, str(window.get("strategy")), reason))
            continue
        ids = _list(window.get("monitorIDList"))
        fields["endpoints"] = sorted({by_monitor[i] for i in ids if i in by_monitor})
        fields["services"] = sorted({by_group[i] for i in ids if i in by_group})
        if not fields["endpoints"] and not fields["services"]:
            report.maintenance_skipped.append(Skipped(
                window.get("id"), title, str(window.get("strategy")),
                "none of its monitors became an endpoint or service" if ids else "it names no monitor"))
            continue
        fields["title"] = window_title(title)
        fields["description"] = str(window.get("description") or "")[:5000]
        report.maintenance.append(PlannedWindow(window.get("id"), fields["title"], fields, reason))


# -- groups and tags ------------------------------------------------------------------------------------------

def _groups(monitors: list[dict[str, Any]], services: set[str], report: KumaReport) -> dict[Any, str]:
    """Each ``group`` monitor as a catalog service (an existing service of its slug is used as it is);
    returns {group's Kuma id: service slug}."""
    taken = set(services)
    slugs: dict[Any, str] = {}
    for monitor in monitors:
        if str(monitor.get("type") or "") != "group":
            continue
        name = (str(monitor.get("name") or "").strip() or f"Kuma group {monitor.get('id')}")[:200]
        base = slugify(name)
        existing = base in services
        slug = base if existing else unique_slug(base, taken)
        spec: dict[str, Any] = {"name": name, "slug": slug, "kind": "other",
                                "description": f"Monitor group {name!r} in Uptime Kuma."}
        tags = _tags(monitor)
        if tags:
            spec["tags"] = tags
        if str(monitor.get("description") or "").strip():
            spec["description"] = str(monitor["description"]).strip()[:10_000]
        slugs[monitor.get("id")] = slug
        report.groups.append(MappedGroup(monitor.get("id"), name, slug, spec, existing))
    return slugs


def _group_of(monitor: dict[str, Any], by_id: dict[Any, dict[str, Any]], groups: dict[Any, str]) -> str | None:
    """The service of the nearest group above a monitor (Kuma groups nest)."""
    seen: set[Any] = set()
    parent = monitor.get("parent")
    while parent is not None and parent not in seen:
        if parent in groups:
            return groups[parent]
        seen.add(parent)
        parent = (by_id.get(parent) or {}).get("parent")
    return None


def _tag_summary(data: dict[str, Any], monitors: list[dict[str, Any]], report: KumaReport) -> None:
    """Each Kuma tag once: the tags it became and on which endpoints/services, or why it did not come."""
    names: list[str] = [str(t.get("name")) for t in _list(data.get("tagList")) if isinstance(t, dict)
                        and t.get("name")]
    carried: dict[str, tuple[list[str], list[str]]] = {}
    slug_of = {e.kuma_id: e.slug for e in [*report.endpoints, *report.unchanged]}
    slug_of |= {g.kuma_id: g.slug for g in report.groups}
    for monitor in monitors:
        for name, value in _kuma_tags(monitor):
            if name not in names:
                names.append(name)
            tags, where = carried.setdefault(name, ([], []))
            text = tag_text(name, value)
            slug = slug_of.get(monitor.get("id"))
            if text is not None and slug is not None:
                if text not in tags:
                    tags.append(text)
                if slug not in where:
                    where.append(slug)
    for name in names:
        tags, where = carried.get(name, ([], []))
        if where:
            report.tags.append(MappedTag(name, tags, where))
        elif tag_text(name) is None:
            report.tags_skipped.append(Skipped(None, name, "tag", "no letters or digits left to make a tag of"))
        else:
            report.tags_skipped.append(Skipped(None, name, "tag", "no imported monitor carries it"
                                               if name in carried else "on no monitor"))


# -- the whole import -------------------------------------------------------------------------------------------

def _kuma_id(monitor: dict[str, Any]) -> int | None:
    value = monitor.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**31 else None


def _same_endpoint(spec: dict[str, Any], earlier: dict[str, Any]) -> bool:
    return EndpointSpec.model_validate(spec).model_dump(mode="json") == EndpointSpec.model_validate(
        earlier).model_dump(mode="json")


def plan(*, data: dict[str, Any], taken: set[str],
         linked: dict[int, tuple[str, dict[str, Any]]] | None = None, services: set[str] | None = None,
         now: dt.datetime | None = None) -> KumaReport:
    """Map a Kuma backup (or a kuma.db read as one) without writing anything: what would be imported and
    what not (and why).

    ``linked``: the endpoints earlier imports made, by Kuma monitor id (``kuma: {monitor: id}`` in their
    files): such a monitor updates its endpoint (keeping what was added by hand) or, when nothing changed,
    is listed as unchanged. ``services``: the catalog's service slugs (a group whose slug is taken uses that
    service). Every monitor, group, tag, maintenance window and notification ends in exactly one list."""
    report = KumaReport(kuma_version=str(data.get("version") or ""))
    taken = set(taken)
    linked = linked or {}
    monitors = [m for m in _list(data.get("monitorList")) if isinstance(m, dict)]
    by_id = {m.get("id"): m for m in monitors if m.get("id") is not None}
    groups = _groups(monitors, services or set(), report)
    for monitor in monitors:
        if str(monitor.get("type") or "") == "group":
            continue
        name = str(monitor.get("name") or "")
        kind = str(monitor.get("type") or "")
        kuma_id = _kuma_id(monitor)
        earlier = linked.get(kuma_id) if kuma_id is not None else None
        slug = earlier[0] if earlier else unique_slug(slugify(name or f"kuma-{monitor.get('id')}"), taken)
        spec, notes, reason = map_monitor(monitor, slug)
        if spec is not None:
            if kuma_id is not None:
                spec["kuma"] = {"monitor": kuma_id}
            group = _group_of(monitor, by_id, groups)
            if group is not None:
                spec["service"] = group
            if _tags(monitor):
                spec["tags"] = _tags(monitor)
            if earlier:  # what a person added by hand stays, what Kuma says wins
                spec = {k: v for k, v in earlier[1].items() if v is not None and k not in spec} | spec
            problem = _validate(spec)
            if problem:
                spec, reason = None, f"not a valid endpoint: {problem}"
        if spec is None:
            if not earlier:
                taken.discard(slug)
            report.skipped.append(Skipped(monitor.get("id"), name, kind, reason or "not mappable"))
            continue
        ids = monitor.get("notificationIDList") or {}
        notification_ids = ([str(k) for k, v in ids.items() if v] if isinstance(ids, dict)
                            else [str(i) for i in _list(ids)])
        mapped = MappedEndpoint(kuma_id=monitor.get("id"), kuma_name=name, kuma_type=kind, spec=spec,
                                tags=_tags(monitor), notes=notes, notification_ids=notification_ids,
                                updates=index.endpoint_file(slug) if earlier else None)
        if earlier and _same_endpoint(spec, earlier[1]):
            report.unchanged.append(mapped)
        else:
            report.endpoints.append(mapped)
    _tag_summary(data, monitors, report)
    _maintenance(data, report, now=now or dt.datetime.now(dt.UTC))
    _notifications(data, report)
    return report


def _existing_slugs(session: Session, repo_path: Path) -> set[str]:
    from calcifer import gitrepo as git

    slugs = catalog_queries.endpoint_slugs(session=session)

    for path in git.list_files_at(repo_path=repo_path, prefix="catalog/endpoints/"):
        slugs.add(Path(path).stem)
    return slugs


def _existing_services(session: Session, repo_path: Path) -> set[str]:
    from calcifer import gitrepo as git
    from calcifer.catalog import index as catalog_index

    slugs = set(catalog_index.all_slugs(session=session))
    for path in git.list_files_at(repo_path=repo_path, prefix="catalog/services/"):
        slugs.add(Path(path).stem)
    return slugs


def plan_for(*, session: Session, repo_path: Path, data: dict[str, Any]) -> KumaReport:
    """``plan`` against this instance's catalog (what a dry run shows)."""
    return plan(data=data, taken=_existing_slugs(session, repo_path),
                linked=catalog_queries.endpoints_from_kuma(session=session),
                services=_existing_services(session, repo_path))


CHANNELS_DISABLED_NOTE = ("Notification channels, created disabled: after this work item is merged, review and "
                          "enable them under Settings → Notifications.")


def _description(report: KumaReport) -> str:
    lines = [f"Imported from Uptime Kuma {report.kuma_version or '1.x'} by `calcifer import-kuma`.",
             "Review each endpoint, then merge.", ""]
    lines.append("| endpoint | Kuma monitor | Kuma type | tags | not carried over |")
    lines.append("|---|---|---|---|---|")
    for e in report.endpoints:
        lines.append(f"| {e.slug}{' (updated)' if e.updates else ''} | {e.kuma_name.replace('|', '/')} | "
                     f"{e.kuma_type} | {', '.join(e.tags)} | {'; '.join(e.notes).replace('|', '/')} |")
    if report.unchanged:
        lines += ["", "Imported before and unchanged: " + ", ".join(e.slug for e in report.unchanged)]
    if report.skipped:
        lines += ["", "Not imported:", ""]
        lines += [f"- {s.name} ({s.kind}): {s.reason}" for s in report.skipped]
    if report.channels:
        lines += ["", CHANNELS_DISABLED_NOTE, ""]
        lines += [f"- {c.name} (Uptime Kuma) ({c.kind})" for c in report.channels]
    if report.channels_skipped:
        lines += ["", "Notifications without an apprise mapping:", ""]
        lines += [f"- {s.name} ({s.kind}): {s.reason}" for s in report.channels_skipped]
    if report.groups:
        lines += ["", "Monitor groups → services:", ""]
        lines += [f"- {g.name} → {g.slug}" + (" (already in the catalog)" if g.existing else " (new service)")
                  for g in report.groups]
    if report.tags or report.tags_skipped:
        lines += ["", "Tags:", ""]
        lines += [f"- {t.name} → {', '.join(t.tags)} on {', '.join(t.endpoints)}" for t in report.tags]
        lines += [f"- {s.name}: not imported, {s.reason}" for s in report.tags_skipped]
    if report.maintenance or report.maintenance_skipped:
        lines += ["", "Maintenance windows (created once the endpoints they cover are in the catalog):", ""]
        lines += [f"- {w.title}: {window_text(w)}" for w in report.maintenance]
        lines += [f"- {s.name} ({s.kind}): not imported, {s.reason}" for s in report.maintenance_skipped]
    return "\n".join(lines)[:20_000]


def window_text(window: PlannedWindow) -> str:
    data = window.data
    when = (f"every `{data['cron']}` (UTC) for {data['duration_minutes']} min" if data["kind"] == "recurring"
            else f"{data['starts_at']:%Y-%m-%d %H:%M} to {data['ends_at']:%Y-%m-%d %H:%M} UTC")
    scope = ", ".join([*data.get("services", []), *data.get("endpoints", [])])
    return f"{when}, covering {scope}" + (f" ({window.note})" if window.note else "")


def _entry_batches(slugs: list[str]) -> list[list[str]]:
    """Group slugs so that each changelog entry ("Imported from Uptime Kuma: a, b") fits in one entry."""
    batches: list[list[str]] = [[]]
    prefix = len("Imported endpoints from Uptime Kuma: ")
    for slug in slugs:
        current = batches[-1]
        if current and prefix + len(", ".join([*current, slug])) > ENTRY_MAX:
            batches.append([slug])
        else:
            current.append(slug)
    return [b for b in batches if b]


def _create_channels(session: Session, actor: User, report: KumaReport) -> None:
    """Create each mapped channel; each ends in exactly one of ``channels_created``, ``channels_existing``
    (an earlier import made it) and ``channels_skipped`` (taken out of ``channels``)."""
    created = []
    for channel in report.channels:
        endpoints = [e.slug for e in [*report.endpoints, *report.unchanged] if channel.kuma_id in e.notification_ids]
        try:
            # Disabled: the endpoints they watch exist only on the work item's branch until it merges,
            # and nobody has yet reviewed where these imported URLs send alerts.
            notify.create_channel(session=session, actor=actor, name=f"{channel.name} (Uptime Kuma)"[:100],
                                  url=channel.url, endpoints=endpoints, enabled=False)
        except Conflict:
            session.rollback()
            report.channels_existing.append(channel.name)
        except Exception as exc:  # noqa: BLE001 - reported, the endpoints import still stands
            session.rollback()
            report.channels_skipped.append(Skipped(channel.kuma_id, channel.name, channel.kind,
                                                   f"could not create the channel: {getattr(exc, 'message', exc)}"))
        else:
            report.channels_created.append(channel.name)
            created.append(channel)
    report.channels = created


def import_kuma(*, session: Session, actor: User, data: dict[str, Any], workspace: work.Workspace,
                categories: list[str]) -> KumaReport:
    """Write every mappable monitor as a catalog endpoint file on a new work item's branch ("Import from
    Uptime Kuma"), committed with CHANGES.md entries naming the endpoints; create notification channels
    where an apprise mapping exists. A monitor an earlier (merged) import brought in updates its endpoint
    instead of adding a second one. Returns the report of what was imported and what was not.

    Raises Conflict while an earlier import's work item is still open (its endpoints are not on main yet),
    Invalid when nothing can be imported."""
    open_import = work_queries.open_item_titled(session=session, title=WORK_ITEM_TITLE)
    if open_import is not None:
        raise Conflict(f"An Uptime Kuma import is still open as work item #{open_import}: merge or cancel it "
                       "first; importing again then updates the endpoints it made instead of adding new ones.",
                       code="import_open")
    report = plan_for(session=session, repo_path=workspace.repo_path, data=data)
    new_services = [g for g in report.groups if not g.existing]
    if not report.endpoints and not new_services:
        if report.unchanged:  # everything was imported before, as it is now: nothing to write
            _create_channels(session, actor, report)
            _create_windows(session, actor, report)
            return report
        raise Invalid("Nothing in this Uptime Kuma backup maps to a Calcifer endpoint: "
                      + "; ".join(f"{s.name} ({s.kind}): {s.reason}" for s in report.skipped[:10]))
    category = "integration" if "integration" in categories else categories[0]
    item: WorkItem = work.create_work_item(
        session=session, actor=actor, workspace=workspace, categories=categories,
        data=WorkItemCreate(title=WORK_ITEM_TITLE, category=category, action=WorkAction.NEW,
                            description=_description(report)))
    report.work_item_id = item.id
    report.branch = item.branch
    try:
        if new_services:
            files = []
            for group in new_services:
                path = index.service_file(group.slug)
                work.write_file(session=session, actor=actor, item_id=item.id, path=path,
                                content=apply_spec(None, spec_document(ServiceSpec.model_validate(group.spec))))
                files.append(path)
            work.commit(session=session, actor=actor, item_id=item.id, workspace=workspace,
                        message=f"Import {len(files)} service(s) from Uptime Kuma monitor groups", files=files,
                        entry_type=ChangeType.ADDED,
                        entry_text=("Imported services from Uptime Kuma groups: "
                                    + ", ".join(g.slug for g in new_services))[:ENTRY_MAX])
        for change_type, verb, done, mapped in (
                (ChangeType.ADDED, "Import", "Imported", [e for e in report.endpoints if not e.updates]),
                (ChangeType.CHANGED, "Update", "Updated", [e for e in report.endpoints if e.updates])):
            by_slug = {e.slug: e for e in mapped}
            for batch in _entry_batches(list(by_slug)):
                files = [_write_endpoint(session, actor, item, by_slug[slug]) for slug in batch]
                work.commit(session=session, actor=actor, item_id=item.id, workspace=workspace,
                            message=f"{verb} {len(batch)} endpoint(s) from Uptime Kuma",
                            files=files, entry_type=change_type,
                            entry_text=f"{done} endpoints from Uptime Kuma: " + ", ".join(batch))
    except Exception:
        session.rollback()
        work.cancel(session=session, actor=actor, item_id=item.id, workspace=workspace, confirm=True)
        raise
    _create_channels(session, actor, report)
    _create_windows(session, actor, report)
    return report


def _create_windows(session: Session, actor: User, report: KumaReport) -> None:
    """Create each planned maintenance window through the monitoring slice. A window covering endpoints or
    services that exist only on this import's work item waits for the merge (listed as not imported, with
    what to do); one an earlier import made (same title, even if ended since) is left as it is."""
    from calcifer.monitoring import maintenance
    from calcifer.monitoring.schemas import WindowCreate

    # include the ended ones: a window someone ended by hand is not brought back by the next import
    existing = {w.title for w in maintenance.list_windows(session=session, include_ended=True, limit=500)}
    on_main = catalog_queries.endpoint_slugs(session=session)
    services = _existing_services_indexed(session)
    planned, report.maintenance = report.maintenance, []
    for window in planned:
        if window.title in existing:
            report.maintenance_existing.append(window.title)
            report.maintenance.append(window)
            continue
        missing = sorted({*(set(window.data["endpoints"]) - on_main), *(set(window.data["services"]) - services)})
        if missing:
            where = f"work item #{report.work_item_id}" if report.work_item_id else "the import's work item"
            report.maintenance_skipped.append(Skipped(
                window.kuma_id, window.title, window.data["kind"],
                f"it covers {', '.join(missing[:5])}, which exist only on {where} until it is merged: run "
                "calcifer import-kuma again after the merge to create it"))
            continue
        try:
            maintenance.create_window(session=session, actor=actor, data=WindowCreate.model_validate(window.data))
        except Invalid as exc:
            session.rollback()
            report.maintenance_skipped.append(Skipped(window.kuma_id, window.title, window.data["kind"], exc.message))
            continue
        report.maintenance_created.append(window.title)
        report.maintenance.append(window)


def _existing_services_indexed(session: Session) -> set[str]:
    from calcifer.catalog import index as catalog_index

    return set(catalog_index.all_slugs(session=session))


def _write_endpoint(session: Session, actor: User, item: WorkItem, endpoint: MappedEndpoint) -> str:
    """Write one endpoint's file on the work item (an updated one keeps its comments and key order)."""
    path = endpoint.updates or index.endpoint_file(endpoint.slug)
    current = Path(item.worktree_path) / path
    earlier = current.read_text(encoding="utf-8") if endpoint.updates and current.is_file() else None
    text = apply_spec(earlier, spec_document(EndpointSpec.model_validate(endpoint.spec)))
    work.write_file(session=session, actor=actor, item_id=item.id, path=path, content=text)
    return path

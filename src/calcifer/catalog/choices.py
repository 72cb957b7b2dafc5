from __future__ import annotations

from enum import StrEnum

SERVICES_DIR = "catalog/services"
ENDPOINTS_DIR = "catalog/endpoints"
YAML_SUFFIXES = (".yaml", ".yml")


class ServiceKind(StrEnum):
    CONTAINER = "container"
    VM = "vm"
    LXC = "lxc"
    BARE_METAL = "bare_metal"
    NETWORK_DEVICE = "network_device"
    STORAGE = "storage"
    SAAS = "saas"
    OTHER = "other"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class DeploymentType(StrEnum):
    COMPOSE = "compose"
    SYSTEMD = "systemd"
    KUBERNETES = "kubernetes"
    MANUAL = "manual"


class EndpointType(StrEnum):
    ICMP = "icmp"
    TCP = "tcp"
    HTTP = "http"
    DNS = "dns"
    PUSH = "push"

    @property
    def needs_target(self) -> bool:
        # A push endpoint is called by the monitored thing; there is nothing to reach.
        return self is not EndpointType.PUSH

    @property
    def needs_port(self) -> bool:
        return self is EndpointType.TCP

    @property
    def target_is_url(self) -> bool:
        return self is EndpointType.HTTP


class Severity(StrEnum):
    ERROR = "error"      # the file (or part of it) was not loaded
    WARNING = "warning"  # loaded, but something about it looks wrong


class EdgeKind(StrEnum):
    """An edge ``from → to`` means "from needs to": it depends on it, or runs on it."""

    DEPENDS_ON = "depends_on"
    HOST = "host"


class ProblemCode(StrEnum):
    TOO_LARGE = "too_large"
    ENCODING = "encoding"
    YAML_SYNTAX = "yaml_syntax"
    NOT_A_MAPPING = "not_a_mapping"
    SCHEMA = "schema"
    DUPLICATE_SLUG = "duplicate_slug"
    SLUG_MISMATCH = "slug_mismatch"
    UNKNOWN_HOST = "unknown_host"
    UNKNOWN_DEPENDENCY = "unknown_dependency"
    UNKNOWN_SERVICE = "unknown_service"
    CYCLE = "cycle"
    DUPLICATE_TARGET = "duplicate_target"
    STALE = "stale"  # main's file does not load: the index serves its last valid version


class ServiceSort(StrEnum):
    NAME = "name"
    KIND = "kind"
    HOST = "host"
    STATUS = "status"
    UPDATED = "updated"

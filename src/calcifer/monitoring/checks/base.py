"""The contract every check type keeps.

A check type is a class with ``kind`` (the catalog endpoint ``type`` it serves), ``Options`` (a pydantic
model of the endpoint's ``options:``; it validates catalog files and drives the form) and
``async def check(...)``. The scheduler, not the check, applies the hard timeout, measures latency when
the check does not, stores results and counts retries.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from calcifer.monitoring.choices import Status


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Target:
    """Where to check: the catalog endpoint's fields a check needs."""

    slug: str
    target: str | None
    port: int | None
    timeout: float
    interval: int = 60


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    serial: str = ""
    sans: tuple[str, ...] = ()

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86_400

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "issuer": self.issuer, "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat(), "serial": self.serial, "sans": list(self.sans)}


@dataclass(slots=True)
class Outcome:
    """What one check found.

    ``latency_ms`` is set when the check measures something more exact than the scheduler's wall time
    around ``check()`` (e.g. time to the HTTP response). ``permanent`` says retrying cannot help (the
    endpoint is misconfigured, ICMP is not possible on this machine...).
    """

    status: Status
    message: str = ""
    latency_ms: float | None = None
    permanent: bool = False
    cert: CertInfo | None = None


@dataclass(frozen=True, slots=True)
class PushSeen:
    at: dt.datetime
    reported_status: Status = Status.UP
    message: str = ""


@dataclass(slots=True)
class CheckContext:
    """What the scheduler lends every check: shared clients and lookups. Built once per scheduler."""

    cert_warn_days: int = 14
    # The shared aiohttp.ClientSession (one for all HTTP checks; building one per check costs ~35 ms CPU).
    http: Any = None
    # The last heartbeat of a push endpoint, by slug (kept fresh by the scheduler).
    push_seen: Callable[[str], PushSeen | None] = lambda _slug: None
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


class CheckType(ABC):
    """One kind of check. Instances are stateless and shared by every endpoint of the kind."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    # One line for docs and the endpoint form.
    summary: ClassVar[str] = ""
    # What a catalog endpoint of this type must say (used for plugin types; the built-in types' rules
    # live with `calcifer.catalog.choices.EndpointType`).
    needs_target: ClassVar[bool] = True
    needs_port: ClassVar[bool] = False
    target_is_url: ClassVar[bool] = False

    def uses_tls(self, target: str | None) -> bool:
        """Whether a check of this endpoint sees a TLS certificate (its page then has a certificate card)."""
        return False

    def parse_options(self, raw: dict[str, Any]) -> BaseModel:
        """Validate an endpoint's ``options:``; raises pydantic.ValidationError saying what to fix."""
        return self.Options.model_validate(raw)

    @abstractmethod
    async def check(self, target: Target, options: Any, ctx: CheckContext) -> Outcome:
        """Check once. Return an Outcome for up/degraded/down; raise only on a bug (counted as down)."""

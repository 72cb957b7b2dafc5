"""Request and response models of the probes API (registry, assignments, results)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict


class ProbeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, description="Lowercase letters, digits and hyphens, e.g. fra-vps.")
    location: str = Field(max_length=63, description="Where it checks from; endpoint files name it in `locations`.")
    description: str = Field(default="", max_length=500)


class ProbeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: str | None = Field(default=None, max_length=63)
    description: str | None = Field(default=None, max_length=500)


class ProbePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    location: str
    description: str
    online: bool
    has_token: bool = Field(description="False once the token was revoked (rotate to give a new one).")
    created_at: dt.datetime
    last_seen_at: dt.datetime | None
    version: str
    clock_offset_ms: float | None = Field(description="The probe's clock minus the server's when it last called.")
    queue_length: int = Field(description="Results buffered on the probe's disk, waiting to be uploaded.")
    checks_per_second: float
    dropped: int = Field(description="Results the probe dropped from its full buffer (oldest first).")
    results_total: int


class ProbeWithTokenPublic(ProbePublic):
    token: str = Field(description="The probe's token: shown this once, stored hashed.")


class ProbeListPublic(BaseModel):
    items: list[ProbePublic]
    next_cursor: str | None


class ProbeDeletedPublic(BaseModel):
    deleted: str


class AssignmentPublic(BaseModel):
    slug: str
    service: str | None
    type: str
    target: str | None
    port: int | None
    interval: int
    timeout: float
    retries: int
    options: dict[str, Any]


class AssignmentsPublic(BaseModel):
    probe: str
    location: str
    etag: str
    endpoints: list[AssignmentPublic]


class ProbeStatusIn(BaseModel):
    """What a probe says of itself with each call."""

    version: str = Field(default="", max_length=64)
    clock: float | None = Field(default=None, description="The probe's wall clock (epoch seconds) when sending.")
    queue_length: int | None = Field(default=None, ge=0)
    checks_per_second: float | None = Field(default=None, ge=0)
    dropped: int | None = Field(default=None, ge=0)


@with_config(ConfigDict(extra="forbid"))
class ProbeResultIn(TypedDict):
    """One result of a batch. A typed dict, not a model: a batch holds thousands, and the ingest reads
    them as plain dicts (no object per result to build and dump)."""

    seq: Annotated[int, Field(ge=0, le=2**62, description="The probe's sequence number of this result (never reused).")]
    slug: Annotated[str, Field(max_length=63)]
    checked_at: Annotated[float, Field(ge=0, description="Epoch seconds (UTC) when the check started.")]
    status: Literal["up", "degraded", "down"]
    latency_ms: NotRequired[Annotated[float | None, Field(ge=0, le=10_000_000)]]
    message: NotRequired[Annotated[str, Field(max_length=2000)]]
    permanent: NotRequired[bool]
    location: NotRequired[Annotated[str | None, Field(max_length=63)]]


class ProbeBatchIn(ProbeStatusIn):
    location: str | None = Field(default=None, max_length=63, description="The probe's location (checked).")
    results: list[ProbeResultIn] = Field(description="At most 5,000 results a batch.")


class IngestPublic(BaseModel):
    accepted: int
    stored: int
    duplicates: int = Field(description="Results whose sequence number was stored already (acknowledged).")
    changes: int


class ProbeAckPublic(BaseModel):
    ok: bool


class LocationStatusPublic(BaseModel):
    location: str
    status: str
    counts: bool = Field(description="Whether this location counts in the verdict now (fresh and online).")
    online: bool
    last_checked_at: dt.datetime | None
    latency_ms: float | None
    message: str
    uptime_24h: float | None
    sparkline: list[float] = Field(description="Latencies (ms) of the last hour's checks, at most 60.")


class EndpointLocationsPublic(BaseModel):
    slug: str
    rule: str | None = Field(description="The verdict rule (null: checked by the server alone).")
    locations: list[LocationStatusPublic]

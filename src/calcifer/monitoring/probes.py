"""Remote probes: the registry (admins), what a probe is given to check, and what it sends back.

A probe authenticates with its own token (``Authorization: Probe <token>``), never a user's: the token
is shown once when the probe is registered or rotated, and stored as a sha256 hash. A probe checks the
multi-location endpoints whose ``locations`` include its location (``locations.current_plan``) and
uploads results in batches; each result carries the probe's sequence number, and ``(probe, seq)`` is
stored once, so a retried upload is acknowledged and not counted twice. See docs/probes.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calcifer.background import Stop
from calcifer.errors import Conflict, DomainError, Invalid, NotAuthenticated, NotFound, PermissionDenied
from calcifer.events import ProbeStatusChanged
from calcifer.instance import AppContext
from calcifer.listing import decode_cursor, encode_cursor
from calcifer.monitoring import hooks, locations
from calcifer.monitoring.choices import ResultCode
from calcifer.monitoring.models.probes import LocationState, MonitorProbe, ProbeEvent

log = logging.getLogger("calcifer.monitoring.probes")

TOKEN_PREFIX = "cpr_"
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Path words of the probe-facing API under /api/v1/probes/: no probe may be named so.
RESERVED_NAMES = frozenset({"results", "assignments", "heartbeat"})
MAX_BATCH = 5000
MAX_CLOCK_SKEW_SECONDS = 24 * 3600
WATCH_SECONDS = 2.0


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "batch_too_large"


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# -- the registry -------------------------------------------------------------------------------------


def _check_name(value: str, what: str) -> str:
    value = (value or "").strip()
    if not NAME_RE.match(value):
        raise Invalid(f"The {what} {value!r} is not valid: use 1-63 lowercase letters, digits and hyphens "
                      "(e.g. fra-vps).", code=f"bad_{what}")
    return value


def _check_location(value: str) -> str:
    value = _check_name(value, "location")
    if value == locations.LOCAL:
        raise Invalid("'local' is the server's own scheduler: give the probe's location another name "
                      "(e.g. fra-vps).", code="bad_location")
    return value


def get_probe(session: Session, *, name: str) -> MonitorProbe:
    probe = session.execute(select(MonitorProbe).where(MonitorProbe.name == name)).scalar_one_or_none()
    if probe is None:
        raise NotFound(f"No probe named {name!r}.")
    return probe


def create_probe(session: Session, *, name: str, location: str, description: str = "") -> tuple[MonitorProbe, str]:
    """Register a probe; returns it and its token (shown this once). Committed."""
    name = _check_name(name, "name")
    if name in RESERVED_NAMES:
        raise Invalid(f"{name!r} is a word of the probes API: choose another name.", code="bad_name")
    location = _check_location(location)
    if session.execute(select(MonitorProbe.id).where(MonitorProbe.name == name)).first() is not None:
        raise Conflict(f"A probe named {name!r} exists already.", code="probe_exists")
    token = new_token()
    probe = MonitorProbe(name=name, location=location, description=(description or "")[:500],
                         token_hash=hash_token(token), online=False, version="", queue_length=0,
                         checks_per_second=0.0, dropped=0, results_total=0)
    session.add(probe)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"A probe named {name!r} exists already.", code="probe_exists") from exc
    return probe, token


def list_probes(session: Session, *, limit: int = 50,
                cursor: str | None = None) -> tuple[list[MonitorProbe], str | None]:
    query = select(MonitorProbe).order_by(MonitorProbe.name).limit(limit + 1)
    if cursor:
        after = decode_cursor(cursor, 1)[0]
        if not isinstance(after, str):
            raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
        query = query.where(MonitorProbe.name > after)
    rows = list(session.execute(query).scalars())
    next_cursor = encode_cursor([rows[limit - 1].name]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def update_probe(session: Session, *, name: str, location: str | None = None,
                 description: str | None = None) -> MonitorProbe:
    probe = get_probe(session, name=name)
    if location is not None:
        probe.location = _check_location(location)
    if description is not None:
        probe.description = description[:500]
    session.commit()
    return probe


def delete_probe(session: Session, *, name: str) -> None:
    probe = get_probe(session, name=name)
    session.execute(delete(_table(ProbeEvent)).where(_table(ProbeEvent).c.probe_id == probe.id))
    session.delete(probe)
    session.commit()


def rotate_token(session: Session, *, name: str) -> tuple[MonitorProbe, str]:
    """A new token for the probe (the old one stops working at once); shown this once."""
    probe = get_probe(session, name=name)
    token = new_token()
    probe.token_hash = hash_token(token)
    session.commit()
    return probe, token


def revoke_token(session: Session, *, name: str) -> MonitorProbe:
    probe = get_probe(session, name=name)
    probe.token_hash = None
    session.commit()
    return probe


def recent_events(session: Session, *, limit: int = 20) -> list[tuple[ProbeEvent, str]]:
    rows = session.execute(select(ProbeEvent, MonitorProbe.name).join(
        MonitorProbe, MonitorProbe.id == ProbeEvent.probe_id).order_by(ProbeEvent.id.desc()).limit(limit)).all()
    return [(event, name) for event, name in rows]


# -- the probe-facing side ----------------------------------------------------------------------------


def authenticate(session: Session, raw: str | None) -> MonitorProbe:
    """The probe whose token ``raw`` is; NotAuthenticated for none, an unknown or a revoked token."""
    if not raw:
        raise NotAuthenticated("Send the probe's token as 'Authorization: Probe <token>'.")
    probe = session.execute(select(MonitorProbe).where(MonitorProbe.token_hash == hash_token(raw))).scalar_one_or_none()
    if probe is None:
        raise NotAuthenticated("The probe token is invalid or revoked: rotate it under Settings → Probes and "
                               "start the probe with the new one.")
    return probe


@dataclass(frozen=True)
class Heartbeat:
    version: str = ""
    clock: float | None = None       # the probe's wall clock (epoch seconds) when it sent the request
    queue_length: int | None = None  # results buffered on the probe's disk
    checks_per_second: float | None = None
    dropped: int | None = None       # results the probe dropped from a full buffer, since it started


def seen(session: Session, probe: MonitorProbe, beat: Heartbeat, *, now: dt.datetime | None = None,
         stored: int = 0) -> None:
    """Record that ``probe`` called (and what it said of itself, and ``stored`` more results of it); an
    offline probe comes back online (one event). Not committed."""
    now = now or dt.datetime.now(dt.UTC)
    table = _table(MonitorProbe)
    values: dict[str, Any] = {"last_seen_at": now}
    if beat.version:
        values["version"] = beat.version[:64]
    if beat.clock is not None:
        values["clock_offset_ms"] = round((beat.clock - now.timestamp()) * 1000, 1)
    if beat.queue_length is not None:
        values["queue_length"] = max(0, min(beat.queue_length, 2**31 - 1))
    if beat.checks_per_second is not None:
        values["checks_per_second"] = max(0.0, beat.checks_per_second)
    if beat.dropped is not None:
        values["dropped"] = max(0, beat.dropped)
    if stored:
        values["results_total"] = table.c.results_total + stored
    if not probe.online:
        # only the call that flips the flag records the change (two calls at once: one event)
        flipped = cast(CursorResult[Any], session.execute(update(table).where(
            table.c.id == probe.id, table.c.online.is_(False)).values(online=True))).rowcount
        if flipped:
            _probe_changed(session, probe_id=probe.id, name=probe.name, location=probe.location, online=True,
                           at=now, message=f"probe {probe.name} ({probe.location}) is online")
    session.execute(update(table).where(table.c.id == probe.id).values(**values))


def assignments(session: Session, probe: MonitorProbe) -> tuple[str, list[dict[str, Any]]]:
    """(ETag, the endpoints this probe checks)."""
    plan = locations.current_plan(session)
    items = plan.by_location.get(probe.location, ())
    etag = plan.etags.get(probe.location) or locations.empty_etag()
    return etag, [planned.assignment() for planned in items]


@dataclass
class IngestResult:
    accepted: int = 0
    stored: int = 0
    duplicates: int = 0
    changes: int = 0


_CODES = {"up": ResultCode.UP, "degraded": ResultCode.DEGRADED, "down": ResultCode.DOWN}


def ingest(session: Session, probe: MonitorProbe, *, results: list[dict[str, Any]], location: str | None,
           beat: Heartbeat, now: dt.datetime | None = None,
           pending: locations.LocationPending | None = None) -> IngestResult:
    """Store a batch of the probe's results (each ``{seq, slug, checked_at, status, latency_ms, message,
    permanent}``); committed. Refused as a whole (nothing stored) when it is too large, names another
    location, or holds a result for an endpoint not assigned to this probe; results whose sequence numbers
    are stored already are acknowledged and skipped.

    Batch-shaped: one look-up of the batch's sequence numbers, then ``locations.record`` (one statement
    per table, the verdict once per endpoint) and one update of the probe's row.

    With a ``pending`` (the process's ``locations.pending_for``), the hourly deltas and the rows whose only
    news is a newer last check are coalesced there, as the local writer coalesces its own: the raw results
    (which the sequence numbers are checked against) are committed before this returns, the coalesced rows
    are written by the first batch after ``locations.COALESCE_SECONDS`` (or by the probe watch, and when
    the process stops)."""
    now = now or dt.datetime.now(dt.UTC)
    if len(results) > MAX_BATCH:
        raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH} results; this one has {len(results)}: send "
                              "it in smaller batches.")
    own = probe.location
    if location is not None and location != own:
        raise PermissionDenied(f"This probe's location is {own!r}, not {location!r}: a probe reports "
                               "only for its own location.", code="wrong_location")
    # One batch at a time per process and database (``LocationPending.batches``): SQLite takes one writer at
    # a time anyway, and threads that wait here cost nothing, where threads interleaving their batches (the
    # GIL handed back and forth, the database's busy wait) cost every batch more CPU.
    with pending.batches if pending is not None else contextlib.nullcontext():
        return _ingest(session, probe, results=results, own=own, beat=beat, now=now, pending=pending)


def _ingest(session: Session, probe: MonitorProbe, *, results: list[dict[str, Any]], own: str, beat: Heartbeat,
            now: dt.datetime, pending: locations.LocationPending | None) -> IngestResult:
    plan = locations.current_plan(session)
    assigned = plan.assigned.get(own, {})
    problems: list[dict[str, Any]] = []
    seqs: set[int] = set()
    horizon = now.timestamp() + MAX_CLOCK_SKEW_SECONDS
    for index, item in enumerate(results):
        named = item.get("location")
        if named is not None and named != own:
            raise PermissionDenied(f"Result {index} names location {named!r}; this probe's location "
                                   f"is {own!r}.", code="wrong_location")
        seq = item["seq"]
        if item["slug"] not in assigned:
            problems.append({"index": index, "slug": item["slug"],
                             "message": f"endpoint {item['slug']!r} is not assigned to location {own!r}"})
        if seq in seqs:
            problems.append({"index": index, "message": f"sequence number {seq} appears twice in the batch"})
        if item["checked_at"] > horizon:
            problems.append({"index": index, "message": "checked_at lies more than a day in the future: check "
                             "the probe's clock"})
        seqs.add(seq)
    if problems:
        first = problems[0]["message"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise Invalid(f"Nothing was stored: {first}{more}. Fetch the assignments again.", code="bad_results",
                      details=problems[:50])
    outcome = IngestResult(accepted=len(results))
    known = locations.stored_sequences(session, probe.id, seqs) if seqs else set()
    record, probe_id, codes = locations.LocationRecord, probe.id, _CODES
    # positional, in the field order of LocationRecord: (endpoint id, location, checked at, code, latency,
    # message, permanent, probe id, seq); a thousand a batch, keywords cost twice as much
    records = [record(assigned[item["slug"]], own, float(item["checked_at"]), codes[item["status"]],
                      item.get("latency_ms"), item.get("message") or "", bool(item.get("permanent")), probe_id,
                      item["seq"])
               for item in results if item["seq"] not in known]
    outcome.duplicates = len(results) - len(records)
    seen(session, probe, beat, now=now, stored=len(records))
    if records:
        outcome.changes = len(locations.record(session, records, plan=plan, now=now, pending=pending))
    session.commit()
    outcome.stored = len(records)
    if pending is not None and pending.due():
        try:
            locations.flush_pending(session, pending)
        except Exception:  # the batch is stored: the coalesced rows are kept and written by the next flush
            log.exception("writing the coalesced location rows failed; trying again later")
    return outcome


def _probe_changed(session: Session, *, probe_id: int, name: str, location: str, online: bool, at: dt.datetime,
                   message: str, last_seen_at: dt.datetime | None = None) -> None:
    """The probe went offline or came back: its event row (Settings → Probes) and the probe hooks (the
    outbox's probe.offline / probe.online), in the caller's transaction."""
    session.execute(insert(_table(ProbeEvent)).values(probe_id=probe_id, at=at, kind="online" if online else "offline",
                                                      message=message))
    hooks.probes_changed(session=session, changes=[ProbeStatusChanged(
        name=name, location=location, online=online, at=at, last_seen_at=last_seen_at or at, message=message)])


# -- offline probes -----------------------------------------------------------------------------------


def sweep_offline(session: Session, *, offline_after: float, now: dt.datetime | None = None) -> list[str]:
    """Mark probes not heard from for ``offline_after`` seconds offline (one event each) and recompute the
    verdicts their location took part in (an offline location never counts as down). Committed; returns
    the names of the probes that went offline."""
    now = now or dt.datetime.now(dt.UTC)
    limit = now - dt.timedelta(seconds=offline_after)
    table = _table(MonitorProbe)
    stale = session.execute(select(table.c.id, table.c.name, table.c.location, table.c.last_seen_at).where(
        table.c.online.is_(True), table.c.last_seen_at < limit)).all()
    if not stale:
        return []
    for row in stale:
        # only the sweep that flips the flag records the change (two sweepers: one event)
        flipped = cast(CursorResult[Any], session.execute(update(table).where(
            table.c.id == row.id, table.c.online.is_(True)).values(online=False))).rowcount
        if flipped:
            _probe_changed(session, probe_id=row.id, name=row.name, location=row.location, online=False, at=now,
                           last_seen_at=row.last_seen_at,
                           message=f"probe {row.name} ({row.location}) offline: not heard from since "
                                   f"{row.last_seen_at:%Y-%m-%d %H:%M:%S} UTC")
    plan = locations.current_plan(session)
    affected: set[int] = set()
    for row in stale:
        affected |= {p.endpoint_id for p in plan.by_location.get(row.location, ())}
    locations.apply_verdicts(session, affected, plan=plan, now=now)
    session.commit()
    for row in stale:
        log.warning("probe %s (%s) is offline", row.name, row.location)
    return [row.name for row in stale]


def start_watch(ctx: AppContext) -> Stop | None:
    """Background service: mark silent probes offline every few seconds, and write the rows the ingest
    coalesced (``locations.LocationPending``) once they waited long enough; all of them when it stops."""
    stopping = threading.Event()

    def run() -> None:
        while not stopping.wait(WATCH_SECONDS):
            try:
                with ctx.session_factory() as session:
                    pending = locations.pending_for(session)
                    if pending.due():
                        locations.flush_pending(session, pending)
                    sweep_offline(session, offline_after=ctx.settings.probe_offline_seconds)
            except Exception:
                log.exception("probe watch failed; trying again")

    thread = threading.Thread(target=run, name="calcifer-probe-watch", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(5)
        try:
            locations.flush_all(ctx.session_factory)
        except Exception:
            log.exception("writing the coalesced location rows at stop failed")

    return stop


def location_counts(session: Session) -> dict[str, int]:
    """Locations → probes online there (Settings page)."""
    table = _table(MonitorProbe)
    return dict(session.execute(select(table.c.location, func.count()).where(table.c.online.is_(True))
                                .group_by(table.c.location)).all())


def location_rows_for(session: Session, endpoint_id: int) -> list[LocationState]:
    return list(session.execute(select(LocationState).where(LocationState.endpoint_id == endpoint_id)).scalars())

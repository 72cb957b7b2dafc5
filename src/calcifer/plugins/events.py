"""The plugin event consumer: a background service that hands domain events (the outbox) to the event
subscribers plugins registered.

Its position is the outbox's subscriber cursor ``plugins``, advanced with a compare-and-set before the
subscribers run,
so with several web processes each event reaches the subscribers at most once; a subscriber that
raises is logged and the others still run. On first start it begins at the newest event (history is
not replayed). Each round also re-reads the plugin toggles, so a plugin switched off in another
process stops here within a round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from calcifer.instance import AppContext
from calcifer.outbox import service as outbox
from calcifer.plugins import registry
from calcifer.plugins import service as plugin_service

log = logging.getLogger("calcifer.plugins")
CURSOR = "plugins"


def _claim(session: Session, *, limit: int) -> list[outbox.OutboxEvent]:
    if outbox.start_cursor_at_newest(session=session, subscriber=CURSOR):
        return []
    start, events = outbox.events_after(session=session, subscriber=CURSOR, limit=limit)
    if not events:
        return []
    moved = outbox.advance(session=session, subscriber=CURSOR, from_id=start, to_id=events[-1].id)
    session.commit()
    return events if moved else []  # not moved: another consumer took them


def deliver(*, session_factory: sessionmaker[Session], limit: int = 200) -> int:
    """One round: refresh the toggles, take the next events and hand each to the enabled subscribers
    that want it. Returns how many events were taken."""
    with session_factory() as session:
        plugin_service.refresh(session=session)
        subscribers = [s for s in registry.SUBSCRIBERS if registry.enabled(s.plugin)]
        if not registry.SUBSCRIBERS:
            return 0
        events = _claim(session, limit=limit)
    for event in events:
        for subscriber in subscribers:
            if subscriber.events and event.name not in subscriber.events:
                continue
            try:
                subscriber.handle(event)
            except Exception:  # noqa: BLE001 - one subscriber's bug never stops the others
                log.exception("event subscriber %s of plugin %s failed on event %s", subscriber.name,
                              subscriber.plugin, event.id)
    return len(events)


class Consumer:
    def __init__(self, ctx: AppContext, *, poll: float = 1.0) -> None:
        self.ctx = ctx
        self.poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calcifer-plugin-events", daemon=True)

    def start(self) -> Consumer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                taken = deliver(session_factory=self.ctx.session_factory)
            except Exception:  # noqa: BLE001 - the next round retries
                log.exception("plugin event round failed")
                taken = 0
            if not taken:
                self._stop.wait(self.poll)


def start(ctx: AppContext) -> Callable[[], None]:
    """The background service (``calcifer.wiring.BACKGROUND_SERVICES``)."""
    return Consumer(ctx).start().stop

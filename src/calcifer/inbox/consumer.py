"""The inbox's background service: fans outbox events out to people, then hands mails to the SMTP server
and pushes to people's apprise URLs. Requests that cause events only write the outbox row; they never
wait for any of this (its cost grows with watchers, a request's does not).

It runs in the web process, beside the requests: its work is Python (a notification per watcher, a mail
composed per person) that would take turns with a request's thread on the interpreter, and SQLite
writes. So before each unit of work (a fan-out batch, a batch of ``MAIL_BATCH`` mails) it waits for a
moment with no request in flight, at most ``YIELD_AT_MOST`` seconds: a merge that notifies 1,000
watchers finishes its own after-merge steps first, and notifications still come within a second under
steady traffic."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from calcifer.inbox import service
from calcifer.instance import AppContext

log = logging.getLogger("calcifer.inbox")

YIELD_AT_MOST = 1.0  # seconds a unit of work waits for the requests in flight to be answered
MAIL_BATCH = 100     # people mailed per claim (composing a mail costs ~1 ms of Python)
MAIL_BATCHES = 20    # claims per round at most (the next round goes on)


class Consumer:
    def __init__(self, ctx: AppContext, *, poll: float = 0.2) -> None:
        self.ctx = ctx
        self.poll = poll
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calcifer-inbox", daemon=True)

    def start(self) -> Consumer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def round(self) -> int:
        """One pass: every new event fanned out, due mails sent, pushes sent. Returns the work done."""
        work = 0
        with self.ctx.session_factory() as session:
            while not self._stopping.is_set():
                self._yield()
                read = service.fan_out(session=session)
                work += read
                if read == 0:
                    break
            for _ in range(MAIL_BATCHES):
                if self._stopping.is_set():
                    break
                self._yield()
                mails = service.claim_mail(session=session, secret_key=self.ctx.secret_key, max_people=MAIL_BATCH)
                if not mails:
                    break
                sent = service.send_mail(session=session, secret_key=self.ctx.secret_key, mails=mails)
                work += sent
                if sent < len(mails):  # the server refused some: the next round tries again
                    break
            work += service.send_pushes(session=session, secret_key=self.ctx.secret_key)
        return work

    def _yield(self) -> None:
        """Let the requests in flight be answered first (a bounded wait: see the module's docstring)."""
        self.ctx.requests.wait_quiet(YIELD_AT_MOST)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                work = self.round()
            except Exception:  # noqa: BLE001 - logged; the next round retries (nothing is lost)
                log.exception("inbox round failed")
                work = 0
            if not work:
                self._stopping.wait(self.poll)


def start(ctx: AppContext) -> Callable[[], None]:
    """The background service (``calcifer.wiring.BACKGROUND_SERVICES``), in every web process; several
    are safe (the cursor moves by a conditional update; mails are claimed with a token)."""
    consumer = Consumer(ctx).start()
    return consumer.stop

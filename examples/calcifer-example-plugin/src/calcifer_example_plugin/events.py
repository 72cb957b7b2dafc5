"""The ``remember`` event subscriber: the last 100 events, in memory, and a log line each."""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

log = logging.getLogger("calcifer_example_plugin")
RECEIVED: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=100)


def remember(event: Any) -> None:
    RECEIVED.append((event.id, event.name, dict(event.data)))
    log.info("event %s: %s", event.id, event.name)

"""Pausing Python's cyclic garbage collector around work that builds large object graphs.

A full catalog sync allocates millions of short-lived objects (YAML nodes, dicts, models) and keeps
many of them until it ends; each allocation burst triggers collections, and the oldest generation's
collections walk every object in the process, the web app's included. Reference counting frees
almost all of that garbage anyway (the graphs hold no cycles), so pausing the collector for the few
seconds of such work saves a quarter to a third of its CPU (bench/catalog_scale.py prints it).

The pause is process-wide, so it nests and is shared between threads: the collector comes back when
the last paused section ends, and only if it was enabled when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()

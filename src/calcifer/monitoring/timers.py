"""The scheduler's queue of due times: entries in 1 ms buckets, a heap over the bucket numbers only.

A binary heap of every endpoint costs a sift of log2(n) tuple comparisons per check: at 40,000-100,000
endpoints that was the largest single piece of the scheduler's own work (py-spy, saturated bench). Here
adding is an append (plus a heap push when a new millisecond starts to hold entries), and taking the due
entries walks a bucket in order. Inside one millisecond, entries come out in the order they went in;
uvloop's timers have 1 ms resolution anyway.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

RESOLUTION = 0.001  # seconds per bucket


class TimerQueue(Generic[T]):
    """Items by due time (loop seconds). Stale items are the caller's business (it skips them)."""

    def __init__(self) -> None:
        self._buckets: dict[int, deque[tuple[float, T]]] = {}
        self._keys: list[int] = []  # heap of bucket numbers that hold entries
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, due: float, item: T) -> None:
        # bucket k holds what is due in ((k - 1) ms, k ms]: never taken before the bucket's end is near
        key = math.ceil(due / RESOLUTION)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = deque(((due, item),))
            heapq.heappush(self._keys, key)
        else:
            bucket.append((due, item))
        self._size += 1

    def first_due(self) -> float | None:
        """The end of the earliest bucket with entries (every entry in it is due by then)."""
        return self._keys[0] * RESOLUTION if self._keys else None

    def peek(self, horizon: float) -> tuple[float, T] | None:
        """The next entry of a bucket ending at or before ``horizon``, left in place; None if none."""
        keys = self._keys
        while keys and keys[0] * RESOLUTION <= horizon:
            bucket = self._buckets[keys[0]]
            if bucket:
                return bucket[0]
            del self._buckets[heapq.heappop(keys)]
        return None

    def pop(self) -> None:
        """Drop the entry ``peek`` returned."""
        self._buckets[self._keys[0]].popleft()
        self._size -= 1

    def count_due(self, horizon: float, keep: Callable[[T], bool]) -> int:
        """How many entries due by ``horizon`` ``keep`` accepts (the scheduler's queue figure)."""
        return sum(1 for key in self._keys if key * RESOLUTION <= horizon
                   for _due, item in self._buckets[key] if keep(item))

    def retain(self, keep: Callable[[T], bool]) -> None:
        """Drop every entry ``keep`` refuses (stale ones pile up when many endpoints change)."""
        for key in list(self._buckets):
            kept = deque(entry for entry in self._buckets[key] if keep(entry[1]))
            self._size -= len(self._buckets[key]) - len(kept)
            self._buckets[key] = kept
        self._keys = [key for key in self._keys if self._buckets[key]]
        heapq.heapify(self._keys)
        for key in [key for key, bucket in self._buckets.items() if not bucket]:
            del self._buckets[key]

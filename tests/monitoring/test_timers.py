"""The scheduler's timer queue: due entries come out by millisecond, in order within one, never early."""

from __future__ import annotations

import random

from calcifer.monitoring.timers import TimerQueue


def drain(queue: TimerQueue[str], horizon: float) -> list[str]:
    taken = []
    while (entry := queue.peek(horizon)) is not None:
        taken.append(entry[1])
        queue.pop()
    return taken


def test_entries_come_out_by_due_time_and_only_when_due() -> None:
    queue: TimerQueue[str] = TimerQueue()
    for due, name in [(5.0004, "c"), (1.25, "a"), (5.0001, "b"), (9.0, "d")]:
        queue.push(due, name)
    assert len(queue) == 4 and queue.first_due() == 1.25
    assert drain(queue, 1.2) == []                  # nothing due yet
    assert drain(queue, 5.001) == ["a", "c", "b"]   # one millisecond: in the order they came
    assert queue.first_due() == 9.0 and len(queue) == 1
    queue.push(2.0, "late")                         # pushed in the past: due at once
    assert drain(queue, 3.0) == ["late"]
    assert drain(queue, 100.0) == ["d"] and len(queue) == 0 and queue.first_due() is None


def test_a_bucket_is_never_taken_before_its_entries_are_due() -> None:
    queue: TimerQueue[float] = TimerQueue()
    rng = random.Random(7)
    dues = [rng.uniform(0, 30) for _ in range(20_000)]
    for due in dues:
        queue.push(due, due)
    now, seen = 0.0, []
    while len(queue):
        now += 0.0137
        for due in drain(queue, now):
            assert due <= now
            seen.append(due)
    assert sorted(seen) == sorted(dues)
    # between milliseconds the order holds
    assert all(int(a * 1000) <= int(b * 1000) + 1 for a, b in zip(seen, seen[1:], strict=False))


def test_count_and_retain_skip_what_the_caller_calls_stale() -> None:
    queue: TimerQueue[int] = TimerQueue()
    for i in range(100):
        queue.push(i * 0.01, i)
    assert queue.count_due(0.5, lambda i: i % 2 == 0) == 26   # 0, 2, ..., 50
    queue.retain(lambda i: i >= 90)
    assert len(queue) == 10 and queue.first_due() == 0.9
    assert drain(queue, 10.0) == list(range(90, 100))

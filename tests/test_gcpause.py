"""The collector pause around big syncs must always give the collector back: a process left without it
leaks every reference cycle it makes from then on."""

from __future__ import annotations

import gc
import threading

import pytest

from calcifer.gcpause import collector_paused


def test_the_collector_comes_back_after_nested_and_concurrent_pauses() -> None:
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other_sync() -> None:
        with collector_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other_sync)
    thread.start()
    inside.wait(10)
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's sync is still running
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_an_error_inside_gives_the_collector_back() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a sync that failed")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

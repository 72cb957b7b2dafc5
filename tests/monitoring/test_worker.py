"""`calcifer worker` as a real subprocess: it checks a listener, writes results, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

from calcifer.monitoring.choices import ResultCode, Status
from calcifer.monitoring.lock import make_lock
from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.states import scheduler_status
from calcifer.web.context import AppContext
from tests.monitoring.scheduler_helpers import endpoint_row, put_endpoints, results_of, state_of, targets, wait_until
from tests.monitoring.test_lock import child_env


def test_the_worker_checks_a_listener_and_stops_on_sigterm(ctx: AppContext) -> None:
    with targets() as net:
        put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options={"expect_banner": "HELLO"})])
        worker = subprocess.Popen([sys.executable, "-m", "calcifer.cli", "worker"], env=child_env(ctx.settings),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_until(lambda: ((state_of(ctx, "web") or MonitorState()).status == Status.UP
                                or worker.poll() is not None), timeout=90, what="the worker's first result")
            assert worker.poll() is None, worker.communicate()[0]
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    assert worker.returncode == 0, output
    assert "worker stopped" in output
    assert results_of(ctx, "web")[0].status == ResultCode.UP
    with ctx.session_factory() as session:
        row = scheduler_status(session=session)
        assert row is not None and row.checks_total >= 1
    lock = make_lock(settings=ctx.settings, engine=ctx.engine)
    try:
        assert lock.try_acquire()  # released on the way out
    finally:
        lock.release()

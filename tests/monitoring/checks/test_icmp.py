"""The icmp check: a real ping of 127.0.0.1, and the "neither socket kind works" outcome."""

from __future__ import annotations

import errno

import icmplib.sockets
import pytest

from calcifer.monitoring.checks import icmp
from calcifer.monitoring.checks.base import CheckContext
from calcifer.monitoring.checks.icmp import IcmpCheck, IcmpOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import target

pytestmark = pytest.mark.anyio
CHECK = IcmpCheck()


def _unprivileged_refused() -> bool:
    try:
        icmplib.sockets.ICMPv4Socket(privileged=False).close()
    except icmplib.SocketPermissionError:
        return True
    return False


async def test_pinging_localhost_is_up_or_says_how_to_fix_icmp() -> None:
    outcome = await CHECK.check(target("127.0.0.1", timeout=5), IcmpOptions(packets=2), CheckContext())
    if icmp._is_root() or not _unprivileged_refused():
        # We run as root here (raw sockets), or the kernel allows ping sockets to our group.
        assert outcome.status is Status.UP, outcome.message
        assert outcome.latency_ms is not None
    else:
        assert outcome.status is Status.DOWN
        assert outcome.permanent
        assert "ping_group_range" in outcome.message


async def test_when_no_icmp_socket_can_be_opened_the_outcome_is_permanent_and_says_how_to_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The one seam: socket creation. Both raw (root) and unprivileged ping sockets are refused the way
    # the kernel refuses them (EPERM), whichever user runs the tests.
    def refused(self: object, kind: int) -> object:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(icmplib.sockets.ICMPv4Socket, "_create_socket", refused)
    outcome = await CHECK.check(target("127.0.0.1"), IcmpOptions(), CheckContext())
    assert outcome.status is Status.DOWN
    assert outcome.permanent
    assert "run calcifer as root" in outcome.message.lower()
    assert 'sysctl net.ipv4.ping_group_range="0 2147483647"' in outcome.message


"""``icmp``: ping with icmplib, in-process.

As root, raw sockets (``privileged``); otherwise the kernel's unprivileged ping sockets, which Linux
allows only to groups inside ``net.ipv4.ping_group_range``. When neither works the outcome is down and
``permanent``: retrying cannot help, the message says how to fix the machine.
"""

from __future__ import annotations

import os
from typing import ClassVar

from icmplib import async_ping
from icmplib.exceptions import ICMPLibError, NameLookupError, SocketAddressError, SocketPermissionError
from pydantic import BaseModel, ConfigDict, Field

from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status

# Pause between the packets of one check.
PACKET_INTERVAL = 0.2
HOW_TO_FIX = ("ICMP is not possible for this process: neither raw sockets (needs root or CAP_NET_RAW) nor "
              "unprivileged ping sockets are allowed. Run Calcifer as root (or give it CAP_NET_RAW), or allow "
              "ping sockets with: sysctl net.ipv4.ping_group_range=\"0 2147483647\"")


class IcmpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    packets: int = Field(default=1, ge=1, le=10, description="Echo requests sent per check (1-10); down when "
                         "none is answered.")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class IcmpCheck(CheckType):
    kind: ClassVar[str] = "icmp"
    Options: ClassVar[type[BaseModel]] = IcmpOptions
    summary: ClassVar[str] = "Pings a host (ICMP echo); down when no reply comes."

    async def check(self, target: Target, options: IcmpOptions, ctx: CheckContext) -> Outcome:
        address = target.target
        if not address:
            return Outcome(Status.DOWN, "an icmp endpoint needs a target host", permanent=True)
        count = options.packets
        # Every packet gets what is left of the timeout once the pauses between packets are taken out.
        per_packet = max(target.timeout - (count - 1) * PACKET_INTERVAL, 0.2)
        # Root tries raw sockets first; a root without CAP_NET_RAW (a container) falls back like anyone.
        modes = (True, False) if _is_root() else (False,)
        for privileged in modes:
            try:
                host = await async_ping(address, count=count, interval=PACKET_INTERVAL, timeout=per_packet,
                                        privileged=privileged)
            except SocketPermissionError:
                continue
            except NameLookupError:
                return Outcome(Status.DOWN, f"cannot resolve {address}")
            except SocketAddressError as exc:
                return Outcome(Status.DOWN, f"cannot ping {address}: {exc}", permanent=True)
            except ICMPLibError as exc:
                return Outcome(Status.DOWN, f"cannot ping {address}: {exc}")
            except OSError as exc:
                return Outcome(Status.DOWN, f"cannot ping {address}: {exc.strerror or exc}")
            if not host.is_alive:
                return Outcome(Status.DOWN, f"no reply from {address} ({count} sent)")
            lost = host.packets_sent - host.packets_received
            message = f"{lost} of {host.packets_sent} packets lost" if lost else ""
            return Outcome(Status.UP, message, latency_ms=host.avg_rtt)
        return Outcome(Status.DOWN, HOW_TO_FIX, permanent=True)

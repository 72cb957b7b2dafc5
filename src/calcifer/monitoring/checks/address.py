"""A target that carries its port: ``db.internal:5432``, ``10.0.0.5:5432`` or ``[2001:db8::1]:5432``.

People write a TCP address the way every client takes it, as one ``host:port``; endpoint types that
need a port accept that and split it here. A bare IPv6 address has colons of its own, so its port can
only be told apart in brackets (the URL notation) or in ``port:``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

_BRACKETED = re.compile(r"\[(?P<host>[^\[\]]*)\](?::(?P<port>[^:]*))?")

HOST_PORT_EXAMPLE = "db.internal:5432"
IPV6_EXAMPLE = "[2001:db8::1]:5432"


class Address(NamedTuple):
    host: str
    port: int | None  # None: the target says no port


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port(text: str, *, example: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"after the colon comes the port, a number from 1 to 65535 (e.g. {example})")
    return int(text)


def is_bare_ipv6(target: str) -> bool:
    """Whether ``target`` is an IPv6 address without brackets (so it cannot carry a port)."""
    return ":" in target and _is_ipv6(target)


def split_host_port(target: str) -> Address:
    """Split ``target`` into host and port.

    ``db.internal`` → (db.internal, None); ``db.internal:5432`` → (db.internal, 5432);
    ``[::1]:5432`` → (::1, 5432); ``[::1]`` and a bare IPv6 address ``::1`` → (::1, None).
    Raises ValueError saying what to write when the port or the brackets are wrong, or when a target
    with several colons is no IPv6 address.
    """
    if target.startswith("["):
        match = _BRACKETED.fullmatch(target)
        if match is None:
            raise ValueError(f"write an IPv6 address in brackets followed by :port, e.g. {IPV6_EXAMPLE}")
        host = match["host"]
        if not _is_ipv6(host):
            raise ValueError(f"brackets hold an IPv6 address (e.g. {IPV6_EXAMPLE}); write a host name or "
                             f"IPv4 address without them (e.g. {HOST_PORT_EXAMPLE})")
        port = match["port"]
        return Address(host, None if port is None else _port(port, example=IPV6_EXAMPLE))
    colons = target.count(":")
    if colons == 0:
        return Address(target, None)
    if colons == 1:
        host, port = target.split(":")
        if not host:
            raise ValueError(f"write the host before the colon, e.g. {HOST_PORT_EXAMPLE}")
        return Address(host, _port(port, example=HOST_PORT_EXAMPLE))
    if _is_ipv6(target):
        return Address(target, None)
    raise ValueError(f"write host:port with one colon (e.g. {HOST_PORT_EXAMPLE}), or an IPv6 address in "
                     f"brackets (e.g. {IPV6_EXAMPLE})")

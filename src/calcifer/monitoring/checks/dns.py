"""``dns``: resolve the target name and compare the answers with the expected values."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar, Literal

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver
from dns.rdata import Rdata
from pydantic import BaseModel, ConfigDict, Field, field_validator

from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status

RecordType = Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "PTR", "SOA", "CAA"]
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$")


def parse_resolver(value: str) -> tuple[str, int]:
    """``10.0.0.53``, ``127.0.0.1:5353``, ``::1`` or ``[::1]:5353`` → (address, port)."""
    text = value.strip()
    host, port = text, 53
    bracketed = _BRACKETED.match(text)
    if bracketed:
        host, port = bracketed.group(1), int(bracketed.group(2) or 53)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"{value!r}: the port after ':' must be a number")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{value!r} is not a resolver address: write an IP address, optionally with a port "
                         "(10.0.0.53, 127.0.0.1:5353 or [::1]:5353)") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: the port must be 1-65535")
    return host, port


class DnsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_type: RecordType = Field(default="A", description="Record type to ask for: A, AAAA, CNAME, MX, NS, "
                                    "TXT, SRV, PTR, SOA or CAA.")
    resolver: str | None = Field(default=None, max_length=60,
                                 description="Resolver to ask, as address[:port] (\"10.0.0.53\", "
                                 "\"127.0.0.1:5353\"); default the system's.")
    expected: list[str] = Field(default_factory=list, max_length=50,
                                description="Values that must all be among the answers ([] = any answer).")

    @field_validator("record_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, value: str | None) -> str | None:
        if value is not None:
            parse_resolver(value)
        return value

    @field_validator("expected", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def normalise(record_type: str, text: str) -> str:
    """Comparable text of one answer: addresses in canonical form, names without case or trailing dot."""
    text = text.strip()
    if record_type in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    if record_type == "TXT":
        return text
    return " ".join(token.strip('"').rstrip(".").lower() for token in text.split())


def _answer_text(rdata: Rdata) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT: the strings joined, unquoted (as people write them)
        return b"".join(strings).decode("utf-8", errors="replace")
    return str(rdata.to_text())


_resolvers: dict[tuple[str, int] | None, dns.asyncresolver.Resolver] = {}


def _resolver(resolver: str | None) -> dns.asyncresolver.Resolver:
    # Built once per resolver address: reading /etc/resolv.conf on every check would be waste.
    key = parse_resolver(resolver) if resolver else None
    found = _resolvers.get(key)
    if found is None:
        if key is None:
            found = dns.asyncresolver.Resolver()
        else:
            found = dns.asyncresolver.Resolver(configure=False)
            found.nameservers = [key[0]]
            found.port = key[1]
        _resolvers[key] = found
    return found


def _listed(values: list[str]) -> str:
    shown = ", ".join(values[:5]) + (f" (+{len(values) - 5} more)" if len(values) > 5 else "")
    return shown[:250]


def _answers(count: int) -> str:
    return "1 answer" if count == 1 else f"{count} answers"


class DnsCheck(CheckType):
    kind: ClassVar[str] = "dns"
    Options: ClassVar[type[BaseModel]] = DnsOptions
    summary: ClassVar[str] = "Resolves a name (any record type, any resolver); optionally expects given values."

    async def check(self, target: Target, options: DnsOptions, ctx: CheckContext) -> Outcome:
        name = target.target
        if not name:
            return Outcome(Status.DOWN, "a dns endpoint needs a target name", permanent=True)
        record_type = options.record_type
        resolver = _resolver(options.resolver)
        via = f" (resolver {options.resolver})" if options.resolver else ""
        try:
            answer = await resolver.resolve(name, record_type, lifetime=target.timeout, search=False)
        except dns.resolver.NXDOMAIN:
            return Outcome(Status.DOWN, f"NXDOMAIN: {name} does not exist{via}")
        except dns.resolver.NoAnswer:
            return Outcome(Status.DOWN, f"no {record_type} record for {name}{via}")
        except dns.resolver.LifetimeTimeout:
            return Outcome(Status.DOWN, f"no DNS answer for {name} within {target.timeout:g} s{via}")
        except dns.resolver.NoNameservers as exc:
            return Outcome(Status.DOWN, f"no name server answered for {name}{via}: {exc}"[:300])
        except dns.exception.DNSException as exc:
            return Outcome(Status.DOWN, f"DNS lookup of {name} failed{via}: {exc}"[:300])
        # The answers are counted, not quoted: a check's message is shown to every viewer, and a TXT
        # record on an internal resolver can hold what only that network should see.
        answers = [_answer_text(rdata) for rdata in answer]
        got = {normalise(record_type, text) for text in answers}
        missing = [value for value in options.expected if normalise(record_type, value) not in got]
        if missing:
            return Outcome(Status.DOWN, f"expected {_listed(missing)} among the {record_type} answers: not "
                           f"found ({_answers(len(answers))})")
        return Outcome(Status.UP, f"{record_type}: {_answers(len(answers))}")

"""``smtp``: read the server's 220 greeting, say EHLO, and optionally upgrade with STARTTLS (or speak TLS
from the start, port 465), reading the certificate: its expiry makes the endpoint degraded (within the
warning days) or down (expired). Plain asyncio streams: nothing blocks the loop, and no mail is sent."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcifer.monitoring.checks.base import CertInfo, CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.checks.http import _days, cert_info, ssl_context
from calcifer.monitoring.checks.tcp import _reason
from calcifer.monitoring.choices import Status

LINE_LIMIT = 1024  # RFC 5321: a reply line is at most 512 octets; be lenient
REPLY_LINES = 100


class SmtpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tls: Literal["none", "starttls", "implicit"] = Field(
        default="none", description="none (plain), starttls (upgrade after EHLO; fails when the server does not "
        "offer it) or implicit (TLS from the start, port 465).")
    verify_tls: bool = Field(default=True, description="Verify the certificate (chain and host name).")
    cert_warn_days: int | None = Field(
        default=None, ge=0, le=365, description="Degraded when the certificate expires within this many days "
        "(default CALCIFER_MONITOR_CERT_WARN_DAYS); expired is down.")
    expect_banner: str | None = Field(default=None, min_length=1, max_length=200,
                                      description="Text the 220 greeting must contain.")
    helo_name: str = Field(default="calcifer.localdomain", min_length=1, max_length=255,
                           description="The name Calcifer gives in EHLO.")

    @field_validator("helo_name")
    @classmethod
    def _helo(cls, value: str) -> str:
        if any(ch.isspace() for ch in value) or not value.isascii():
            raise ValueError("the EHLO name is one word of ASCII letters, digits, dots and dashes")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SmtpOptions:
        if self.tls == "none" and ({"verify_tls", "cert_warn_days"} & self.model_fields_set):
            raise ValueError("verify_tls and cert_warn_days need tls: starttls or implicit")
        return self


class _Bad(Exception):
    pass


async def _reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One SMTP reply: its code and its lines' texts (multi-line ``250-...`` up to ``250 ...``)."""
    lines: list[str] = []
    while len(lines) < REPLY_LINES:
        raw = await reader.readline()
        if not raw:
            raise _Bad("the server closed the connection")
        line = raw[:LINE_LIMIT].decode("utf-8", errors="replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise _Bad("the server's answer is not SMTP")
        lines.append(line[4:])
        if len(line) == 3 or line[3] != "-":
            return int(line[:3]), lines
    raise _Bad("the server's reply has too many lines")


async def _command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str) -> tuple[int, list[str]]:
    writer.write(text.encode() + b"\r\n")
    await writer.drain()
    return await _reply(reader)


def _cert(writer: asyncio.StreamWriter) -> CertInfo | None:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    try:
        return cert_info(der)
    except ValueError:
        return None


class SmtpCheck(CheckType):
    kind: ClassVar[str] = "smtp"
    Options: ClassVar[type[BaseModel]] = SmtpOptions
    summary: ClassVar[str] = ("Reads an SMTP server's greeting and EHLO; optionally STARTTLS, warning before the "
                              "certificate expires.")

    async def check(self, target: Target, options: SmtpOptions, ctx: CheckContext) -> Outcome:
        if not target.target:
            return Outcome(Status.DOWN, "an smtp endpoint needs a target host", permanent=True)
        port = target.port or (465 if options.tls == "implicit" else 25)
        where = f"{target.target}:{port}"
        context = ssl_context(options.verify_tls)
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(
                target.target, port, ssl=context if options.tls == "implicit" else None,
                server_hostname=target.target if options.tls == "implicit" else None)
        except ssl.SSLCertVerificationError as exc:
            return Outcome(Status.DOWN, f"TLS certificate verification failed: {exc.verify_message}")
        except ssl.SSLError as exc:
            return Outcome(Status.DOWN, f"TLS error with {where}: {exc.reason or exc}")
        except OSError as exc:
            return Outcome(Status.DOWN, f"cannot connect to {where}: {_reason(exc)}")
        latency_ms: float | None = None
        cert: CertInfo | None = _cert(writer)
        try:
            code, lines = await _reply(reader)
            latency_ms = (time.perf_counter() - started) * 1000
            if code != 220:
                return Outcome(Status.DOWN, f"expected the greeting 220, got {code}", latency_ms=latency_ms, cert=cert)
            if options.expect_banner is not None and not any(options.expect_banner in line for line in lines):
                return Outcome(Status.DOWN, f"the greeting does not contain {options.expect_banner!r}",
                               latency_ms=latency_ms, cert=cert)
            code, lines = await _command(reader, writer, f"EHLO {options.helo_name}")
            if code != 250:
                return Outcome(Status.DOWN, f"EHLO was answered {code}, expected 250", latency_ms=latency_ms, cert=cert)
            if options.tls == "starttls":
                if not any(line.upper().split(" ")[0] == "STARTTLS" for line in lines[1:]):
                    return Outcome(Status.DOWN, "the server does not offer STARTTLS", latency_ms=latency_ms)
                code, _ = await _command(reader, writer, "STARTTLS")
                if code != 220:
                    return Outcome(Status.DOWN, f"STARTTLS was answered {code}, expected 220", latency_ms=latency_ms)
                try:
                    await writer.start_tls(context, server_hostname=target.target)
                except ssl.SSLCertVerificationError as exc:
                    return Outcome(Status.DOWN, f"TLS certificate verification failed: {exc.verify_message}",
                                   latency_ms=latency_ms)
                except ssl.SSLError as exc:
                    return Outcome(Status.DOWN, f"STARTTLS handshake failed: {exc.reason or exc}", latency_ms=latency_ms)
                cert = _cert(writer)
                code, _ = await _command(reader, writer, f"EHLO {options.helo_name}")
                if code != 250:
                    return Outcome(Status.DOWN, f"EHLO after STARTTLS was answered {code}, expected 250",
                                   latency_ms=latency_ms, cert=cert)
            with contextlib.suppress(OSError, _Bad, asyncio.IncompleteReadError):
                await _command(reader, writer, "QUIT")
        except _Bad as bad:
            return Outcome(Status.DOWN, f"SMTP {where}: {bad}", latency_ms=latency_ms, cert=cert)
        except OSError as exc:
            return Outcome(Status.DOWN, f"SMTP {where}: {_reason(exc)}", latency_ms=latency_ms, cert=cert)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return _judge_cert(options, ctx, cert, latency_ms)


def _judge_cert(options: SmtpOptions, ctx: CheckContext, cert: CertInfo | None, latency_ms: float | None) -> Outcome:
    if cert is None:
        return Outcome(Status.UP, "greeting and EHLO answered", latency_ms=latency_ms)
    days = cert.days_left(ctx.now())
    warn_days = options.cert_warn_days if options.cert_warn_days is not None else ctx.cert_warn_days
    expires = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if days <= 0:
        return Outcome(Status.DOWN, f"certificate expired {_days(-days)} ago ({expires})", latency_ms=latency_ms,
                       cert=cert)
    if days < warn_days:
        return Outcome(Status.DEGRADED, f"certificate expires in {_days(days)} ({expires}; warning below "
                       f"{warn_days} days)", latency_ms=latency_ms, cert=cert)
    return Outcome(Status.UP, f"TLS up, certificate valid {_days(days)} more", latency_ms=latency_ms, cert=cert)

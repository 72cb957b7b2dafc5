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
        talk = _Conversation(target, options)
        try:
            async with asyncio.timeout(target.timeout):
                outcome = await talk.run()
        except TimeoutError:
            return Outcome(Status.DOWN, f"no {talk.waiting_for} within {target.timeout:g} s",
                           latency_ms=talk.latency_ms, cert=talk.cert)
        finally:
            await talk.close()
        return outcome if outcome is not None else _judge_cert(options, ctx, talk.cert, talk.latency_ms)


class _Conversation:
    """One SMTP session up to QUIT; ``waiting_for`` names what the check waits for (for a timeout's message)."""

    def __init__(self, target: Target, options: SmtpOptions) -> None:
        assert target.target is not None
        self.host = target.target
        self.options = options
        self.port = target.port or (465 if options.tls == "implicit" else 25)
        self.where = f"{self.host}:{self.port}"
        self.waiting_for = "connection"
        self.latency_ms: float | None = None
        self.cert: CertInfo | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    def _down(self, message: str) -> Outcome:
        return Outcome(Status.DOWN, message, latency_ms=self.latency_ms, cert=self.cert)

    async def run(self) -> Outcome | None:
        """A down Outcome, or None when the session went as expected (the certificate is judged next)."""
        options, host = self.options, self.host
        context = ssl_context(options.verify_tls)
        implicit = options.tls == "implicit"
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(host, self.port, ssl=context if implicit else None,
                                                           server_hostname=host if implicit else None)
        except ssl.SSLCertVerificationError as exc:
            return self._down(f"TLS certificate verification failed: {exc.verify_message}")
        except ssl.SSLError as exc:
            return self._down(f"TLS error with {self.where}: {exc.reason or exc}")
        except OSError as exc:
            return self._down(f"cannot connect to {self.where}: {_reason(exc)}")
        self.writer = writer
        self.cert = _cert(writer)
        try:
            self.waiting_for = "greeting"
            code, lines = await _reply(reader)
            self.latency_ms = (time.perf_counter() - started) * 1000
            if code != 220:
                return self._down(f"expected the greeting 220, got {code}")
            if options.expect_banner is not None and not any(options.expect_banner in line for line in lines):
                return self._down(f"the greeting does not contain {options.expect_banner!r}")
            self.waiting_for = "answer to EHLO"
            code, lines = await _command(reader, writer, f"EHLO {options.helo_name}")
            if code != 250:
                return self._down(f"EHLO was answered {code}, expected 250")
            if options.tls == "starttls":
                if not any(line.upper().split(" ")[0] == "STARTTLS" for line in lines[1:]):
                    return self._down("the server does not offer STARTTLS")
                self.waiting_for = "answer to STARTTLS"
                code, _ = await _command(reader, writer, "STARTTLS")
                if code != 220:
                    return self._down(f"STARTTLS was answered {code}, expected 220")
                self.waiting_for = "TLS handshake"
                try:
                    await writer.start_tls(context, server_hostname=host)
                except ssl.SSLCertVerificationError as exc:
                    return self._down(f"TLS certificate verification failed: {exc.verify_message}")
                except ssl.SSLError as exc:
                    return self._down(f"STARTTLS handshake failed: {exc.reason or exc}")
                self.cert = _cert(writer)
                self.waiting_for = "answer to EHLO after STARTTLS"
                code, _ = await _command(reader, writer, f"EHLO {options.helo_name}")
                if code != 250:
                    return self._down(f"EHLO after STARTTLS was answered {code}, expected 250")
            self.waiting_for = "answer to QUIT"
            with contextlib.suppress(OSError, _Bad, asyncio.IncompleteReadError):
                await _command(reader, writer, "QUIT")
        except _Bad as bad:
            return self._down(f"SMTP {self.where}: {bad}")
        except OSError as exc:
            return self._down(f"SMTP {self.where}: {_reason(exc)}")
        return None


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

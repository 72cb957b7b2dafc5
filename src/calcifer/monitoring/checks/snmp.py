"""``snmp``: one SNMP GET (v1, v2c or v3) of an OID, its value compared with what the endpoint expects; or
the shorthand ``interface: N``, which reads IF-MIB's ifOperStatus of ifIndex N and expects it up.

pysnmp's asyncio API: the request runs on the scheduler's loop, never blocking it. An SNMP engine costs
a few hundred milliseconds of CPU to build, so engines are built in a worker thread and kept per event loop:
one for every v1/v2c endpoint, and one per distinct v3 credential set (an engine's user table holds one
entry per user name, so two endpoints naming the same user with different passphrases must not share one).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import weakref
from collections import OrderedDict
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcifer.monitoring.checks import values
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.checks.credentials import MissingSecret, env_field, read_secret
from calcifer.monitoring.choices import Status

IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
# IF-MIB ifOperStatus values
OPER_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent",
               7: "lowerLayerDown"}
_OID = re.compile(r"^\.?(\d+)(\.\d+){1,127}$")

ENGINES_PER_LOOP = 256
_ENGINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[str, Any]] = weakref.WeakKeyDictionary()

AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["des", "3des", "aes", "aes192", "aes256"]


class SnmpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal["1", "2c", "3"] = Field(default="2c", description="SNMP version: \"1\", \"2c\" or \"3\".")
    community: str = Field(default="public", min_length=1, max_length=255,
                           description="v1/v2c community (default public). Use community_env for one that "
                           "is a secret.")
    community_env: str | None = env_field("the v1/v2c community")
    user: str | None = Field(default=None, min_length=1, max_length=32, description="v3 user name.")
    auth_protocol: AuthProtocol | None = Field(
        default=None, description="v3 authentication: md5, sha, sha224, sha256, sha384 or sha512 (default sha "
        "when auth_password_env is set).")
    auth_password_env: str | None = env_field("the v3 authentication passphrase")
    priv_protocol: PrivProtocol | None = Field(
        default=None, description="v3 privacy (encryption): des, 3des, aes, aes192 or aes256 (default aes when "
        "priv_password_env is set).")
    priv_password_env: str | None = env_field("the v3 privacy passphrase")
    oid: str | None = Field(default=None, max_length=512,
                            description="Numeric OID to get, like 1.3.6.1.2.1.1.5.0 (sysName).")
    operator: values.Operator = Field(default="eq", description="How the value compares with expected: eq, ne, "
                                      "lt, gt or contains.")
    expected: str | int | float | None = Field(
        default=None, description="With oid: the value to compare with (left out: any value is up).")
    interface: int | None = Field(default=None, ge=1, le=2_147_483_647,
                                  description="Shorthand: the ifIndex whose ifOperStatus (IF-MIB) is checked.")
    interface_status: Literal["up", "down"] = Field(
        default="up", description="With interface: the status that counts as up (up or down).")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value).lower() if isinstance(value, int | str) and not isinstance(value, bool) else value

    @field_validator("oid")
    @classmethod
    def _oid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not _OID.match(text):
            raise ValueError(f"{value!r} is not a numeric OID: write it like 1.3.6.1.2.1.1.5.0 (MIB names are "
                             "not resolved)")
        return text.lstrip(".")

    @model_validator(mode="after")
    def _consistent(self) -> SnmpOptions:
        if (self.oid is None) == (self.interface is None):
            raise ValueError("give either oid (an object to get) or interface (an ifIndex whose status to check)")
        if self.interface is not None and ({"operator", "expected"} & self.model_fields_set):
            raise ValueError("operator and expected go with oid; with interface, use interface_status")
        if self.expected is not None:
            values.check_expected(self.operator, self.expected)
        elif "operator" in self.model_fields_set:
            raise ValueError("operator needs an expected value to compare with")
        v3 = ("user", "auth_protocol", "auth_password_env", "priv_protocol", "priv_password_env")
        if self.version == "3":
            if self.user is None:
                raise ValueError("SNMP v3 needs a user")
            if {"community", "community_env"} & self.model_fields_set:
                raise ValueError("community is for v1/v2c; v3 authenticates with user and auth_password_env")
            if self.auth_protocol is not None and self.auth_password_env is None:
                raise ValueError("auth_protocol needs auth_password_env (the passphrase)")
            if self.priv_protocol is not None and self.priv_password_env is None:
                raise ValueError("priv_protocol needs priv_password_env (the passphrase)")
            if self.priv_password_env is not None and self.auth_password_env is None:
                raise ValueError("SNMP v3 privacy needs authentication too: set auth_password_env")
        else:
            given = [name for name in v3 if name in self.model_fields_set]
            if given:
                raise ValueError(f"{', '.join(given)}: only for version \"3\" (this endpoint uses v{self.version})")
            if "community" in self.model_fields_set and self.community_env is not None:
                raise ValueError("give community or community_env, not both")
        return self


def _auth_data(options: SnmpOptions) -> tuple[Any, str]:
    """pysnmp's credentials for the endpoint, and the key of the engine to use with them."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    if options.version != "3":
        community = read_secret(options.community_env) or options.community
        return hlapi.CommunityData(community, mpModel=0 if options.version == "1" else 1), "community"
    auth_key = read_secret(options.auth_password_env)
    priv_key = read_secret(options.priv_password_env)
    auth = {"md5": hlapi.USM_AUTH_HMAC96_MD5, "sha": hlapi.USM_AUTH_HMAC96_SHA,
            "sha224": hlapi.USM_AUTH_HMAC128_SHA224, "sha256": hlapi.USM_AUTH_HMAC192_SHA256,
            "sha384": hlapi.USM_AUTH_HMAC256_SHA384, "sha512": hlapi.USM_AUTH_HMAC384_SHA512}
    priv = {"des": hlapi.USM_PRIV_CBC56_DES, "3des": hlapi.USM_PRIV_CBC168_3DES, "aes": hlapi.USM_PRIV_CFB128_AES,
            "aes192": hlapi.USM_PRIV_CFB192_AES, "aes256": hlapi.USM_PRIV_CFB256_AES}
    auth_protocol = options.auth_protocol or "sha" if auth_key else "none"
    priv_protocol = options.priv_protocol or "aes" if priv_key else "none"
    credentials = hlapi.UsmUserData(
        options.user, authKey=auth_key, privKey=priv_key,
        authProtocol=auth[auth_protocol] if auth_key else hlapi.USM_AUTH_NONE,
        privProtocol=priv[priv_protocol] if priv_key else hlapi.USM_PRIV_NONE)
    fingerprint = repr((options.user, auth_protocol, auth_key, priv_protocol, priv_key))
    return credentials, hashlib.sha256(fingerprint.encode()).hexdigest()


async def _engine(key: str) -> Any:
    """This loop's SNMP engine for ``key`` (built in a thread the first time)."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    loop = asyncio.get_running_loop()
    engines = _ENGINES.setdefault(loop, OrderedDict())
    engine = engines.get(key)
    if engine is None:
        built = await asyncio.to_thread(hlapi.SnmpEngine)
        engine = engines.setdefault(key, built)
        while len(engines) > ENGINES_PER_LOOP:
            _old_key, old = engines.popitem(last=False)
            old.close_dispatcher()
    engines.move_to_end(key)
    return engine


def _error_text(indication: Any) -> str:
    name = type(indication).__name__
    text = str(indication)
    if name == "RequestTimedOut":
        return "no answer (agent down, wrong community, or UDP port closed)"
    if name in ("WrongDigest", "AuthenticationFailure", "UnknownUserName", "UnsupportedSecurityLevel",
                "DecryptionError", "UnknownSecurityName"):
        return f"authentication failed ({text.lower().rstrip('.')})"
    return text.lower().rstrip(".") or name


def _value(raw: Any) -> Any:
    """An SNMP value as int, or text (OCTET STRING, OID, IP address...)."""
    try:
        return int(raw)
    except (TypeError, ValueError):
        pass
    if hasattr(raw, "asOctets"):
        octets = raw.asOctets()
        try:
            return octets.decode()
        except UnicodeDecodeError:
            return octets.hex(":")
    return raw.prettyPrint()


class SnmpCheck(CheckType):
    kind: ClassVar[str] = "snmp"
    Options: ClassVar[type[BaseModel]] = SnmpOptions
    summary: ClassVar[str] = ("Gets one SNMP object (v1, v2c or v3) and compares its value; or checks that an "
                              "interface is up.")

    async def check(self, target: Target, options: SnmpOptions, ctx: CheckContext) -> Outcome:
        from pysnmp.hlapi.v3arch import asyncio as hlapi

        if not target.target:
            return Outcome(Status.DOWN, "an snmp endpoint needs a target host", permanent=True)
        port = target.port or 161
        where = f"{target.target}:{port}"
        try:
            auth, engine_key = _auth_data(options)
        except MissingSecret as missing:
            return Outcome(Status.DOWN, str(missing), permanent=True)
        oid = options.oid or f"{IF_OPER_STATUS}.{options.interface}"
        engine = await _engine(engine_key)
        started = time.perf_counter()
        try:
            transport = await hlapi.UdpTransportTarget.create((target.target, port),
                                                              timeout=max(target.timeout, 0.5), retries=0)
        except Exception as exc:  # pysnmp wraps resolution failures in its own error
            return Outcome(Status.DOWN, f"cannot reach {where}: {str(exc).lower() or type(exc).__name__}")
        indication, status, index, binds = await hlapi.get_cmd(
            engine, auth, transport, hlapi.ContextData(), hlapi.ObjectType(hlapi.ObjectIdentity(oid)))
        latency_ms = (time.perf_counter() - started) * 1000
        if indication:
            return Outcome(Status.DOWN, f"SNMP {where}: {_error_text(indication)}", latency_ms=latency_ms)
        if status:
            return Outcome(Status.DOWN, f"SNMP {where} refused the request: {status.prettyPrint()}",
                           latency_ms=latency_ms)
        _name, raw = binds[0]
        kind = type(raw).__name__
        if kind in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
            what = f"interface {options.interface}" if options.interface else f"OID {oid}"
            return Outcome(Status.DOWN, f"{what}: no such object on the agent", latency_ms=latency_ms)
        value = _value(raw)
        if options.interface is not None:
            state = OPER_STATUS.get(value, str(value)) if isinstance(value, int) else "not a status"
            message = f"interface {options.interface} is {state}"
            if state != options.interface_status:
                return Outcome(Status.DOWN, f"{message}, expected {options.interface_status}", latency_ms=latency_ms)
            return Outcome(Status.UP, message, latency_ms=latency_ms)
        if options.expected is None:
            return Outcome(Status.UP, f"OID {oid} answered", latency_ms=latency_ms)
        problem = values.compare(f"OID {oid}", value, options.operator, options.expected)
        if problem:
            return Outcome(Status.DOWN, problem, latency_ms=latency_ms)
        return Outcome(Status.UP, f"OID {oid} as expected", latency_ms=latency_ms)

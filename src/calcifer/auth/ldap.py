"""LDAP bind login (ldap3): the directory checks the password by a bind as the user's DN.

The DN comes from a template (``uid={username},ou=people,...``, the username escaped as an RDN value) or
from a search under ``search_base`` with ``user_filter`` (the username escaped as a filter value), as the
service account when one is set. Groups are read under ``group_base``; the roles they map to are decided
by ``auth.sso``. A wrong password, an unknown user and an account the directory refuses (a locked
password policy, a filter that leaves it out) all read the same to the caller. No FastAPI here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPException, LDAPSocketOpenError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from calcifer.auth.schemas import LdapConfig
from calcifer.errors import Unavailable

log = logging.getLogger("calcifer.auth.ldap")
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class DirectoryUser:
    dn: str
    username: str
    groups: tuple[str, ...]
    display_name: str = ""
    email: str = ""


def _server(config: LdapConfig) -> ldap3.Server:
    return ldap3.Server(config.server_uri, connect_timeout=TIMEOUT_SECONDS, get_info=ldap3.NONE)


def _connection(config: LdapConfig, user: str | None, password: str | None) -> ldap3.Connection:
    connection = ldap3.Connection(_server(config), user=user, password=password, receive_timeout=TIMEOUT_SECONDS,
                                  raise_exceptions=False, read_only=True)
    connection.open()
    if config.start_tls:
        connection.start_tls()
    return connection


def _first(entry: dict[str, list[object]], name: str) -> str:
    values = entry.get(name) or []
    return str(values[0]) if values else ""


def _find_dn(config: LdapConfig, username: str, service_password: str) -> tuple[str, dict[str, list[object]]] | None:
    who = config.service_bind_dn or None
    connection = _connection(config, who, service_password if who else None)
    try:
        if who and not connection.bind():
            raise Unavailable("The LDAP service account could not bind: an admin checks its DN and password under "
                              "Settings → Single sign-on.")
        query = config.user_filter.replace("{username}", escape_filter_chars(username))
        connection.search(config.search_base, query, search_scope=ldap3.SUBTREE,
                          attributes=["cn", "displayName", "mail"], size_limit=2)
        entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
        if len(entries) != 1:  # nobody, or a filter that matches two people: never guess
            return None
        return str(entries[0]["dn"]), dict(entries[0].get("attributes") or {})
    finally:
        connection.unbind()


def check_password(*, config: LdapConfig, username: str, password: str,
                   service_password: str = "") -> DirectoryUser | None:
    """The directory's user ``username`` when ``password`` binds as them, else None. Raises Unavailable
    when the server cannot be reached (or the service account is refused)."""
    if not password:  # an empty password is an anonymous bind in LDAP: it must never log anyone in
        return None
    try:
        attributes: dict[str, list[object]] = {}
        if config.bind_dn_template:
            dn = config.bind_dn_template.replace("{username}", escape_rdn(username))
        else:
            found = _find_dn(config, username, service_password)
            if found is None:
                return None
            dn, attributes = found
        connection = _connection(config, dn, password)
        try:
            if not connection.bind():
                return None
            if not attributes:
                connection.search(dn, "(objectClass=*)", search_scope=ldap3.BASE,
                                  attributes=["cn", "displayName", "mail"])
                entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
                attributes = dict(entries[0].get("attributes") or {}) if entries else {}
            groups: list[str] = []
            if config.group_base:
                query = (config.group_filter.replace("{dn}", escape_filter_chars(dn))
                         .replace("{username}", escape_filter_chars(username)))
                connection.search(config.group_base, query, search_scope=ldap3.SUBTREE, attributes=["cn"])
                for entry in connection.response or []:
                    if entry.get("type") == "searchResEntry":
                        groups.append(_first(dict(entry.get("attributes") or {}), "cn") or str(entry["dn"]))
        finally:
            connection.unbind()
    except LDAPBindError:
        return None
    except (LDAPSocketOpenError, LDAPException) as exc:
        log.warning("LDAP login could not reach %s: %s", config.server_uri, exc)
        raise Unavailable("The directory (LDAP) cannot be reached: try again later, or ask an admin.") from exc
    return DirectoryUser(dn=dn, username=username, groups=tuple(groups),
                         display_name=_first(attributes, "displayName") or _first(attributes, "cn"),
                         email=_first(attributes, "mail"))

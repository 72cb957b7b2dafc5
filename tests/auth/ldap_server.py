"""Debian's slapd with a small directory, started in a temporary folder on 127.0.0.1 (tests/servers/debian/ldap.txt).

The directory (dc=example,dc=org): people under ou=people with plain-text passwords ``<uid>-pass``, groups
under ou=groups (groupOfNames), and a password policy (the ppolicy overlay) that locks ``locked``'s account.
The root DN ``cn=admin,dc=example,dc=org`` (password ``adminpw``) doubles as the service account.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ldap3
import pytest

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "adminpw"
# uid: (common name, groups)
PEOPLE = {
    "lena": ("Lena Lind", ["calcifer-admins", "ops"]),
    "ed": ("Ed Eriksen", ["ops"]),
    "vic": ("Vic Viewer", []),
    "locked": ("Locked Out", ["calcifer-admins"]),
    "alice": ("Alice Directory", ["calcifer-admins"]),
}

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {root}/slapd.pid
database mdb
suffix "{base}"
rootdn "{admin}"
rootpw {password}
directory {root}/db
maxsize 10485760
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{base}"
"""


def person_dn(uid: str) -> str:
    return f"uid={uid},ou=people,{BASE}"


def _ldif() -> str:
    entries = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"]
    for ou in ("people", "groups", "policies"):
        entries.append(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n")
    # pwdLockout makes the policy honour pwdAccountLockedTime: 000001010000Z locks an account for good.
    entries.append(f"dn: cn=default,ou=policies,{BASE}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\n"
                   "cn: default\npwdAttribute: userPassword\npwdLockout: TRUE\n")
    groups: dict[str, list[str]] = {}
    for uid, (name, member_of) in PEOPLE.items():
        entry = (f"dn: {person_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: {name.split()[-1]}\n"
                 f"displayName: {name}\nmail: {uid}@example.org\nuserPassword: {uid}-pass\n")
        if uid == "locked":
            entry += "pwdAccountLockedTime: 000001010000Z\n"
        entries.append(entry)
        for group in member_of:
            groups.setdefault(group, []).append(person_dn(uid))
    for group, members in groups.items():
        entries.append(f"dn: cn={group},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {group}\n"
                       + "".join(f"member: {dn}\n" for dn in members))
    return "\n".join(entries)


@dataclass(frozen=True)
class Directory:
    uri: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(uri: str) -> bool:
    try:
        connection = ldap3.Connection(ldap3.Server(uri, connect_timeout=1), user=ADMIN_DN, password=ADMIN_PASSWORD)
        ok = bool(connection.bind())
        connection.unbind()
        return ok
    except ldap3.core.exceptions.LDAPException:
        return False


@contextmanager
def running_slapd(root: Path) -> Iterator[Directory]:
    if shutil.which(SLAPD) is None:
        pytest.fail(f"{SLAPD} is missing: the LDAP tests need Debian's slapd (tests/servers/debian/ldap.txt; "
                    "`make servers` installs it).", pytrace=False)
    (root / "db").mkdir(parents=True)
    conf = root / "slapd.conf"
    conf.write_text(CONFIG.format(root=root, base=BASE, admin=ADMIN_DN, password=ADMIN_PASSWORD))
    (root / "data.ldif").write_text(_ldif())
    subprocess.run([SLAPADD, "-f", str(conf), "-l", str(root / "data.ldif")], check=True, capture_output=True)
    for _ in range(5):  # a port picked free may be taken before slapd binds it: pick another
        port = _free_port()
        uri = f"ldap://127.0.0.1:{port}"
        log = (root / "slapd.log").open("wb")
        process = subprocess.Popen([SLAPD, "-f", str(conf), "-h", uri + "/", "-d", "0"], stdout=log,
                                   stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None and not _answers(uri):
            time.sleep(0.05)
        if process.poll() is None and _answers(uri):
            try:
                yield Directory(uri=uri)
            finally:
                process.terminate()
                process.wait(timeout=10)
                log.close()
            return
        process.kill()
        process.wait()
        log.close()
    raise RuntimeError("slapd did not start: " + (root / "slapd.log").read_text()[-2000:])

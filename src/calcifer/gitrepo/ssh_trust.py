"""Which SSH server a remote may be: its host key, pinned, checked by libgit2 on every connection.

libgit2 (with libssh2) compares the key an SSH server shows against ``~/.ssh/known_hosts`` of its home
folder and tells the certificate callback whether it matched. Calcifer points that home folder at a
folder of its own (``use_ssh_home``), writes the one key it trusts for the remote's host there before
each SSH connection, and refuses the connection when libgit2 says the key differs. The key is learned
the first time Calcifer connects (``server_host_key``, trust on first use as ``ssh`` does, its
fingerprint shown to the admin) or pasted by the admin from the forge's published keys.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pygit2

from calcifer.errors import Invalid

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
CONNECT_TIMEOUT = 10.0
_KEY = re.compile(r"(?:^|\s)(?P<type>" + "|".join(re.escape(t) for t in KEY_TYPES) + r")\s+(?P<data>[A-Za-z0-9+/]+=*)")
_SCP_HOST = re.compile(r"^(?:[^@]+@)?(?P<host>[^:]+):")
_lock = threading.Lock()
_home: Path | None = None


def use_ssh_home(folder: Path) -> None:
    """Make ``folder`` libgit2's home (where it reads ``.ssh/known_hosts``) for this process."""
    global _home
    (folder / ".ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
    pygit2.settings.homedir = str(folder)
    _home = folder


def is_ssh(url: str) -> bool:
    return url.lower().startswith("ssh://") or ("://" not in url and _SCP_HOST.match(url) is not None)


def host_and_port(url: str) -> tuple[str, int]:
    if "://" in url:
        parts = urlsplit(url)
        return parts.hostname or "", parts.port or 22
    match = _SCP_HOST.match(url)
    return (match.group("host") if match else ""), 22


def normalize_host_key(text: str) -> str:
    """``"<type> <base64>"`` from a pasted key: a public key line or a ``known_hosts``/``ssh-keyscan`` line.
    Invalid saying what to paste when it holds no SSH public key."""
    match = _KEY.search(text.strip())
    if match is not None:
        try:
            blob = base64.b64decode(match.group("data"), validate=True)
        except ValueError:
            blob = b""
        # the key's own encoding starts with its type: a check that the text is a key, not a look-alike
        name = match.group("type").encode()
        if blob[4:4 + len(name)] == name:
            return f"{match.group('type')} {match.group('data')}"
    raise Invalid("That is not an SSH host key: paste a line of `ssh-keyscan -t ed25519 HOST` or the key your "
                  "forge publishes (\"ssh-ed25519 AAAA…\").",
                  details=[{"field": "ssh_host_key", "message": "not an SSH public key"}])


def fingerprint(host_key: str) -> str:
    """The key's SHA256 fingerprint as ``ssh`` prints it (``SHA256:…``)."""
    blob = base64.b64decode(host_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def server_host_key(url: str) -> str:
    """The host key the SSH server of ``url`` shows now (``"<type> <base64>"``). Raises OSError when the
    server cannot be reached or does not speak SSH."""
    import asyncssh

    host, port = host_and_port(url)

    async def read() -> str:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port, config=None), CONNECT_TIMEOUT)
        if key is None:
            raise OSError(f"{host}:{port} showed no host key")
        return " ".join(key.export_public_key("openssh").decode().split()[:2])

    try:
        return asyncio.run(read())
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise OSError(f"could not read the SSH host key of {host}:{port}: {exc}") from exc


def trust_only(url: str, host_key: str) -> None:
    """Write ``host_key`` as the one key libgit2 accepts for ``url``'s host (before connecting to it)."""
    host, port = host_and_port(url)
    name = host if port == 22 else f"[{host}]:{port}"
    folder = (_home or _private_home()) / ".ssh"
    with _lock:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix="known_hosts.")
        with os.fdopen(handle, "w") as out:
            out.write(f"{name} {host_key}\n")
        os.replace(temporary, folder / "known_hosts")


def _private_home() -> Path:
    """A home of this process's own when none was chosen (a script, a test): never the user's ~/.ssh."""
    use_ssh_home(Path(tempfile.mkdtemp(prefix="calcifer-ssh-")))
    assert _home is not None
    return _home

"""Debian's OpenSSH server on 127.0.0.1 for the SSH transport tests: its own config, host key and
authorized keys in a temporary folder, on a free port; `git-upload-pack`/`git-receive-pack` run as the
logged-in user, as on any self-hosted git server reached over SSH."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.remote.servers import _wait_for_port, free_port

SSHD = "/usr/sbin/sshd"


def sshd_available() -> str | None:
    """Why the SSH tests cannot run here, or None."""
    if not Path(SSHD).exists() or shutil.which("ssh-keygen") is None:
        return "openssh-server is not installed (make servers installs it)"
    if os.geteuid() != 0:
        return "sshd logs in as the user running it; as a user other than root it needs a setuid helper"
    return None


@contextmanager
def sshd(folder: Path, authorized_key: str) -> Iterator[str]:
    """Run sshd accepting ``authorized_key`` for the current user; yields ``ssh://user@127.0.0.1:PORT``."""
    reason = sshd_available()
    if reason:
        pytest.skip(reason)
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    keys = folder / "authorized_keys"
    keys.write_text(authorized_key.strip() + "\n")
    keys.chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    port = free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"AuthorizedKeysFile {keys}",
        f"PidFile {folder / 'sshd.pid'}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        "LogLevel ERROR", f"SetEnv PATH={os.environ.get('PATH', '/usr/bin:/bin')}", "",
    ]))
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(folder / "sshd.log", "wb"))  # noqa: SIM115 - closed with the process
    try:
        _wait_for_port(port, proc)
        user = subprocess.run(["id", "-un"], check=True, capture_output=True, text=True).stdout.strip()
        yield f"ssh://{user}@127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

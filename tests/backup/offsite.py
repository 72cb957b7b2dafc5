"""Servers for the off-site backup tests, on 127.0.0.1 and free ports, started per test session.

- S3: moto in server mode (``ThreadedMotoServer``). It is a stand-in for an S3-compatible service at the
  one seam where Calcifer talks S3 (boto3 over HTTP): no cloud exists here. moto does not check
  credentials, so wrong S3 credentials are not tested against it.
- SFTP: Debian's ``openssh-server`` (``/usr/sbin/sshd``) run as its own process with a config, a generated
  host key and an authorized key in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def new_bucket(self) -> str:

        name = f"calcifer-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port(port)
    yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    server.stop()


@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    client_key: str          # an authorized private key (OpenSSH format)
    other_key: str           # a private key the server does not know
    host_fingerprint: str    # SHA256:... of the server's host key
    root: Path               # a folder the tests may use as remote folders

    def folder(self) -> str:
        path = self.root / f"f-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        return str(path)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _fingerprint(public_key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        pytest.skip("install Debian's openssh-server (tests/servers/debian/sftp.txt)")
    base = tmp_path_factory.mktemp("sshd")
    os.chmod(base, 0o755)
    _keygen(base / "host_key")
    _keygen(base / "client_key")
    _keygen(base / "other_key")
    authorized = base / "authorized_keys"
    authorized.write_text((base / "client_key.pub").read_text())
    authorized.chmod(0o600)
    remote = base / "remote"
    remote.mkdir()
    user = subprocess.run(["id", "-un"], check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    config = base / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {base / 'host_key'}", f"PidFile {base / 'sshd.pid'}",
        f"AuthorizedKeysFile {authorized}", "StrictModes no", "UsePAM no", "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no", "PermitRootLogin yes", f"AllowUsers {user}",
        "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=open(base / "sshd.log", "w"))  # noqa: SIM115 - lives as long as sshd
    try:
        wait_for_port(port)
        yield SshServer(port=port, user=user, client_key=(base / "client_key").read_text(),
                        other_key=(base / "other_key").read_text(),
                        host_fingerprint=_fingerprint(base / "host_key.pub"), root=remote)
    finally:
        process.terminate()
        process.wait(timeout=10)

"""Real git remotes on this machine for the remote-sync tests: a bare repository (file://), the same
served by `git daemon` on 127.0.0.1, and by `git http-backend` (CGI) behind a small HTTPS server with
basic auth and a self-signed certificate the tests trust. A "laptop" clone (the git CLI) makes outside
commits. No stand-ins: every transport is the real one."""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Laptop Person", "GIT_AUTHOR_EMAIL": "laptop@example.org",
           "GIT_COMMITTER_NAME": "Laptop Person", "GIT_COMMITTER_EMAIL": "laptop@example.org",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent", "GIT_TERMINAL_PROMPT": "0"}


def run_git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def bare_remote(path: Path) -> Path:
    run_git("init", "-q", "--bare", "-b", "main", str(path))
    return path


def remote_main(remote: Path) -> str | None:
    result = subprocess.run(["git", "--git-dir", str(remote), "rev-parse", "--verify", "-q", "refs/heads/main"],
                            env=GIT_ENV, capture_output=True, text=True, check=False)
    return result.stdout.strip() or None


def wait_until(predicate, *, timeout: float = 20.0, step: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


class Laptop:
    """A clone of a bare remote, changed with the git CLI as a person on a laptop would."""

    def __init__(self, remote: Path, path: Path) -> None:
        self.remote, self.path = remote, path
        run_git("clone", "-q", str(remote), str(path))

    def commit(self, files: dict[str, str | bytes], message: str) -> str:
        run_git("pull", "-q", "--no-rebase", "origin", "main", cwd=self.path)
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
            run_git("add", "--", name, cwd=self.path)
        run_git("commit", "-q", "-m", message, cwd=self.path)
        run_git("push", "-q", "origin", "HEAD:main", cwd=self.path)
        return run_git("rev-parse", "HEAD", cwd=self.path).strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    def accepting() -> bool:
        assert proc.poll() is None, "the server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_until(accepting, timeout=15)


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` serving every repository under ``base`` (push enabled); yields git://127.0.0.1:PORT."""
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}",
                             f"--base-path={base}", "--export-all", "--enable=receive-pack", str(base)],
                            env=GIT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


_CERT: tuple[Path, Path] | None = None


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (trusted by pointing libgit2 at it), one per test
    process: libgit2's trust store is process-wide and only grows, and OpenSSL finds a trusted certificate
    by its subject, so a second certificate with the same name and another key would be refused."""
    global _CERT
    if _CERT is None:
        _CERT = _make_cert(Path(tempfile.mkdtemp(prefix="calcifer-forge-cert-")))
    return _CERT


def _make_cert(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calcifer test forge")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "forge.pem", folder / "forge.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _backend() -> str:
    found = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    return str(Path(found) / "git-http-backend")


class _GitHTTP(BaseHTTPRequestHandler):
    root: Path
    credentials: tuple[str, str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if self.headers.get("Authorization") != expected:
            body = self._body() if self.command == "POST" else b""
            del body
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="forge"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self._body() if self.command == "POST" else b""
        path, _, query = self.path.partition("?")
        env = {"PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1",
               "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "REMOTE_USER": self.credentials[0], "REMOTE_ADDR": "127.0.0.1",
               "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
               "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
        result = subprocess.run([_backend()], input=body, env=env, capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


@contextmanager
def https_forge(root: Path, folder: Path, *, user: str, password: str) -> Iterator[tuple[str, Path]]:
    """`git http-backend` behind HTTPS with basic auth, serving the repositories under ``root``.
    Yields (https://127.0.0.1:PORT, the certificate file to trust)."""
    cert, key = self_signed_cert(folder)
    handler = type("Handler", (_GitHTTP,), {"root": root, "credentials": (user, password)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)

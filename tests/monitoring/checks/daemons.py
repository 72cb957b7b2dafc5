"""Debian's server binaries started for the check-type tests: each in its own temporary directory, on a free
port of 127.0.0.1, with its own configuration (never the system's instance on the standard port), polled
until it answers (no sleeps), stopped at the end. Packages: tests/servers/debian/{snmp,redis,mqtt}.txt."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 20.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def binary(name: str, package: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        path = Path(folder) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: apt-get install {package} (tests/servers/debian/)")
    return found


def _tcp_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Daemon:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def _run(command: list[str], folder: Path, port: int, ready: Callable[[], bool], log: Path,
         env: dict[str, str] | None = None) -> Iterator[Daemon]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer within {START_TIMEOUT} s")
            time.sleep(0.05)  # polling a starting daemon, not waiting for an effect under test
        yield Daemon(port=port, folder=folder, process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# -- snmpd ---------------------------------------------------------------------------------------------------

SNMP_COMMUNITY = "calcifer-ro"
SNMP_LOCATION = "Calcifer test rack"
SNMP_AUTH_PASS = "auth-pass-123"
SNMP_PRIV_PASS = "priv-pass-456"


@contextlib.contextmanager
def snmpd() -> Iterator[Daemon]:
    """snmpd with a v2c community, a v3 user with authentication (authOnly, SHA) and one with privacy
    too (authPriv, SHA + AES); sysLocation is SNMP_LOCATION."""
    program = binary("snmpd", "snmpd")
    snmpget = binary("snmpget", "snmp")
    with tempfile.TemporaryDirectory(prefix="calcifer-snmpd-") as tmp:
        folder = Path(tmp)
        port = free_udp_port()
        (folder / "snmpd.conf").write_text(
            f"rocommunity {SNMP_COMMUNITY} 127.0.0.1\n"
            f'createUser authOnly SHA "{SNMP_AUTH_PASS}"\n'
            f'createUser authPriv SHA "{SNMP_AUTH_PASS}" AES "{SNMP_PRIV_PASS}"\n'
            "rouser authOnly auth\nrouser authPriv priv\n"
            f"sysLocation {SNMP_LOCATION}\nsysContact ops@example.org\n")
        env = {"SNMP_PERSISTENT_DIR": str(folder / "persist"), "MIBS": "", "MIBDIRS": str(folder / "no-mibs")}

        def ready() -> bool:
            answer = subprocess.run([snmpget, "-On", "-v2c", "-c", SNMP_COMMUNITY, "-t", "0.3", "-r", "0",
                                     f"127.0.0.1:{port}", "1.3.6.1.2.1.1.6.0"], capture_output=True,
                                    env={**os.environ, **env}, check=False)
            return answer.returncode == 0

        command = [program, "-f", "-C", "-c", str(folder / "snmpd.conf"), "-Lf", str(folder / "snmpd.log"),
                   "-p", str(folder / "snmpd.pid"), "-I", "-smux", f"udp:127.0.0.1:{port}"]
        with _run(command, folder, port, ready, folder / "stdout.log", env) as daemon:
            yield daemon


# -- redis-server ----------------------------------------------------------------------------------------------

REDIS_USER = "monitor"
REDIS_PASSWORD = "redis-pass-789"


@contextlib.contextmanager
def redis_server() -> Iterator[Daemon]:
    """redis-server without persistence; the default user needs no password, user REDIS_USER has
    REDIS_PASSWORD."""
    program = binary("redis-server", "redis-server")
    with tempfile.TemporaryDirectory(prefix="calcifer-redis-") as tmp:
        folder = Path(tmp)
        port = free_tcp_port()
        (folder / "redis.conf").write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\nsave \"\"\nappendonly no\ndaemonize no\n"
            f"user {REDIS_USER} on >{REDIS_PASSWORD} ~* &* +@all\n")
        with _run([program, str(folder / "redis.conf")], folder, port, lambda: _tcp_answers(port),
                  folder / "redis.log") as daemon:
            yield daemon


# -- mosquitto -------------------------------------------------------------------------------------------------

MQTT_USER = "sensor"
MQTT_PASSWORD = "mqtt-pass-321"


@dataclass
class Broker:
    anonymous: int  # a listener for anyone
    authenticated: int  # a listener that needs MQTT_USER / MQTT_PASSWORD


@contextlib.contextmanager
def mosquitto() -> Iterator[Broker]:
    program = binary("mosquitto", "mosquitto")
    passwd = binary("mosquitto_passwd", "mosquitto")
    with tempfile.TemporaryDirectory(prefix="calcifer-mosquitto-") as tmp:
        folder = Path(tmp)
        open_port, auth_port = free_tcp_port(), free_tcp_port()
        subprocess.run([passwd, "-b", "-c", str(folder / "passwd"), MQTT_USER, MQTT_PASSWORD], check=True,
                       capture_output=True)
        (folder / "passwd").chmod(0o600)
        # As root, mosquitto would switch to its own user, which cannot read this folder.
        stay = "user root\n" if os.geteuid() == 0 else ""
        (folder / "mosquitto.conf").write_text(
            f"{stay}per_listener_settings true\npersistence false\n"
            f"listener {open_port} 127.0.0.1\nallow_anonymous true\n"
            f"listener {auth_port} 127.0.0.1\nallow_anonymous false\npassword_file {folder / 'passwd'}\n")
        with _run([program, "-c", str(folder / "mosquitto.conf")], folder, open_port,
                  lambda: _tcp_answers(open_port) and _tcp_answers(auth_port), folder / "mosquitto.log"):
            yield Broker(anonymous=open_port, authenticated=auth_port)

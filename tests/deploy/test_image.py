"""The container image, built for real with buildah from a Debian root filesystem made with debootstrap,
and the web app started in it answering /healthz.

Opt-in (CALCIFER_TEST_IMAGE_BUILD=1): the build downloads Debian packages and Python packages from their
registries, which the normal suite never does (tests talk to 127.0.0.1 only), and takes minutes. It
needs root (or a user with subordinate ids), buildah, podman and debootstrap
(tests/servers/debian-optional/image-build.txt). Set CALCIFER_TEST_ROOTFS to an existing debootstrap folder to
skip that step. The container runs with buildah's chroot isolation and the host's network: the machine
these tests run on is itself a container where OCI runtimes cannot create cgroups (see
docs/deployment.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.monitoring.scheduler_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("buildah", "podman", "debootstrap")

pytestmark = [
    pytest.mark.skipif(os.environ.get("CALCIFER_TEST_IMAGE_BUILD") != "1",
                       reason="opt-in: CALCIFER_TEST_IMAGE_BUILD=1 builds the image (downloads Debian and PyPI "
                              "packages, takes minutes)"),
    pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS),
                       reason="buildah, podman and debootstrap are needed: `make servers` installs them"),
]


def run(*args: str, env: dict[str, str], timeout: float = 1800) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_image_builds_from_a_debootstrap_rootfs_and_serves_healthz(tmp_path: Path) -> None:
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\nrunroot = "{tmp_path}/run"\ngraphroot = "{tmp_path}/graph"\n')
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}
    rootfs = Path(os.environ.get("CALCIFER_TEST_ROOTFS") or tmp_path / "rootfs")
    if not (rootfs / "etc" / "debian_version").exists():
        run("debootstrap", "--variant=minbase", "bookworm", str(rootfs), "http://deb.debian.org/debian", env=env)
    base = f"localhost/calcifer-test-base:{uuid.uuid4().hex[:8]}"
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(["podman", "import", "-", base], stdin=tar.stdout, capture_output=True, text=True,
                              env=env, timeout=600, check=False)
    tar.wait(60)
    assert imported.returncode == 0, imported.stderr
    build = ["buildah", "bud", "--format", "docker", "--isolation", "chroot", "--network", "host",
             "--build-arg", f"BASE={base}",
             "-t", "localhost/calcifer:test"]
    if os.environ.get("PIP_CERT"):  # a TLS-intercepting proxy on the build machine: hand its CA to pip
        build += ["-v", f"{os.environ['PIP_CERT']}:/etc/ssl/certs/build-ca.crt:ro",
                  "--build-arg", "PIP_CERT=/etc/ssl/certs/build-ca.crt"]
    run(*build, str(ROOT), env=env)

    image = json.loads(run("podman", "image", "inspect", "localhost/calcifer:test", env=env))[0]
    config = image["Config"]
    assert config["User"] == "calcifer"
    assert "/var/lib/calcifer" in config["Volumes"]
    assert config["Entrypoint"][-1] == "calcifer" and config["Cmd"] == ["serve"]
    healthcheck = image["Healthcheck"]["Test"]  # podman: top level, for docker-format images
    assert healthcheck[0] == "CMD" and any("/healthz" in part for part in healthcheck)

    container = run("buildah", "from", "localhost/calcifer:test", env=env).strip()
    port = free_port()
    server = subprocess.Popen(["buildah", "run", "--isolation", "chroot", "--network", "host", "--user", "calcifer",
                               "--env", f"CALCIFER_PORT={port}", "--env", "CALCIFER_HOST=127.0.0.1", container,
                               "--", "calcifer", "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        body = None
        while body is None and server.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                    body = json.loads(answer.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, server.communicate(timeout=30)[0][-3000:] if server.poll() is not None else "no answer"
        assert body.get("status") == "ok", body
        # the image's own HEALTHCHECK command, run in the container, succeeds too
        run("buildah", "run", "--isolation", "chroot", "--network", "host", "--user", "calcifer", "--env",
            f"CALCIFER_PORT={port}", container, "--", *healthcheck[1:], env=env, timeout=120)
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        subprocess.run(["buildah", "rm", container], env=env, capture_output=True, timeout=120, check=False)
        subprocess.run(["podman", "rmi", "-f", "localhost/calcifer:test", base], env=env, capture_output=True,
                       timeout=300, check=False)

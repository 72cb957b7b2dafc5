"""CALCIFER_REMOTE_CA_FILE: a forge whose certificate a private CA signed is trusted once the setting names
that CA. libgit2's trust store is process-wide (and earlier tests in this process may already trust the
test forge's certificate), so each side runs in a fresh Python process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.remote.servers import https_forge, remote_main

PUSH = """
import sys
from pathlib import Path
from calcifer import gitrepo
from calcifer.config import Settings
from calcifer.wiring import prepare
ctx = prepare(Settings(_env_file=None, data_dir=Path(sys.argv[1])))
try:
    print(gitrepo.push_remote(repo_path=ctx.repo_path, url=sys.argv[2],
                       auth=gitrepo.RemoteAuth(kind="token", username="deploy", secret="right-token")))
except gitrepo.RemoteError as exc:
    print("ERROR", exc.message)
"""


def _push(data_dir: Path, url: str, ca_file: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALCIFER_")}
    if ca_file is not None:
        env["CALCIFER_REMOTE_CA_FILE"] = str(ca_file)
    return subprocess.run([sys.executable, "-c", PUSH, str(data_dir), url], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_private_ca_is_trusted_when_the_setting_names_it(remote: Path, tmp_path: Path) -> None:
    with https_forge(remote.parent, tmp_path, user="deploy", password="right-token") as (base, cert):
        url = f"{base}/{remote.name}"
        refused = _push(tmp_path / "without", url, None)
        assert "ERROR" in refused.stdout and "certificate" in refused.stdout.lower(), refused
        assert remote_main(remote) is None
        pushed = _push(tmp_path / "with", url, cert)
        assert pushed.returncode == 0 and "ERROR" not in pushed.stdout, pushed
        assert remote_main(remote) == pushed.stdout.split()[-1]


def test_a_setting_that_names_no_file_stops_the_start(tmp_path: Path) -> None:
    started = _push(tmp_path / "data", "https://127.0.0.1:9/x.git", tmp_path / "missing.pem")
    assert started.returncode != 0
    assert "CALCIFER_REMOTE_CA_FILE" in started.stderr and "is not a file" in started.stderr


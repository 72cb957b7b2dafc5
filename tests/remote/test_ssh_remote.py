"""The remote over SSH: Calcifer generates a key pair, shows its public half, and once that key is
authorized on a real OpenSSH server (Debian's sshd on 127.0.0.1) pushes and fetches with it; a key the
server does not know is a clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from calcifer.instance import AppContext
from tests.conftest import Cast
from tests.remote.servers import Laptop, remote_main
from tests.remote.ssh_server import sshd
from tests.remote.test_sync_file import connect, main_of, merge_item


def test_push_and_fetch_over_ssh_with_the_key_calcifer_generated(cast: Cast, ctx: AppContext, remote: Path,
                                                                 tmp_path: Path) -> None:
    state = connect(cast, "ssh://git@127.0.0.1/placeholder.git", auth="ssh")
    public_key = state["public_key"]
    assert public_key.startswith("ssh-ed25519 ")
    assert "PRIVATE KEY" not in str(state)  # only the public half is ever shown
    with sshd(tmp_path / "sshd", public_key) as base:
        url = f"{base}{remote}"
        again = connect(cast, url, auth="ssh")
        assert again["public_key"] == public_key  # changing the URL keeps the key the forge knows
        merge_item(cast, "Over SSH", "ssh.txt", "s\n", "Changed over SSH")
        pushed = cast.admin.post("/api/v1/repository/push").json()
        assert pushed["error"] is None, pushed
        assert remote_main(remote) == main_of(ctx)
        outside = Laptop(remote, tmp_path / "laptop").commit({"laptop.txt": "l\n"}, "Edited on a laptop")
        fetched = cast.editor.post("/api/v1/repository/fetch")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["outcome"] == "fast_forward" and main_of(ctx) == outside


def test_a_key_the_server_does_not_know_is_a_clear_error(cast: Cast, ctx: AppContext, remote: Path,
                                                          tmp_path: Path) -> None:
    connect(cast, "ssh://git@127.0.0.1/placeholder.git", auth="ssh")
    stranger = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKa0Xo8qmT9Rm1vGnXzDp3o0pWhrJb7c1o1Qm0qC9b2X someone-else"
    with sshd(tmp_path / "sshd", stranger) as base:
        connect(cast, f"{base}{remote}", auth="ssh")
        pushed = cast.admin.post("/api/v1/repository/push").json()
        assert pushed["pushed"] is None and "credentials" in pushed["error"], pushed
        assert remote_main(remote) is None
        page = cast.admin.get("/settings/repository").text
        assert "The last push failed" in page


def _fingerprint(public_key_file: Path) -> str:
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key_file)], capture_output=True,
                            text=True, check=True).stdout
    return listed.split()[1]


def test_the_servers_host_key_is_trusted_at_the_first_connection_and_another_is_refused(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    public_key = connect(cast, "ssh://git@127.0.0.1/placeholder.git", auth="ssh")["public_key"]
    with sshd(tmp_path / "sshd", public_key) as base:
        state = connect(cast, f"{base}{remote}", auth="ssh")
        host_key_file = tmp_path / "sshd" / "host_ed25519.pub"
        # trust on first use, as ssh does: the key the server showed, with the fingerprint ssh-keygen prints
        assert state["ssh_host_key"] == " ".join(host_key_file.read_text().split()[:2])
        assert state["ssh_host_key_fingerprint"] == _fingerprint(host_key_file)
        assert state["ssh_host_key_fingerprint"] in cast.admin.get("/settings/repository").text

        # a man in the middle (here: the admin pasting some other server's key) is refused, and says so
        other = tmp_path / "other_host_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        pasted = f"[127.0.0.1]:2222 {other.with_suffix('.pub').read_text()}"
        assert connect(cast, f"{base}{remote}", auth="ssh", ssh_host_key=pasted)["ssh_host_key_fingerprint"] \
            == _fingerprint(other.with_suffix(".pub"))
        merge_item(cast, "Over SSH", "ssh.txt", "s\n", "Changed over SSH")
        pushed = cast.admin.post("/api/v1/repository/push").json()
        assert pushed["pushed"] is None and "other than the one trusted" in pushed["error"], pushed
        assert remote_main(remote) is None
        fetched = cast.editor.post("/api/v1/repository/fetch")
        assert fetched.status_code == 409 and "other than the one trusted" in fetched.json()["error"]["message"]

        # an empty key reads the server's again; the push goes through
        assert connect(cast, f"{base}{remote}", auth="ssh", ssh_host_key="")["ssh_host_key_fingerprint"] \
            == _fingerprint(host_key_file)
        assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
        assert remote_main(remote) == main_of(ctx)


def test_a_pasted_host_key_that_is_no_key_is_refused_saying_what_to_paste(cast: Cast) -> None:
    response = cast.admin.put("/api/v1/repository/remote", json={
        "url": "ssh://git@127.0.0.1/infra.git", "auth": "ssh", "ssh_host_key": "ssh-ed25519 not-a-key"})
    assert response.status_code == 422
    assert "ssh-keyscan" in response.json()["error"]["message"]

"""The remote over SSH: Calcifer generates a key pair, shows its public half, and once that key is
authorized on a real OpenSSH server (Debian's sshd on 127.0.0.1) pushes and fetches with it; a key the
server does not know is a clear error."""

from __future__ import annotations

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

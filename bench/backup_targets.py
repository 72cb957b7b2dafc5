"""Off-site backup uploads: Calcifer's verified upload against a plain upload of the same file, same server.

    .venv/bin/python bench/backup_targets.py            # a 256 MiB archive, 3 rounds each
    .venv/bin/python bench/backup_targets.py --quick    # a 48 MiB archive, 2 rounds each (under a minute)

    s3      moto in server mode on 127.0.0.1 (a stand-in for an S3-compatible service), part size 16 MiB.
            Calcifer: stores.S3Store.put (SHA-256 and the multipart ETag computed locally in one read, boto3
                      upload_file with the SHA-256 in the metadata, HEAD and compare)
            plain:    boto3 upload_file with the same transfer settings, nothing checked
    sftp    Debian's sshd on 127.0.0.1 (its own process, generated keys, as tests/backup/offsite.py runs it)
            Calcifer: stores.SftpStore.put (SHA-256 locally, put as .partial, read back and hash, rename)
            plain:    one asyncssh connection and sftp.put of the file

The figure is the time ratio calcifer/plain: what verification costs. Target: <= 2.5 for SFTP (the read
back doubles the bytes moved) and <= 1.5 for S3. Bench scripts print figures; never part of the test suite.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit_json, machine_load, median, print_table, ratio, rounded

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from calcifer.backup.stores import S3Config, S3Store, SftpConfig, SftpStore  # noqa: E402

QUICK = {"mib": 48, "rounds": 2}
FULL = {"mib": 256, "rounds": 3}
PART_MB = 16
TARGETS = {"s3": 1.5, "sftp": 2.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def bench_s3(source: Path, rounds: int) -> tuple[list[float], list[float]]:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for(port)
        url = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="a",
                              aws_secret_access_key="b")
        client.create_bucket(Bucket="bench")
        store = S3Store(S3Config(endpoint_url=url, region="us-east-1", bucket="bench", prefix="c/",
                                 part_size_mb=PART_MB), access_key_id="a", secret_access_key="b")
        part = PART_MB << 20
        transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
        ours, plain = [], []
        for i in range(rounds):
            plain.append(timed(lambda i=i: client.upload_file(str(source), "bench", f"p/{i}", Config=transfer)))
            ours.append(timed(lambda i=i: store.put(source=source, name=f"calcifer-backup-{i}.tar.gz")))
        return ours, plain
    finally:
        server.stop()


def bench_sftp(source: Path, rounds: int, base: Path) -> tuple[list[float], list[float]] | None:
    if not Path("/usr/sbin/sshd").exists():
        return None
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
    (base / "authorized_keys").write_text((base / "client_key.pub").read_text())
    remote = base / "remote"
    remote.mkdir()
    user = subprocess.run(["id", "-un"], check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    (base / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {base / 'host_key'}", f"PidFile {base / 'sshd.pid'}",
        f"AuthorizedKeysFile {base / 'authorized_keys'}", "StrictModes no", "UsePAM no", "PermitRootLogin yes",
        "PasswordAuthentication no", f"AllowUsers {user}", "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(base / "sshd_config")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port)
        key = (base / "client_key").read_text()
        config = SftpConfig(host="127.0.0.1", port=port, username=user, folder=str(remote), auth="private key")
        store = SftpStore(config, secret=key, host_key="")
        store.host_key = store.fetch_host_key()

        async def plain_put(i: int) -> None:
            import asyncssh

            async with asyncssh.connect("127.0.0.1", port, username=user, known_hosts=None, agent_path=None,
                                        client_keys=[asyncssh.import_private_key(key)]) as conn, \
                    conn.start_sftp_client() as sftp:
                await sftp.put(str(source), str(remote / f"plain-{i}"))

        ours, plain = [], []
        for i in range(rounds):
            plain.append(timed(lambda i=i: asyncio.run(plain_put(i))))
            ours.append(timed(lambda i=i: store.put(source=source, name=f"calcifer-backup-{i}.tar.gz")))
        return ours, plain
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK['mib']} MiB archive, {QUICK['rounds']} rounds")
    args = parser.parse_args()
    preset = QUICK if args.quick else FULL
    load_at_start = machine_load()
    base = Path(tempfile.mkdtemp(prefix="calcifer-bench-targets-"))
    try:
        source = base / "archive.tar.gz"
        with source.open("wb") as handle:
            for _ in range(preset["mib"]):
                handle.write(os.urandom(1 << 20))
        results: dict[str, tuple[list[float], list[float]] | None] = {
            "s3": bench_s3(source, preset["rounds"]), "sftp": bench_sftp(source, preset["rounds"], base)}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    load_at_end = machine_load()
    rows, figures = [], {}
    for name, measured in results.items():
        if measured is None:
            rows.append([name, "-", "-", "-", "-", "sshd missing"])
            continue
        ours, plain = median(measured[0]), median(measured[1])
        figure = ratio(ours, plain)
        mib_s = preset["mib"] / ours if ours else 0.0
        rows.append([name, f"{ours:.2f} s", f"{plain:.2f} s", f"{figure:.2f}", f"{mib_s:.0f} MiB/s",
                     "met" if figure <= TARGETS[name] else "missed"])
        figures[name] = {"calcifer_s": rounded(ours), "plain_s": rounded(plain), "ratio": rounded(figure),
                         "calcifer_mib_s": rounded(mib_s, 1), "target_ratio": TARGETS[name]}
    print(f"a {preset['mib']} MiB archive, median of {preset['rounds']} rounds, part size {PART_MB} MiB")
    print_table(["target", "calcifer (verified)", "plain upload", "ratio", "throughput", "target met"], rows)
    print(f"machine: {load_at_start['cores']} cores; load average (1 min / 5 min) "
          f"{load_at_start['load_1m']} / {load_at_start['load_5m']} at the start, "
          f"{load_at_end['load_1m']} / {load_at_end['load_5m']} at the end")
    emit_json({"bench": "backup_targets", "mode": "quick" if args.quick else "full", "mib": preset["mib"],
               "machine": {"at_start": load_at_start, "at_end": load_at_end}, "figures": figures,
               "targets": TARGETS})


if __name__ == "__main__":
    main()

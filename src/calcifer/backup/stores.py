"""The off-site stores archives are uploaded to: S3-compatible object storage (boto3) and SFTP (asyncssh).

One class per kind (``targets.py`` holds the one table from a target's kind to its store). A store
works on archive names inside its own place (a bucket and prefix, a remote folder); it never takes a
path from elsewhere. Every failure is a ``StoreError`` whose message says what to fix.

Checksums: an S3 upload records the archive's SHA-256 in the object's metadata, and afterwards the
object's size, recorded SHA-256 and ETag are compared with what was computed locally (the ETag of a
multipart upload is the MD5 of the parts' MD5s, computed here with the same part size; a server whose
ETag is no MD5, e.g. with SSE-KMS, has the object read back instead). An SFTP upload is written under a
temporary name, read back and hashed, then renamed. Downloads are hashed and compared too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

from calcifer.backup.choices import SftpAuth
from calcifer.errors import DomainError

CHUNK = 1 << 20
MIB = 1 << 20
MIN_PART_MB = 5        # S3's smallest part (except the last)
DEFAULT_PART_MB = 64
CONNECT_TIMEOUT_S = 15.0
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}(-\d+)?$")

T = TypeVar("T")


class StoreError(DomainError):
    """The target refused or could not be reached; ``message`` says which and what to check."""

    status_code = 502
    code = "backup_target_failed"


@dataclass(frozen=True)
class RemoteArchive:
    name: str
    size: int


@dataclass(frozen=True)
class Uploaded:
    location: str
    size: int
    sha256: str


class Store(Protocol):
    """One target's place. ``put`` uploads and verifies; ``get`` downloads and verifies (raises StoreError
    on a checksum mismatch and removes the partial file)."""

    def location(self, name: str) -> str: ...
    def check(self) -> str: ...
    def put(self, *, source: Path, name: str) -> Uploaded: ...
    def list(self) -> list[RemoteArchive]: ...
    def delete(self, name: str) -> None: ...
    def get(self, *, name: str, dest: Path) -> None: ...


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- S3-compatible --------------------------------------------------------------------------------------------

def multipart_etag(path: Path, *, part_size: int, threshold: int) -> tuple[str, str, int]:
    """(SHA-256, the ETag S3 gives the object when boto3 uploads it with these sizes, size) in one read."""
    from s3transfer.utils import ChunksizeAdjuster

    size = path.stat().st_size
    sha = hashlib.sha256()
    if size < threshold:
        md5 = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                sha.update(chunk)
                md5.update(chunk)
        return sha.hexdigest(), md5.hexdigest(), size
    part = ChunksizeAdjuster().adjust_chunksize(part_size, size)
    digests = []
    with path.open("rb") as handle:
        while True:
            md5 = hashlib.md5(usedforsecurity=False)
            left = part
            while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                sha.update(chunk)
                md5.update(chunk)
                left -= len(chunk)
            if left == part:
                break
            digests.append(md5.digest())
            if left > 0:
                break
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return sha.hexdigest(), f"{combined}-{len(digests)}", size


@dataclass(frozen=True)
class S3Config:
    endpoint_url: str
    region: str
    bucket: str
    prefix: str  # "" or ends in "/"
    part_size_mb: int = DEFAULT_PART_MB


class S3Store:
    def __init__(self, config: S3Config, *, access_key_id: str, secret_access_key: str) -> None:
        self.config = config
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.config.endpoint_url or None, region_name=self.config.region or None,
                aws_access_key_id=self._access_key_id, aws_secret_access_key=self._secret_access_key,
                config=Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=120,
                              retries={"max_attempts": 3, "mode": "standard"},
                              # S3-compatible servers (MinIO, Ceph, Garage...) take path-style requests, and
                              # not all of them know the newer default CRC checksums.
                              s3={"addressing_style": "path" if self.config.endpoint_url else "auto"},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        return self._client

    def key(self, name: str) -> str:
        return f"{self.config.prefix}{name}"

    def location(self, name: str) -> str:
        return f"s3://{self.config.bucket}/{self.key(name)}"

    def _client_reason(self, exc: Any) -> str:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        hints = {"InvalidAccessKeyId": "the access key id is not known to the server",
                 "SignatureDoesNotMatch": "the secret access key is wrong",
                 "AccessDenied": "these credentials may not do this (check the bucket policy)",
                 "NoSuchBucket": f"there is no bucket {self.config.bucket!r} (create it first)",
                 "403": "access denied: check the access key, the secret and the bucket policy",
                 "404": "not found (check the bucket name and the prefix)"}
        return hints.get(code) or str(error.get("Message") or code or exc)

    @contextlib.contextmanager
    def _calling(self, doing: str) -> Iterator[None]:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            raise StoreError(f"S3 {doing} failed: {self._client_reason(exc)}.") from exc
        except S3UploadFailedError as exc:
            # boto3's transfer manager wraps the ClientError it met (as the exception's context).
            inner = exc.__cause__ or exc.__context__
            reason = self._client_reason(inner) if isinstance(inner, ClientError) else str(exc)
            raise StoreError(f"S3 {doing} failed: {reason}.") from exc
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"S3 {doing} failed: {exc} (check the endpoint URL and that the server "
                             "is reachable).") from exc

    def check(self) -> str:
        with self._calling(f"access to bucket {self.config.bucket}"):
            self.client.head_bucket(Bucket=self.config.bucket)
            found = len(self.list())
        return f"Connected: bucket {self.config.bucket} holds {found} archive(s) under {self.config.prefix or '/'}."

    def put(self, *, source: Path, name: str) -> Uploaded:
        from boto3.s3.transfer import TransferConfig

        part = max(MIN_PART_MB, self.config.part_size_mb) * MIB
        sha256, etag, size = multipart_etag(source, part_size=part, threshold=part)
        transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
        with self._calling(f"upload of {name}"):
            self.client.upload_file(str(source), self.config.bucket, self.key(name), Config=transfer,
                                    ExtraArgs={"Metadata": {"sha256": sha256}, "ContentType": "application/gzip"})
        self.verify(name=name, size=size, sha256=sha256, etag=etag)
        return Uploaded(location=self.location(name), size=size, sha256=sha256)

    def verify(self, *, name: str, size: int, sha256: str, etag: str | None = None) -> None:
        """Compare the stored object with what was uploaded: size, recorded SHA-256 and the ETag (or, when
        the server's ETag is no MD5, the SHA-256 of the object read back). Raises StoreError on a mismatch."""
        with self._calling(f"check of {name}"):
            head = self.client.head_object(Bucket=self.config.bucket, Key=self.key(name))
        problems = []
        if int(head.get("ContentLength", -1)) != size:
            problems.append(f"its size is {head.get('ContentLength')} bytes, not {size}")
        recorded = (head.get("Metadata") or {}).get("sha256", "")
        if recorded != sha256:
            problems.append("its recorded SHA-256 differs from the archive's")
        remote_etag = str(head.get("ETag") or "").strip('"').lower()
        if etag is not None and _MD5_ETAG.fullmatch(remote_etag):
            if remote_etag != etag:
                problems.append(f"its ETag {remote_etag} differs from the {etag} computed here")
        elif not problems:
            digest = hashlib.sha256()
            with self._calling(f"read-back of {name}"):
                body = self.client.get_object(Bucket=self.config.bucket, Key=self.key(name))["Body"]
                for chunk in body.iter_chunks(CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != sha256:
                problems.append("the SHA-256 of the bytes read back differs from the archive's")
        if problems:
            raise StoreError(f"Checksum mismatch: the uploaded {self.location(name)} is not the archive "
                             f"({'; '.join(problems)}). The local archive is kept; back up again.",
                             code="checksum_mismatch")

    def list(self) -> list[RemoteArchive]:
        found = []
        with self._calling(f"listing of bucket {self.config.bucket}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.config.bucket, Prefix=self.config.prefix, Delimiter="/")
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(RemoteArchive(name=item["Key"][len(self.config.prefix):], size=int(item["Size"])))
        return found

    def delete(self, name: str) -> None:
        with self._calling(f"deletion of {name}"):
            self.client.delete_object(Bucket=self.config.bucket, Key=self.key(name))

    def get(self, *, name: str, dest: Path) -> None:
        with self._calling(f"download of {self.location(name)}"):
            head = self.client.head_object(Bucket=self.config.bucket, Key=self.key(name))
            self.client.download_file(self.config.bucket, self.key(name), str(dest))
        recorded = (head.get("Metadata") or {}).get("sha256", "")
        if recorded and sha256_of(dest) != recorded:
            dest.unlink(missing_ok=True)
            raise StoreError(f"Checksum mismatch: {self.location(name)} is not the archive that was uploaded "
                             "(its SHA-256 differs from the one recorded at upload); nothing was restored.",
                             code="checksum_mismatch")


# -- SFTP -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SftpConfig:
    host: str
    port: int
    username: str
    folder: str  # absolute
    auth: str    # choices.SftpAuth


def fingerprint(key: Any) -> str:
    """An SSH public key's fingerprint as OpenSSH prints it (SHA256:base64)."""
    return str(key.get_fingerprint("sha256"))


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run SFTP work on its own event loop (the callers are threads: a request handler, the backup
    thread, the CLI)."""
    return asyncio.run(factory())


class SftpStore:
    def __init__(self, config: SftpConfig, *, secret: str, host_key: str) -> None:
        self.config = config
        self._secret = secret
        self.host_key = host_key

    def path(self, name: str) -> str:
        return str(PurePosixPath(self.config.folder) / name)

    def location(self, name: str) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host  # an IPv6 address
        return f"sftp://{self.config.username}@{host}:{self.config.port}{self.path(name)}"

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def fetch_host_key(self) -> str:
        """The server's host key fingerprint, read without logging in (for trust on first use)."""
        import asyncssh

        async def work() -> str:
            key = await asyncio.wait_for(asyncssh.get_server_host_key(self.config.host, self.config.port),
                                         CONNECT_TIMEOUT_S)
            if key is None:
                raise StoreError(f"The SSH server at {self._where()} showed no host key.")
            return fingerprint(key)

        try:
            return _run(work)
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise StoreError(f"SFTP: cannot reach {self._where()} ({exc or type(exc).__name__}); check the "
                             "host and port.") from exc

    async def _session(self, work: Callable[[Any], Awaitable[T]]) -> T:
        import asyncssh

        pinned = self.host_key

        class Client(asyncssh.SSHClient):
            def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
                return bool(pinned) and fingerprint(key) == pinned

        options: dict[str, Any] = {"password": None, "client_keys": None}
        if self.config.auth == SftpAuth.PASSWORD.value:
            options["password"] = self._secret
        else:
            try:
                options["client_keys"] = [asyncssh.import_private_key(self._secret)]
            except (asyncssh.KeyImportError, ValueError) as exc:
                raise StoreError("SFTP: the stored private key cannot be read (give an OpenSSH or PEM private "
                                 "key without a passphrase).") from exc
        try:
            async with asyncssh.connect(
                    self.config.host, self.config.port, username=self.config.username,
                    known_hosts=([], [], []), client_factory=Client, agent_path=None, connect_timeout=CONNECT_TIMEOUT_S,
                    login_timeout=CONNECT_TIMEOUT_S, preferred_auth="password" if options["password"] else "publickey",
                    **options) as conn, conn.start_sftp_client() as sftp:
                return await work(sftp)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise StoreError(f"SFTP: the host key of {self._where()} is not the pinned one ({pinned}); refusing to "
                             "connect. If the server's key really changed, remove the target and add it again "
                             "with the new fingerprint.", code="host_key_mismatch") from exc
        except asyncssh.PermissionDenied as exc:
            raise StoreError(f"SFTP: {self.config.username}@{self._where()} refused the login: check the user name "
                             f"and the {self.config.auth}.", code="sftp_login_refused") from exc
        except asyncssh.SFTPError as exc:
            raise StoreError(f"SFTP on {self._where()}: {exc.reason} (check the remote folder "
                             f"{self.config.folder} and its permissions).") from exc
        except (OSError, asyncssh.Error, TimeoutError, socket.gaierror) as exc:
            raise StoreError(f"SFTP: cannot talk to {self._where()} ({exc or type(exc).__name__}); check the host "
                             "and port.") from exc

    def check(self) -> str:
        async def work(sftp: Any) -> int:
            return len([n for n in await sftp.listdir(self.config.folder) if n not in (".", "..")])

        found = _run(lambda: self._session(work))
        return f"Connected: {self.config.folder} on {self._where()} holds {found} file(s)."

    def put(self, *, source: Path, name: str) -> Uploaded:
        sha256 = sha256_of(source)
        size = source.stat().st_size
        final = self.path(name)
        partial = self.path(f".{name}.partial")

        async def work(sftp: Any) -> str:
            await sftp.put(str(source), partial)
            digest = hashlib.sha256()
            async with sftp.open(partial, "rb") as handle:
                while chunk := await handle.read(CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != sha256:
                await sftp.remove(partial)
                return digest.hexdigest()
            if await sftp.exists(final):
                await sftp.remove(final)
            await sftp.rename(partial, final)
            return sha256

        got = _run(lambda: self._session(work))
        if got != sha256:
            raise StoreError(f"Checksum mismatch: the copy read back from {self.location(name)} is not the archive; "
                             "the local archive is kept; back up again.", code="checksum_mismatch")
        return Uploaded(location=self.location(name), size=size, sha256=sha256)

    def list(self) -> list[RemoteArchive]:
        async def work(sftp: Any) -> list[RemoteArchive]:
            return [RemoteArchive(name=entry.filename, size=int(entry.attrs.size or 0))
                    for entry in await sftp.readdir(self.config.folder)]

        return _run(lambda: self._session(work))

    def delete(self, name: str) -> None:
        async def work(sftp: Any) -> None:
            await sftp.remove(self.path(name))

        _run(lambda: self._session(work))

    def get(self, *, name: str, dest: Path) -> None:
        async def work(sftp: Any) -> None:
            await sftp.get(self.path(name), str(dest))

        _run(lambda: self._session(work))


"""The managed repository's remote: URL checks, SSH keys, push, fetch, and integrating what was fetched.

Everything network-facing goes through libgit2 (pygit2 anonymous remotes with credential callbacks): no
shell, and no user text is ever a git option. What a fetch brings is never trusted: the remote's main
lands in ``refs/calcifer/remote/main`` (nothing else is fetched), and before main moves every path that
would change is checked (``hostile_paths``): a symlink pointing out of the tree, a file over
``MAX_REMOTE_BLOB_BYTES``, a ``.gitmodules`` or submodule entry, a path component ``..``/``.``/``.git``
or with control characters refuse the integration. Main then moves only by compare-and-swap under the
merge lock, as a work item's merge does, and never backwards: a push never forces main either.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType, FetchPrune, FileMode, ResetMode

from calcifer.errors import Invalid

from . import ssh_trust
from ._repo import (
    MAIN_REF,
    bare_repo,
    commit_info,
    forget_worktree,
    main_oid,
    open_worktree,
    ref_target,
    repo_lock,
    signature,
    validate_branch_name,
)
from .local_fetch import fetch_ref, local_path
from .merge import _merge_in_memory
from .models import Author, CommitInfo, FileMerger

# Where a fetch puts the remote's main (and where a successful push records what the remote has).
REMOTE_MAIN_REF = "refs/calcifer/remote/main"
FETCH_MESSAGE = "fetch the remote's main"
# The largest file a fetched main may add or change (libgit2 holds a blob in memory to check it out).
MAX_REMOTE_BLOB_BYTES = 50 * 1024 * 1024
# At most this many outside commits are listed for one integration (older ones still merge).
MAX_OUTSIDE_COMMITS = 5_000
REMOTE_SCHEMES = ("https", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*@)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):"
                       r"(?P<path>[^/\\:-][^\\]*)$")


class RemoteError(Exception):
    """The remote could not be reached or refused: ``message`` is what it (or libgit2) said."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RemoteAuth:
    """How to log in to the remote: ``kind`` "none", "token" (HTTPS user + token) or "ssh" (a key pair)."""

    kind: str = "none"
    username: str = ""
    secret: str = ""       # the token, or the OpenSSH private key
    public_key: str = ""   # "ssh-ed25519 AAAA... comment" for kind "ssh"
    host_key: str = ""     # the SSH server's host key trusted ("ssh-ed25519 AAAA..."): any other is refused


@dataclass(frozen=True)
class FetchResult:
    main: str | None                                     # the remote's main, None when it has none
    refused_refs: list[str] = field(default_factory=list)  # ref names the remote advertises that are unsafe


@dataclass(frozen=True)
class Integration:
    """What integrating the fetched main would do (nothing has moved main yet).

    ``kind``: "up_to_date" (main has it all), "fast_forward", "merge" (``commit`` is the merge commit,
    written but on no branch), "conflict" (``conflicts`` lists the files) or "hostile" (``problems``).
    """

    kind: str
    before: str
    commit: str | None
    outside: list[CommitInfo] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# -- URLs and keys ------------------------------------------------------------------------------------

def check_remote_url(url: str) -> str:
    """``url`` stripped, or Invalid saying what to fix. Allowed: https://, ssh://, git://, file:// and the
    scp-like ``user@host:path``; no spaces or control characters, no leading '-', no password in it."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid("Give the remote's URL (https://, ssh://, git:// or file://).")
    url = url.strip()
    if len(url) > 1000:
        raise Invalid("The remote URL is longer than 1,000 characters.")
    if url.startswith("-") or any(ord(ch) < 0x21 or ch == "\x7f" for ch in url):
        raise Invalid("The remote URL must not start with '-' or contain spaces or control characters.")
    if "://" not in url:
        match = _SCP_LIKE.match(url)
        if match is None:
            raise Invalid(f"{url!r} is not a remote URL: use https://, ssh://, git://, file:// or user@host:path.")
        return url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in REMOTE_SCHEMES:
        raise Invalid(f"The remote URL's scheme {parts.scheme!r} is not allowed: use https, ssh, git or file.")
    if parts.password is not None:
        raise Invalid("Do not put a password or token in the URL: give it as the token instead.")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise Invalid("A file:// URL names an absolute path on this machine (file:///srv/git/infra.git).")
    elif not parts.hostname or parts.hostname.startswith("-") or (parts.username or "").startswith("-"):
        raise Invalid(f"The remote URL {url!r} names no host (or one starting with '-').")
    return url


def public_url(url: str) -> str:
    """``url`` without any user name in it (for messages and commit texts)."""
    if "://" not in url:
        return url.split("@", 1)[-1]
    parts = urlsplit(url)
    if parts.username is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=host).geturl()


def generate_ssh_key(comment: str = "calcifer") -> tuple[str, str]:
    """A new ed25519 key pair: (OpenSSH private key, ``ssh-ed25519 ... comment`` public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} {comment}"


def trust_ca_file(path: Path) -> None:
    """Trust the CA certificates in ``path`` for HTTPS remotes (a private forge), besides the system's."""
    pygit2.settings.set_ssl_cert_locations(str(path), None)


# -- transport ----------------------------------------------------------------------------------------

class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials for ``url``, and for an SSH URL the host-key check: the one key trusted is written
    where libgit2 looks (``ssh_trust.trust_only``), and a connection whose key libgit2 finds different
    is refused. Without a trusted key an SSH connection is not attempted."""

    def __init__(self, auth: RemoteAuth, url: str) -> None:
        super().__init__()
        self._auth = auth
        self._asked = 0
        self._ssh = ssh_trust.is_ssh(url)
        self.rejected: dict[str, str] = {}
        if self._ssh:
            if not auth.host_key:
                raise RemoteError("the SSH server's host key is not known yet: save the remote settings again "
                                  "while the server is reachable, or paste its host key")
            ssh_trust.trust_only(url, auth.host_key)

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if not self._ssh:
            raise pygit2.Passthrough  # HTTPS: libgit2's own verdict on the certificate
        if not valid:
            raise RemoteError(f"the SSH server {_printable(host.decode(errors='replace'))} showed a host key "
                              f"other than the one trusted ({ssh_trust.fingerprint(self._auth.host_key)}): if "
                              "the server's key really changed, paste its new key in the remote settings")
        return True

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> pygit2.UserPass | pygit2.KeypairFromMemory:
        self._asked += 1
        if self._asked > 1:  # libgit2 asks again after a refusal: one try is enough to know
            raise RemoteError("the remote refused the credentials (authentication failed)")
        auth = self._auth
        if auth.kind == "ssh" and allowed_types & CredentialType.SSH_KEY:
            return pygit2.KeypairFromMemory(username_from_url or auth.username or "git",
                                            auth.public_key, auth.secret, "")
        if auth.kind == "token" and allowed_types & CredentialType.USERPASS_PLAINTEXT:
            return pygit2.UserPass(auth.username or username_from_url or "git", auth.secret)
        raise RemoteError("the remote asks for credentials: set an HTTPS token or an SSH key")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message


def _printable(text: str) -> str:
    """``text`` with control characters shown escaped (a remote's message or ref name is not trusted)."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _failure(exc: Exception) -> RemoteError:
    if isinstance(exc, RemoteError):
        return exc
    text = _printable(str(exc).strip() or type(exc).__name__)[:2000]
    if "authentication" in text.lower() or "401" in text or "403" in text:
        text = f"the remote refused the credentials ({text})"
    return RemoteError(text)


def _anonymous(repo: pygit2.Repository, url: str) -> pygit2.Remote:
    return repo.remotes.create_anonymous(check_remote_url(url))


def push(*, repo_path: Path, url: str, auth: RemoteAuth, branches: list[str] | None = None) -> str:
    """Push main (and ``branches``, work branches) to ``url``, never forced: a remote main that has
    commits main lacks is refused by the remote, and reported. Returns main's commit as pushed and
    records it as the remote's main. Raises RemoteError with the remote's message."""
    repo = bare_repo(repo_path)
    main = str(main_oid(repo))
    specs = [f"{MAIN_REF}:{MAIN_REF}"]
    for branch in branches or []:
        ref = f"refs/heads/{branch}"
        if ref_target(repo, ref) is not None and pygit2.reference_is_valid_name(ref):
            specs.append(f"{ref}:{ref}")
    try:
        callbacks = _Callbacks(auth, url)
        _anonymous(repo, url).push(specs, callbacks=callbacks)
    except (pygit2.GitError, OSError, RemoteError, ValueError) as exc:
        raise _failure(exc) from exc
    if MAIN_REF in callbacks.rejected:
        raise RemoteError(f"the remote refused main: {_printable(callbacks.rejected[MAIN_REF])}")
    repo.references.create(REMOTE_MAIN_REF, pygit2.Oid(hex=main), force=True)
    if callbacks.rejected:
        names = ", ".join(f"{_printable(ref)} ({_printable(why)})" for ref, why in sorted(callbacks.rejected.items()))
        raise RemoteError(f"main was pushed; the remote refused {names}")
    return main


def push_branch(*, repo_path: Path, url: str, auth: RemoteAuth, branch: str) -> str:
    """Push one work branch (not main) to ``url``, never forced: a remote branch of that name with commits
    this one lacks is refused and reported. Returns the tip pushed. Raises RemoteError with the remote's
    message, Invalid for a name that is not a branch's."""
    validate_branch_name(branch)
    repo = bare_repo(repo_path)
    ref = f"refs/heads/{branch}"
    tip = ref_target(repo, ref)
    if tip is None or ref == MAIN_REF:
        raise RemoteError(f"there is no work branch {branch} to push")
    try:
        callbacks = _Callbacks(auth, url)
        _anonymous(repo, url).push([f"{ref}:{ref}"], callbacks=callbacks)
    except (pygit2.GitError, OSError, RemoteError, ValueError) as exc:
        raise _failure(exc) from exc
    if callbacks.rejected:
        names = ", ".join(f"{_printable(r)} ({_printable(why)})" for r, why in sorted(callbacks.rejected.items()))
        raise RemoteError(f"the remote refused {names}")
    return str(tip)


def _unsafe_ref(name: str) -> bool:
    return (any(ord(ch) < 0x20 or ch == "\x7f" for ch in name) or not name.startswith("refs/")
            or not _valid_ref(name))


def _valid_ref(name: str) -> bool:
    try:
        return bool(pygit2.reference_is_valid_name(name))
    except (ValueError, TypeError):
        return False


def _refused(advertised: Iterable[str]) -> list[str]:
    return sorted({_printable(name) for name in advertised if name != "HEAD" and _unsafe_ref(name)})


def fetch(*, repo_path: Path, url: str, auth: RemoteAuth) -> FetchResult:
    """Fetch the remote's main into ``refs/calcifer/remote/main`` (nothing else: other refs, however they
    are named, are not written here). Returns the remote's main and the advertised refs whose names are
    unsafe. Raises RemoteError with the remote's message."""
    repo = bare_repo(repo_path)
    remote = _anonymous(repo, url)
    folder = local_path(url)
    if folder is not None:
        copied = fetch_ref(repo, folder, into=REMOTE_MAIN_REF, message=FETCH_MESSAGE)
        if copied is not None:
            return FetchResult(main=str(copied.tip) if copied.tip is not None else None,
                               refused_refs=_refused(copied.refs))
    try:
        callbacks = _Callbacks(auth, url)
        remote.fetch([f"+{MAIN_REF}:{REMOTE_MAIN_REF}"], callbacks=callbacks, prune=FetchPrune.NO_PRUNE,
                     message=FETCH_MESSAGE)
        heads = remote.list_heads(connect=False)
    except (pygit2.GitError, OSError, RemoteError, ValueError, KeyError) as exc:
        if "couldn't find remote ref" in str(exc).lower():
            return FetchResult(main=None)
        raise _failure(exc) from exc
    advertised = {head.name or "" for head in heads}
    refused = _refused(advertised)
    if MAIN_REF not in advertised:
        return FetchResult(main=None, refused_refs=refused)
    target = ref_target(repo, REMOTE_MAIN_REF)
    return FetchResult(main=str(target) if target is not None else None, refused_refs=refused)


# -- what the remote brings ---------------------------------------------------------------------------

def _bad_component(part: str) -> bool:
    return (part in ("", ".", "..") or part.lower().rstrip(". ") in (".git", ".gitmodules")
            or "\\" in part or any(ord(ch) < 0x20 or ch == "\x7f" for ch in part))


def _walk_changed(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree, prefix: str,
                  problems: list[str]) -> None:
    """Check every entry of ``new`` that differs from ``old``, descending only into changed folders."""
    before = {entry.name: entry for entry in old} if old is not None else {}
    for entry in new:
        name = entry.name or ""
        shown = prefix + repr(name)[1:-1]
        previous = before.get(name)
        if previous is not None and previous.id == entry.id and previous.filemode == entry.filemode:
            continue
        if _bad_component(name):
            problems.append(f"{shown}: a path with {name!r} in it is not allowed")
            continue
        mode = entry.filemode
        if mode == FileMode.COMMIT:
            problems.append(f"{shown}: a submodule is not allowed")
        elif mode == FileMode.TREE:
            sub = repo[entry.id]
            old_sub = repo[previous.id] if previous is not None and previous.filemode == FileMode.TREE else None
            if isinstance(sub, pygit2.Tree):
                _walk_changed(repo, old_sub if isinstance(old_sub, pygit2.Tree) else None, sub,
                              shown + "/", problems)
        elif mode == FileMode.LINK:
            blob = repo[entry.id]
            target = blob.data.decode("utf-8", "replace") if isinstance(blob, pygit2.Blob) else ""
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(prefix + name), target))
            if target.startswith("/") or joined == ".." or joined.startswith("../") or "\x00" in target:
                problems.append(f"{shown}: a symbolic link pointing outside the repository ({target!r})")
        else:
            size = repo.odb.read_header(entry.id)[1]  # the size without reading the content
            if size > MAX_REMOTE_BLOB_BYTES:
                problems.append(f"{shown}: {size / 1048576:.0f} MiB is over the "
                                f"{MAX_REMOTE_BLOB_BYTES // 1048576} MiB a file may have")


def hostile_paths(repo: pygit2.Repository, base: pygit2.Commit | None, tip: pygit2.Commit) -> list[str]:
    """What in ``tip``'s tree, where it differs from ``base``'s, must not reach main (one line each)."""
    problems: list[str] = []
    _walk_changed(repo, base.tree if base is not None else None, tip.tree, "", problems)
    return problems


def _outside(repo: pygit2.Repository, main: pygit2.Oid, remote: pygit2.Oid) -> list[CommitInfo]:
    walker = repo.walk(remote, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(main)
    for name in repo.references:  # commits of Calcifer's own work branches (pushed, merged on the forge)
        if name.startswith("refs/heads/") and name != MAIN_REF:
            target = ref_target(repo, name)
            if target is not None:
                walker.hide(target)
    found: list[CommitInfo] = []
    for commit in walker:
        found.append(commit_info(commit))
        if len(found) >= MAX_OUTSIDE_COMMITS:
            break
    return found


def prepare_integration(*, repo_path: Path, remote: str, author: Author, message: str,
                        file_mergers: dict[str, FileMerger] | None = None) -> Integration:
    """What bringing the fetched commit ``remote`` into main would do: the remote's commits main lacks
    (oldest first), checked for hostile content, then a fast-forward or a merge computed in memory
    (CHANGES.md through ``file_mergers``). Writes at most the merge commit object; main is untouched."""
    repo = bare_repo(repo_path)
    main = main_oid(repo)
    theirs = pygit2.Oid(hex=remote)
    if theirs == main or repo.descendant_of(main, theirs):
        return Integration(kind="up_to_date", before=str(main), commit=None)
    outside = _outside(repo, main, theirs)
    base_id = repo.merge_base(main, theirs)
    base = repo[base_id].peel(pygit2.Commit) if base_id is not None else None
    problems = hostile_paths(repo, base, repo[theirs].peel(pygit2.Commit))
    if problems:
        return Integration(kind="hostile", before=str(main), commit=None, outside=outside, problems=problems)
    if repo.descendant_of(theirs, main):
        return Integration(kind="fast_forward", before=str(main), commit=remote, outside=outside)
    tree, conflicts = _merge_in_memory(repo, main, theirs, file_mergers)
    if tree is None:
        return Integration(kind="conflict", before=str(main), commit=None, outside=outside, conflicts=conflicts)
    sig = signature(author)
    commit = repo.create_commit(None, sig, sig, message, tree, [main, theirs])
    return Integration(kind="merge", before=str(main), commit=str(commit), outside=outside)


def advance_main(*, repo_path: Path, expected: str, new: str, reason: str) -> bool:
    """Point main at ``new`` if it still points at ``expected`` and ``new`` descends from it (never a
    rewind, never a rewrite). Returns False when main moved meanwhile (compute again)."""
    with repo_lock(repo_path):
        repo = bare_repo(repo_path)
        ref = repo.references.get(MAIN_REF)
        old, target = pygit2.Oid(hex=expected), pygit2.Oid(hex=new)
        if ref is None or ref.target != old or not repo.descendant_of(target, old):
            return False
        try:
            ref.set_target(target, reason)
        except pygit2.GitError:
            return False
        return True


def unpushed_count(*, repo_path: Path) -> int | None:
    """Commits on main that the remote's main (as last fetched or pushed) lacks; None when never synced."""
    repo = bare_repo(repo_path)
    known = ref_target(repo, REMOTE_MAIN_REF)
    if known is None:
        return None
    try:
        ahead, _behind = repo.ahead_behind(main_oid(repo), known)
    except (pygit2.GitError, KeyError, ValueError):
        return None
    return int(ahead)


def remote_main(*, repo_path: Path) -> str | None:
    """The remote's main as last fetched or pushed."""
    target = ref_target(bare_repo(repo_path), REMOTE_MAIN_REF)
    return str(target) if target is not None else None


def changed_paths(*, repo_path: Path, base: str, tip: str, prefix: str = "") -> list[tuple[str, str | None]]:
    """Paths under ``prefix`` that differ from commit ``base`` to ``tip``, with their blob at ``tip``."""
    repo = bare_repo(repo_path)
    old, new = repo[pygit2.Oid(hex=base)].peel(pygit2.Commit), repo[pygit2.Oid(hex=tip)].peel(pygit2.Commit)
    found: list[tuple[str, str | None]] = []
    for delta in old.tree.diff_to_tree(new.tree).deltas:
        path = delta.new_file.path
        if not path.startswith(prefix):
            continue
        found.append((path, None if delta.status_char() == "D" else str(delta.new_file.id)))
    return found


def read_blob(*, repo_path: Path, blob_id: str, max_bytes: int) -> bytes | None:
    """The blob's content, or None when it is not a blob or larger than ``max_bytes``."""
    return _read_blob(bare_repo(repo_path), blob_id, max_bytes)


def read_blobs(*, repo_path: Path, blob_ids: list[str], max_bytes: int) -> dict[str, bytes | None]:
    """``read_blob`` of each id, with the repository opened once."""
    repo = bare_repo(repo_path)
    return {blob_id: _read_blob(repo, blob_id, max_bytes) for blob_id in blob_ids}


def _read_blob(repo: pygit2.Repository, blob_id: str, max_bytes: int) -> bytes | None:
    oid = pygit2.Oid(hex=blob_id)
    kind, size = repo.odb.read_header(oid)
    if kind != pygit2.enums.ObjectType.BLOB or size > max_bytes:
        return None
    blob = repo[oid]
    return blob.data if isinstance(blob, pygit2.Blob) else None


# -- a branch someone pushed, made a work item's ------------------------------------------------------

REMOTE_BRANCHES = "refs/calcifer/remote/heads/"


def fetch_branch(*, repo_path: Path, url: str, auth: RemoteAuth, branch: str) -> str:
    """Fetch the remote's ``branch`` (a plain branch name) into ``refs/calcifer/remote/heads/``; returns its
    tip. Raises Invalid for a bad name, RemoteError when the remote has no such branch or fails."""
    validate_branch_name(branch)
    repo = bare_repo(repo_path)
    local = REMOTE_BRANCHES + branch
    remote = _anonymous(repo, url)
    message = f"fetch the remote's {branch}"
    folder = local_path(url)
    copied = fetch_ref(repo, folder, ref=f"refs/heads/{branch}", into=local, message=message) if folder else None
    if copied is not None:
        if copied.tip is None:
            raise RemoteError(f"the remote has no branch {branch}")
        return str(copied.tip)
    try:
        remote.fetch([f"+refs/heads/{branch}:{local}"], callbacks=_Callbacks(auth, url),
                     prune=FetchPrune.NO_PRUNE, message=message)
    except (pygit2.GitError, OSError, RemoteError, ValueError, KeyError) as exc:
        if "couldn't find remote ref" in str(exc).lower():
            raise RemoteError(f"the remote has no branch {branch}") from exc
        raise _failure(exc) from exc
    target = ref_target(repo, local)
    if target is None:
        raise RemoteError(f"the remote has no branch {branch}")
    return str(target)


def branch_problems(*, repo_path: Path, commit: str) -> list[str]:
    """Why the fetched ``commit`` cannot become a work item's branch: nothing main lacks, or hostile content
    (as ``hostile_paths``) where it differs from its merge base with main. Empty when it can."""
    repo = bare_repo(repo_path)
    main, tip = main_oid(repo), pygit2.Oid(hex=commit)
    if tip == main or repo.descendant_of(main, tip):
        return ["the branch has no commits that main lacks"]
    base_id = repo.merge_base(main, tip)
    base = repo[base_id].peel(pygit2.Commit) if base_id is not None else None
    return hostile_paths(repo, base, repo[tip].peel(pygit2.Commit))


def point_worktree_at(*, worktree_path: Path, commit: str) -> None:
    """Move the worktree's branch (new, without commits of its own) to ``commit`` and check it out."""
    repo = open_worktree(worktree_path)
    try:
        repo.reset(pygit2.Oid(hex=commit), ResetMode.HARD)
    finally:
        forget_worktree(worktree_path)

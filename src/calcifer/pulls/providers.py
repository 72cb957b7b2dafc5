"""The forges Calcifer opens pull requests on: one ``Forge`` protocol, one class per forge, and the table
``FORGES`` that names them all (the one dispatch: nothing else branches on the kind).

Each class speaks its forge's REST API over httpx (sync, short timeouts, no retries: the caller records a
failure and the person or the next fetch tries again):

- GitHub (``/repos/{owner}/{repo}/pulls``, comments on ``/issues/{number}/comments``; ``Authorization:
  Bearer``);
- GitLab (``/projects/{id}/merge_requests``, notes on ``/merge_requests/{iid}/notes``; ``PRIVATE-TOKEN``);
- Gitea and Forgejo (``/repos/{owner}/{repo}/pulls``, comments on ``/issues/{index}/comments``;
  ``Authorization: token``).

Errors are ``ForgeError`` with a sentence a person can act on (the forge's own message included), and
``permanent`` saying whether trying again can help (a refused token cannot; an unreachable forge can).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

import httpx

from calcifer.pulls.choices import ForgeKind, PullState

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "Calcifer (pull requests)"
# The most of a forge's error body quoted back in a message.
MAX_QUOTED = 300


class ForgeError(Exception):
    """The forge refused or could not be reached: ``message`` says what happened and what to do."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True)
class PullInfo:
    """A pull request as the forge reports it."""

    number: int
    url: str
    state: PullState
    merge_commit: str = ""  # the merge (or squash) commit on the base branch, once merged


class Forge(Protocol):
    """One forge's pull requests. Every method raises ForgeError."""

    kind: ClassVar[ForgeKind]

    def check(self) -> None:
        """Read the repository: proves the URL, the repository and the token (raises otherwise)."""
        ...

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> PullInfo: ...

    def get_pull(self, *, number: int) -> PullInfo: ...

    def comment(self, *, number: int, body: str) -> None: ...


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "…"


def _forge_message(response: httpx.Response) -> str:
    """The forge's own explanation: GitHub/Gitea ``message`` (+ GitHub's ``errors``), GitLab ``message``
    or ``error`` (a string, list or field map)."""
    try:
        data = response.json()
    except ValueError:
        return _quoted(response.text)
    if not isinstance(data, dict):
        return _quoted(str(data))
    parts: list[str] = []
    for key in ("message", "error"):
        value = data.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif isinstance(value, dict):
            parts.extend(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
    for error in data.get("errors") or []:
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
        elif isinstance(error, str):
            parts.append(error)
    return _quoted("; ".join(parts) or response.text)


class _Client:
    """What the three forges share: one httpx client per call, JSON in and out, errors as sentences."""

    kind: ClassVar[ForgeKind]
    name: ClassVar[str]

    def __init__(self, *, api_url: str, repository: str, token: str,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.token = token
        self.transport = transport

    def _auth_headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _request(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._auth_headers()}
        try:
            with httpx.Client(timeout=TIMEOUT, transport=self.transport, follow_redirects=False) as client:
                response = client.request(method, self.api_url + path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ForgeError(f"{self.name} at {self.api_url} could not be reached ({type(exc).__name__}: "
                             f"{_quoted(str(exc)) or 'no answer'}). Check the API URL; nothing was changed.",
                             permanent=False) from exc
        if response.status_code in (401, 403):
            raise ForgeError(f"{self.name} refused the token ({response.status_code}: {_forge_message(response)}). "
                             "Give a token that may read the repository and open pull requests.",
                             status=response.status_code)
        if response.status_code == 404:
            raise ForgeError(f"{self.name} has no repository {self.repository!r} at {self.api_url} (404: "
                             f"{_forge_message(response)}), or the token may not see it.", status=404)
        if response.status_code >= 400:
            raise ForgeError(f"{self.name} answered {response.status_code}: {_forge_message(response)}",
                             status=response.status_code, permanent=response.status_code < 500)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ForgeError(f"{self.name} at {self.api_url} did not answer JSON: is the API URL right "
                             f"(e.g. {self.example_url})?", status=response.status_code) from exc

    example_url: ClassVar[str] = ""

    @staticmethod
    def _number(data: Any, key: str) -> int:
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ForgeError(f"The forge's answer has no pull request {key}.")
        return value


class _GitHubLike(_Client):
    """GitHub and Gitea share the shape of pulls: ``number``, ``html_url``, ``state`` open/closed,
    ``merged`` and ``merge_commit_sha``; comments go on the issue of the same number."""

    def _repo_path(self) -> str:
        owner, _, name = self.repository.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    def _pull(self, data: Any) -> PullInfo:
        number = self._number(data, "number")
        merged = bool(data.get("merged")) or bool(data.get("merged_at"))
        state = PullState.MERGED if merged else (PullState.OPEN if data.get("state") == "open" else PullState.CLOSED)
        return PullInfo(number=number, url=str(data.get("html_url") or ""), state=state,
                        merge_commit=str(data.get("merge_commit_sha") or "") if merged else "")

    def check(self) -> None:
        self._request("GET", self._repo_path())

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> PullInfo:
        return self._pull(self._request("POST", self._repo_path() + "/pulls",
                                        {"title": title, "head": head, "base": base, "body": body}))

    def get_pull(self, *, number: int) -> PullInfo:
        return self._pull(self._request("GET", f"{self._repo_path()}/pulls/{number}"))

    def comment(self, *, number: int, body: str) -> None:
        self._request("POST", f"{self._repo_path()}/issues/{number}/comments", {"body": body})


class GitHub(_GitHubLike):
    kind = ForgeKind.GITHUB
    name = "GitHub"
    example_url = "https://api.github.com"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28"}


class Gitea(_GitHubLike):
    kind = ForgeKind.GITEA
    name = "Gitea"
    example_url = "https://gitea.example.org/api/v1"

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


class GitLab(_Client):
    """Merge requests: ``iid``, ``web_url``, ``state`` opened/closed/locked/merged, ``merge_commit_sha``
    (or ``squash_commit_sha``); comments are notes. The project is its path (URL-encoded) or its id."""

    kind = ForgeKind.GITLAB
    name = "GitLab"
    example_url = "https://gitlab.com/api/v4"

    def _auth_headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token}

    def _project(self) -> str:
        return "/projects/" + quote(self.repository, safe="")

    def _pull(self, data: Any) -> PullInfo:
        number = self._number(data, "iid")
        raw = data.get("state")
        state = {"merged": PullState.MERGED, "closed": PullState.CLOSED}.get(str(raw), PullState.OPEN)
        merge_commit = str(data.get("merge_commit_sha") or data.get("squash_commit_sha") or "")
        return PullInfo(number=number, url=str(data.get("web_url") or ""), state=state,
                        merge_commit=merge_commit if state == PullState.MERGED else "")

    def check(self) -> None:
        self._request("GET", self._project())

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> PullInfo:
        return self._pull(self._request("POST", self._project() + "/merge_requests",
                                        {"source_branch": head, "target_branch": base, "title": title,
                                         "description": body}))

    def get_pull(self, *, number: int) -> PullInfo:
        return self._pull(self._request("GET", f"{self._project()}/merge_requests/{number}"))

    def comment(self, *, number: int, body: str) -> None:
        self._request("POST", f"{self._project()}/merge_requests/{number}/notes", {"body": body})


# Every forge Calcifer speaks, by kind.
FORGES: dict[ForgeKind, type[GitHub | GitLab | Gitea]] = {
    ForgeKind.GITHUB: GitHub,
    ForgeKind.GITLAB: GitLab,
    ForgeKind.GITEA: Gitea,
}


def forge_for(kind: str, *, api_url: str, repository: str, token: str,
              transport: httpx.BaseTransport | None = None) -> Forge:
    return FORGES[ForgeKind(kind)](api_url=api_url, repository=repository, token=token, transport=transport)

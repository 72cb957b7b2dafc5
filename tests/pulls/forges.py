"""A stand-in forge for the pull-request tests: no GitHub, GitLab or Gitea server can run here, so a small
threaded HTTP server on 127.0.0.1 answers the recorded shapes of each forge's REST API, at that one seam
(the HTTP API Calcifer calls). Everything else is real: the git remote is a bare repository over
file:// (tests/remote/servers.py), and the forge's "merge" is a real `git merge` pushed to it.

Shapes, as the forges document them:
- GitHub REST v3: ``POST /repos/{owner}/{repo}/pulls`` (title, head, base, body) → 201 with ``number``,
  ``html_url``, ``state`` "open"/"closed", ``merged``, ``merge_commit_sha``; ``GET .../pulls/{number}``;
  ``merge_commit_sha`` once merged is the merge commit, the squashed commit, or the commit main was
  rebased to, by the merge method; ``POST .../issues/{number}/comments`` (body) → 201;
  ``Authorization: Bearer``; a bad token → 401 ``{"message": "Bad credentials", "documentation_url": ...}``.
- GitLab v4: ``POST /projects/{id}/merge_requests`` (source_branch, target_branch, title, description) →
  201 with ``iid``, ``web_url``, ``state`` "opened"/"merged"/"closed", ``merge_commit_sha`` (the merge
  commit), ``squash_commit_sha`` and ``squash`` (a squashed merge request); notes on
  ``.../merge_requests/{iid}/notes``; ``PRIVATE-TOKEN``; a bad token → 401 ``{"message": "401 Unauthorized"}``.
- Gitea/Forgejo v1 (swagger ``repoCreatePullRequest``, ``repoGetPullRequest``, ``issueCreateComment``): as
  GitHub's paths and fields (``merged``, ``merge_commit_sha`` for merge, squash and rebase merges),
  ``Authorization: token``; errors as ``APIError`` ``{"message", "url"}``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

TOKEN = "forge-token-right"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeForge:
    kind: str
    repository: str
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        suffix = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1"}[self.kind]
        return f"http://127.0.0.1:{self.port}{suffix}"

    def merge(self, number: int, merge_commit: str, squash_commit: str | None = None) -> None:
        """The forge records the merge (the git side is done by the test with git). ``merge_commit`` is
        what each forge reports in ``merge_commit_sha``: the merge commit, the squashed commit, or (a
        rebase) the commit main was moved to; GitLab's squash also names ``squash_commit_sha``."""
        self.pulls[number]["merged"] = merge_commit
        self.pulls[number]["squash"] = squash_commit

    def close(self, number: int) -> None:
        """Closed on the forge without a merge."""
        self.pulls[number]["closed"] = True

    def authorised(self, headers: dict[str, str]) -> bool:
        if self.kind == "github":
            return headers.get("authorization") == f"Bearer {TOKEN}"
        if self.kind == "gitlab":
            return headers.get("private-token") == TOKEN
        return headers.get("authorization") == f"token {TOKEN}"

    # -- answers in each forge's shape ------------------------------------------------------------------

    def _pull_json(self, number: int) -> dict[str, Any]:
        pull = self.pulls[number]
        merged, closed = pull.get("merged"), pull.get("closed")
        if self.kind == "gitlab":
            return {"id": 1000 + number, "iid": number, "project_id": 7, "title": pull["title"],
                    "description": pull["body"],
                    "state": "merged" if merged else ("closed" if closed else "opened"),
                    "source_branch": pull["head"], "target_branch": pull["base"], "sha": pull["sha"],
                    "merge_commit_sha": merged or None, "squash_commit_sha": pull.get("squash"),
                    "squash": bool(pull.get("squash")),
                    "web_url": f"https://gitlab.example.org/{self.repository}/-/merge_requests/{number}"}
        host = "github.com" if self.kind == "github" else "gitea.example.org"
        return {"id": 2000 + number, "number": number, "title": pull["title"], "body": pull["body"],
                "state": "closed" if merged or closed else "open", "merged": bool(merged),
                "merged_at": "2026-12-07T12:00:00Z" if merged else None, "merge_commit_sha": merged or None,
                "html_url": f"https://{host}/{self.repository}/pull/{number}",
                "head": {"ref": pull["head"], "sha": pull["sha"], "label": pull["head"]},
                "base": {"ref": pull["base"], "label": pull["base"]}}

    def _unauthorised(self) -> tuple[int, dict[str, Any]]:
        if self.kind == "github":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        if self.kind == "gitlab":
            return 401, {"message": "401 Unauthorized"}
        return 401, {"message": "user does not exist [uid: 0, name: ]", "url": "https://gitea.example.org/api/swagger"}

    def answer(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        if self.kind == "gitlab":
            match = re.fullmatch(r"/api/v4/projects/([^/]+)(/merge_requests(?:/(\d+)(/notes)?)?)?", path)
            if not match or unquote(match.group(1)) != self.repository:
                return 404, {"message": "404 Project Not Found"}
            rest, number, notes = match.group(2), match.group(3), match.group(4)
            create_keys = ("source_branch", "target_branch", "title", "description")
        else:
            prefix = "/api/v1" if self.kind == "gitea" else ""
            shape = r"/repos/([^/]+)/([^/]+)(/(?:pulls|issues)(?:/(\d+)(/comments)?)?)?"
            match = re.fullmatch(re.escape(prefix) + shape, path)
            if not match or f"{match.group(1)}/{match.group(2)}" != self.repository:
                return 404, {"message": "Not Found"}
            rest, number, notes = match.group(3), match.group(4), match.group(5)
            create_keys = ("head", "base", "title", "body")
        if rest is None and method == "GET":
            return 200, {"id": 7, "full_name": self.repository, "path_with_namespace": self.repository}
        if rest and number is None and method == "POST":
            assert body is not None
            values = [body.get(k) for k in create_keys]
            if not all(isinstance(v, str) for v in values):
                return 422, {"message": "Validation Failed"}
            head, base, title, text = values
            if any(p["head"] == head and not p.get("merged") and not p.get("closed") for p in self.pulls.values()):
                return (409 if self.kind == "gitlab" else 422), {
                    "message": ["Another open merge request already exists for this source branch: !1"]
                    if self.kind == "gitlab" else "A pull request already exists"}
            new = len(self.pulls) + 1
            self.pulls[new] = {"head": head, "base": base, "title": title, "body": text, "sha": "0" * 40}
            return 201, self._pull_json(new)
        if number is not None and int(number) in self.pulls:
            if notes and method == "POST":
                assert body is not None
                self.comments.setdefault(int(number), []).append(str(body.get("body")))
                return 201, {"id": 90 + len(self.comments[int(number)]), "body": body.get("body")}
            if not notes and method == "GET":
                return 200, self._pull_json(int(number))
        return 404, {"message": "Not Found"}


def start(kind: str, repository: str) -> FakeForge:
    forge = FakeForge(kind=kind, repository=repository)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            forge.requests.append(Seen(self.command, self.path, headers, body))
            if not forge.authorised(headers):
                status, data = forge._unauthorised()
            else:
                status, data = forge.answer(self.command, self.path, body)
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.server, forge.port = server, int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return forge


def stop(forge: FakeForge) -> None:
    if forge.server is not None:
        forge.server.shutdown()
        forge.server.server_close()

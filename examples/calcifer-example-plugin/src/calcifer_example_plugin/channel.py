"""The ``example-file://`` channel type: each message appended to a local file as one JSON line."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote, urlsplit


class FileChannel:
    kind = "example-file"
    schemes: tuple[str, ...] = ("example-file",)

    @staticmethod
    def _path(url: str) -> str:
        return unquote(urlsplit(url).path)

    def check_url(self, url: str) -> str | None:
        if not self._path(url).startswith("/"):
            return "Give an absolute file path: example-file:///var/log/calcifer-alerts.jsonl"
        return None

    def send(self, url: str, *, title: str, body: str, kind: str, timeout: float) -> tuple[bool, str]:
        line = json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(), "kind": kind, "title": title, "body": body})
        try:
            with open(self._path(url), "a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            return False, f"could not write the file: {exc.strerror}"
        return True, ""

"""What one ``search_documents`` row holds, and how each kind of thing becomes one.

Every builder is a pure function of what it is given (a doc's bytes, a changelog's entries, the
catalog's and work's read-model records), so ``index_sync`` decides what to rebuild by comparing a
row's ``version`` with what it would be built from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from calcifer.catalog.queries import EndpointRecord, ServiceRecord, SourceFile
from calcifer.changelog import service as changelog
from calcifer.search.choices import SearchKind
from calcifer.search.plaintext import doc_title, plain_text
from calcifer.work.queries import WorkItemText

MAX_BODY_CHARS = 200_000  # the rest of a very long doc is not searched (PostgreSQL caps a tsvector at 1 MB)
MAX_KEY_CHARS = 1024
# A catalog row's search row is a function of its file's path and content: its version says which, so
# only rows whose file changed are built again after a sync. Bump it when the rows below change.
CATALOG_ROWS_VERSION = "c1"


@dataclass(frozen=True)
class Row:
    """What one search_documents row holds."""

    kind: str
    key: str
    title: str
    url: str
    meta: str
    body: str
    version: str = ""

    def with_version(self) -> Row:
        if self.version:
            return self
        digest = hashlib.sha1("\x00".join((self.title, self.url, self.meta, self.body)).encode(),
                              usedforsecurity=False).hexdigest()
        return Row(self.kind, self.key, self.title, self.url, self.meta, self.body, digest)


def doc_url(path: str) -> str:
    """Where the docs slice shows the doc at ``path`` (``docs/...``)."""
    return "/docs/view/" + quote(path, safe="/")


def doc_row(path: str, data: bytes, blob_id: str) -> Row:
    raw = data[: MAX_BODY_CHARS * 4].decode("utf-8-sig", "replace")
    return Row(kind=SearchKind.DOC.value, key=path, title=doc_title(raw, doc_path=path), url=doc_url(path),
               meta=path, body=plain_text(raw)[:MAX_BODY_CHARS], version=blob_id)


def work_item_row(item: WorkItemText) -> Row:
    status = item.status.replace("_", " ")
    body = "\n".join(part for part in (item.description, item.notes, item.branch, item.service or "",
                                       f"{item.category} {item.action}") if part)
    return Row(kind=SearchKind.WORK_ITEM.value, key=str(item.id), title=item.title, url=f"/work/{item.id}",
               meta=f"#{item.id} · {status} · {item.branch}"[:500], body=body[:MAX_BODY_CHARS]).with_version()


def changelog_rows(text: str) -> list[Row]:
    return changelog_rows_of(changelog.parse(text).entries)


def changelog_rows_of(entries: Iterable[changelog.Entry]) -> list[Row]:
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for entry in entries:
        heading = entry.heading_key or "Note"
        digest = hashlib.sha1("\x00".join((entry.section, heading, entry.text,
                                           str(entry.work_item_id))).encode(),
                              usedforsecurity=False).hexdigest()[:24]
        seen[digest] = seen.get(digest, 0) + 1
        key = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        link = f" · #{entry.work_item_id}" if entry.work_item_id is not None else ""
        title = plain_text(entry.text).strip() or heading
        rows.append(Row(kind=SearchKind.CHANGELOG.value, key=key, title=title[:1000],
                        url=f"/work/{entry.work_item_id}" if entry.work_item_id is not None else "/changelog",
                        meta=f"{heading} · {entry.section}{link}"[:500],
                        body=f"{heading} {entry.section}").with_version())
    return rows


def catalog_version(source: SourceFile) -> str:
    """The version of the row built from a catalog entry read from ``source``."""
    return hashlib.sha1(f"{CATALOG_ROWS_VERSION}\x00{source.blob_id}\x00{source.file}".encode(),
                        usedforsecurity=False).hexdigest()


def service_row(s: ServiceRecord, version: str = "") -> Row:
    spec = s.spec
    notes = spec.get("notes") if isinstance(spec.get("notes"), str) else ""
    urls = " ".join(u for u in spec.get("urls") or [] if isinstance(u, str))
    body = "\n".join(part for part in (
        s.slug, s.description, notes, s.kind, s.host or "", s.status, s.owner or "", " ".join(s.tags),
        " ".join(s.depends_on), urls, s.file) if part)
    meta = " · ".join(part for part in (s.kind, s.status, f"on {s.host}" if s.host else "") if part)
    return Row(kind=SearchKind.SERVICE.value, key=s.slug, title=s.name, url=f"/services/{s.slug}",
               meta=meta, body=body[:MAX_BODY_CHARS], version=version).with_version()


def endpoint_row(e: EndpointRecord, version: str = "") -> Row:
    where = e.target or ""
    if e.port:
        where = f"{where} port {e.port}".strip()
    body = "\n".join(part for part in (e.slug, e.service or "", e.type, where, e.file) if part)
    meta = " · ".join(part for part in (e.type, where, f"service {e.service}" if e.service else "")
                      if part)
    return Row(kind=SearchKind.ENDPOINT.value, key=e.slug, title=e.name, url=f"/endpoints/{e.slug}",
               meta=meta[:500], body=body[:MAX_BODY_CHARS], version=version).with_version()

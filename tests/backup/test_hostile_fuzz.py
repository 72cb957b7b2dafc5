"""Generated hostile inputs for each reader of foreign files — archive, JSON export, Uptime Kuma backup.

The property for each: a clear error (a DomainError) or a clean success, never another exception, and
nothing written outside the data directory (for an archive: outside the folder it unpacks into)."""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcifer.app import prepare
from calcifer.backup import archive, export, kuma
from calcifer.errors import DomainError
from calcifer.web.context import AppContext
from calcifer.work.models import WorkItem
from tests.backup.helpers import tree_listing
from tests.conftest import Cast, drop_schema, make_settings
from tests.work.helpers import make_work_item

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])

HOSTILE_NAMES = ["../escape", "/etc/passwd", "a/../../b", "C:/x", ".hidden", "a//b", "", "a/", "manifest.json",
                 "database/calcifer.sqlite3", "repo.bundle", "settings.json", "secret_key", "x" * 300]
HOSTILE_PATHS = ["/", "..", "/tmp/..", "/etc", ".git", "a\\b", "a\nb", "worktrees/../../x", "x" * 300, "",
                 "/srv/other/7-grafana", "7-grafana"]
HOSTILE_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=12)  # surrogates too
HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), HOSTILE_TEXT, st.sampled_from(HOSTILE_PATHS),
    st.sampled_from(["2026-13-45T99:00:00", "2026-11-20T12:00:00+00:00", "not a date", "AAAA", "!!", "1e999"]),
    st.integers(min_value=1, max_value=200).map(lambda depth: json.loads("[" * depth + "]" * depth)),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)


# -- the archive reader ---------------------------------------------------------------------------------------

member = st.tuples(
    st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=20)),
    st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE,
                     tarfile.FIFOTYPE]),
    st.binary(max_size=64),
)
manifest_entry = st.fixed_dictionaries({
    "name": st.one_of(st.sampled_from(HOSTILE_NAMES), HOSTILE_VALUES),
    "size": HOSTILE_VALUES, "sha256": HOSTILE_VALUES,
})


def _tar(members: list[tuple[str, bytes, int, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = "../../outside"
                tar.addfile(info)
    return buffer.getvalue()


@FUZZ
@given(members=st.lists(member, max_size=6), honest_manifest=st.booleans(),
       entries=st.lists(manifest_entry, max_size=4), extra=st.dictionaries(st.text(max_size=8), HOSTILE_VALUES,
                                                                           max_size=3),
       limits=st.one_of(st.just(archive.DEFAULT_LIMITS),
                        st.builds(archive.Limits, member_bytes=st.integers(0, 80), total_bytes=st.integers(0, 200),
                                  members=st.integers(0, 8))),
       damage=st.one_of(st.none(), st.integers(min_value=0)))
def test_any_archive_is_verified_and_unpacked_or_refused_never_written_outside(
        tmp_path: Path, members: list[Any], honest_manifest: bool, entries: list[dict[str, Any]],
        extra: dict[str, Any], limits: archive.Limits, damage: int | None) -> None:
    import hashlib

    arena = tmp_path / uuid.uuid4().hex
    into = arena / "data" / ".restore"
    arena.mkdir()
    files = [(n, k, d) for n, k, d in members if k == tarfile.REGTYPE]
    listed = ([{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, _, d in files]
              if honest_manifest else entries)
    manifest = {"format": archive.ARCHIVE_FORMAT, "format_version": 1, "members": listed, **extra}
    text = json.dumps(manifest, default=str).encode("utf-8", "surrogatepass")
    try:
        data = _tar([(archive.MANIFEST, tarfile.REGTYPE, text), *members])
    except (ValueError, UnicodeError, tarfile.TarError):
        return  # tarfile itself cannot write such a name: no archive to read
    if damage is not None and data:
        spoiled = bytearray(data)
        spoiled[damage % len(spoiled)] ^= 0x55
        data = bytes(spoiled)
    path = arena / "archive.tar.gz"
    path.write_bytes(data)
    before = tree_listing(arena)
    try:
        found = archive.verify(path, limits=limits)
    except DomainError:
        assert tree_listing(arena) == before
        return
    try:
        written = archive.extract(path, manifest=found, into=into, limits=limits)
    except DomainError:
        return
    root = into.resolve()
    assert all(p.resolve().is_relative_to(root) for p in written.values())
    outside = [p for p in tree_listing(arena) if not (arena / p).resolve().is_relative_to(arena / "data")]
    assert outside == before


# -- the JSON export reader ---------------------------------------------------------------------------------------

def _layout(document: dict[str, Any]) -> str:
    """The document in `write_export`'s line layout (the streamed reader's path)."""
    dump = json.dumps
    out = ["{\n", *[f"{dump(k)}: {dump(v)},\n" for k, v in document.items() if k != "tables"], '"tables": {']
    for position, (name, rows) in enumerate(document["tables"].items()):
        out.append(("," if position else "") + f"\n{dump(name)}: [")
        out += [("," if i else "") + "\n" + dump(row) for i, row in enumerate(rows)]
        out.append("\n]" if rows else "]")
    out.append("\n}\n}\n")
    return "".join(out)


change = st.tuples(st.sampled_from(["users", "work_items", "api_tokens", "audit_entries"]), st.integers(0, 5),
                   st.one_of(st.sampled_from(["id", "worktree_path", "created_at", "username", "role", "slug"]),
                             st.text(max_size=6)), HOSTILE_VALUES)


@pytest.fixture
def base_export(ctx: AppContext, cast: Cast) -> dict[str, Any]:
    make_work_item(cast.editor, title="Tune alerts")
    return json.loads(export.export_text(engine=ctx.engine))  # type: ignore[no-any-return]


class EmptyInstance:
    """An empty instance to import into, replaced by a new one after each import that succeeds."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Any] = []
        self.renew()

    def renew(self) -> None:
        self.settings = make_settings(self.root / uuid.uuid4().hex)
        self.ctx = prepare(self.settings, reconcile=False)
        self.made.append(self.settings)

    def close(self) -> None:
        self.ctx.engine.dispose()
        for made in self.made:
            drop_schema(made)


@pytest.fixture
def empty_instance(tmp_path: Path):  # type: ignore[no-untyped-def]
    instance = EmptyInstance(tmp_path / "instances")
    yield instance
    instance.close()


@settings(parent=FUZZ, max_examples=25)  # each success costs a new instance (about a second)
@given(changes=st.lists(change, min_size=1, max_size=3), streamed=st.booleans(), cut=st.one_of(st.none(),
                                                                                               st.integers(0)))
def test_any_export_is_imported_cleanly_or_refused_and_paths_stay_under_the_worktrees_folder(
        tmp_path: Path, base_export: dict[str, Any], empty_instance: EmptyInstance, changes: list[Any],
        streamed: bool, cut: int | None) -> None:
    document = json.loads(json.dumps(base_export))
    for table, index, column, value in changes:
        rows = document["tables"].get(table) or []
        if rows:
            rows[index % len(rows)][column] = value
    text = _layout(document) if streamed else json.dumps(document)
    if cut is not None:
        text = text[:cut % max(1, len(text))]
    source = tmp_path / "export.json"
    source.write_text(text, encoding="utf-8", errors="surrogatepass")
    def outside_instances() -> list[str]:
        return [p for p in tree_listing(tmp_path) if not p.startswith("instances")]

    before = outside_instances()
    target, engine = empty_instance.settings, empty_instance.ctx.engine
    try:
        export.import_document(engine=engine, document=export.load_document(source),
                               worktrees_dir=target.worktrees_dir)
    except DomainError as exc:
        assert "\n" not in exc.message and exc.message
        with engine.connect() as conn:
            assert export.instance_problems(conn) == [], "nothing half-imported"
    else:
        with engine.connect() as conn:
            paths = [Path(p) for p in conn.scalars(sa.select(WorkItem.__table__.c.worktree_path)) if p]
        assert all(p.parent == target.worktrees_dir for p in paths)
        empty_instance.ctx.engine.dispose()
        empty_instance.renew()
    assert outside_instances() == before, "an import writes only into its own instance"


# -- the Uptime Kuma reader ---------------------------------------------------------------------------------------

monitor = st.dictionaries(
    st.sampled_from(["id", "name", "type", "url", "hostname", "port", "interval", "maxretries", "timeout", "active",
                     "headers", "body", "method", "accepted_statuscodes", "keyword", "jsonPath", "expectedValue",
                     "tags", "notificationIDList", "dns_resolve_type", "dns_resolve_server", "upsideDown"]),
    st.one_of(HOSTILE_VALUES, st.sampled_from(["http", "keyword", "json-query", "port", "ping", "dns", "push",
                                               "https://web.example.org", '{"X": 1}', "[[[[1]]]]"]),
              st.lists(HOSTILE_VALUES, max_size=3)),
    max_size=10)
notification = st.fixed_dictionaries({"id": HOSTILE_VALUES, "name": HOSTILE_VALUES, "config": st.one_of(
    HOSTILE_VALUES, st.dictionaries(st.sampled_from(["type", "ntfytopic", "ntfyPriority", "gotifyserverurl",
                                                     "gotifyapplicationToken", "gotifyPriority", "webhookURL",
                                                     "discordWebhookUrl", "telegramBotToken", "telegramChatID"]),
                                    st.one_of(HOSTILE_VALUES, st.sampled_from(["ntfy", "gotify", "webhook",
                                                                               "https://h.example.org"])),
                                    max_size=5).map(json.dumps))})


@FUZZ
@given(monitors=st.one_of(st.lists(st.one_of(monitor, HOSTILE_VALUES), max_size=5), HOSTILE_VALUES),
       notifications=st.one_of(st.lists(notification, max_size=3), HOSTILE_VALUES))
def test_any_kuma_backup_is_mapped_or_refused_with_safe_slugs(tmp_path: Path, monitors: Any,
                                                              notifications: Any) -> None:
    # json.dumps writes NaN and Infinity as bare words and lone surrogates as escapes, as other programs do.
    text = json.dumps({"version": "1.23", "monitorList": monitors, "notificationList": notifications})
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        report = kuma.plan(data=kuma.read_backup(path), taken={"taken"})
    except DomainError as exc:
        assert "\n" not in exc.message and exc.message
        return
    slugs = [e.slug for e in report.endpoints]
    assert len(set(slugs)) == len(slugs) and "taken" not in slugs
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s) and len(s) <= 63 for s in slugs)
    json.dumps(report.as_dict(), default=str)
    kuma._description(report)

"""A branch's catalog derived from main's (index_delta) says exactly what a whole build of the branch says.

The merge check derives the catalog of a branch from the last build of main when the change stays local;
if the two ever differed, a branch could be merged with a problem the whole build would have refused (or
refused for one it does not have). Generated catalogs, with slugs, hosts, dependencies, targets and file
names drawn from small sets so that duplicates, unknown names, cycles and shared targets happen often,
are changed at random and read both ways.
"""

from __future__ import annotations

import tempfile
from dataclasses import astuple

import pygit2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcifer.catalog.index_build import _build
from calcifer.catalog.index_delta import derive
from calcifer.catalog.index_parse import _Memo

SERVICE_SLUGS = ["app", "db", "web", "host-1", "host-2"]
ENDPOINT_SLUGS = ["ping-a", "ping-b", "ping-c", "ping-d"]
NAMES = [*SERVICE_SLUGS, "ghost"]
TARGETS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]

_repo = pygit2.init_repository(tempfile.mkdtemp(prefix="calcifer-delta-"), bare=True)


@st.composite
def nested_endpoint(draw: st.DrawFn) -> str:
    slug = draw(st.sampled_from(ENDPOINT_SLUGS))
    return (f"  - name: Nested {slug}\n    slug: {slug}\n    type: tcp\n"
            f"    target: {draw(st.sampled_from(TARGETS))}\n    port: {draw(st.sampled_from([22, 80]))}\n")


@st.composite
def service_file(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(["good"] * 8 + ["broken_yaml", "no_kind"]))
    if shape == "broken_yaml":
        return "name: [unclosed\nslug: app\n"
    slug = draw(st.sampled_from(SERVICE_SLUGS))
    text = f"name: Service {slug}\nslug: {slug}\n"
    if shape == "good":
        text += "kind: container\n"
    host = draw(st.sampled_from([None, None, *NAMES]))
    if host:
        text += f"host: {host}\n"
    needs = draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True))
    if needs:
        text += "depends_on:\n" + "".join(f"  - {n}\n" for n in needs)
    nested = draw(st.lists(nested_endpoint(), max_size=2))
    if nested:
        text += "endpoints:\n" + "".join(nested)
    return text


@st.composite
def endpoint_file(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return "slug: ping-a\ntype: tcp\n"  # no name: a schema error
    slug = draw(st.sampled_from(ENDPOINT_SLUGS))
    text = (f"name: Endpoint {slug}\nslug: {slug}\ntype: tcp\ntarget: {draw(st.sampled_from(TARGETS))}\n"
            f"port: {draw(st.sampled_from([22, 80]))}\ninterval: {draw(st.sampled_from([30, 60]))}\n")
    service = draw(st.sampled_from([None, *NAMES]))
    return text + (f"service: {service}\n" if service else "")


def catalog_files(draw: st.DrawFn) -> dict[str, str]:
    files = {f"catalog/services/{stem}.yaml": draw(service_file())
             for stem in draw(st.lists(st.sampled_from([*SERVICE_SLUGS, "extra"]), max_size=5, unique=True))}
    files |= {f"catalog/endpoints/{stem}.yaml": draw(endpoint_file())
              for stem in draw(st.lists(st.sampled_from([*ENDPOINT_SLUGS, "more"]), max_size=4, unique=True))}
    return files


@st.composite
def catalog_change(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str]]:
    base = catalog_files(draw)
    tip = dict(base)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["add_service", "add_endpoint", "edit", "delete"]))
        if action == "add_service":
            tip[f"catalog/services/{draw(st.sampled_from([*SERVICE_SLUGS, 'new']))}.yaml"] = draw(service_file())
        elif action == "add_endpoint":
            tip[f"catalog/endpoints/{draw(st.sampled_from([*ENDPOINT_SLUGS, 'new']))}.yaml"] = draw(
                endpoint_file())
        elif tip:
            path = draw(st.sampled_from(sorted(tip)))
            if action == "delete":
                del tip[path]
            else:
                tip[path] = draw(service_file() if "/services/" in path else endpoint_file())
    return base, tip


def commit(files: dict[str, str]) -> pygit2.Commit:
    folders: dict[str, dict[str, str]] = {}
    for path, text in files.items():
        folder, _, name = path.rpartition("/")
        folders.setdefault(folder, {})[name] = text
    catalog = _repo.TreeBuilder()
    for folder in ("services", "endpoints"):
        entries = folders.get(f"catalog/{folder}")
        if entries:
            builder = _repo.TreeBuilder()
            for name, text in entries.items():
                builder.insert(name, _repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB)
            catalog.insert(folder, builder.write(), pygit2.GIT_FILEMODE_TREE)
    root = _repo.TreeBuilder()
    root.insert("catalog", catalog.write(), pygit2.GIT_FILEMODE_TREE)
    signature = pygit2.Signature("test", "test@example.invalid")
    oid = _repo.create_commit(None, signature, signature, "catalog", root.write(), [])
    found = _repo[oid]
    assert isinstance(found, pygit2.Commit)
    return found


def _outcome(catalog: object) -> tuple[list[tuple[object, ...]], dict[str, str], dict[str, tuple[str, int]]]:
    findings = sorted(astuple(f) for f in catalog.findings)  # type: ignore[attr-defined]
    services = {slug: s.file.path for slug, s in catalog.services.items()}  # type: ignore[attr-defined]
    endpoints = {slug: (e.file.path, e.line) for slug, e in catalog.endpoints.items()}  # type: ignore[attr-defined]
    return findings, services, endpoints


def derived_and_whole(base_files: dict[str, str], tip_files: dict[str, str]) -> tuple[object, object]:
    base_commit, tip_commit = commit(base_files), commit(tip_files)
    memo = _Memo()
    base = _build(_repo, base_commit, {}, memo)
    derived = derive(repo=_repo, base=base, base_tree=base_commit.tree, tip_tree=tip_commit.tree, memo=memo)
    return derived, _build(_repo, tip_commit, {}, _Memo())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog_change())
def test_a_derived_catalog_says_what_a_whole_build_says(change: tuple[dict[str, str], dict[str, str]]) -> None:
    derived, whole = derived_and_whole(*change)
    if derived is not None:  # None: the change was beyond what derive bounds, and the caller builds whole
        assert _outcome(derived.catalog) == _outcome(whole)  # type: ignore[attr-defined]


BASE = {
    "catalog/services/host-1.yaml": "name: Host\nslug: host-1\nkind: vm\n",
    "catalog/services/db.yaml": "name: DB\nslug: db\nkind: container\nhost: host-1\n",
    "catalog/services/app.yaml": "name: App\nslug: app\nkind: container\ndepends_on:\n  - db\n",
    "catalog/endpoints/ping-a.yaml": "name: A\nslug: ping-a\ntype: tcp\ntarget: 10.0.0.1\nport: 22\nservice: db\n",
}


def test_a_new_service_that_needs_others_is_derived_and_its_unknown_dependency_found() -> None:
    tip = BASE | {"catalog/services/web.yaml": "name: Web\nslug: web\nkind: container\ndepends_on:\n  - app\n"
                                               "  - cache\n"}
    derived, whole = derived_and_whole(BASE, tip)
    assert derived is not None
    assert _outcome(derived.catalog) == _outcome(whole)  # type: ignore[attr-defined]
    assert [f.code for f in derived.catalog.findings] == ["unknown_dependency"]  # type: ignore[attr-defined]
    assert derived.changed_paths == {"catalog/services/web.yaml"}  # type: ignore[attr-defined]


def test_an_edited_endpoint_and_a_new_cycle_are_derived() -> None:
    tip = BASE | {
        "catalog/endpoints/ping-a.yaml": BASE["catalog/endpoints/ping-a.yaml"] + "interval: 30\n",
        "catalog/services/host-1.yaml": "name: Host\nslug: host-1\nkind: vm\ndepends_on:\n  - app\n",
    }
    derived, whole = derived_and_whole(BASE, tip)
    assert derived is not None
    assert _outcome(derived.catalog) == _outcome(whole)  # type: ignore[attr-defined]
    assert [f.code for f in derived.catalog.findings] == ["cycle"]  # type: ignore[attr-defined]


def test_a_renamed_service_is_left_to_a_whole_build() -> None:
    tip = {k: v for k, v in BASE.items() if "db.yaml" not in k} | {
        "catalog/services/database.yaml": "name: DB\nslug: database\nkind: container\n"}
    derived, _ = derived_and_whole(BASE, tip)
    assert derived is None  # app's dependency on "db" stops resolving: every referrer must be read again

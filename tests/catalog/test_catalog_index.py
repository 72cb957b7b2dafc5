from __future__ import annotations

import pytest
from sqlalchemy import select

from calcifer.catalog import index, index_parse
from calcifer.catalog.models import CatalogEdge, CatalogTag
from calcifer.errors import Invalid, NotFound
from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml

S = "catalog/services/"
E = "catalog/endpoints/"

BAD_CATALOG: dict[str, str | bytes | None] = {
    S + "hw-1.yaml": service_yaml("hw-1", kind="bare_metal"),
    S + "db.yaml": service_yaml("db", host="hw-1"),
    S + "grafana.yaml": service_yaml("grafana", host="hw-1", depends_on=["db"], tags=["monitoring"]),
    S + "broken.yaml": "name: Broken\nslug: broken\nkind: [vm\nhost: hw-1\n",
    S + "wrong.yaml": "name: Wrong\nslug: wrong\nkind: vm\nports:\n  - number: 70000\n    protocol: tcp\n",
    S + "orphan.yaml": "name: Orphan\nslug: orphan\nkind: container\nhost: nowhere\ndepends_on: [db, ghost]\n",
    S + "zz-copy.yaml": "# a copy someone forgot to rename\nname: Copy\nslug: grafana\nkind: vm\n",
    S + "a.yaml": service_yaml("a", depends_on=["b"]),
    S + "b.yaml": service_yaml("b", depends_on=["c"]),
    S + "c.yaml": service_yaml("c", depends_on=["a"]),
    S + "listy.yaml": "- name: x\n- name: y\n",
    S + "empty.yaml": "# nothing yet\n",
    S + "README.md": "not a catalog file",
    E + "grafana-web.yaml": "name: Web\nslug: grafana-web\nservice: grafana\ntype: http\n"
                            "target: https://grafana.example.org\n",
    E + "grafana-www.yaml": "name: Web again\nslug: grafana-www\nservice: grafana\ntype: http\n"
                              "target: https://grafana.example.org\n",
    E + "lost.yaml": "name: Lost\nslug: lost\nservice: nobody\ntype: icmp\ntarget: 10.0.0.9\n",
    E + "latin1.yaml": "name: Caf\xe9\n".encode("latin-1"),
}


def sync(ctx: AppContext, **kwargs: object) -> index.SyncResult:
    with ctx.session_factory() as session:
        return index.sync_from_git(session=session, repo_path=ctx.repo_path, **kwargs)  # type: ignore[arg-type]


def problems(ctx: AppContext) -> list[tuple[str, int, str, str, str]]:
    with ctx.session_factory() as session:
        return [(p.file, p.line, p.severity, p.code, p.message) for p in index.list_problems(session=session)]


def problem(ctx: AppContext, file: str, code: str) -> tuple[int, str, str]:
    found = [(line, severity, message) for f, line, severity, c, message in problems(ctx) if (f, c) == (file, code)]
    assert len(found) == 1, (file, code, problems(ctx))
    return found[0]


def test_bad_files_are_reported_with_file_and_line_and_the_rest_loads(ctx: AppContext) -> None:
    commit = commit_files(ctx.repo_path, BAD_CATALOG)
    result = sync(ctx)
    assert result.commit == commit and not result.skipped
    with ctx.session_factory() as session:
        rows, _ = index.list_services(session=session, limit=100)
        assert sorted(row.slug for row in rows) == ["a", "b", "c", "db", "grafana", "hw-1", "orphan"]
        assert index.get_service(session=session, slug="grafana").file == S + "grafana.yaml"
        endpoints, _ = index.list_endpoints(session=session)
        assert sorted(e.slug for e in endpoints) == ["grafana-web", "grafana-www", "lost"]
    assert result.services == 7 and result.endpoints == 3

    line, severity, message = problem(ctx, S + "broken.yaml", "yaml_syntax")
    assert (line, severity) == (4, "error") and message.startswith("YAML syntax")
    line, severity, message = problem(ctx, S + "wrong.yaml", "schema")
    assert (line, severity) == (5, "error") and message.startswith("ports.0.number: ") and "65535" in message
    assert problem(ctx, S + "listy.yaml", "not_a_mapping")[:2] == (1, "error")
    assert problem(ctx, S + "empty.yaml", "not_a_mapping")[:2] == (1, "error")
    line, severity, message = problem(ctx, S + "orphan.yaml", "unknown_host")
    assert (line, severity) == (4, "warning") and "'nowhere'" in message
    line, severity, message = problem(ctx, S + "orphan.yaml", "unknown_dependency")
    assert (line, severity) == (5, "warning") and "'ghost'" in message
    line, severity, message = problem(ctx, S + "zz-copy.yaml", "duplicate_slug")
    assert (line, severity) == (3, "error") and S + "grafana.yaml" in message
    line, severity, message = problem(ctx, S + "a.yaml", "cycle")
    assert (line, severity, message) == (4, "warning", "cycle: a → b → c → a")
    line, severity, message = problem(ctx, E + "grafana-www.yaml", "duplicate_target")
    assert (line, severity) == (5, "warning") and "'grafana-web'" in message
    assert problem(ctx, E + "lost.yaml", "unknown_service")[:2] == (3, "warning")
    assert problem(ctx, E + "latin1.yaml", "encoding")[:2] == (1, "error")
    # One problem each, nothing about the README, and the counts add up.
    assert len(problems(ctx)) == 11 == result.problems
    assert (result.errors, result.warnings) == (6, 5)


def test_nested_endpoints_load_with_their_service_and_line(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {S + "grafana.yaml": (
        "name: Grafana\nslug: grafana\nkind: container\n"
        "endpoints:\n"
        "  # the one people look at\n"
        "  - name: Web\n    slug: grafana-web\n    type: http\n    target: https://grafana.example.org\n"
        "    options: {accepted_status: [200]}\n"
        "  - name: Port\n    slug: grafana-port\n    type: tcp\n    target: grafana.lan\n    port: 3000\n"
        "    enabled: false\n"
    ), E + "grafana-ping.yaml": "name: Ping\nslug: grafana-ping\nservice: grafana\ntype: icmp\ntarget: grafana.lan\n"})
    sync(ctx)
    assert problems(ctx) == []
    with ctx.session_factory() as session:
        rows, cursor = index.list_endpoints(session=session, service="grafana")
        assert cursor is None
        by_slug = {row.slug: row for row in rows}
        assert sorted(by_slug) == ["grafana-ping", "grafana-port", "grafana-web"]
        web, port = by_slug["grafana-web"], by_slug["grafana-port"]
        assert (web.service, web.file, web.line, web.nested) == ("grafana", S + "grafana.yaml", 6, True)
        assert web.options == {"accepted_status": [200]} and web.spec["service"] == "grafana"
        assert (web.interval, web.timeout, web.retries, web.enabled) == (60, 10.0, 1, True)
        assert (port.line, port.port, port.enabled) == (11, 3000, False)
        assert by_slug["grafana-ping"].nested is False
        assert [e.slug for e in index.list_endpoints(session=session, enabled=False)[0]] == ["grafana-port"]
        assert [e.slug for e in index.list_endpoints(session=session, type="tcp")[0]] == ["grafana-port"]
        assert [e.slug for e in index.list_endpoints(session=session, q="GRAFANA.LAN")[0]] == [
            "grafana-ping", "grafana-port"]
        assert index.get_endpoint(session=session, slug="grafana-web").target == "https://grafana.example.org"
        with pytest.raises(NotFound):
            index.get_endpoint(session=session, slug="nope")


def test_an_endpoint_slug_used_twice_loads_only_the_first(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {
        S + "app.yaml": "name: App\nslug: app\nkind: vm\nendpoints:\n  - name: P\n    slug: app-ping\n"
                        "    type: icmp\n    target: app.lan\n",
        E + "app-ping.yaml": "name: P\nslug: app-ping\ntype: icmp\ntarget: other.lan\n",
    })
    sync(ctx)
    line, severity, message = problem(ctx, S + "app.yaml", "duplicate_slug")
    assert (line, severity) == (5, "error") and E + "app-ping.yaml" in message
    with ctx.session_factory() as session:
        assert index.get_endpoint(session=session, slug="app-ping").target == "other.lan"


def test_resync_replaces_the_index_and_keeps_update_times_of_unchanged_files(ctx: AppContext) -> None:
    first = commit_files(ctx.repo_path, {S + "a.yaml": service_yaml("a", tags=["x"]),
                                         S + "b.yaml": service_yaml("b", depends_on=["a"]),
                                         S + "c.yaml": "name: C\nslug: c\nkind: [\n"})
    sync(ctx)
    with ctx.session_factory() as session:
        a_before = index.get_service(session=session, slug="a").updated_at
        assert index.get_service(session=session, slug="b").commit_id == first
    second = commit_files(ctx.repo_path, {S + "a.yaml": None, S + "b.yaml": service_yaml("b", tags=["y"]),
                                          S + "c.yaml": service_yaml("c"), S + "d.yaml": service_yaml("d")})
    result = sync(ctx)
    assert (result.commit, result.services, result.problems) == (second, 3, 0)
    with ctx.session_factory() as session:
        rows, _ = index.list_services(session=session)
        assert [row.slug for row in rows] == ["b", "c", "d"]
        assert index.get_service(session=session, slug="b").commit_id == second
        assert session.scalars(select(CatalogTag.tag)).all() == ["y"]
        assert session.scalars(select(CatalogEdge)).all() == []
        with pytest.raises(NotFound):
            index.get_service(session=session, slug="a")
    third = commit_files(ctx.repo_path, {S + "d.yaml": service_yaml("d", kind="vm")})
    sync(ctx)
    with ctx.session_factory() as session:
        b = index.get_service(session=session, slug="b")
        assert b.commit_id == second  # unchanged file: first seen at the second commit
        assert index.get_service(session=session, slug="d").commit_id == third
        assert index.get_service(session=session, slug="d").kind == "vm"
    assert a_before is not None


def test_a_sync_at_the_synced_commit_does_nothing_unless_forced(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {S + "a.yaml": service_yaml("a")})
    first = sync(ctx)
    again = sync(ctx)
    assert again.skipped and (again.commit, again.services) == (first.commit, 1)
    forced = sync(ctx, force=True)
    assert not forced.skipped and forced.services == 1
    with ctx.session_factory() as session:
        state = index.get_state(session=session)
        assert state is not None and state.synced_commit == first.commit and state.services == 1


def test_an_empty_repository_syncs_to_an_empty_index(ctx: AppContext) -> None:
    result = sync(ctx)
    assert (result.services, result.endpoints, result.problems) == (0, 0, 0)
    with pytest.raises(NotFound):
        sync(ctx, ref="no-such-branch")


def test_a_file_named_after_another_slug_is_flagged_and_the_matching_file_wins(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {S + "aaa.yaml": service_yaml("zed"), S + "zed.yaml": service_yaml("zed", kind="vm")})
    sync(ctx)
    with ctx.session_factory() as session:
        assert index.get_service(session=session, slug="zed").file == S + "zed.yaml"
    assert [p[3] for p in problems(ctx)] == ["duplicate_slug"]


def test_services_are_filtered_sorted_and_paged(ctx: AppContext) -> None:
    files: dict[str, str | bytes | None] = {
        S + "hw.yaml": service_yaml("hw", kind="bare_metal", tags=["rack-1"]),
        S + "vm-1.yaml": service_yaml("vm-1", kind="vm", host="hw", tags=["rack-1", "prod"]),
        S + "vm-2.yaml": service_yaml("vm-2", kind="vm", host="hw"),
    }
    for n in range(7):
        files[f"{S}app-{n}.yaml"] = service_yaml(f"app-{n}", host="vm-1", tags=["prod"] if n % 2 else None,
                                                 extra="status: retired\n" if n == 6 else "description: 100%_x\n")
    commit_files(ctx.repo_path, files)
    sync(ctx)
    with ctx.session_factory() as session:
        def slugs(**kwargs: object) -> list[str]:
            rows, _ = index.list_services(session=session, limit=100, **kwargs)  # type: ignore[arg-type]
            return [row.slug for row in rows]

        assert slugs(kind="vm") == ["vm-1", "vm-2"]
        assert slugs(host="vm-1") == [f"app-{n}" for n in range(7)]
        assert slugs(tag="prod") == ["app-1", "app-3", "app-5", "vm-1"]
        assert slugs(status="retired") == ["app-6"]
        assert slugs(q="VM-") == ["vm-1", "vm-2"]
        assert slugs(q="100%_") == [f"app-{n}" for n in range(6)]  # wildcards match literally
        assert slugs(q="%") == [f"app-{n}" for n in range(6)]
        assert slugs(sort="-name")[:2] == ["vm-2", "vm-1"]
        assert slugs(sort="kind")[:2] == ["hw", "app-0"] and slugs(sort="kind")[-2:] == ["vm-1", "vm-2"]
        assert slugs(sort="host")[:1] == ["hw"]
        assert slugs(sort="status")[-1] == "app-6"
        for sort in ("name", "-name", "kind", "-kind", "host", "-host", "status", "updated", "-updated"):
            seen, cursor = [], None
            while True:
                rows, cursor = index.list_services(session=session, sort=sort, limit=3, cursor=cursor)
                seen += [row.slug for row in rows]
                if cursor is None:
                    break
            assert seen == slugs(sort=sort) and len(seen) == 10, sort
        with pytest.raises(Invalid):
            index.list_services(session=session, sort="colour")
        with pytest.raises(Invalid):
            index.list_services(session=session, cursor="not-a-cursor")


def test_service_and_endpoint_files_are_read_from_git(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {S + "a.yaml": "# hi\n" + service_yaml("a"),
                                 E + "p.yml": "name: P\nslug: p\ntype: push\n"})
    assert index.read_service_text(repo_path=ctx.repo_path, slug="a") == "# hi\n" + service_yaml("a")
    assert index.read_endpoint_text(repo_path=ctx.repo_path, slug="p") == "name: P\nslug: p\ntype: push\n"
    assert index.read_service_text(repo_path=ctx.repo_path, slug="missing") is None
    assert index.read_service_text(repo_path=ctx.repo_path, slug="../../etc/passwd") is None
    assert index.service_file("a") == S + "a.yaml" and index.endpoint_file("p") == E + "p.yaml"


def test_validating_a_text_lists_every_error_with_its_line() -> None:
    spec = index_parse.validate_service_text(service_yaml("ok"))
    assert spec.slug == "ok"
    with pytest.raises(Invalid) as info:
        index_parse.validate_service_text("name: X\nslug: Bad\nkind: vm\nports:\n  - number: 0\n")
    assert info.value.details == [
        {"path": "slug", "line": 2, "message": "slug: 'Bad' is not a valid slug: use 1-63 lowercase letters, "
                                               "digits and dashes, starting with a letter or digit (e.g. grafana)"},
        {"path": "ports.0.number", "line": 5, "message": "ports.0.number: Input should be greater than or equal to 1"},
    ]
    with pytest.raises(Invalid) as info:
        index_parse.validate_endpoint_text("name: X\nslug: x\ntype: http\ntarget: [\n")
    assert info.value.details[0]["line"] == 5


def test_hostile_files_are_reported_not_expanded(ctx: AppContext) -> None:
    laughs = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    commit_files(ctx.repo_path, {
        S + "laughs.yaml": "name: L\nslug: laughs\nkind: vm\nnotes: x\n" + "\n".join(laughs) + "\n",
        S + "deep.yaml": "name: D\nslug: deep\nkind: vm\nnotes: " + "[" * 5000 + "]" * 5000 + "\n",
        S + "huge.yaml": service_yaml("huge") + "notes: " + "x" * 1_100_000 + "\n",
        S + "ok.yaml": service_yaml("ok"),
    })
    result = sync(ctx)
    assert result.services == 1
    codes = {file: code for file, _, _, code, _ in problems(ctx)}
    assert codes == {S + "laughs.yaml": "yaml_syntax", S + "deep.yaml": "yaml_syntax", S + "huge.yaml": "too_large"}


def test_concurrent_syncs_of_the_same_commit_do_not_collide(ctx: AppContext) -> None:
    import threading

    commit_files(ctx.repo_path, {f"{S}s-{n}.yaml": service_yaml(f"s-{n}", tags=["t"]) for n in range(40)})
    results: list[index.SyncResult] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(sync(ctx))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and len(results) == 3
    assert all(result.services == 40 for result in results)
    with ctx.session_factory() as session:
        assert len(index.list_services(session=session, limit=100)[0]) == 40
        assert len(session.scalars(select(CatalogTag)).all()) == 40

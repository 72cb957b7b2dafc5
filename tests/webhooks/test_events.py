"""Every kind of event reaches a subscribed webhook, signed, in the documented schema: a real receiver
on 127.0.0.1 verifies each signature and each body is validated against docs/webhooks.schema.json."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from calcifer.backup import service as backup_service
from calcifer.backup.choices import Stage, Trigger
from calcifer.monitoring.choices import Status
from calcifer.web.context import AppContext
from calcifer.webhooks.choices import ALL_EVENTS
from tests.catalog.helpers import land_files, make_work_item, merge, write_and_commit
from tests.conftest import Cast
from tests.notify.helpers import add_endpoint, add_service, change, fire
from tests.webhooks.helpers import add_webhook, assert_valid, deliverer, receiver
from tests.work.helpers import finish_documentation

SERVICE = "name: Kiwi\nslug: kiwi\nkind: container\ndescription: berries\n"
ENDPOINT = "name: Kiwi port\nslug: kiwi-tcp\nservice: kiwi\ntype: tcp\ntarget: kiwi.lan\nport: 8080\n"


def test_work_item_events_arrive_signed_and_in_the_schema(ctx: AppContext, cast: Cast) -> None:
    with receiver() as hook, deliverer(ctx):
        add_webhook(cast.admin, hook.url, ["work_item.created", "work_item.updated", "work_item.merged",
                                           "work_item.cancelled"])
        item = make_work_item(cast.editor, title="Add kiwi", service=None)
        assert cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"title": "Add the kiwi"}).status_code == 200
        write_and_commit(cast.editor, item, "catalog/services/kiwi.yaml", SERVICE, entry="Added kiwi")
        finish_documentation(cast.editor, item)
        merged = merge(cast.editor, item)
        other = make_work_item(cast.editor, title="Never mind")
        assert cast.editor.request("DELETE", f"/api/v1/work-items/{other['id']}",
                                   params={"confirm": "true"}).status_code == 200
        got = hook.wait_for(lambda seen: "work_item.cancelled" in [r.event for r in seen])
    bodies = {}
    for r in got:
        bodies.setdefault(r.event, assert_valid(r))  # the first of each kind
    assert bodies["work_item.created"]["data"]["work_item"]["title"] == "Add kiwi"
    assert bodies["work_item.updated"]["data"]["work_item"]["id"] == item["id"]
    assert bodies["work_item.merged"]["data"]["work_item"]["merge_commit"] == merged["merge_commit"]
    assert bodies["work_item.merged"]["data"]["work_item"]["status"] == "complete"
    assert bodies["work_item.cancelled"]["data"]["work_item"]["id"] == other["id"]


def test_catalog_and_doc_changes_arrive_as_added_changed_removed(ctx: AppContext, cast: Cast) -> None:
    events = ["service.added", "service.changed", "service.removed", "endpoint.added", "endpoint.changed",
              "endpoint.removed", "doc.changed"]
    land_files(cast.editor, {"catalog/services/seed.yaml": SERVICE.replace("kiwi", "seed")})  # not the first sync
    with receiver() as hook, deliverer(ctx):
        add_webhook(cast.admin, hook.url, events)
        land_files(cast.editor, {"catalog/services/kiwi.yaml": SERVICE, "catalog/endpoints/kiwi-tcp.yaml": ENDPOINT,
                                 "docs/runbooks/kiwi.md": "---\ntitle: Kiwi\n---\n# Kiwi\n"}, title="Add kiwi")
        hook.wait_for(lambda seen: {"service.added", "endpoint.added", "doc.changed"} <= {r.event for r in seen})
        land_files(cast.editor, {"catalog/services/kiwi.yaml": SERVICE.replace("berries", "green berries"),
                                 "catalog/endpoints/kiwi-tcp.yaml": ENDPOINT.replace("8080", "8081")},
                   title="Change kiwi", entry="Changed kiwi", entry_type="Changed")
        hook.wait_for(lambda seen: {"service.changed", "endpoint.changed"} <= {r.event for r in seen})
        item = make_work_item(cast.editor, title="Remove kiwi")
        for path in ("catalog/services/kiwi.yaml", "catalog/endpoints/kiwi-tcp.yaml"):
            assert cast.editor.delete(f"/api/v1/work-items/{item['id']}/files/{path}").status_code == 204
        assert cast.editor.post(f"/api/v1/work-items/{item['id']}/commits", json={
            "message": "Remove kiwi", "changelog": {"type": "Removed", "text": "Removed kiwi"}}).status_code == 201
        finish_documentation(cast.editor, item)
        merge(cast.editor, item)
        got = hook.wait_for(lambda seen: {"service.removed", "endpoint.removed"} <= {r.event for r in seen})
    by_event = {}
    for r in got:
        by_event.setdefault(r.event, []).append(assert_valid(r)["data"])
    assert [d["service"]["slug"] for d in by_event["service.added"]] == ["kiwi"]
    assert [d["service"]["slug"] for d in by_event["service.changed"]] == ["kiwi"]
    assert [d["service"]["slug"] for d in by_event["service.removed"]] == ["kiwi"]
    assert by_event["endpoint.added"][0]["endpoint"] == {"slug": "kiwi-tcp", "service": "kiwi",
                                                         "url": "/endpoints/kiwi-tcp"}
    assert [d["endpoint"]["slug"] for d in by_event["endpoint.changed"]] == ["kiwi-tcp"]
    assert [d["endpoint"]["slug"] for d in by_event["endpoint.removed"]] == ["kiwi-tcp"]
    assert "docs/runbooks/kiwi.md" in [d["doc"]["path"] for d in by_event["doc.changed"]]
    assert "seed" not in {d["service"]["slug"] for d in by_event["service.added"]}  # before the webhook


def test_status_changes_and_incidents_arrive_from_the_result_writers_transaction(ctx: AppContext,
                                                                               cast: Cast) -> None:
    with ctx.session_factory() as session:
        add_service(session, "db")
        endpoint_id = add_endpoint(session, "db-tcp", service="db")
        session.commit()
    with receiver() as hook, deliverer(ctx):
        add_webhook(cast.admin, hook.url, ["endpoint.status_changed", "incident.opened", "incident.resolved"])
        now = dt.datetime.now(dt.UTC)  # a webhook hears what happens after it was created
        fire(ctx, change(endpoint_id, "db-tcp", Status.UP, Status.DOWN, now, service="db", message="refused"))
        fire(ctx, change(endpoint_id, "db-tcp", Status.DOWN, Status.UP, now + dt.timedelta(minutes=3), service="db"))
        got = hook.wait_for(lambda seen: len(seen) >= 4)
    # Deliveries to one webhook run side by side: they may arrive in any order; the outbox id says which came first.
    bodies = sorted((assert_valid(r) for r in got), key=lambda b: b["event_id"])
    statuses = [b["data"]["endpoint"] for b in bodies if b["event"] == "endpoint.status_changed"]
    assert [(s["old"], s["new"]) for s in statuses] == [("up", "down"), ("down", "up")]
    assert statuses[0]["message"] == "refused" and statuses[0]["service"] == "db"
    opened = next(b["data"]["incident"] for b in bodies if b["event"] == "incident.opened")
    resolved = next(b["data"]["incident"] for b in bodies if b["event"] == "incident.resolved")
    assert opened["endpoint"] == "db-tcp" and opened["status"] == "open"
    assert resolved["id"] == opened["id"] and resolved["duration_seconds"] == 180


def test_backup_finished_and_failed_arrive(ctx: AppContext, cast: Cast, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver() as hook, deliverer(ctx):
        add_webhook(cast.admin, hook.url, ["backup.finished", "backup.failed"])
        result = backup_service.backup(ctx=ctx, target_dir=tmp_path / "backups", trigger=Trigger.MANUAL)

        def broken_disk(stage: str, percent: float) -> None:
            if stage == Stage.ARCHIVE.value:
                raise OSError("No space left on device")

        monkeypatch.setattr(backup_service, "PROGRESS_HOOKS", [broken_disk])
        with pytest.raises(OSError):
            backup_service.backup(ctx=ctx, target_dir=tmp_path / "backups", trigger=Trigger.MANUAL)
        got = hook.wait_for(lambda seen: len(seen) >= 2)
    finished, failed = (assert_valid(r)["data"]["backup"] for r in got)
    assert got[0].event == "backup.finished" and got[1].event == "backup.failed"
    assert finished["file_name"] == result.path.name and finished["size_bytes"] == result.size
    assert finished["trigger"] == "manual"
    assert "No space left on device" in failed["error"]


def test_the_schema_names_every_event_a_webhook_can_subscribe_to() -> None:
    import json

    from tests.webhooks.helpers import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    assert set(ALL_EVENTS) | {"webhook.test"} == set(schema["properties"]["event"]["enum"])


def test_a_probe_going_offline_and_coming_back_arrives_once_each(ctx: AppContext, cast: Cast) -> None:
    from calcifer.monitoring import probes

    with ctx.session_factory() as session:
        probe, _ = probes.create_probe(session, name="fra-1", location="fra-vps")
        probes.seen(session, probe, probes.Heartbeat())  # its first call: online (before the webhook)
        session.commit()
    with receiver() as hook, deliverer(ctx):
        add_webhook(cast.admin, hook.url, ["probe.offline", "probe.online"])
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        with ctx.session_factory() as session:
            assert probes.sweep_offline(session, offline_after=60, now=later) == ["fra-1"]
            assert probes.sweep_offline(session, offline_after=60, now=later) == []  # still silent: no second event
            probe = probes.get_probe(session, name="fra-1")
            probes.seen(session, probe, probes.Heartbeat(), now=later + dt.timedelta(minutes=1))
            session.commit()
        got = hook.wait_for(lambda seen: len(seen) >= 2)
    bodies = sorted((assert_valid(r) for r in got), key=lambda b: b["event_id"])
    assert [b["event"] for b in bodies] == ["probe.offline", "probe.online"]
    offline = bodies[0]["data"]["probe"]
    assert (offline["name"], offline["location"], offline["online"]) == ("fra-1", "fra-vps", False)
    assert "not heard from since" in offline["message"] and offline["last_seen_at"]

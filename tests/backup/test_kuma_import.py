"""Uptime Kuma 1.x backup → endpoints on a work item, notifications → apprise URLs; the rest is reported."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from calcifer.auth import service as auth_service
from calcifer.backup import kuma
from calcifer.errors import Conflict, Invalid
from calcifer.web.context import AppContext
from calcifer.work import service as work_service
from tests.backup.helpers import SAMPLES
from tests.conftest import Cast
from tests.work.helpers import finish_documentation, git

SAMPLE = SAMPLES / "uptime-kuma-backup.json"


def run_import(ctx: AppContext) -> kuma.KumaReport:
    with ctx.session_factory() as session:
        actor = auth_service.get_user_by_username(session=session, username="eddie")
        return kuma.import_kuma(session=session, actor=actor, data=kuma.read_backup(SAMPLE),
                                categories=ctx.settings.work_categories,
                                workspace=work_service.Workspace(repo_path=ctx.repo_path,
                                                                 worktrees_dir=ctx.settings.worktrees_dir))


def on_branch(ctx: AppContext, branch: str, slug: str) -> dict[str, Any]:
    return dict(yaml.safe_load(git(ctx.repo_path, "show", f"{branch}:catalog/endpoints/{slug}.yaml")))


def test_every_mappable_monitor_becomes_an_endpoint_with_the_right_options(ctx: AppContext, cast: Cast) -> None:
    report = run_import(ctx)
    assert [e.slug for e in report.endpoints] == [
        "grafana", "home-assistant-login-page", "nextcloud-maintenance-banner", "nextcloud-installed",
        "api-create-probe", "postgres-port", "core-switch", "internal-dns", "nightly-backup-job", "zigbee-bridge",
        "grafana-2"]
    branch = report.branch
    specs = {e.slug: on_branch(ctx, branch, e.slug) for e in report.endpoints}
    assert specs["grafana"] == {"name": "Grafana", "slug": "grafana", "type": "http",
                                "target": "https://grafana.example.org/api/health", "interval": 30,
                                "retries": 2, "options": {"accepted_status": ["200-299", 301]},
                                "tags": ["production", "team:ops"], "kuma": {"monitor": 1}}
    assert specs["home-assistant-login-page"]["options"] == {"keyword": "Home Assistant"}
    assert specs["home-assistant-login-page"]["interval"] == 120
    assert specs["nextcloud-maintenance-banner"]["options"] == {"keyword_absent": '"maintenance":true',
                                                                "verify_tls": False}
    assert specs["nextcloud-installed"]["options"] == {"json_path": "installed", "json_equals": True}
    assert specs["nextcloud-installed"]["retries"] == 3
    assert specs["api-create-probe"]["options"] == {
        "method": "POST", "headers": {"Content-Type": "application/json", "X-Probe": "kuma"},
        "body": '{"probe": true}', "accepted_status": [201, "200-204"], "follow_redirects": False}
    assert {k: specs["postgres-port"][k] for k in ("type", "target", "port", "retries")} == {
        "type": "tcp", "target": "db.lan", "port": 5432, "retries": 2}
    assert {k: specs["core-switch"][k] for k in ("type", "target", "interval", "retries", "enabled")} == {
        "type": "icmp", "target": "10.0.0.2", "interval": 30, "retries": 4, "enabled": False}
    assert specs["internal-dns"]["type"] == "dns" and specs["internal-dns"]["target"] == "grafana.lan"
    assert specs["internal-dns"]["options"] == {"record_type": "AAAA", "resolver": "10.0.0.53:5353"}
    assert specs["nightly-backup-job"]["type"] == "push" and specs["nightly-backup-job"]["interval"] == 86400
    assert specs["grafana-2"]["type"] == "icmp"
    by_slug = {e.slug: e for e in report.endpoints}
    assert by_slug["grafana"].tags == ["production", "team:ops"]
    assert any("push" in note for note in by_slug["nightly-backup-job"].notes)


def test_unmappable_monitors_and_notifications_are_reported_not_dropped(ctx: AppContext, cast: Cast) -> None:
    report = run_import(ctx)
    skipped = {s.name: s.reason for s in report.skipped}
    assert set(skipped) == {"Jellyfin container", "Valheim server", "Status flipped", "Queue depth"}
    assert "docker" in skipped["Jellyfin container"]  # (the mqtt monitor maps: test_kuma_service_types.py)
    assert "steam" in skipped["Valheim server"]
    assert [(g.name, g.slug, g.existing) for g in report.groups] == [("Media", "media", False)]  # a service
    assert "upside-down" in skipped["Status flipped"] and "JSONata" in skipped["Queue depth"]
    assert [(s.name, s.kind) for s in report.channels_skipped] == [("Mail", "smtp")]
    assert {c.name for c in report.channels} == {"Ops Discord", "ntfy alerts", "Team Slack", "Gotify phone",
                                                 "Telegram", "Webhook to n8n"}
    json.dumps(report.as_dict())  # the report is plain data
    assert "AbCdEf" not in json.dumps(report.as_dict()), "apprise URLs hold tokens: the report masks them"


def test_the_import_is_one_open_work_item_whose_changelog_lists_the_endpoints(ctx: AppContext, cast: Cast) -> None:
    report = run_import(ctx)
    response = cast.editor.get(f"/api/v1/work-items/{report.work_item_id}")
    item = response.json()
    assert item["title"] == kuma.WORK_ITEM_TITLE and item["status"] in ("planning", "in_progress")
    changes = git(ctx.repo_path, "show", f"{report.branch}:CHANGES.md")
    for endpoint in report.endpoints:
        assert endpoint.slug in changes
    assert "Imported endpoints from Uptime Kuma" in changes
    assert "Jellyfin container (docker)" in item["description"] and "team:ops" in item["description"]
    # Nothing reached main: it waits for review and merge.
    assert "grafana-2" not in git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main")
    check = cast.editor.get(f"/api/v1/work-items/{report.work_item_id}/merge-check").json()
    assert not any("changelog" in p["code"] for p in check.get("problems", []))


def test_channels_are_created_when_the_notify_slice_offers_them(ctx: AppContext, cast: Cast) -> None:
    report = run_import(ctx)
    assert set(report.channels_created) == {c.name for c in report.channels}


def test_slugs_are_unique_also_against_endpoints_already_in_the_catalog(ctx: AppContext, cast: Cast) -> None:
    taken = {"grafana", "grafana-2"}
    report = kuma.plan(data=kuma.read_backup(SAMPLE), taken=taken)
    slugs = [e.slug for e in report.endpoints]
    assert "grafana" not in slugs and "grafana-2" not in slugs and "grafana-3" in slugs
    assert len(set(slugs)) == len(slugs)
    assert kuma.slugify("  Überwachung: Büro/NAS #1 ") == "uberwachung-buro-nas-1"
    assert kuma.slugify("!!!") == "endpoint"
    assert len(kuma.unique_slug("a" * 63, {"a" * 63})) <= 63


@pytest.mark.parametrize(("config", "url"), [
    ({"type": "discord", "discordWebhookUrl": "https://discord.com/api/webhooks/123/abc-DEF"}, "discord://123/abc-DEF"),
    ({"type": "slack", "slackwebhookURL": "https://hooks.slack.com/services/T1/B2/C3"}, "slack://T1/B2/C3"),
    ({"type": "ntfy", "ntfyserverurl": "http://ntfy.lan:8080", "ntfytopic": "alerts"}, "ntfy://ntfy.lan:8080/alerts"),
    ({"type": "gotify", "gotifyserverurl": "https://g.example.org/", "gotifyapplicationToken": "T0k",
      "gotifyPriority": 5}, "gotifys://g.example.org/T0k?priority=5"),
    ({"type": "telegram", "telegramBotToken": "1:AA", "telegramChatID": "42"}, "tgram://1:AA/42"),
    ({"type": "webhook", "webhookURL": "http://hook.lan/x?y=1", "webhookContentType": "json"}, "json://hook.lan/x?y=1"),
    ({"type": "webhook", "webhookURL": "https://hook.lan/x", "webhookContentType": "form-data"}, "forms://hook.lan/x"),
])
def test_notifications_map_to_apprise_urls(config: dict[str, Any], url: str) -> None:
    assert kuma.map_notification(config) == (url, "")


def test_a_file_that_is_not_a_kuma_backup_is_refused(tmp_path: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{\"hello\": 1}")
    with pytest.raises(Invalid, match="no monitorList"):
        kuma.read_backup(bad)
    bad.write_text("not json")
    with pytest.raises(Invalid, match="not JSON"):
        kuma.read_backup(bad)


def test_imported_channels_stay_disabled_until_the_work_item_is_merged(ctx: AppContext, cast: Cast) -> None:
    from calcifer.notify.models import Channel

    report = run_import(ctx)
    with ctx.session_factory() as session:
        channels = {c.name: c.enabled for c in session.query(Channel)}
    assert set(channels) == {f"{c.name} (Uptime Kuma)" for c in report.channels}
    assert not any(channels.values()), channels
    item = cast.editor.get(f"/api/v1/work-items/{report.work_item_id}").json()
    assert "created disabled" in item["description"] and "Ops Discord (Uptime Kuma)" in item["description"]


def _merge(cast: Cast, item_id: int) -> None:
    item = cast.editor.get(f"/api/v1/work-items/{item_id}").json()
    finish_documentation(cast.editor, item)
    response = cast.editor.post(f"/api/v1/work-items/{item_id}/merge")
    assert response.status_code == 200, response.text


def _import(ctx: AppContext, data: dict[str, Any]) -> kuma.KumaReport:
    with ctx.session_factory() as session:
        actor = auth_service.get_user_by_username(session=session, username="eddie")
        return kuma.import_kuma(session=session, actor=actor, data=data, categories=ctx.settings.work_categories,
                                workspace=work_service.Workspace(repo_path=ctx.repo_path,
                                                                 worktrees_dir=ctx.settings.worktrees_dir))


def test_a_monitor_without_a_timeout_gets_kumas_own_default_and_the_report_says_so() -> None:
    monitor = {"id": 7, "name": "Old Kuma", "type": "http", "url": "https://old.example.org", "interval": 60}
    spec, notes, _ = kuma.map_monitor(monitor, "old-kuma")
    assert spec is not None and spec["timeout"] == 48  # 0.8 × 60 s, as Kuma checks it, not Calcifer's 10 s
    assert any("timeout not in the backup: 48 s" in note for note in notes)
    spec, notes, _ = kuma.map_monitor(monitor | {"interval": 3600}, "old-kuma")
    assert spec is not None and spec["timeout"] == 300
    assert any("at most 300 s" in note for note in notes)


def test_importing_the_same_backup_again_updates_instead_of_adding_duplicates(ctx: AppContext, cast: Cast) -> None:
    data = kuma.read_backup(SAMPLE)
    first = _import(ctx, data)
    _merge(cast, first.work_item_id or 0)
    main_files = set(git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main").split())

    again = _import(ctx, data)
    assert again.work_item_id is None and again.endpoints == []  # nothing changed: nothing written
    assert sorted(e.slug for e in again.unchanged) == sorted(e.slug for e in first.endpoints)
    assert set(again.channels_existing) == set(first.channels_created) and again.channels_created == []

    changed = json.loads(json.dumps(data))
    grafana = next(m for m in changed["monitorList"] if m["name"] == "Grafana" and m["type"] == "http")
    grafana["interval"] = 45
    third = _import(ctx, changed)
    assert [(e.slug, e.updates) for e in third.endpoints] == [("grafana", "catalog/endpoints/grafana.yaml")]
    assert on_branch(ctx, third.branch, "grafana")["interval"] == 45
    assert "Updated endpoints from Uptime Kuma: grafana" in git(ctx.repo_path, "show", f"{third.branch}:CHANGES.md")
    _merge(cast, third.work_item_id or 0)
    after = set(git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main").split())
    assert not any(path.endswith("-2.yaml") and path not in main_files for path in after)
    every_monitor = {m["id"] for m in data["monitorList"]}
    ended = ([e.kuma_id for e in [*third.endpoints, *third.unchanged]] + [s.kuma_id for s in third.skipped]
             + [g.kuma_id for g in third.groups])  # a group became a service
    assert sorted(ended) == sorted(every_monitor)  # each monitor in exactly one list


def test_a_second_import_while_the_first_is_open_is_refused(ctx: AppContext, cast: Cast) -> None:
    first = _import(ctx, kuma.read_backup(SAMPLE))
    with pytest.raises(Conflict, match=f"still open as work item #{first.work_item_id}"):
        _import(ctx, kuma.read_backup(SAMPLE))


def test_a_channel_that_cannot_be_created_is_listed_once_as_not_created(ctx: AppContext, cast: Cast) -> None:
    data = kuma.read_backup(SAMPLE)
    with ctx.session_factory() as session:  # a channel by the imported name exists, made by a person
        actor = auth_service.get_user_by_username(session=session, username="eddie")
        from calcifer.notify import service as notify_service
        notify_service.create_channel(session=session, actor=actor, name="Telegram (Uptime Kuma)",
                                      url="json://hook.lan/mine")
    data["notificationList"].append({"id": 99, "name": "Bad bot", "config": json.dumps(
        {"type": "telegram", "telegramBotToken": "x", "telegramChatID": "1"})})  # apprise refuses the URL
    report = _import(ctx, data)
    created, existing = set(report.channels_created), set(report.channels_existing)
    skipped = {s.name for s in report.channels_skipped}
    assert {c.name for c in report.channels} == created
    assert not (created & existing) and not (created & skipped) and not (existing & skipped)
    assert "Telegram" in existing and "Bad bot" in skipped

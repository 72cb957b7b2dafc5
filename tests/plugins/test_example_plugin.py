"""Each extension point of the plugin interface, through the example plugin installed for real, and
Settings → Integrations switching it off and on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from calcifer import cli
from calcifer.outbox import service as outbox
from calcifer.outbox.choices import EventName
from calcifer.plugins import events as plugin_events
from calcifer.plugins import service as plugin_service
from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml
from tests.conftest import Cast, browser_login, make_user
from tests.plugins.conftest import NAME
from tests.work.helpers import finish_documentation, make_work_item, write_and_commit

pytestmark = pytest.mark.usefixtures("example_plugin")

ENDPOINT = "name: Flag\nslug: flag-file\nservice: files\ntype: example-file\ntarget: /etc/hostname\n"


def toggle(client: TestClient, enabled: bool) -> dict[str, Any]:
    response = client.patch(f"/api/v1/plugins/{NAME}", json={"enabled": enabled})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_plugin_is_listed_with_its_version_and_everything_it_provides(cast: Cast) -> None:
    items = {p["name"]: p for p in cast.admin.get("/api/v1/plugins").json()["items"]}
    assert items["calcifer"]["builtin"] is True
    assert "channel type apprise" in items["calcifer"]["provides"]
    assert "check type http" in items["calcifer"]["provides"]
    example = items[NAME]
    assert example["version"] == "0.1.0" and example["enabled"] is True and not example["builtin"]
    assert set(example["provides"]) == {
        "check type example-file", "channel type example-file",
        "event subscriber remember (work_item.created, work_item.merged, endpoint.status_changed)",
        "panel on service pages: Example: about this slug", "command calcifer example-hello"}


def test_only_admins_see_or_switch_plugins(cast: Cast) -> None:
    assert cast.editor.get("/api/v1/plugins").status_code == 403
    assert cast.viewer.patch(f"/api/v1/plugins/{NAME}", json={"enabled": False}).status_code == 403
    assert cast.admin.patch("/api/v1/plugins/calcifer", json={"enabled": False}).status_code == 422
    missing = cast.admin.patch("/api/v1/plugins/not-installed", json={"enabled": False})
    assert missing.status_code == 404 and "GET /api/v1/plugins" in missing.json()["error"]["message"]
    assert cast.admin.patch(f"/api/v1/plugins/{NAME}", json={"enabled": "maybe"}).status_code == 422


def test_a_disabled_plugins_check_type_is_a_problem_of_the_files_using_it(ctx: AppContext, cast: Cast) -> None:
    commit_files(ctx.repo_path, {"catalog/services/files.yaml": service_yaml("files"),
                                 "catalog/endpoints/flag-file.yaml": ENDPOINT})
    cast.admin.post("/api/v1/catalog/sync")
    assert cast.viewer.get("/api/v1/endpoints/flag-file").status_code == 200

    toggle(cast.admin, False)
    problems = cast.viewer.get("/api/v1/catalog/problems").json()["items"]
    mine = [p for p in problems if p["file"] == "catalog/endpoints/flag-file.yaml"]
    assert mine and "plugin 'calcifer-example-plugin', which is disabled" in mine[0]["message"]
    # ... and in the merge check of a work item that touches such a file.
    item = make_work_item(cast.editor, title="Watch another file")
    write_and_commit(cast.editor, item, "catalog/endpoints/other-flag.yaml",
                     ENDPOINT.replace("flag-file", "other-flag"), entry="Watch another file")
    finish_documentation(cast.editor, item)
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert any("which is disabled" in p["message"] for p in check["problems"]), check

    toggle(cast.admin, True)
    assert not [p for p in cast.viewer.get("/api/v1/catalog/problems").json()["items"]
                if p["file"] == "catalog/endpoints/flag-file.yaml"]
    again = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert not any("which is disabled" in p["message"] for p in again["problems"]), again


def test_the_channel_type_delivers_and_is_refused_while_disabled(cast: Cast, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    created = cast.admin.post("/api/v1/notification-channels", json={"name": "file", "url": f"example-file://{out}"})
    assert created.status_code == 201, created.text
    sent = cast.admin.post(f"/api/v1/notification-channels/{created.json()['id']}/test")
    assert sent.status_code == 200 and sent.json()["status"] == "sent", sent.text
    assert json.loads(out.read_text())["title"] == "[TEST] Calcifer notification"

    toggle(cast.admin, False)
    refused = cast.admin.post("/api/v1/notification-channels", json={"name": "f2", "url": f"example-file://{out}"})
    assert refused.status_code == 422 and "which is disabled" in refused.json()["error"]["message"]
    failed = cast.admin.post(f"/api/v1/notification-channels/{created.json()['id']}/test").json()
    assert failed["status"] != "sent" and "disabled" in failed["last_error"]
    toggle(cast.admin, True)


def test_event_subscribers_get_each_event_once_and_nothing_while_disabled(ctx: AppContext, cast: Cast) -> None:
    from calcifer_example_plugin.events import RECEIVED  # type: ignore[import-not-found]

    plugin_events.deliver(session_factory=ctx.session_factory)  # the first round starts at the newest event

    def emit(name: EventName) -> None:
        with ctx.session_factory() as session:
            outbox.emit(session=session, name=name, data={"id": 42})
            session.commit()

    emit(EventName.WORK_ITEM_CREATED)
    emit(EventName.DOC_CHANGED)  # not one the subscriber asked for
    RECEIVED.clear()
    assert plugin_events.deliver(session_factory=ctx.session_factory) == 2
    assert plugin_events.deliver(session_factory=ctx.session_factory) == 0
    assert [(name, data) for _, name, data in RECEIVED] == [("work_item.created", {"id": 42})]

    toggle(cast.admin, False)
    emit(EventName.WORK_ITEM_MERGED)
    plugin_events.deliver(session_factory=ctx.session_factory)
    assert len(RECEIVED) == 1
    toggle(cast.admin, True)


def test_the_panel_shows_on_service_pages_until_the_plugin_is_disabled(ctx: AppContext, app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    commit_files(ctx.repo_path, {"catalog/services/git-server.yaml": service_yaml("git-server")})
    cast.admin.post("/api/v1/catalog/sync")
    make_user(ctx, "pat", __import__("calcifer.auth.choices", fromlist=["Role"]).Role.VIEWER)
    browser = TestClient(app, follow_redirects=False)
    browser_login(browser, "pat")
    page = browser.get("/services/git-server").text
    assert "Example: about this slug" in page
    assert "<code>git-server</code> has 10 characters in 2 part(s): git, server." in page
    toggle(cast.admin, False)
    assert "Example: about this slug" not in browser.get("/services/git-server").text
    toggle(cast.admin, True)


def test_the_cli_command_runs_and_refuses_while_disabled(ctx: AppContext, cast: Cast, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "_context", lambda **_: plugin_service.refresh_from(ctx.session_factory))
    # The commands join a copy of the app's list: other tests see `calcifer` as it ships.
    monkeypatch.setattr(cli.app, "registered_commands", list(cli.app.registered_commands))
    cli.add_plugin_commands(cli.app)
    runner = CliRunner()
    assert "Hello, Ada, from the example plugin." in runner.invoke(cli.app, ["example-hello", "Ada"]).output
    toggle(cast.admin, False)
    result = runner.invoke(cli.app, ["example-hello", "Ada"])
    assert result.exit_code == 1 and "is disabled" in result.output
    toggle(cast.admin, True)


def test_the_integrations_page_lists_plugins_and_toggles_them(ctx: AppContext, app) -> None:  # type: ignore[no-untyped-def]
    from calcifer.auth.choices import Role

    make_user(ctx, "root", Role.ADMIN)
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "root")
    page = browser.get("/settings/integrations")
    assert page.status_code == 200 and NAME in page.text and "command calcifer example-hello" in page.text
    response = browser.post(f"/settings/integrations/{NAME}", data={"enabled": "false", "csrf_token": token})
    assert response.status_code == 303
    assert "Enable<span" in browser.get("/settings/integrations").text
    browser.post(f"/settings/integrations/{NAME}", data={"enabled": "true", "csrf_token": token})


def test_the_example_plugins_own_tests_pass() -> None:
    import os
    import subprocess
    import sys

    from tests.plugins.conftest import EXAMPLE

    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             str(EXAMPLE / "tests")], capture_output=True, text=True, cwd=EXAMPLE,
                            env={**os.environ, "PYTHONPATH": src}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

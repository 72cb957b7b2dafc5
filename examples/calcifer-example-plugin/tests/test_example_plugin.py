"""The example plugin's own tests: each extension point on its own (Calcifer importable; the plugin
itself need not be installed: tests put its src/ on sys.path)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from calcifer_example_plugin import channel, checks, events, panel  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from calcifer.monitoring.checks.base import CheckContext, Target  # noqa: E402
from calcifer.monitoring.choices import Status  # noqa: E402


def test_the_check_is_up_while_the_file_exists_and_long_enough(tmp_path: Path) -> None:
    file = tmp_path / "flag"
    file.write_text("ready")
    check = checks.FileCheck()
    run = lambda options: asyncio.run(check.check(Target("f", str(file), None, 5), options, CheckContext()))  # noqa: E731
    assert run(check.parse_options({})).status == Status.UP
    assert run(check.parse_options({"min_bytes": 100})).status == Status.DOWN
    file.unlink()
    assert run(check.parse_options({})).status == Status.DOWN


def test_the_channel_appends_one_json_line_per_message(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    sender = channel.FileChannel()
    assert sender.check_url(f"example-file://{out}") is None
    assert sender.check_url("example-file://relative") is not None
    assert sender.send(f"example-file://{out}", title="down", body="web is down", kind="down", timeout=5) == (True, "")
    assert json.loads(out.read_text())["title"] == "down"


def test_the_subscriber_remembers_events() -> None:
    class Event:
        id, name, data = 7, "work_item.created", {"id": 1}

    events.remember(Event())
    assert events.RECEIVED[-1] == (7, "work_item.created", {"id": 1})


def test_the_panel_data_splits_the_slug() -> None:
    assert panel.slug_facts(session=None, subject="git-server") == {"length": 10, "parts": ["git", "server"]}


def test_the_command_greets() -> None:
    import typer

    app = typer.Typer()
    app.command()(__import__("calcifer_example_plugin.cli", fromlist=["hello"]).hello)
    assert "Hello, Ada" in CliRunner().invoke(app, ["Ada"]).output

"""Docs cannot drift: every setting and every CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import typer.main

from calcifer.cli import app as cli_app
from calcifer.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"CALCIFER_{name.upper()}" in text, f"CALCIFER_{name.upper()} missing from docs/configuration.md"


def _commands(group: typer.Typer, prefix: str = "") -> list[str]:
    click_group = typer.main.get_command(group)
    names = []
    for name, command in click_group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            names += [f"{prefix}{name} {sub}" for sub in command.commands]
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_cli_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = _commands(cli_app)
    assert "serve" in commands and "token create" in commands
    for command in commands:
        group, _, sub = command.partition(" ")
        documented = f"calcifer {command}" in readme or (sub and f"calcifer {group} " in readme and sub in readme)
        assert documented, f"`calcifer {command}` is not in the README"


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick and "make test" in quick

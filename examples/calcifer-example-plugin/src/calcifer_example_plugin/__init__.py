"""Calcifer's example plugin: ``plugin(wiring)`` registers a channel type, an event subscriber, a panel
and a CLI command; the check type is a ``calcifer.checks`` entry point (see pyproject.toml)."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from calcifer_example_plugin.channel import FileChannel
from calcifer_example_plugin.cli import hello
from calcifer_example_plugin.events import remember
from calcifer_example_plugin.panel import slug_facts


def plugin(wiring: Any) -> None:
    """The ``calcifer.plugins`` entry point: called with the ``Wiring`` being built."""
    wiring.add_channel_type(FileChannel())
    wiring.add_event_subscriber("remember", remember,
                                events=("work_item.created", "work_item.merged", "endpoint.status_changed"))
    wiring.add_panel(page="service", name="slug-facts", title="Example: about this slug",
                     template=files("calcifer_example_plugin").joinpath("panel.html").read_text(encoding="utf-8"),
                     data=slug_facts)
    wiring.add_command("example-hello", hello, help="Greet someone (the example plugin's command).")

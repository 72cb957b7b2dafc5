"""The plugin interface without the example package: a plugin's failures stay its own."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from calcifer import wiring
from calcifer.plugins import panels, registry


def test_a_failing_panel_shows_as_failed_and_the_others_still_render(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*, session: Any, subject: str) -> dict[str, Any]:
        raise RuntimeError("bug")

    def fine(*, session: Any, subject: str) -> dict[str, Any]:
        return {"who": "<b>x</b>"}

    monkeypatch.setattr(registry, "PANELS", [
        registry.Panel("p1", "service", "broken", "Broken", "never", broken),
        registry.Panel("p2", "service", "fine", "Fine", "{{ subject }}: {{ who }}", fine),
        registry.Panel("p2", "endpoint", "other", "Other page", "x", fine),
    ])
    shown = panels.render_panels(session=None, page="service", subject="git")
    assert [(p.title, p.error != "") for p in shown] == [("Broken", True), ("Fine", False)]
    assert str(shown[1].html) == "git: &lt;b&gt;x&lt;/b&gt;"  # autoescaped
    monkeypatch.setattr(registry, "DISABLED", {"p2"})
    assert [p.title for p in panels.render_panels(session=None, page="service", subject="git")] == ["Broken"]


def test_a_panel_template_cannot_reach_python_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "PANELS", [registry.Panel(
        "p", "service", "evil", "Evil", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        lambda *, session, subject: {})])
    shown = panels.render_panels(session=None, page="service", subject="git")
    assert shown[0].error  # the sandbox refused it


def test_a_plugin_that_raises_is_listed_with_its_error_and_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(w: wiring.Wiring) -> None:
        w.add_command("half", lambda: None)
        raise RuntimeError("plugin bug")

    def bad_page(w: wiring.Wiring) -> None:
        w.add_panel(page="dashboard", name="x", title="X", template="", data=lambda *, session, subject: {})

    monkeypatch.setitem(sys.modules, "fake_interface_plugins", type(sys)("fake_interface_plugins"))
    sys.modules["fake_interface_plugins"].broken = broken  # type: ignore[attr-defined]
    sys.modules["fake_interface_plugins"].bad_page = bad_page  # type: ignore[attr-defined]
    points = [EntryPoint(n, f"fake_interface_plugins:{n}", wiring.PLUGIN_GROUP) for n in ("broken", "bad_page")]
    monkeypatch.setattr(wiring, "entry_points", lambda group: points if group == wiring.PLUGIN_GROUP else [])
    built = wiring.build()
    errors = [e for info in built.installed_plugins for e in info.errors]
    assert "broken: RuntimeError: plugin bug" in errors
    assert any(e.startswith("bad_page: ValueError: panel 'x': page must be one of") for e in errors)
    assert [e.channel.kind for e in built.channel_types] == ["apprise"]
    assert built.commands == []  # what the broken plugin added before it raised was taken back

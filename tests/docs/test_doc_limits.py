"""Docs stay cheap and safe to render whatever their size or front matter: nesting past the YAML limit is
refused with a clear 422 in preview and on save (it used to kill the server), and a huge doc renders its
first part with a note instead of burning seconds of CPU."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calcifer.catalog.yamllimits import MAX_DEPTH
from calcifer.config import Settings
from calcifer.docs import render
from calcifer.docs.render import render_markdown
from calcifer.web.context import AppContext
from tests.child_process import run_python
from tests.conftest import Cast, make_token, make_user
from tests.work.helpers import make_work_item

DEEP_FRONT_MATTER = "---\nx: " + "[" * 30_000 + "]" * 30_000 + "\n---\n# Hello\n"  # ~60 KB


def test_preview_of_deeply_nested_front_matter_is_a_422_not_a_dead_server(ctx: AppContext, settings: Settings) -> None:
    make_user(ctx, "vera", "viewer")  # type: ignore[arg-type]
    token = make_token(ctx, "vera")
    values = {"data_dir": str(settings.data_dir), "database_url": settings.resolved_database_url,
              "database_schema": settings.database_schema, "monitor_in_web": False}
    code = f"""
import json
from fastapi.testclient import TestClient
from calcifer.app import create_app, prepare
from calcifer.config import Settings
app = create_app(ctx=prepare(Settings(_env_file=None, **json.loads({json.dumps(values)!r})), reconcile=False))
client = TestClient(app, headers={{"Authorization": "Bearer {token}"}})
response = client.post("/api/v1/docs/preview", json={{"markdown": {DEEP_FRONT_MATTER!r}}})
print(json.dumps({{"status": response.status_code, "body": response.json()}}))
"""
    child = run_python(code)

    assert child.returncode == 0, f"the server process died (rc {child.returncode}): {child.stderr[-500:]}"
    answer = json.loads(child.stdout.strip().splitlines()[-1])
    assert answer["status"] == 422
    error = answer["body"]["error"]
    assert error["code"] == "yaml_too_complex"
    assert error["details"]["line"] == 2
    assert error["message"].startswith(f"Front matter: YAML: collections are nested more than {MAX_DEPTH} levels deep")


def test_saving_a_doc_with_too_deep_front_matter_is_refused_before_anything_is_written(cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Deep doc", category="documentation")
    deep = "---\nx: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n---\n# Hello\n"

    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/docs/docs/deep.md", json={"content": deep})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "yaml_too_complex"
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/files/docs/deep.md").status_code == 404


def test_a_doc_over_the_render_limit_shows_its_first_part_and_says_so(
        cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "MAX_RENDER_CHARS", 2_000)
    rows = "".join(f"| row {i} | value {i} |\n" for i in range(200))
    text = "# Inventory\n\n| name | value |\n|---|---|\n" + rows + "\nTHE-LAST-LINE\n"

    response = cast.viewer.post("/api/v1/docs/preview", json={"markdown": text})

    assert response.status_code == 200, response.text
    html = response.json()["html"]
    assert "<td>row 0</td>" in html
    assert "THE-LAST-LINE" not in html
    assert "This doc is too large to show in full" in html
    assert f"of its {len(text):,} characters" in html


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["| a | b |\n", "|---|---|\n", "- item\n", "> quote\n", "```\n", "**x** ",
                                 "[l](x.md) ", "<div>", "</div>", "\n", "# T\n", "|", "`", "*", "_"]),
                min_size=1, max_size=200).map("".join), st.integers(1, 4))
def test_generated_markdown_renders_in_full_up_to_the_limit_and_with_a_note_past_it(
        monkeypatch: pytest.MonkeyPatch, soup: str, copies: int) -> None:
    monkeypatch.setattr(render, "MAX_RENDER_CHARS", 1_000)
    text = (soup * (copies * 1_000 // len(soup) + 1))[:copies * 600] + "\nEND-MARKER\n"

    html = render_markdown(text).html

    if len(text) <= 1_000:
        assert "too large to show in full" not in html
    else:
        assert "too large to show in full" in html
        assert "END-MARKER" not in html

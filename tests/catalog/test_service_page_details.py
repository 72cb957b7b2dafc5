"""The service page's details card shows what the file sets, never the empty fields of the schema."""

from __future__ import annotations

import html
import re

from calcifer.catalog import index
from calcifer.web.context import AppContext
from tests.catalog import commit_files
from tests.conftest import Cast

S = "catalog/services/"


def details(cast: Cast, slug: str) -> str:
    page = cast.viewer.get(f"/services/{slug}")
    assert page.status_code == 200, page.text
    card = page.text.split("<h2>Details</h2>")[1].split("</section>")[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card)))


def test_the_deployment_shows_only_the_fields_that_are_set(ctx: AppContext, cast: Cast) -> None:
    commit_files(ctx.repo_path, {
        S + "grafana.yaml": "name: Grafana\nslug: grafana\nkind: container\nresources: {memory: 2 GiB}\n"
                            "deployment:\n  type: compose\n  compose_file: stacks/grafana/compose.yaml\n"
                            "  notes: Restart after upgrades.\n",
        S + "router.yaml": "name: Router\nslug: router\nkind: network_device\n",
    })
    with ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=ctx.repo_path)
    text = details(cast, "grafana")
    assert "Deployment compose compose file stacks/grafana/compose.yaml Restart after upgrades." in text
    assert "Resources memory 2 GiB" in text
    for unset in ("None", "image", "systemd", "namespace", "manifest", "compose project", "cpu", "disk"):
        assert unset not in text, (unset, text)
    bare = details(cast, "router")
    assert "Deployment" not in bare and "Resources" not in bare

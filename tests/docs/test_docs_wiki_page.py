"""A doc page reads like a wiki: the page tree beside it, the table of contents, and the title once."""

from __future__ import annotations

import re

from tests.conftest import Cast
from tests.docs.test_docs_reading import land


def test_a_doc_page_shows_its_title_once_with_the_toc_beside_the_text(cast: Cast) -> None:
    land(cast.editor, {"docs/runbooks/backup.md": "# Backup runbook\n\n## Before\n\nStop.\n\n## After\n\nStart.\n"})
    page = cast.viewer.get("/docs/view/docs/runbooks/backup.md").text
    assert len(re.findall(r"<h1\b", page)) == 1
    assert '<h1 id="doc-title">Backup runbook</h1>' in page
    toc = page.split('id="toc"', 1)[1].split("</aside>", 1)[0]
    assert '<a href="#doc-before">Before</a>' in toc and '<a href="#doc-after">After</a>' in toc
    # The contents come before the text in the page (first on a phone), and sit beside it on a wide screen.
    assert page.index('id="toc"') < page.index('id="doc-body"')


def test_the_page_tree_opens_the_folders_down_to_the_doc_and_marks_it(cast: Cast) -> None:
    land(cast.editor, {
        "docs/index.md": "# Home\n\nWelcome.\n",
        "docs/runbooks/backup.md": "# Backup runbook\n\nNightly.\n",
        "docs/runbooks/restore.md": "# Restore runbook\n\nFrom the NAS.\n",
        "docs/services/grafana.md": "# Grafana\n\nDashboards.\n",
    })
    page = cast.viewer.get("/docs/view/docs/runbooks/backup.md").text
    tree = page.split('id="doc-tree"', 1)[1].split("</nav>", 1)[0]
    assert '<a href="/docs/view/docs/runbooks/backup.md" aria-current="page">Backup runbook</a>' in tree
    assert '<a href="/docs/view/docs/runbooks/restore.md">Restore runbook</a>' in tree
    assert '<a href="/docs/view/docs/index.md">Home</a>' in tree
    assert 'class="doc-tree-folder is-open"><a href="/docs?prefix=docs%2Frunbooks">runbooks/</a>' in tree
    # A folder off the path is listed, closed: its docs are one click away on its own page.
    assert '<li class="doc-tree-folder"><a href="/docs?prefix=docs%2Fservices">services/</a>' in tree
    assert "Grafana" not in tree

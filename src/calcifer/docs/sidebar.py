"""The page tree beside a doc: the folders and docs of docs/, opened along the path to the doc shown.

Built from ``views.list_folders`` and ``views.list_docs`` (the docs index), one level per folder on
the way down, so its cost grows with the doc's depth, not with the number of docs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session

from calcifer.docs import views

__all__ = ["MAX_TREE_DOCS", "TreeNode", "page_tree"]

MAX_TREE_DOCS = 50  # docs listed per folder; the rest are one "more" link to the folder's page away
DOCS_DIR = "docs"


@dataclass
class TreeNode:
    label: str
    url: str
    folder: bool
    current: bool = False  # the doc shown
    open: bool = False  # a folder on the path to the doc shown
    children: list[TreeNode] = field(default_factory=list)


def _folder_url(folder: str) -> str:
    return "/docs" if folder == DOCS_DIR else "/docs?" + urlencode({"prefix": folder})


def _level(*, session: Session, repo_path: Path, folder: str, path: str) -> list[TreeNode]:
    prefix = None if folder == DOCS_DIR else folder
    nodes: list[TreeNode] = []
    for sub in views.list_folders(session=session, repo_path=repo_path, prefix=prefix):
        on_path = path.startswith(sub.path + "/")
        node = TreeNode(label=sub.name + "/", url=_folder_url(sub.path), folder=True, open=on_path)
        if on_path:
            node.children = _level(session=session, repo_path=repo_path, folder=sub.path, path=path)
        nodes.append(node)
    docs, more = views.list_docs(session=session, repo_path=repo_path, prefix=prefix, direct=True,
                                   limit=MAX_TREE_DOCS)
    nodes += [TreeNode(label=d.title, url="/docs/view/" + quote(d.path, safe="/"), folder=False,
                       current=d.path == path) for d in docs]
    if more is not None:
        nodes.append(TreeNode(label="More…", url=_folder_url(folder), folder=False))
    return nodes


def page_tree(*, session: Session, repo_path: Path, path: str) -> list[TreeNode]:
    """The top level of docs/ with every folder above ``path`` opened (and only those), each doc
    marked ``current`` when it is ``path``. Templates (docs/_templates/) are not part of it."""
    return _level(session=session, repo_path=repo_path, folder=DOCS_DIR, path=path)

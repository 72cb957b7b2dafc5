"""The merge check's validation, asked of outside commits before they reach main (``INTEGRATION_RULES``
in ``calcifer.wiring``): main is always valid, whoever wrote the commits.

Each rule asks the slice that owns the files, through that slice's functions: the catalog's
``findings.branch_findings`` (exactly what a work item's merge check runs) and the docs' front matter
check.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.catalog import findings
from calcifer.docs.render import front_matter_error
from calcifer.docs.service import DOCS_DIR, FRONT_MATTER_PROBLEM, MAX_DOC_BYTES
from calcifer.errors import Problem


def catalog_problems(*, session: Session, repo_path: Path, base: str, tip: str) -> list[Problem]:
    """Catalog files that would not load (errors the outside commits cause; warnings never refuse)."""
    found = findings.branch_findings(repo_path=repo_path, base=base, tip=tip)
    return [Problem(f"catalog_{f.code}", f"{f.file} (line {f.line}): {f.message}", path=f.file, line=f.line,
                    blocking=f.severity == "error") for f in found.caused]


def docs_problems(*, session: Session, repo_path: Path, base: str, tip: str) -> list[Problem]:
    """Docs the outside commits add or change whose front matter does not read."""
    problems: list[Problem] = []
    docs = [(path, blob_id) for path, blob_id in git.changed_paths(repo_path=repo_path, base=base, tip=tip,
                                                                   prefix=DOCS_DIR + "/")
            if blob_id is not None and path.endswith(".md")]
    blobs = git.read_blobs(repo_path=repo_path, blob_ids=[blob_id for _path, blob_id in docs],
                           max_bytes=MAX_DOC_BYTES)
    for path, blob_id in docs:
        data = blobs[blob_id]
        if data is None:
            continue
        error = front_matter_error(data.decode("utf-8", "replace"))
        if error is not None:
            line, message = error
            problems.append(Problem(FRONT_MATTER_PROBLEM, f"{path} (line {line}): {message}", path=path,
                                    line=line))
    return problems

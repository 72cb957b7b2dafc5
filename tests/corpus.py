"""Where the shared corpus of real files lives (`../shared/corpus` beside the checkout).

A clean clone elsewhere (CI) finds it through CALCIFER_CORPUS_DIR or the workplace's fixed path.
The tests that use it fail, never skip, when it is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    Path(os.environ["CALCIFER_CORPUS_DIR"]) if os.environ.get("CALCIFER_CORPUS_DIR") else None,
    Path(__file__).resolve().parents[1].parent / "shared" / "corpus",
    Path("/work/shared/corpus"),
]


def corpus_dir() -> Path:
    for candidate in _CANDIDATES:
        if candidate is not None and candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


COMPOSE_CORPUS = corpus_dir() / "compose"

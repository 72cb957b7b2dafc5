from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calcifer.instance import AppContext
from calcifer.remote import service as remote_service
from calcifer.remote import sync as remote_sync
from tests.remote.servers import Laptop, bare_remote


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path / "forge" / "infra.git")


@pytest.fixture
def sync(ctx: AppContext) -> Iterator[None]:
    """The real background service (push after merges), as the web app's lifespan starts it."""
    remote_service.push_wanted.clear()
    stop = remote_sync.start(ctx)
    yield
    stop()


def laptop(remote: Path, tmp_path: Path, name: str = "laptop") -> Laptop:
    return Laptop(remote, tmp_path / name)

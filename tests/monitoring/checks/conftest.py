"""Async tests (anyio on asyncio) and the one shared HTTP client session, as the scheduler builds it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from calcifer.monitoring.checks.http import make_http_session


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    session = make_http_session()
    yield session
    await session.close()

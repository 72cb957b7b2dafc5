"""The service-page panel's data function."""

from __future__ import annotations

from typing import Any


def slug_facts(*, session: Any, subject: str) -> dict[str, Any]:
    return {"length": len(subject), "parts": subject.split("-")}

"""Routes of this slice (being written)."""

from __future__ import annotations

from fastapi import APIRouter

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["search"])

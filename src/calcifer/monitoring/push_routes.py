"""Placeholder: being written."""

from __future__ import annotations

from fastapi import APIRouter

pages = APIRouter()
api = APIRouter(prefix="/api/v1")

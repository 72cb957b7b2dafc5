"""Shapes every JSON API answer shares: the house error body, documented once for every operation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """What every refused API request answers: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


# Any operation can answer these (bad body, no or wrong credentials, missing object, failed precondition,
# invalid input, too many attempts), so each is documented on every operation with the house error body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The request could not be read (e.g. malformed JSON)."},
    401: {"model": ErrorBody, "description": "No credentials, or they are not valid."},
    403: {"model": ErrorBody, "description": "The user's role does not allow this."},
    404: {"model": ErrorBody, "description": "Nothing exists at this address."},
    409: {"model": ErrorBody, "description": "A conflict or an unmet precondition; every unmet rule is listed."},
    422: {"model": ErrorBody, "description": "The input is not valid; details name each field to fix."},
    429: {"model": ErrorBody, "description": "Too many attempts; try again later."},
}


class HealthPublic(BaseModel):
    status: str = Field(description="ok, or unavailable (with the problems, answered with 503)")
    problems: list[str] = Field(default_factory=list)

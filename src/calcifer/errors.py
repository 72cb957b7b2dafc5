"""Domain errors raised by services; one exception handler turns them into responses.

Services never build HTTP responses: they raise one of these, and ``web.errors`` maps it to the
JSON error body (``{"error": {"code", "message", "details"}}``) or to an HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One unmet rule of a precondition (e.g. one reason a merge is refused)."""

    code: str
    message: str
    path: str | None = None     # the file the problem is in, when it has a place
    line: int | None = None
    blocking: bool = True       # False: a warning, listed but never refusing
    on_main: bool = False       # already on main and not caused by the change: shown apart, never refusing

    @property
    def refuses(self) -> bool:
        return self.blocking and not self.on_main

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.path is not None:
            result["path"] = self.path
            result["line"] = self.line
        return result


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class Invalid(DomainError):
    """Bad input: the message says what to fix. ``details`` may list field errors."""

    status_code = 422
    code = "invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    """A failed precondition or a conflicting state. ``problems`` lists every unmet rule at once."""

    status_code = 409
    code = "conflict"

    def __init__(
        self, message: str, *, code: str | None = None, problems: list[Problem] | None = None
    ) -> None:
        self.problems = list(problems or [])
        super().__init__(
            message, code=code, details={"problems": [p.as_dict() for p in self.problems]}
        )


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_attempts"


class Unavailable(DomainError):
    """Something Calcifer depends on (a directory, an identity provider) cannot be reached now; retrying
    later may help."""

    status_code = 503
    code = "unavailable"

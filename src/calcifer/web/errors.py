"""The one place that turns errors into responses: JSON error bodies for the API, pages for people."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from calcifer.errors import Conflict, DomainError, NotAuthenticated
from calcifer.web.middleware import wants_json
from calcifer.web.security import flash
from calcifer.web.templating import render

log = logging.getLogger("calcifer.errors")

TITLES = {400: "Bad request", 401: "Log in needed", 403: "Not allowed", 404: "Not found",
          405: "Method not allowed", 409: "Cannot do that yet", 422: "Please fix the input",
          429: "Too many attempts", 500: "Something went wrong", 503: "Unavailable"}
HINTS = {403: "Ask an admin for a role that allows this.",
         404: "Check the address, or go back to the dashboard.",
         500: "The error was logged with the request id below; try again, and tell your admin if it persists."}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _page(request: Request, status: int, message: str, details: Any = None) -> Response:
    problems = details.get("problems") if isinstance(details, dict) else None
    return render(request, "errors/error.html", {
        "status_code": status, "title": TITLES.get(status, "Error"), "message": message,
        "hint": HINTS.get(status, ""), "problems": problems,
        "request_id": getattr(request.state, "request_id", ""),
    }, status_code=status)


def sentence(text: str) -> str:
    """A validation message as a sentence: pydantic's "Value error, " prefix dropped, capitalised, ended."""
    text = text.removeprefix("Value error, ").removeprefix("Assertion failed, ").strip() or "Invalid value"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        # The first part says where the value was (body, query, path...); a field may itself be named "path".
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        out.append({"field": ".".join(loc), "message": sentence(str(err.get("msg", "invalid")))})
    return out


def validation_message(details: list[dict[str, Any]]) -> str:
    """One message naming every field to fix (the first five), each as a sentence."""
    parts = [f"{d['field'] or 'The request body'}: {d['message']}" for d in details[:5]]
    more = len(details) - len(parts)
    return "Please fix the input. " + " ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, NotAuthenticated) and not wants_json(request):
            return RedirectResponse("/login", status_code=303)
        if wants_json(request):
            body = error_body(exc.code, exc.message, exc.details)
            return JSONResponse(body, status_code=exc.status_code)
        # A refused form post goes back where it came from with the reason shown, so nothing typed
        # is lost from view; other errors get an error page.
        referer = request.headers.get("referer")
        if request.method == "POST" and referer and exc.status_code in (409, 422, 429) and not isinstance(
                exc, Conflict) and _same_origin(request, referer):
            flash(request, "error", exc.message)
            return RedirectResponse(referer, status_code=303)
        return _page(request, exc.status_code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = _validation_details(exc)
        message = validation_message(details)
        if wants_json(request):
            return JSONResponse(error_body("invalid", message, details), status_code=422)
        return _page(request, 422, message)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def unstorable(request: Request, exc: Exception) -> Response:
        # The database refused a value the request carried (PostgreSQL: a NUL character in text, a number
        # beyond its column; SQLite's driver: a number beyond 64 bits). The session rolls back: nothing kept.
        log.info("refused an unstorable value: %s", type(exc).__name__)
        message = ("A value in the request cannot be stored: a number is too large or a text holds a NUL "
                   "character. Nothing was changed.")
        if wants_json(request):
            return JSONResponse(error_body("unstorable_value", message), status_code=422)
        return _page(request, 422, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else TITLES.get(status, "Error")
        if status == 404 and message == "Not Found":
            message = "There is nothing at this address."
        if wants_json(request):
            code = {404: "not_found", 405: "method_not_allowed", 403: "forbidden"}.get(status, "http_error")
            return JSONResponse(error_body(code, message), status_code=status, headers=exc.headers)
        return _page(request, status, message)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", "")})
        message = "An unexpected error happened; nothing was shown of its details for safety."
        if wants_json(request):
            return JSONResponse(error_body("internal_error", message,
                                           {"request_id": getattr(request.state, "request_id", "")}),
                                status_code=500)
        return _page(request, 500, message)


def _same_origin(request: Request, referer: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(referer)
    return parts.netloc == request.url.netloc

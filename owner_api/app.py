"""``create_app(context)`` -> the ASGI app, with every error mapped once."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import central_system
from owner_api import auth, health, operator, owner, problems, web
from owner_api.context import ApiContext
from owner_api.limits import retry_after

STATIC = Path(__file__).resolve().parent / "static"
#: Paths whose requests count against the per-caller budget.
_BUDGETED = ("/api/", "/app")

DESCRIPTION = """\
The owner API (find a free space, reserve it, charge, see the session) and the
operator API of the OCPP 1.6-J central system. See docs/owner-api.md.

Errors are `application/problem+json` (RFC 9457) with a stable `code` where it
matters; 422 names each invalid field; 429 carries `Retry-After`.
"""


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Garage central system",
        version=central_system.__version__,
        description=DESCRIPTION,
    )
    app.state.context = context
    problems.install(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(owner.router)
    app.include_router(operator.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Budget, context=context)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


class Budget:
    """Caps request bodies (413) and requests per caller (429 with Retry-After)."""

    def __init__(self, app: ASGIApp, *, context: ApiContext) -> None:
        self._app = app
        self._context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self._context.limits.max_body_bytes
        if str(scope.get("path", "")).startswith(_BUDGETED):
            wait = self._context.requests.take(_caller(scope, headers))
            if wait > 0:
                await problems.problem(
                    429,
                    "Too many requests",
                    "slow down: too many requests in a short time",
                    headers={"Retry-After": retry_after(wait)},
                )(scope, receive, send)
                return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await problems.problem(
                413, "Payload too large", f"request bodies are limited to {limit} bytes"
            )(scope, receive, send)
            return
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise StarletteHTTPException(
                        413, f"request bodies are limited to {limit} bytes"
                    )
            return message

        await self._app(scope, capped, send)


def _caller(scope: Scope, headers: dict[bytes, bytes]) -> str:
    """A token's budget is its own; without one, the address's."""
    authorization = headers.get(b"authorization")
    if authorization:
        return "t:" + hashlib.sha256(authorization).hexdigest()[:24]
    cookie = headers.get(b"cookie")
    if cookie and b"owner_session=" in cookie:
        return "c:" + hashlib.sha256(cookie).hexdigest()[:24]
    client = scope.get("client")
    return "a:" + (client[0] if client else "unknown")


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_COMMON = {
    "400": "Malformed request, e.g. a body that is not JSON",
    "401": "No token, or an unknown, expired or revoked one",
    "403": "A token of the wrong kind (owner vs operator)",
    "413": "The request body is too large",
    "422": "Invalid request: each invalid field is named",
    "429": "Too many requests; see Retry-After",
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the error responses as they really are."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", _problem_schema())
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path.startswith("/api/"):
                for status, description in _COMMON.items():
                    if status == "401" and path == "/api/v1/auth/login":
                        description = "Wrong login or password"
                    if status == "403" and path == "/api/v1/auth/login":
                        continue
                    responses.setdefault(status, {"description": description})
                if "{" in path:
                    responses.setdefault("404", {"description": "No such thing (or not yours)"})
            for status, response in responses.items():
                if status.startswith(("4", "5")) and status != "304":
                    response["content"] = {"application/problem+json": {"schema": _PROBLEM_REF}}
                    if status == "429":
                        response["headers"] = {
                            "Retry-After": {
                                "description": "Seconds to wait",
                                "schema": {"type": "string"},
                            }
                        }
    app.openapi_schema = document
    return document


def _problem_schema() -> dict[str, Any]:
    from owner_api.schemas import Problem

    schema: dict[str, Any] = Problem.model_json_schema()
    return schema

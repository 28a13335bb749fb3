"""Every error leaves as ``application/problem+json`` (RFC 9457), mapped here once."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from central_system.domain.accounts import Duplicate, InUse
from central_system.domain.errors import (
    ChargePointInUse,
    ChargerDisconnected,
    ChargerNotConnected,
    CommandPayloadInvalid,
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    InvalidCommandReply,
    NotFound,
    ReservationRefused,
    SpaceTaken,
    UnknownChargePoint,
    UnknownCommand,
)

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger(__name__)


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def space_taken(error: SpaceTaken) -> str:
    return (
        f"Space {error.space_label} was just reserved by someone else for an overlapping "
        "time. Pick another space or another time."
    )


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}
            for e in error.errors()
        ]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem(422, "Invalid request", f"invalid field(s): {fields}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(
            error.status_code,
            _TITLES.get(error.status_code, "Error"),
            str(error.detail),
            headers=dict(error.headers or {}),
        )

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, error: NotFound) -> JSONResponse:
        return problem(404, "Not found", str(error), code="not_found")

    @app.exception_handler(SpaceTaken)
    async def _taken(_: Request, error: SpaceTaken) -> JSONResponse:
        return problem(409, "Space taken", space_taken(error), code="space_taken")

    @app.exception_handler(ReservationRefused)
    async def _refused(_: Request, error: ReservationRefused) -> JSONResponse:
        return problem(409, "Request refused", error.why, code="refused")

    @app.exception_handler(Duplicate)
    async def _duplicate(_: Request, error: Duplicate) -> JSONResponse:
        return problem(409, "Conflict", str(error), code="duplicate")

    @app.exception_handler(InUse)
    async def _in_use_by_reservations(_: Request, error: InUse) -> JSONResponse:
        return problem(409, "Conflict", str(error), code="in_use")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error in an HTTP request", exc_info=error)
        return problem(500, "Internal error", "the server failed; the error was logged")

    @app.exception_handler(UnknownChargePoint)
    async def _unknown(_: Request, error: UnknownChargePoint) -> JSONResponse:
        return problem(404, "Not found", str(error))

    @app.exception_handler(ChargePointInUse)
    async def _in_use(_: Request, error: ChargePointInUse) -> JSONResponse:
        return problem(409, "Conflict", str(error))

    @app.exception_handler(UnknownCommand)
    async def _unknown_command(_: Request, error: UnknownCommand) -> JSONResponse:
        return problem(400, "Unknown command", str(error))

    @app.exception_handler(CommandPayloadInvalid)
    async def _bad_payload(_: Request, error: CommandPayloadInvalid) -> JSONResponse:
        return problem(
            400,
            "Payload breaks the OCPP 1.6 schema",
            str(error),
            ocpp_error_code=error.code,
            path=error.details.get("path"),
        )

    @app.exception_handler(ChargerNotConnected)
    async def _not_connected(_: Request, error: ChargerNotConnected) -> JSONResponse:
        return problem(404, "Charger not connected", str(error))

    @app.exception_handler(CommandRejected)
    async def _rejected(_: Request, error: CommandRejected) -> JSONResponse:
        return problem(
            502,
            "Charger answered with a CALLERROR",
            str(error),
            error_code=error.code,
            error_description=error.description,
            error_details=error.details,
        )

    @app.exception_handler(InvalidCommandReply)
    async def _invalid_reply(_: Request, error: InvalidCommandReply) -> JSONResponse:
        return problem(
            502, "Charger's answer breaks the OCPP 1.6 schema", str(error), answer=error.payload
        )

    @app.exception_handler(ChargerDisconnected)
    async def _disconnected(_: Request, error: ChargerDisconnected) -> JSONResponse:
        return problem(502, "Charger disconnected", str(error))

    @app.exception_handler(CommandTimeout)
    async def _timeout(_: Request, error: CommandTimeout) -> JSONResponse:
        return problem(504, "Charger did not answer", str(error))

    @app.exception_handler(CommandQueueFull)
    async def _queue_full(_: Request, error: CommandQueueFull) -> JSONResponse:
        return problem(503, "Charger busy", str(error), headers={"Retry-After": "1"})


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}

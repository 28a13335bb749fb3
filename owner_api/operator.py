"""Operator routes under ``/api/v1/operator``: parse, call a service, serialise."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from central_system.domain.model import IdTag
from owner_api.deps import Context, Paging, require_operator
from owner_api.schemas import (
    ChargePointOut,
    ChargePointPut,
    EventOut,
    IdTagOut,
    IdTagPut,
    MessageOut,
    TransactionDetailOut,
    TransactionOut,
)

router = APIRouter(
    prefix="/api/v1/operator",
    tags=["operator"],
    dependencies=[Depends(require_operator)],
    responses={401: {"description": "No or a wrong operator token"}},
)

ChargePointId = Annotated[str, Path(min_length=1, max_length=255)]
IdTagPath = Annotated[str, Path(min_length=1, max_length=20)]
_KEBAB = re.compile(r"^[a-z]+(-[a-z]+)*$")


@router.get("/charge-points", response_model=list[ChargePointOut])
async def list_charge_points(ctx: Context, page: Paging) -> list[ChargePointOut]:
    views = await ctx.operations.charge_points(page)
    return [ChargePointOut.of(v, ctx.commands.is_connected(v.charge_point.id)) for v in views]


@router.get("/charge-points/{charge_point_id}", response_model=ChargePointOut)
async def get_charge_point(ctx: Context, charge_point_id: ChargePointId) -> ChargePointOut:
    view = await ctx.operations.charge_point(charge_point_id)
    return ChargePointOut.of(view, ctx.commands.is_connected(charge_point_id))


@router.put("/charge-points/{charge_point_id}", response_model=ChargePointOut)
async def put_charge_point(
    ctx: Context, charge_point_id: ChargePointId, body: ChargePointPut, response: Response
) -> ChargePointOut:
    """Register a charger (201) or change how its BootNotification is answered (200)."""
    view, created = await ctx.operations.put_charge_point(charge_point_id, body.registration_status)
    response.status_code = 201 if created else 200
    return ChargePointOut.of(view, ctx.commands.is_connected(charge_point_id))


@router.delete("/charge-points/{charge_point_id}", status_code=204)
async def delete_charge_point(ctx: Context, charge_point_id: ChargePointId) -> Response:
    await ctx.operations.delete_charge_point(charge_point_id)
    return Response(status_code=204)


def action_name(kebab: str) -> str:
    """``remote-start-transaction`` -> ``RemoteStartTransaction``."""
    return "".join(part.capitalize() for part in kebab.split("-"))


@router.post(
    "/charge-points/{charge_point_id}/commands/{action}",
    responses={
        200: {"description": "The charger's answer, as the OCPP 1.6 CALLRESULT payload"},
        400: {"description": "Unknown action, or a payload that breaks the 1.6 schema"},
        404: {"description": "The charger is not connected"},
        502: {"description": "The charger answered with a CALLERROR (its code is included)"},
        503: {"description": "Too many commands already wait for this charger (Retry-After)"},
        504: {"description": "The charger did not answer in time"},
    },
    openapi_extra={
        "requestBody": {
            "description": "The OCPP 1.6 request payload, camelCase, sent verbatim",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def send_command(
    ctx: Context,
    charge_point_id: ChargePointId,
    action: Annotated[str, Path(description="kebab-case, e.g. remote-start-transaction")],
    request: Request,
) -> dict[str, Any]:
    if not _KEBAB.match(action):
        raise HTTPException(400, f"{action!r} is not a kebab-case OCPP action name")
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "the body must be a JSON object: the OCPP request payload")
    return await ctx.commands.send(charge_point_id, action_name(action), payload)


@router.put("/id-tags/{id_tag}", response_model=IdTagOut)
async def put_id_tag(
    ctx: Context, id_tag: IdTagPath, body: IdTagPut, response: Response
) -> IdTagOut:
    tag = IdTag(
        id_tag=id_tag,
        status=body.status,
        expiry_date=body.expiry_date,
        parent_id_tag=body.parent_id_tag,
    )
    response.status_code = 201 if await ctx.operations.put_id_tag(tag) else 200
    return IdTagOut.of(tag)


@router.get("/id-tags", response_model=list[IdTagOut])
async def list_id_tags(ctx: Context, page: Paging) -> list[IdTagOut]:
    return [IdTagOut.of(t) for t in await ctx.operations.id_tags(page)]


@router.get("/id-tags/{id_tag}", response_model=IdTagOut)
async def get_id_tag(ctx: Context, id_tag: IdTagPath) -> IdTagOut:
    tag = await ctx.operations.id_tag(id_tag)
    if tag is None:
        raise HTTPException(404, f"no idTag {id_tag!r}")
    return IdTagOut.of(tag)


@router.delete("/id-tags/{id_tag}", status_code=204)
async def delete_id_tag(ctx: Context, id_tag: IdTagPath) -> Response:
    if not await ctx.operations.delete_id_tag(id_tag):
        raise HTTPException(404, f"no idTag {id_tag!r}")
    return Response(status_code=204)


@router.get("/transactions", response_model=list[TransactionOut])
async def list_transactions(
    ctx: Context,
    page: Paging,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
) -> list[TransactionOut]:
    return [TransactionOut.of(t) for t in await ctx.operations.transactions(page, charge_point_id)]


@router.get("/transactions/{transaction_id}", response_model=TransactionDetailOut)
async def get_transaction(ctx: Context, transaction_id: int) -> TransactionDetailOut:
    view = await ctx.operations.transaction(transaction_id)
    if view is None:
        raise HTTPException(404, f"no transaction {transaction_id}")
    return TransactionDetailOut.of_view(view)


@router.get("/messages", response_model=list[MessageOut])
async def list_messages(
    ctx: Context,
    page: Paging,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
) -> list[MessageOut]:
    """The OCPP message log, newest first."""
    return [MessageOut.of(m) for m in await ctx.operations.messages(page, charge_point_id)]


@router.get("/events", response_model=list[EventOut])
async def list_events(
    ctx: Context,
    page: Paging,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
) -> list[EventOut]:
    """What the operator should know about (flags, refusals, replays), newest first."""
    return [EventOut.of(e) for e in await ctx.operations.events(page, charge_point_id)]

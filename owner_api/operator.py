"""Operator routes under ``/api/v1/operator``: parse, call a service, serialise."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from central_system.charger_security import ChargerCredentials, SecurityConflict
from central_system.domain.accounts import Duplicate
from central_system.domain.garage import Space
from central_system.domain.model import IdTag
from central_system.domain.security import InvalidKey, SecurityProfile
from owner_api.context import ApiContext
from owner_api.deps import Context, Paging, require_operator
from owner_api.schemas import (
    ChargePointOut,
    ChargePointPut,
    ChargerPasswordIn,
    ChargerPasswordOut,
    ChargerSecurityOut,
    ConnectorIn,
    EventOut,
    IdTagOut,
    IdTagPut,
    KeyRotationIn,
    KeyRotationOut,
    MessageOut,
    OwnerIn,
    OwnerLoginIn,
    OwnerNameIn,
    OwnerOut,
    Problem,
    SecurityProfileIn,
    SpaceIn,
    SpaceOut,
    TransactionDetailOut,
    TransactionOut,
)

router = APIRouter(
    prefix="/api/v1/operator",
    tags=["operator"],
    dependencies=[Depends(require_operator)],
    responses={
        401: {"model": Problem, "description": "No or a wrong operator token"},
        403: {"model": Problem, "description": "An owner's token: operator routes are closed"},
    },
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


@router.put(
    "/charge-points/{charge_point_id}",
    response_model=ChargePointOut,
    responses={201: {"model": ChargePointOut, "description": "Registered"}},
)
async def put_charge_point(
    ctx: Context, charge_point_id: ChargePointId, body: ChargePointPut, response: Response
) -> ChargePointOut:
    """Register a charger (201) or change how its BootNotification is answered (200)."""
    view, created = await ctx.operations.put_charge_point(charge_point_id, body.registration_status)
    response.status_code = 201 if created else 200
    return ChargePointOut.of(view, ctx.commands.is_connected(charge_point_id))


@router.delete(
    "/charge-points/{charge_point_id}",
    status_code=204,
    responses={409: {"model": Problem, "description": "It has transactions and is kept"}},
)
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
    if action == "change-configuration" and str(payload.get("key")).lower() == "authorizationkey":
        # The stored password must change with the charger's: only rotate-key does both.
        raise HTTPException(400, "AuthorizationKey is changed with POST .../rotate-key")
    return await ctx.commands.send(charge_point_id, action_name(action), payload)


@router.put(
    "/id-tags/{id_tag}",
    response_model=IdTagOut,
    responses={201: {"model": IdTagOut, "description": "Registered"}},
)
async def put_id_tag(
    ctx: Context, id_tag: IdTagPath, body: IdTagPut, response: Response
) -> IdTagOut:
    """Create or update an idTag; whose tag it is stays as it was (see /owners/{id}/tags)."""
    tag = IdTag(
        id_tag=id_tag,
        status=body.status,
        expiry_date=body.expiry_date,
        parent_id_tag=body.parent_id_tag,
    )
    response.status_code = 201 if await ctx.administration.put_id_tag(tag) else 200
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


# ------------------------------------------------------------------- spaces

SpaceId = Annotated[int, Path(ge=1, le=2**31 - 1)]
OwnerPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Taken already, or in use"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such thing"}
}


@router.get("/spaces", response_model=list[SpaceOut])
async def list_spaces(ctx: Context, page: Paging) -> list[SpaceOut]:
    return [SpaceOut.of(s) for s in await ctx.administration.spaces(page)]


@router.post(
    "/spaces", status_code=201, response_model=SpaceOut, responses={**_CONFLICT, **_NOT_FOUND}
)
async def add_space(ctx: Context, body: SpaceIn) -> SpaceOut:
    """A new space, on a charger connector or none (404 for an unknown charger)."""
    space = await ctx.administration.add_space(
        body.label, body.level, body.charge_point_id, body.connector_id
    )
    return SpaceOut.of(space)


@router.get("/spaces/{space_id}", response_model=SpaceOut, responses=_NOT_FOUND)
async def get_space(ctx: Context, space_id: SpaceId) -> SpaceOut:
    return SpaceOut.of(await ctx.administration.space(space_id))


@router.put("/spaces/{space_id}", response_model=SpaceOut, responses={**_CONFLICT, **_NOT_FOUND})
async def put_space(ctx: Context, space_id: SpaceId, body: SpaceIn) -> SpaceOut:
    """Replace label, level and connector; the connector stays while reservations rely on it."""
    space = Space(space_id, body.label, body.level, body.charge_point_id, body.connector_id)
    return SpaceOut.of(await ctx.administration.update_space(space))


@router.put(
    "/spaces/{space_id}/connector",
    response_model=SpaceOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def map_connector(ctx: Context, space_id: SpaceId, body: ConnectorIn) -> SpaceOut:
    """Put the space on a charger connector."""
    space = await ctx.administration.map_connector(
        space_id, body.charge_point_id, body.connector_id
    )
    return SpaceOut.of(space)


@router.delete(
    "/spaces/{space_id}/connector",
    response_model=SpaceOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def unmap_connector(ctx: Context, space_id: SpaceId) -> SpaceOut:
    """Take the space off its charger: it can no longer be reserved."""
    return SpaceOut.of(await ctx.administration.map_connector(space_id, None, None))


@router.delete("/spaces/{space_id}", status_code=204, responses={**_CONFLICT, **_NOT_FOUND})
async def delete_space(ctx: Context, space_id: SpaceId) -> Response:
    await ctx.administration.delete_space(space_id)
    return Response(status_code=204)


# ------------------------------------------------------------------- owners


@router.get("/owners", response_model=list[OwnerOut])
async def list_owners(ctx: Context, page: Paging) -> list[OwnerOut]:
    return [OwnerOut.of(v) for v in await ctx.administration.owners(page)]


@router.post("/owners", status_code=201, response_model=OwnerOut, responses=_CONFLICT)
async def add_owner(ctx: Context, body: OwnerIn) -> OwnerOut:
    """A new owner, with a login and password if given (409 for a taken login)."""
    owner = await ctx.administration.add_owner(body.name)
    if body.login is not None and body.password is not None:
        try:
            await ctx.accounts.set_login(owner.id, body.login, body.password)
        except Duplicate:
            await ctx.administration.delete_owner(owner.id)  # all or nothing
            raise
    return OwnerOut.of(await ctx.administration.owner(owner.id))


@router.get("/owners/{owner_id}", response_model=OwnerOut, responses=_NOT_FOUND)
async def get_owner(ctx: Context, owner_id: OwnerPath) -> OwnerOut:
    return OwnerOut.of(await ctx.administration.owner(owner_id))


@router.put("/owners/{owner_id}", response_model=OwnerOut, responses=_NOT_FOUND)
async def rename_owner(ctx: Context, owner_id: OwnerPath, body: OwnerNameIn) -> OwnerOut:
    await ctx.administration.rename_owner(owner_id, body.name)
    return OwnerOut.of(await ctx.administration.owner(owner_id))


@router.put(
    "/owners/{owner_id}/login", response_model=OwnerOut, responses={**_CONFLICT, **_NOT_FOUND}
)
async def set_login(ctx: Context, owner_id: OwnerPath, body: OwnerLoginIn) -> OwnerOut:
    """Set the owner's login and password; every token the owner had is revoked."""
    await ctx.accounts.set_login(owner_id, body.login, body.password)
    return OwnerOut.of(await ctx.administration.owner(owner_id))


@router.delete("/owners/{owner_id}", status_code=204, responses={**_CONFLICT, **_NOT_FOUND})
async def delete_owner(ctx: Context, owner_id: OwnerPath) -> Response:
    """Delete an owner without live reservations; the owner's tags stay, unowned."""
    await ctx.administration.delete_owner(owner_id)
    return Response(status_code=204)


@router.put(
    "/owners/{owner_id}/tags/{id_tag}",
    response_model=IdTagOut,
    responses={**_NOT_FOUND, 201: {"model": IdTagOut, "description": "Registered"}},
)
async def give_tag(
    ctx: Context, owner_id: OwnerPath, id_tag: IdTagPath, body: IdTagPut, response: Response
) -> IdTagOut:
    """Register the tag as the owner's (201 when new), moving it from anyone else."""
    tag = IdTag(
        id_tag=id_tag,
        status=body.status,
        expiry_date=body.expiry_date,
        parent_id_tag=body.parent_id_tag,
    )
    created = await ctx.administration.give_tag(owner_id, tag)
    response.status_code = 201 if created else 200
    return IdTagOut.of(tag)


@router.delete("/owners/{owner_id}/tags/{id_tag}", status_code=204, responses=_NOT_FOUND)
async def take_tag(ctx: Context, owner_id: OwnerPath, id_tag: IdTagPath) -> Response:
    """The tag is no longer the owner's; it stays registered."""
    await ctx.administration.take_tag(owner_id, id_tag)
    return Response(status_code=204)


# ---------------------------------------------------------- charger security


def _credentials(ctx: ApiContext) -> ChargerCredentials:
    if ctx.charger_credentials is None:
        raise HTTPException(503, "charger security is not available in this process")
    return ctx.charger_credentials


@router.get(
    "/charge-points/{charge_point_id}/security",
    response_model=ChargerSecurityOut,
    responses=_NOT_FOUND,
)
async def get_charger_security(ctx: Context, charge_point_id: ChargePointId) -> ChargerSecurityOut:
    """The charger's security profile and whether it has a password (never the password)."""
    security = await _credentials(ctx).security(charge_point_id)
    if security is None:
        raise HTTPException(404, f"no charge point {charge_point_id!r}")
    return ChargerSecurityOut.of(security)


@router.put(
    "/charge-points/{charge_point_id}/security",
    response_model=ChargerSecurityOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def put_charger_security(
    ctx: Context, charge_point_id: ChargePointId, body: SecurityProfileIn
) -> ChargerSecurityOut:
    """Set the profile the charger must connect at; lower ones are refused from now on."""
    try:
        security = await _credentials(ctx).set_profile(
            charge_point_id, SecurityProfile(body.security_profile)
        )
    except SecurityConflict as conflict:
        raise HTTPException(409, str(conflict)) from None
    return ChargerSecurityOut.of(security)


@router.put(
    "/charge-points/{charge_point_id}/password",
    response_model=ChargerPasswordOut,
    responses=_NOT_FOUND,
)
async def put_charger_password(
    ctx: Context, charge_point_id: ChargePointId, body: ChargerPasswordIn, response: Response
) -> ChargerPasswordOut:
    """Set the charger's Basic auth password, or generate one (shown in this answer only).

    The charger is not told: enter the same password in it (its AuthorizationKey).
    A profile 0 charger moves to profile 1.
    """
    password = None if body.password is None else body.password.get_secret_value()
    try:
        security, generated = await _credentials(ctx).set_password(charge_point_id, password)
    except InvalidKey as invalid:
        raise HTTPException(422, str(invalid)) from None
    response.headers["Cache-Control"] = "no-store"
    return ChargerPasswordOut(
        **ChargerSecurityOut.of(security).model_dump(), generated_password=generated
    )


@router.delete(
    "/charge-points/{charge_point_id}/password",
    response_model=ChargerSecurityOut,
    responses=_NOT_FOUND,
)
async def delete_charger_password(
    ctx: Context, charge_point_id: ChargePointId
) -> ChargerSecurityOut:
    """Remove the password; a profile 1 charger goes back to profile 0."""
    return ChargerSecurityOut.of(await _credentials(ctx).remove_password(charge_point_id))


@router.post(
    "/charge-points/{charge_point_id}/rotate-key",
    response_model=KeyRotationOut,
    responses={
        404: {"model": Problem, "description": "Unknown or not connected charger"},
        502: {"model": Problem, "description": "The charger answered with a CALLERROR"},
        504: {"model": Problem, "description": "No answer in time: both keys stay valid"},
    },
)
async def rotate_charger_key(
    ctx: Context, charge_point_id: ChargePointId, body: KeyRotationIn | None = None
) -> KeyRotationOut:
    """Send a new AuthorizationKey (ChangeConfiguration) and keep it if the charger accepts.

    Answered after the stored password has changed: with ``key_changed`` true the
    old key is refused from then on. Rejected or NotSupported: the old key stays.
    """
    key = None if body is None or body.key is None else body.key.get_secret_value()
    try:
        outcome = await _credentials(ctx).rotate_key(charge_point_id, key)
    except InvalidKey as invalid:
        raise HTTPException(422, str(invalid)) from None
    return KeyRotationOut(
        status=outcome.status,
        key_changed=outcome.key_changed,
        key_rotation_pending=outcome.pending,
    )


@router.get("/security-events", response_model=list[EventOut])
async def list_security_events(
    ctx: Context,
    page: Paging,
    charge_point_id: Annotated[str | None, Query(max_length=255)] = None,
    critical: Annotated[bool, Query(description="Only chargers' critical events")] = False,
) -> list[EventOut]:
    """Refused handshakes, credential changes, key rotations, chargers' security events."""
    events = await _credentials(ctx).events(page, charge_point_id, critical_only=critical)
    return [EventOut.of(e) for e in events]

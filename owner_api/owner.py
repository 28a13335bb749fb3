"""Owner routes under ``/api/v1``: free spaces, my reservations, charging, sessions, tags.

Every route takes the owner from the bearer token (``OwnerId``) and calls
``OwnerDesk``; another owner's reservation or session answers 404, as if absent.
The functions below the routes are what the owner web page calls too.

Live status is polling with ETags: ``GET /me/reservations/{id}`` and
``GET /me/sessions/{id}`` carry an ``ETag``; sent back in ``If-None-Match``
they answer 304 without a body until something changed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel

from central_system.domain.errors import ChargerNotConnected, NotFound, ReservationRefused
from central_system.domain.garage import Reservation, SpaceState
from central_system.domain.model import EventKind
from central_system.owner_desk import ChargingSession
from central_system.ports import Page
from central_system.reservations import SpaceView
from owner_api.context import ApiContext
from owner_api.deps import Context, OwnerId, Paging
from owner_api.metering import reading
from owner_api.schemas import (
    ChargerVerdictOut,
    FreeSpaceOut,
    IdTagOut,
    MeOut,
    MeterValueOut,
    Problem,
    ReservationIn,
    ReservationOut,
    SessionDetailOut,
    SessionOut,
    SpaceStateOut,
)

router = APIRouter(prefix="/api/v1", tags=["owner"])

ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
IN_USE_NOTICE = "Your space is in use by another car: the charger shows it is reserved."
TRIED_NOTICE = "Someone else tried to charge at your space: the charger showed them it is reserved."
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Refused in the current state"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Not yours, or no such thing"}
}


@router.get("/me", response_model=MeOut)
async def me(ctx: Context, owner_id: OwnerId) -> MeOut:
    view = await ctx.administration.owner(owner_id)
    return MeOut(id=owner_id, name=view.owner.name, login=view.login)


@router.get("/spaces", response_model=list[SpaceStateOut], responses=_CONFLICT)
async def spaces(
    ctx: Context,
    owner_id: OwnerId,
    starts_at: Annotated[AwareDatetime | None, Query()] = None,
    ends_at: Annotated[AwareDatetime | None, Query()] = None,
) -> list[SpaceStateOut]:
    """Every space and its state now, or for the window (``starts_at``..``ends_at``)."""
    window = _window(ctx, starts_at, ends_at)
    return [
        SpaceStateOut(id=v.space.id, label=v.space.label, level=v.space.level, state=v.state)
        for v in await ctx.owner_desk.spaces(*window)
    ]


@router.get("/spaces/free", response_model=list[FreeSpaceOut], responses=_CONFLICT)
async def free_spaces(
    ctx: Context,
    owner_id: OwnerId,
    starts_at: Annotated[AwareDatetime | None, Query()] = None,
    ends_at: Annotated[AwareDatetime | None, Query()] = None,
) -> list[FreeSpaceOut]:
    """Spaces you can reserve now, or for the window: a working charger, nobody's window."""
    return await list_free(ctx, starts_at, ends_at)


@router.post(
    "/me/reservations",
    status_code=201,
    response_model=ReservationOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def reserve(ctx: Context, owner_id: OwnerId, body: ReservationIn) -> ReservationOut:
    """Reserve a space; 409 ``space_taken`` when someone was faster."""
    return await make_reservation(ctx, owner_id, body.space_id, body.starts_at, body.ends_at)


@router.get("/me/reservations", response_model=list[ReservationOut])
async def my_reservations(ctx: Context, owner_id: OwnerId, page: Paging) -> list[ReservationOut]:
    """Newest first."""
    return [
        await describe(ctx, owner_id, r) for r in await ctx.owner_desk.reservations(owner_id, page)
    ]


@router.get(
    "/me/reservations/{reservation_id}",
    response_model=ReservationOut,
    responses={**_NOT_FOUND, 304: {"description": "Not changed since the ETag you sent"}},
)
async def my_reservation(
    ctx: Context, owner_id: OwnerId, reservation_id: ObjectId, request: Request
) -> Response:
    """The reservation's state and its live session; poll it with ``If-None-Match``."""
    return conditional(request, await reservation_status(ctx, owner_id, reservation_id))


@router.post(
    "/me/reservations/{reservation_id}/cancel",
    response_model=ReservationOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def cancel(ctx: Context, owner_id: OwnerId, reservation_id: ObjectId) -> ReservationOut:
    reservation = await ctx.owner_desk.cancel(owner_id, reservation_id)
    return await describe(ctx, owner_id, reservation)


@router.post(
    "/me/reservations/{reservation_id}/start-charging",
    response_model=ChargerVerdictOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def start_charging(
    ctx: Context, owner_id: OwnerId, reservation_id: ObjectId
) -> ChargerVerdictOut:
    """RemoteStartTransaction with your tag on your reserved space: the charger's verdict."""
    return await remote(ctx, owner_id, reservation_id, start=True)


@router.post(
    "/me/reservations/{reservation_id}/stop-charging",
    response_model=ChargerVerdictOut,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def stop_charging(
    ctx: Context, owner_id: OwnerId, reservation_id: ObjectId
) -> ChargerVerdictOut:
    """RemoteStopTransaction of your session on the space: the charger's verdict."""
    return await remote(ctx, owner_id, reservation_id, start=False)


@router.get("/me/sessions", response_model=list[SessionOut])
async def my_sessions(ctx: Context, owner_id: OwnerId, page: Paging) -> list[SessionOut]:
    """Your charging sessions (with any of your tags), newest first."""
    now = ctx.clock.now()
    sessions = []
    for transaction in await ctx.owner_desk.sessions(owner_id, page):
        detail = await ctx.owner_desk.session(owner_id, transaction.id)
        sessions.append(summarise(detail, now))
    return sessions


@router.get(
    "/me/sessions/{session_id}",
    response_model=SessionDetailOut,
    responses={**_NOT_FOUND, 304: {"description": "Not changed since the ETag you sent"}},
)
async def my_session(
    ctx: Context, owner_id: OwnerId, session_id: ObjectId, request: Request
) -> Response:
    """Energy, power, duration and every meter value; poll it with ``If-None-Match``."""
    detail = await ctx.owner_desk.session(owner_id, session_id)
    summary = summarise(detail, ctx.clock.now())
    body = SessionDetailOut(
        **summary.model_dump(),
        meter_values=[MeterValueOut.of(v, source) for v, source in detail.meter_values],
    )
    return conditional(request, body)


@router.get("/me/tags", response_model=list[IdTagOut])
async def my_tags(ctx: Context, owner_id: OwnerId) -> list[IdTagOut]:
    return [IdTagOut.of(t) for t in await ctx.owner_desk.tags(owner_id)]


# ------------------------------------------------ shared with the web page


def _window(
    ctx: ApiContext, starts_at: datetime | None, ends_at: datetime | None
) -> tuple[datetime | None, datetime | None]:
    if ends_at is not None and starts_at is None:
        starts_at = ctx.clock.now()
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ReservationRefused("the window must end after it starts")
    return starts_at, ends_at


async def list_free(
    ctx: ApiContext, starts_at: datetime | None, ends_at: datetime | None
) -> list[FreeSpaceOut]:
    window = _window(ctx, starts_at, ends_at)
    return [
        FreeSpaceOut(id=s.id, label=s.label, level=s.level)
        for s in await ctx.owner_desk.free_spaces(*window)
    ]


async def make_reservation(
    ctx: ApiContext,
    owner_id: int,
    space_id: int,
    starts_at: datetime | None,
    ends_at: datetime,
) -> ReservationOut:
    start = starts_at or ctx.clock.now()
    reservation = await ctx.owner_desk.reserve(owner_id, space_id, start, ends_at)
    return await describe(ctx, owner_id, reservation)


async def reservation_status(ctx: ApiContext, owner_id: int, reservation_id: int) -> ReservationOut:
    reservation = await ctx.owner_desk.reservation(owner_id, reservation_id)
    return await describe(ctx, owner_id, reservation)


async def remote(
    ctx: ApiContext, owner_id: int, reservation_id: int, *, start: bool
) -> ChargerVerdictOut:
    try:
        verdict = await (
            ctx.owner_desk.start_charging(owner_id, reservation_id)
            if start
            else ctx.owner_desk.stop_charging(owner_id, reservation_id)
        )
    except ChargerNotConnected:
        # For an owner this is a state of the space, not a missing resource.
        raise ReservationRefused(
            "the charger at this space is offline right now; try again in a moment"
        ) from None
    return ChargerVerdictOut(
        status=verdict.status,
        charge_point_id=verdict.charge_point_id,
        connector_id=verdict.connector_id,
    )


def summarise(detail: ChargingSession, now: datetime) -> SessionOut:
    transaction = detail.transaction
    measured = reading(transaction, [v for v, _ in detail.meter_values], now)
    return SessionOut(
        id=transaction.id,
        reservation_id=transaction.reservation_id,
        started_at=transaction.started_at,
        stopped_at=transaction.stopped_at,
        is_open=transaction.is_open,
        duration_seconds=measured.duration_seconds,
        energy_kwh=None if measured.energy_wh is None else round(measured.energy_wh / 1000, 3),
        power_kw=None if measured.power_w is None else round(measured.power_w / 1000, 2),
        stop_reason=transaction.stop_reason,
    )


async def describe(ctx: ApiContext, owner_id: int, reservation: Reservation) -> ReservationOut:
    """The reservation as its owner sees it: the space now, the session, any notice."""
    now = ctx.clock.now()
    views = {v.space.id: v for v in await ctx.owner_desk.spaces()}
    view = views.get(reservation.space_id)
    session = None
    if reservation.transaction_id is not None:
        try:
            detail = await ctx.owner_desk.session(owner_id, reservation.transaction_id)
        except NotFound:  # started with a tag that is no longer the owner's
            detail = None
        session = None if detail is None else summarise(detail, now)
    holds = reservation.holds(now)
    notice = None
    if view is not None and holds:
        charging_mine = session is not None and session.is_open
        if view.state in (SpaceState.OCCUPIED, SpaceState.CHARGING) and not charging_mine:
            notice = IN_USE_NOTICE
        elif not charging_mine and await _refused_here(ctx, view.space.label, reservation, view):
            notice = TRIED_NOTICE
    return ReservationOut(
        id=reservation.id,
        space_id=reservation.space_id,
        space_label=view.space.label if view is not None else f"#{reservation.space_id}",
        starts_at=reservation.starts_at,
        ends_at=reservation.ends_at,
        arrival_deadline=reservation.arrival_deadline,
        state=reservation.state,
        holds_now=holds,
        space_state=None if view is None else view.state,
        session=session,
        notice=notice,
    )


async def _refused_here(
    ctx: ApiContext, label: str, reservation: Reservation, view: SpaceView
) -> bool:
    charge_point_id = view.space.charge_point_id
    if charge_point_id is None:
        return False
    events = await ctx.operations.events(Page(limit=50), charge_point_id)
    return any(
        e.kind is EventKind.CHARGING_REFUSED
        and e.detail.get("space") == label
        and e.at >= reservation.starts_at
        for e in events
    )


def conditional(request: Request, body: BaseModel) -> Response:
    """The body with a strong ETag, or 304 when the client has it already."""
    payload = body.model_dump(mode="json")
    encoded = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    etag = '"' + hashlib.sha256(encoded).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    sent = request.headers.get("if-none-match", "")
    if etag in [tag.strip().removeprefix("W/") for tag in sent.split(",")]:
        return Response(status_code=304, headers=headers)
    return JSONResponse(payload, headers=headers)

"""The owner web page under ``/app``: three screens, server-rendered, htmx for the rest.

Log in; free spaces and my reservations; one reservation with its live session.
The page is a client of the owner API like any other: its handlers call the
same functions as the ``/api/v1`` routes (``owner_api.owner``, ``auth``), with
the owner taken from the same bearer token, which the browser keeps in an
HttpOnly, SameSite=Strict cookie. Changes are POSTs sent by htmx, which must
carry ``HX-Request`` (a cross-site form cannot), and the cookie never leaves
``/app``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from central_system.domain.errors import CentralSystemError, SpaceTaken
from owner_api import owner
from owner_api.auth import authenticate, client_address
from owner_api.context import ApiContext
from owner_api.deps import Context, owner_of
from owner_api.problems import space_taken
from owner_api.schemas import ReservationOut

router = APIRouter(prefix="/app", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
COOKIE = "owner_session"
HOURS = (1, 2, 3, 4, 8, 12)
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Session = Annotated[str | None, Cookie(alias=COOKIE)]


def _render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, values, status_code=status)
    response.headers.update(_SECURITY_HEADERS)
    return response


def _go(request: Request, url: str) -> Response:
    """Navigate: htmx follows HX-Redirect, a plain browser a 303."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url, **_SECURITY_HEADERS})
    return Response(status_code=303, headers={"Location": url, **_SECURITY_HEADERS})


async def _owner(ctx: ApiContext, token: str | None) -> int | None:
    return None if not token else await owner_of(ctx, token)


async def _form(request: Request) -> dict[str, str]:
    if not request.headers.get("hx-request"):
        raise HTTPException(403, "changes come from the page (HX-Request), not from elsewhere")
    fields = parse_qs((await request.body()).decode(errors="replace"), max_num_fields=20)
    return {key: values[-1] for key, values in fields.items()}


def _hours(value: str | None) -> int:
    try:
        hours = int(value or HOURS[1])
    except ValueError:
        return HOURS[1]
    return hours if hours in HOURS else HOURS[1]


# ------------------------------------------------------------------- screens


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request, ctx: Context, session: Session = None) -> Response:
    owner_id = await _owner(ctx, session)
    if owner_id is None:
        return _render(request, "login.html")
    view = await ctx.administration.owner(owner_id)
    hours = _hours(request.query_params.get("hours"))
    return _render(
        request,
        "home.html",
        name=view.owner.name,
        hours=hours,
        choices=HOURS,
        spaces=await _free(ctx, hours),
        reservations=await _mine(ctx, owner_id),
    )


@router.get("/reservations/{reservation_id}", response_class=HTMLResponse)
async def reservation_page(
    request: Request, ctx: Context, reservation_id: int, session: Session = None
) -> Response:
    owner_id = await _owner(ctx, session)
    if owner_id is None:
        return _go(request, "/app")
    try:
        status = await owner.reservation_status(ctx, owner_id, reservation_id)
    except CentralSystemError:
        return _render(request, "missing.html", status=404)
    view = await ctx.administration.owner(owner_id)
    return _render(request, "reservation.html", r=status, message=None, name=view.owner.name)


# ----------------------------------------------------------------- fragments


@router.get("/spaces", response_class=HTMLResponse)
async def spaces_fragment(request: Request, ctx: Context, session: Session = None) -> Response:
    if await _owner(ctx, session) is None:
        return _go(request, "/app")
    hours = _hours(request.query_params.get("hours"))
    return _render(request, "_spaces.html", hours=hours, spaces=await _free(ctx, hours))


@router.get("/reservations/{reservation_id}/status", response_class=HTMLResponse)
async def status_fragment(
    request: Request, ctx: Context, reservation_id: int, session: Session = None
) -> Response:
    owner_id = await _owner(ctx, session)
    if owner_id is None:
        return _go(request, "/app")
    try:
        status = await owner.reservation_status(ctx, owner_id, reservation_id)
    except CentralSystemError:
        return _render(request, "missing.html", status=404)
    return _render(request, "_status.html", r=status, message=None)


# ------------------------------------------------------------------- changes


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Context) -> Response:
    form = await _form(request)
    try:
        issued = await authenticate(
            ctx, client_address(request), form.get("login", ""), form.get("password", "")
        )
    except HTTPException as error:
        return _render(request, "_message.html", message=str(error.detail), error=True)
    response = _go(request, "/app")
    response.set_cookie(
        COOKIE,
        issued.token,
        max_age=int((issued.expires_at - ctx.clock.now()).total_seconds()),
        path="/app",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Context, session: Session = None) -> Response:
    await _form(request)
    if session:
        await ctx.accounts.logout(session)
    response = _go(request, "/app")
    response.delete_cookie(COOKIE, path="/app")
    return response


@router.post("/reservations", response_class=HTMLResponse)
async def reserve(request: Request, ctx: Context, session: Session = None) -> Response:
    form = await _form(request)
    owner_id = await _owner(ctx, session)
    if owner_id is None:
        return _go(request, "/app")
    try:
        space_id = int(form.get("space_id", ""))
        now = ctx.clock.now()
        made = await owner.make_reservation(
            ctx, owner_id, space_id, now, now + timedelta(hours=_hours(form.get("hours")))
        )
    except ValueError:
        return _render(request, "_message.html", message="Pick a space.", error=True)
    except CentralSystemError as error:
        return _render(request, "_message.html", message=_plain(error), error=True)
    return _go(request, f"/app/reservations/{made.id}")


@router.post("/reservations/{reservation_id}/{action}", response_class=HTMLResponse)
async def act(
    request: Request, ctx: Context, reservation_id: int, action: str, session: Session = None
) -> Response:
    await _form(request)
    owner_id = await _owner(ctx, session)
    if owner_id is None:
        return _go(request, "/app")
    message: str | None
    try:
        if action == "start":
            verdict = await owner.remote(ctx, owner_id, reservation_id, start=True)
            message = (
                "The charger accepted: charging starts when your car is plugged in."
                if verdict.status == "Accepted"
                else "The charger refused to start. Is the cable plugged in?"
            )
        elif action == "stop":
            verdict = await owner.remote(ctx, owner_id, reservation_id, start=False)
            message = (
                "The charger is stopping the session."
                if verdict.status == "Accepted"
                else "The charger refused to stop."
            )
        elif action == "cancel":
            await ctx.owner_desk.cancel(owner_id, reservation_id)
            message = "Reservation cancelled: the space is free for others."
        else:
            return _render(request, "missing.html", status=404)
    except CentralSystemError as error:
        message = _plain(error)
    try:
        status = await owner.reservation_status(ctx, owner_id, reservation_id)
    except CentralSystemError:
        return _render(request, "missing.html", status=404)
    return _render(request, "_status.html", r=status, message=message)


# -------------------------------------------------------------------- helpers


async def _free(ctx: ApiContext, hours: int) -> list[Any]:
    now = ctx.clock.now()
    return list(await owner.list_free(ctx, now, now + timedelta(hours=hours)))


async def _mine(ctx: ApiContext, owner_id: int) -> list[ReservationOut]:
    from central_system.ports import Page

    return [
        await owner.describe(ctx, owner_id, r)
        for r in await ctx.owner_desk.reservations(owner_id, Page(limit=20))
    ]


def _plain(error: CentralSystemError) -> str:
    if isinstance(error, SpaceTaken):
        return space_taken(error)
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def local_time(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def duration(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


templates.env.filters["hhmm"] = local_time
templates.env.filters["duration"] = duration

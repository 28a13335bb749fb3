"""Owners log in for a bearer token and log out to revoke it.

Login attempts are throttled per source address and per login name, in this
process's memory (``owner_api.limits``): over budget, 429 with Retry-After.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from central_system.accounts import IssuedToken
from central_system.domain.accounts import normalise_login
from owner_api.context import ApiContext
from owner_api.deps import BearerToken, Context, OwnerId
from owner_api.limits import retry_after
from owner_api.schemas import LoginIn, Problem, TokenOut

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=TokenOut,
    responses={401: {"model": Problem, "description": "Wrong login or password"}},
)
async def login(ctx: Context, body: LoginIn, request: Request) -> TokenOut:
    """Exchange a login and password for a bearer token that expires."""
    issued = await authenticate(ctx, client_address(request), body.login, body.password)
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post("/logout", status_code=204)
async def logout(ctx: Context, owner_id: OwnerId, token: BearerToken) -> Response:
    """Revoke the token this request carries."""
    await ctx.accounts.logout(token)
    return Response(status_code=204)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(ctx: ApiContext, address: str, login: str, password: str) -> IssuedToken:
    """The one way in, for the API and the web page alike."""
    name = normalise_login(login)
    wait = ctx.logins.attempt(address, name)
    if wait > 0:
        raise HTTPException(
            429, "too many login attempts; wait and try again", {"Retry-After": retry_after(wait)}
        )
    issued = await ctx.accounts.login(name, password)
    if issued is None:
        ctx.logins.failed(name)
        raise HTTPException(401, "wrong login or password")
    ctx.logins.succeeded(name)
    return issued

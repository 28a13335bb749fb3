"""Dependencies: the context, who is calling (operator or owner), paging.

Two kinds of bearer token reach the API: the operator token (one, configured)
and owners' tokens (issued by ``POST /api/v1/auth/login``). Each opens only its
own routes: an owner's token on an operator route, and the operator token on an
owner route, get 403. The owner's identity comes from the token alone.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central_system.ports import Page
from owner_api.context import ApiContext

MAX_PAGE = 500
#: No token of ours is longer; longer ones are refused before any lookup.
MAX_TOKEN_CHARS = 512
_operator_bearer = HTTPBearer(
    auto_error=False, scheme_name="OperatorToken", description="The operator token."
)
_owner_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OwnerToken",
    description="An owner's token from POST /api/v1/auth/login.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(context)]


def is_operator_token(ctx: ApiContext, token: str) -> bool:
    return hmac.compare_digest(token.encode(), ctx.operator_token.encode())


async def owner_of(ctx: ApiContext, token: str) -> int | None:
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return await ctx.accounts.owner_of(token)


async def require_operator(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_operator_bearer)],
) -> None:
    if credentials is not None and is_operator_token(ctx, credentials.credentials):
        return
    if credentials is not None and await owner_of(ctx, credentials.credentials) is not None:
        raise HTTPException(403, "owners cannot use operator routes")
    raise HTTPException(401, "a valid operator bearer token is required", _CHALLENGE)


async def current_owner(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_owner_bearer)],
) -> int:
    """The owner the bearer token speaks for; never a body or query field."""
    if credentials is None:
        raise HTTPException(401, "an owner's bearer token is required", _CHALLENGE)
    if is_operator_token(ctx, credentials.credentials):
        raise HTTPException(403, "the operator token does not act for an owner")
    owner_id = await owner_of(ctx, credentials.credentials)
    if owner_id is None:
        raise HTTPException(401, "the token is unknown, expired or revoked", _CHALLENGE)
    return owner_id


OwnerId = Annotated[int, Depends(current_owner)]


def owner_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_owner_bearer)],
) -> str:
    return "" if credentials is None else credentials.credentials


BearerToken = Annotated[str, Depends(owner_token)]


def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


Paging = Annotated[Page, Depends(page)]

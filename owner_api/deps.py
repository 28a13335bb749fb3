"""FastAPI dependencies: the context, the operator's bearer token, paging."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central_system.ports import Page
from owner_api.context import ApiContext

MAX_PAGE = 500
_bearer = HTTPBearer(auto_error=False, description="The operator token.")


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.context
    return ctx


Context = Annotated[ApiContext, Depends(context)]


def require_operator(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), ctx.operator_token.encode()
    ):
        raise HTTPException(
            401, "a valid operator bearer token is required", {"WWW-Authenticate": "Bearer"}
        )


def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


Paging = Annotated[Page, Depends(page)]

"""``create_app(context)`` -> the ASGI app, with every error mapped once."""

from __future__ import annotations

from fastapi import FastAPI

import central_system
from owner_api import health, operator, problems
from owner_api.context import ApiContext


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Garage central system",
        version=central_system.__version__,
        description="Operator API of the OCPP 1.6-J central system.",
    )
    app.state.context = context
    problems.install(app)
    app.include_router(health.router)
    app.include_router(operator.router)
    return app

"""A small garage behind the API, for the owner API tests.

Charger CP-A with spaces A1..A3 on connectors 1..3, a space without a charger,
and two owners, Alice and Bob, each with a login and a tag. Password hashing
uses a cheap argon2 profile so the tests stay fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from central_system.domain.model import IdTag, RegistrationStatus
from central_system.system import CentralSystem
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, MovableClock, migrated, settings_for

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
API = "/api/v1"
CHEAP_HASHING = {"password_time_cost": 1, "password_memory_kib": 64}
PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-22"}


@dataclass
class Garage:
    system: CentralSystem
    clock: MovableClock
    spaces: dict[str, int]
    owners: dict[str, int]
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def seed(system: CentralSystem, clock: MovableClock) -> Garage:
    await system.operations.put_charge_point("CP-A", RegistrationStatus.ACCEPTED)
    spaces = {}
    for connector in (1, 2, 3):
        space = await system.administration.add_space(f"A{connector}", "B1", "CP-A", connector)
        spaces[space.label] = space.id
    spaces["X1"] = (await system.administration.add_space("X1", "B1", None, None)).id
    owners = {}
    for name in ("alice", "bob"):
        owner = await system.administration.add_owner(name.capitalize())
        owners[name] = owner.id
        await system.accounts.set_login(owner.id, f"{name}@example.org", PASSWORDS[name])
        await system.administration.give_tag(owner.id, IdTag(f"{name.upper()}-TAG"))
    tokens = {}
    for name in owners:
        issued = await system.accounts.login(f"{name}@example.org", PASSWORDS[name])
        assert issued is not None
        tokens[name] = issued.token
    return Garage(system, clock, spaces, owners, tokens)


@contextlib.asynccontextmanager
async def prepared_garage(config: DatabaseConfig, **overrides: Any) -> AsyncIterator[Garage]:
    """A migrated, seeded system whose ASGI app is called in process (nothing listens)."""
    async with migrated(config):
        pass
    clock = MovableClock()
    system = CentralSystem(
        settings_for(config, **{**CHEAP_HASHING, **overrides}),
        operator_token=OPERATOR_TOKEN,
        clock=clock,
    )
    await system.prepare()
    try:
        yield await seed(system, clock)
    finally:
        await system.stop()


@contextlib.asynccontextmanager
async def api_client(system: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=system.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def is_problem(response: httpx.Response) -> bool:
    return response.headers["content-type"].startswith("application/problem+json")

"""Simulated chargers against the real central system, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from central_system.seed import seed_demo
from central_system.system import CentralSystem
from simulators.observations import Observation
from simulators.station import Station, StationSettings
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, running_system

WAIT = 10.0


class HandClock:
    """The charger's clock, moved by the test (energy and timestamps follow it)."""

    def __init__(self, *, behind: timedelta = timedelta(0)) -> None:
        # Behind the central system's clock: it believes no timestamp from the future.
        self.moment = datetime.now(UTC).replace(microsecond=0) - behind

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def demo_garage(config: DatabaseConfig, **overrides: Any) -> AsyncIterator[CentralSystem]:
    """The central system with the demo garage of ``make run`` seeded."""
    async with running_system(config, **overrides) as system:
        await seed_demo(system.uow)
        yield system


def central_url(system: CentralSystem) -> str:
    return f"ws://127.0.0.1:{system.ocpp_port}{system.settings.ocpp_path_prefix}"


@contextlib.asynccontextmanager
async def simulated(
    system: CentralSystem,
    charge_point_id: str,
    *,
    clock: Callable[[], datetime] | None = None,
    **settings: Any,
) -> AsyncIterator[Station]:
    """A started, booted simulated charger."""
    base = StationSettings(charge_point_id, url=central_url(system), response_timeout=5.0)
    station = Station(replace(base, **settings), **({"clock": clock} if clock else {}))
    async with station:
        async with asyncio.timeout(WAIT):
            await station.wait_registered()
        yield station


async def seen(station: Station, since: int, kind: str, **fields: Any) -> Observation:
    """The first observation of ``kind`` (with these fields) from ``since`` on."""

    def matches(observation: Observation) -> bool:
        return observation.kind == kind and all(
            observation.data.get(name) == value for name, value in fields.items()
        )

    async with asyncio.timeout(WAIT):
        return await station.recorder.wait_for(matches, since=since)


def operator(system: CentralSystem) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{system.api_port}/api/v1/operator",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )


async def command(
    system: CentralSystem, charge_point_id: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    async with operator(system) as client:
        response = await client.post(
            f"/charge-points/{charge_point_id}/commands/{action}", json=payload
        )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer

"""After-boot configuration runs in bounded lanes, so a storm's boots are answered first."""

from __future__ import annotations

import asyncio
from typing import Any

from central_system.domain.model import ChargePoint, UnknownChargerPolicy
from central_system.reservations import Garage, ReservationLimits
from central_system.services import ChargerSessions
from central_system.transport.charger_sync import ChargerSync
from tests.fakes import FixedClock, InMemoryDatabase, InMemoryUnitOfWorkFactory
from tests.unit.test_services import NOW


class HeldCommands:
    """Chargers that do not answer GetConfiguration until released."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()
        self.two_in_flight = asyncio.Event()

    def is_connected(self, charge_point_id: str) -> bool:
        return True

    async def send(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight == 2:
            self.two_in_flight.set()
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return {"configurationKey": []} if action == "GetConfiguration" else {"status": "Accepted"}


async def test_only_so_many_chargers_are_configured_at_once() -> None:
    clock = FixedClock(NOW)
    uow = InMemoryUnitOfWorkFactory(InMemoryDatabase(), clock)
    chargers = [f"CP-{n}" for n in range(5)]
    async with uow() as work:
        for charger in chargers:
            await work.charge_points.add(ChargePoint(charger))
        await work.commit()
    sessions = ChargerSessions(
        uow=uow,
        clock=clock,
        heartbeat_interval=60,
        boot_retry_interval=60,
        unknown_chargers=UnknownChargerPolicy.REJECT,
    )
    garage = Garage(
        uow=uow,
        clock=clock,
        limits=ReservationLimits(),
    )
    commands = HeldCommands()
    sync = ChargerSync(
        commands=commands,
        sessions=sessions,
        garage=garage,
        clock=clock,
        configuring_at_once=2,
    )

    booted = [asyncio.ensure_future(sync.after_boot(charger)) for charger in chargers]
    await asyncio.wait_for(commands.two_in_flight.wait(), timeout=10)
    for _ in range(10):  # the other three had every chance to send too (no I/O here)
        await asyncio.sleep(0)
    assert commands.in_flight == 2
    commands.release.set()
    configured = await asyncio.gather(*booted)

    assert commands.most_in_flight == 2
    assert all(capabilities is not None for capabilities in configured)

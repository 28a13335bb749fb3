"""The community rule against a simulated charger that keeps an Authorization Cache,
holds reservations itself, and starts transactions while offline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from central_system.domain.model import Event
from central_system.persistence.tables import TransactionRow
from central_system.ports import Page
from central_system.system import CentralSystem
from tests.conftest import DatabaseConfig
from tests.e2e.simulated import HandClock, demo_garage, seen, simulated

CP = "GARAGE-CP-01"  # spaces B1-01 (connector 1) and B1-02 (connector 2)
HOUR = timedelta(hours=1)


async def reserve_b1_01_for_alice(system: CentralSystem) -> int:
    owners = {v.owner.name: v.owner.id for v in await system.administration.owners(Page())}
    space = next(s for s in await system.garage.spaces() if s.space.label == "B1-01")
    now = datetime.now(UTC)
    reservation = await system.owner_desk.reserve(owners["Alice"], space.space.id, now, now + HOUR)
    return reservation.id


async def events(system: CentralSystem, kind: str) -> list[Event]:
    return [e for e in await system.operations.events(Page(limit=500), CP) if e.kind.value == kind]


async def test_a_refusal_at_a_reserved_connector_does_not_ban_the_card(
    sqlite_config: DatabaseConfig,
) -> None:
    async with demo_garage(sqlite_config, configure_at_boot=True) as system:
        await reserve_b1_01_for_alice(system)
        async with simulated(system, CP, connectors=2) as charger:
            station = system.registry.get(CP)
            assert station is not None
            await station.settled()  # configured and the reservation mirrored
            assert charger.charger.config.text("LocalPreAuthorize") == "false"
            assert charger.charger.config.text("StopTransactionOnInvalidId") == "true"

            # The charger itself holds connector 1 for Alice: Bob is turned away there.
            mark = charger.recorder.mark
            charger.present("OWNER-BOB", 1)
            refused = await seen(charger, mark, "authorization", id_tag="OWNER-BOB")
            assert refused.data["status"] != "Accepted"

            # At the free connector of the same charger, Bob charges: no ban was cached.
            mark = charger.recorder.mark
            charger.present("OWNER-BOB", 2)
            accepted = await seen(charger, mark, "authorization", id_tag="OWNER-BOB")
            assert accepted.data["status"] == "Accepted"
            charger.plug(2)
            started = await seen(charger, mark, "transaction_confirmed", connector_id=2)
            assert started.data["status"] == "Accepted"
        assert len(await events(system, "reservation_mirrored")) == 1


async def test_an_offline_start_at_a_reserved_connector_is_refused_and_stopped(
    sqlite_config: DatabaseConfig,
) -> None:
    clock = HandClock(behind=timedelta(minutes=10))
    async with demo_garage(sqlite_config, configure_at_boot=True) as system:
        async with simulated(
            system,
            CP,
            clock=clock,
            connectors=2,
            reconnect_base=0.05,
            config={"MeterValueSampleInterval": "0"},
        ) as charger:
            station = system.registry.get(CP)
            assert station is not None
            await station.settled()
            # Online once: Bob's card is accepted and cached.
            mark = charger.recorder.mark
            charger.present("OWNER-BOB", 1)
            await seen(charger, mark, "authorization", status="Accepted")
            charger.present("OWNER-BOB", 1)  # presenting again ends the authorisation

            charger.go_offline()
            await seen(charger, mark, "disconnected")
            # While the charger is away, Alice reserves its connector 1.
            reservation_id = await reserve_b1_01_for_alice(system)
            # Offline, the cache lets Bob start there.
            offline = charger.recorder.mark
            charger.present("OWNER-BOB", 1)
            cached = await seen(charger, offline, "authorization", source="cache")
            assert cached.data["status"] == "Accepted"
            charger.plug(1)
            await seen(charger, offline, "transaction_started", connector_id=1)

            back = charger.recorder.mark
            charger.go_online()
            await seen(charger, back, "registration", status="Accepted")
            verdict = await seen(charger, back, "transaction_confirmed", connector_id=1)
            assert verdict.data["status"] != "Accepted"
            # StopTransactionOnInvalidId: the charger stops what the central system refused.
            stopped = await seen(charger, back, "transaction_stopped", connector_id=1)
            assert stopped.data["reason"] == "DeAuthorized"
            async with asyncio.timeout(10):
                await charger.wait_delivered()
        async with system.database.read_sessions() as session:
            row = await session.get(TransactionRow, verdict.data["transaction_id"])
            assert row is not None
            assert (row.id_tag, row.start_status, row.stop_reason) == (
                "OWNER-BOB",
                "Invalid",
                "DeAuthorized",
            )
            alices = (
                await session.scalars(
                    select(TransactionRow).where(TransactionRow.reservation_id == reservation_id)
                )
            ).all()
        assert alices == []  # Bob's refused start did not take Alice's reservation
        refusals = await events(system, "charging_refused")
        assert [e.detail["why"] for e in refusals] == ["space_reserved"]

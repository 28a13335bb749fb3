"""The community rule on the real server, with a plain ocpp-library charger.

That charger keeps no Authorization Cache and has no Reservation profile: the
central system alone keeps the space for its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from central_system.domain.garage import ReservationState
from central_system.domain.model import IdTag, RegistrationStatus
from central_system.persistence.tables import ReservationRow, TransactionRow
from central_system.ports import Page
from central_system.system import CentralSystem
from central_system.transport.charge_point import CentralChargePoint
from central_system.transport.mapping import ocpp_time
from tests.chargers import LibraryCharger, library_charger
from tests.conftest import DatabaseConfig, MovableClock, ocpp_url, running_system

HOUR = timedelta(hours=1)


async def garage(system: CentralSystem) -> tuple[int, int, int, int]:
    """Charger CP-G with spaces S1 (connector 1) and S2 (connector 2); owners Alice, Bob."""
    await system.operations.put_charge_point("CP-G", RegistrationStatus.ACCEPTED)
    s1 = await system.garage.add_space("S1", "B1", "CP-G", 1)
    s2 = await system.garage.add_space("S2", "B1", "CP-G", 2)
    alice = await system.garage.add_owner("Alice")
    bob = await system.garage.add_owner("Bob")
    await system.operations.put_id_tag(IdTag("ALICE-TAG", owner_id=alice))
    await system.operations.put_id_tag(IdTag("BOB-TAG", owner_id=bob))
    return s1.id, s2.id, alice, bob


async def next_display(charger: LibraryCharger) -> dict[str, object]:
    async with asyncio.timeout(5):
        while not any(action == "DataTransfer" for action, _ in charger.received):
            charger.command_received.clear()
            await charger.command_received.wait()
    (payload,) = [p for action, p in charger.received if action == "DataTransfer"]
    return payload


async def test_only_the_reserving_owner_charges_and_others_are_reminded(
    database_config: DatabaseConfig,
) -> None:
    clock = MovableClock()
    async with running_system(database_config, clock=clock) as system:
        s1, _, alice, _ = await garage(system)
        reservation = await system.garage.reserve(alice, s1, clock.now(), clock.now() + 2 * HOUR)
        await system.tick()

        async with library_charger(ocpp_url(system, "CP-G"), "CP-G") as charger:
            await charger.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )

            # Bob's tag at Alice's space: refused, and the charger is told to show why.
            refused = await charger.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="BOB-TAG",
                    meter_start=0,
                    timestamp=clock.now().isoformat(),
                )
            )
            assert refused.id_tag_info["status"] == "Invalid"
            display = await next_display(charger)
            assert display["vendor_id"] == "org.openchargealliance.costmsg"
            assert display["message_id"] == "SetUserPrice"
            data = json.loads(str(display["data"]))
            assert "reserved" in data["priceText"]
            assert data["idToken"] == "BOB-TAG"
            await charger.call(
                call.StopTransaction(
                    meter_stop=0,
                    timestamp=clock.now().isoformat(),
                    transaction_id=refused.transaction_id,
                    reason="DeAuthorized",
                )
            )

            # Bob at the free space S2 of the same charger: the refusal did not ban him.
            at_free = await charger.call(
                call.StartTransaction(
                    connector_id=2,
                    id_tag="BOB-TAG",
                    meter_start=0,
                    timestamp=clock.now().isoformat(),
                )
            )
            assert at_free.id_tag_info["status"] == "Accepted"

            # Alice at her space: charges, and the transaction fulfils her reservation.
            authorized = await charger.call(call.Authorize(id_tag="ALICE-TAG"))
            assert authorized.id_tag_info["status"] == "Accepted"
            started = await charger.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="ALICE-TAG",
                    meter_start=10,
                    timestamp=clock.now().isoformat(),
                )
            )
            assert started.id_tag_info["status"] == "Accepted"
            await charger.call(
                call.StopTransaction(
                    meter_stop=5010,
                    timestamp=(clock.now() + HOUR).isoformat(),
                    transaction_id=started.transaction_id,
                    id_tag="ALICE-TAG",
                )
            )

        async with system.database.read_sessions() as session:
            row = await session.get(ReservationRow, reservation.id)
            assert row is not None
            assert (row.state, row.transaction_id) == (
                ReservationState.FULFILLED.value,
                started.transaction_id,
            )
            starts = (
                await session.scalars(select(TransactionRow).order_by(TransactionRow.id))
            ).all()
            assert [(t.id_tag, t.start_status) for t in starts] == [
                ("BOB-TAG", "Invalid"),
                ("BOB-TAG", "Accepted"),
                ("ALICE-TAG", "Accepted"),
            ]
        kinds = [e.kind.value for e in await system.operations.events(Page(), "CP-G")]
        assert "charging_refused" in kinds
        assert "reminder_sent" in kinds
        assert "reservation_fulfilled" in kinds


async def test_a_plug_in_at_a_reserved_space_starts_nothing_and_reminds(
    sqlite_config: DatabaseConfig,
) -> None:
    clock = MovableClock()
    async with running_system(sqlite_config, clock=clock) as system:
        s1, _, alice, _ = await garage(system)
        await system.garage.reserve(alice, s1, clock.now(), clock.now() + HOUR)
        async with library_charger(ocpp_url(system, "CP-G"), "CP-G") as charger:
            await charger.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            await charger.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
            )
            display = await next_display(charger)
        assert "reserved" in json.loads(str(display["data"]))["priceText"]
        assert [a for a, _ in charger.received] == ["DataTransfer"]  # no RemoteStart


async def test_a_no_show_expires_and_frees_the_space(sqlite_config: DatabaseConfig) -> None:
    clock = MovableClock()
    async with running_system(sqlite_config, clock=clock) as system:
        s1, _, alice, _ = await garage(system)
        reservation = await system.garage.reserve(alice, s1, clock.now(), clock.now() + 2 * HOUR)
        await system.tick()
        assert [s.label for s in await system.garage.free_spaces()] == ["S2"]
        clock.advance(timedelta(minutes=31))
        await system.tick()
        expired = await system.garage.reservation(alice, reservation.id)
        assert expired.state is ReservationState.EXPIRED
        assert [s.label for s in await system.garage.free_spaces()] == ["S1", "S2"]
        await system.tick()  # nothing left to do: the no-show is recorded once
        kinds = [e.kind.value for e in await system.operations.events(Page())]
        assert kinds.count("reservation_expired") == 1


async def test_concurrent_double_booking_yields_one_reservation(
    database_config: DatabaseConfig,
) -> None:
    from central_system.domain.errors import SpaceTaken

    clock = MovableClock()
    async with running_system(database_config, clock=clock) as system:
        s1, _, alice, bob = await garage(system)
        start, end = clock.now() + HOUR, clock.now() + 3 * HOUR
        results = await asyncio.gather(
            *(
                system.garage.reserve(owner, s1, start + n * timedelta(minutes=1), end)
                for n, owner in enumerate([alice, bob] * 5)
            ),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1
        assert all(isinstance(e, SpaceTaken) for e in losers)
        async with system.database.read_sessions() as session:
            rows = (await session.scalars(select(ReservationRow))).all()
        assert len(rows) == 1


class ReservingCharger(LibraryCharger):
    """A charger with the Reservation profile that keeps what it is asked to reserve."""

    def __init__(self, charge_point_id: str, connection: Any) -> None:
        super().__init__(charge_point_id, connection)
        self.configuration["SupportedFeatureProfiles"] = ("Core,Reservation,RemoteTrigger", True)
        self.reserved: dict[int, dict[str, Any]] = {}

    @on(Action.reserve_now)
    async def on_reserve_now(self, **payload: Any) -> call_result.ReserveNow:
        self._record("ReserveNow", payload)
        self.reserved[payload["reservation_id"]] = payload
        return call_result.ReserveNow(status="Accepted")

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int) -> call_result.CancelReservation:
        self._record("CancelReservation", {"reservation_id": reservation_id})
        known = self.reserved.pop(reservation_id, None) is not None
        return call_result.CancelReservation(status="Accepted" if known else "Rejected")


@contextlib.asynccontextmanager
async def booted_reserving_charger(
    system: CentralSystem,
) -> AsyncIterator[tuple[ReservingCharger, CentralChargePoint]]:
    """CP-G as a ReservingCharger, booted, with the work after its boot finished."""
    async with connect(
        ocpp_url(system, "CP-G"), subprotocols=[Subprotocol("ocpp1.6")]
    ) as connection:
        charger = ReservingCharger("CP-G", connection)
        loop = asyncio.create_task(charger.start())
        try:
            await charger.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
            server_side = system.registry.get("CP-G")
            assert server_side is not None
            await server_side.settled()
            yield charger, server_side
        finally:
            loop.cancel()


async def test_reservations_are_mirrored_to_a_charger_that_can_hold_them(
    database_config: DatabaseConfig,
) -> None:
    clock = MovableClock()
    async with running_system(database_config, clock=clock, configure_at_boot=True) as system:
        s1, _, alice, _ = await garage(system)
        await system.operations.put_id_tag(
            IdTag("ALICE-TAG", owner_id=alice, parent_id_tag="HOME-A")
        )
        async with booted_reserving_charger(system) as (charger, _):
            # Reserve for a window that starts now: opened and mirrored at once.
            reservation = await system.owner_desk.reserve(
                alice, s1, clock.now(), clock.now() + 2 * HOUR
            )
            assert reservation.state is ReservationState.ACTIVE
            assert charger.reserved[reservation.id] == {
                "connector_id": 1,
                "expiry_date": ocpp_time(reservation.ends_at),
                "id_tag": "ALICE-TAG",
                "parent_id_tag": "HOME-A",
                "reservation_id": reservation.id,
            }
            # The configuration kept offline authorisation: the charger holds the space.
            assert charger.configuration["LocalAuthorizeOffline"] == ("true", False)
            assert charger.configuration["LocalPreAuthorize"] == ("false", False)

            cancelled = await system.owner_desk.cancel(alice, reservation.id)
            assert cancelled.state is ReservationState.CANCELLED
            assert charger.reserved == {}
            assert [a for a, _ in charger.received] == ["ReserveNow", "CancelReservation"]
        kinds = [e.kind.value for e in await system.operations.events(Page(), "CP-G")]
        assert kinds.count("reservation_mirrored") == 2


async def test_a_reservation_is_reissued_when_the_charger_boots_again(
    sqlite_config: DatabaseConfig,
) -> None:
    clock = MovableClock()
    async with running_system(sqlite_config, clock=clock, configure_at_boot=True) as system:
        s1, _, alice, _ = await garage(system)
        reservation = await system.owner_desk.reserve(alice, s1, clock.now(), clock.now() + HOUR)
        async with booted_reserving_charger(system) as (charger, _):
            pass  # the boot alone re-issues the reservation
        assert list(charger.reserved) == [reservation.id]


async def test_a_reservation_is_reissued_when_a_fault_clears(sqlite_config: DatabaseConfig) -> None:
    clock = MovableClock()
    async with running_system(sqlite_config, clock=clock, configure_at_boot=True) as system:
        s1, _, alice, _ = await garage(system)
        reservation = await system.owner_desk.reserve(alice, s1, clock.now(), clock.now() + HOUR)
        async with booted_reserving_charger(system) as (charger, server_side):
            for status in ("Available", "Faulted", "Available"):
                if status == "Faulted":
                    charger.reserved.clear()  # a fault makes the charger drop it
                await charger.call(
                    call.StatusNotification(
                        connector_id=1,
                        error_code="NoError" if status == "Available" else "GroundFailure",
                        status=status,
                    )
                )
                await server_side.settled()
        # Once at boot, once when the fault cleared; the first Available re-issued nothing.
        assert [a for a, _ in charger.received] == ["ReserveNow", "ReserveNow"]
        assert list(charger.reserved) == [reservation.id]

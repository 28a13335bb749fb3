"""What an owner's terminal can do, in one place: the owner API's only dependency.

Every method takes the owner's id from the caller's authentication, never from a
request body, and treats another owner's reservation or session as absent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from central_system.domain.errors import NotFound, ReservationRefused
from central_system.domain.garage import Reservation, Space
from central_system.domain.model import IdTag, MeterValue, TagStatus, Transaction
from central_system.ports import ChargerCommands, Clock, Page, UnitOfWorkFactory
from central_system.reservations import Garage, SpaceView, Transition


@dataclass(frozen=True, slots=True)
class ChargingSession:
    transaction: Transaction
    meter_values: Sequence[tuple[MeterValue, str]] = ()


@dataclass(frozen=True, slots=True)
class ChargerVerdict:
    """The charger's answer to a remote start or stop ("Accepted" or "Rejected")."""

    status: str
    charge_point_id: str
    connector_id: int


class OwnerDesk:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        garage: Garage,
        commands: ChargerCommands,
        on_transition: Callable[[Transition], Awaitable[None]],
        advance: Callable[[], Awaitable[None]],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._garage = garage
        self._commands = commands
        self._on_transition = on_transition
        self._advance = advance

    async def spaces(
        self, starts_at: datetime | None = None, ends_at: datetime | None = None
    ) -> list[SpaceView]:
        return await self._garage.spaces(starts_at, ends_at)

    async def free_spaces(
        self, starts_at: datetime | None = None, ends_at: datetime | None = None
    ) -> list[Space]:
        return await self._garage.free_spaces(starts_at, ends_at)

    async def reserve(
        self, owner_id: int, space_id: int, starts_at: datetime, ends_at: datetime
    ) -> Reservation:
        reservation = await self._garage.reserve(owner_id, space_id, starts_at, ends_at)
        if reservation.starts_at <= self._clock.now():
            await self._advance()  # open it now, and mirror it to the charger
            reservation = await self._garage.reservation(owner_id, reservation.id)
        return reservation

    async def reservations(self, owner_id: int, page: Page) -> Sequence[Reservation]:
        return await self._garage.reservations(owner_id, page)

    async def reservation(self, owner_id: int, reservation_id: int) -> Reservation:
        return await self._garage.reservation(owner_id, reservation_id)

    async def cancel(self, owner_id: int, reservation_id: int) -> Reservation:
        transition = await self._garage.cancel(owner_id, reservation_id)
        if transition is not None:
            await self._on_transition(transition)
        return await self._garage.reservation(owner_id, reservation_id)

    async def tags(self, owner_id: int) -> Sequence[IdTag]:
        async with self._uow(read_only=True) as uow:
            return await uow.owners.tags(owner_id)

    async def start_charging(self, owner_id: int, reservation_id: int) -> ChargerVerdict:
        """RemoteStartTransaction on the owner's reserved space, with the owner's tag."""
        reservation = await self._garage.reservation(owner_id, reservation_id)
        now = self._clock.now()
        if not reservation.holds(now):
            raise ReservationRefused(
                f"the reservation is {reservation.state.value} and does not hold its space now"
            )
        space, tag = await self._space_and_tag(owner_id, reservation)
        assert space.charge_point_id is not None
        assert space.connector_id is not None
        answer = await self._commands.send(
            space.charge_point_id,
            "RemoteStartTransaction",
            {"connectorId": space.connector_id, "idTag": tag.id_tag},
        )
        return ChargerVerdict(str(answer.get("status")), space.charge_point_id, space.connector_id)

    async def stop_charging(self, owner_id: int, reservation_id: int) -> ChargerVerdict:
        """RemoteStopTransaction of the owner's open session on the reserved space."""
        reservation = await self._garage.reservation(owner_id, reservation_id)
        async with self._uow(read_only=True) as uow:
            space = await uow.spaces.get(reservation.space_id)
            tags = {t.id_tag for t in await uow.owners.tags(owner_id)}
            assert space is not None
            open_here = (
                []
                if space.charge_point_id is None or space.connector_id is None
                else await uow.transactions.open_on_connector(
                    space.charge_point_id, space.connector_id
                )
            )
        mine = [t for t in open_here if t.id_tag in tags]
        if not mine:
            raise ReservationRefused("nothing of yours is charging on this space")
        transaction = mine[-1]
        answer = await self._commands.send(
            transaction.charge_point_id,
            "RemoteStopTransaction",
            {"transactionId": transaction.id},
        )
        return ChargerVerdict(
            str(answer.get("status")), transaction.charge_point_id, transaction.connector_id
        )

    async def sessions(self, owner_id: int, page: Page) -> Sequence[Transaction]:
        async with self._uow(read_only=True) as uow:
            tags = [t.id_tag for t in await uow.owners.tags(owner_id)]
            return await uow.transactions.list(page, id_tags=tags)

    async def session(self, owner_id: int, transaction_id: int) -> ChargingSession:
        async with self._uow(read_only=True) as uow:
            tags = {t.id_tag for t in await uow.owners.tags(owner_id)}
            transaction = await uow.transactions.get(transaction_id)
            if transaction is None or transaction.id_tag not in tags:
                raise NotFound("session", transaction_id)  # another owner's looks absent
            return ChargingSession(
                transaction, await uow.meter_values.for_transaction(transaction_id)
            )

    async def _space_and_tag(self, owner_id: int, reservation: Reservation) -> tuple[Space, IdTag]:
        async with self._uow(read_only=True) as uow:
            space = await uow.spaces.get(reservation.space_id)
            tags = [t for t in await uow.owners.tags(owner_id) if t.status is TagStatus.ACCEPTED]
        if space is None or not space.has_charger:
            raise ReservationRefused("this space has no charger")
        if not tags:
            raise ReservationRefused("you have no card that may charge; ask the operator")
        return space, tags[0]

"""The garage's use cases: free spaces, reservations and their life cycle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from central_system.domain.errors import NotFound, ReservationRefused, SpaceTaken
from central_system.domain.garage import (
    UNAVAILABLE_STATUSES,
    Reservation,
    ReservationState,
    Space,
    SpaceState,
    space_state,
)
from central_system.domain.model import Event, EventKind
from central_system.ports import Clock, Page, UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

LIVE = (ReservationState.BOOKED, ReservationState.ACTIVE)


@dataclass(frozen=True, slots=True)
class ReservationLimits:
    max_live_per_owner: int = 2
    max_window: timedelta = timedelta(hours=24)
    #: How long after the window opens the owner must start charging, or lose the space.
    arrival_grace: timedelta = timedelta(minutes=30)
    #: How far back a window may start (a phone's clock, a slow network).
    start_tolerance: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SpaceView:
    space: Space
    state: SpaceState
    reservation: Reservation | None


@dataclass(frozen=True, slots=True)
class Transition:
    """A reservation that changed state, for mirroring to its charger."""

    reservation: Reservation
    space: Space
    to: ReservationState


class Garage:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, limits: ReservationLimits) -> None:
        self._uow = uow
        self._clock = clock
        self._limits = limits

    # --------------------------------------------------------------- the operator

    async def add_owner(self, name: str) -> int:
        async with self._uow() as uow:
            owner = await uow.owners.add(name)
            await uow.commit()
        return owner.id

    async def add_space(
        self,
        label: str,
        level: str | None = None,
        charge_point_id: str | None = None,
        connector_id: int | None = None,
    ) -> Space:
        async with self._uow() as uow:
            space = await uow.spaces.add(label, level, charge_point_id, connector_id)
            await uow.commit()
        return space

    # ------------------------------------------------------------------- owners

    async def spaces(
        self, starts_at: datetime | None = None, ends_at: datetime | None = None
    ) -> list[SpaceView]:
        """Every space with its state now, or for the window if one is given."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            spaces = await uow.spaces.list(Page(limit=1000))
            views = []
            for space in spaces:
                views.append(await self._view(uow, space, now, starts_at, ends_at))
        return views

    async def free_spaces(
        self, starts_at: datetime | None = None, ends_at: datetime | None = None
    ) -> list[Space]:
        """Spaces an owner can reserve: a charger that works, nobody else's window."""
        return [
            v.space for v in await self.spaces(starts_at, ends_at) if v.state is SpaceState.FREE
        ]

    async def _view(
        self,
        uow: UnitOfWork,
        space: Space,
        now: datetime,
        starts_at: datetime | None,
        ends_at: datetime | None,
    ) -> SpaceView:
        window_start = starts_at or now
        window_end = ends_at or now + timedelta(seconds=1)
        overlapping = await uow.reservations.overlapping(space.id, window_start, window_end)
        reservation = overlapping[0] if overlapping else None
        connector_status = None
        charging = False
        if space.charge_point_id is not None and space.connector_id is not None:
            statuses = {
                c.connector_id: c.status
                for c in await uow.connectors.for_charge_point(space.charge_point_id)
            }
            connector_status = statuses.get(space.connector_id)
            if statuses.get(0) in UNAVAILABLE_STATUSES:  # the whole charger is down
                connector_status = statuses[0]
            charging = bool(
                await uow.transactions.open_on_connector(space.charge_point_id, space.connector_id)
            )
        if starts_at is not None and starts_at > now:
            # A future window: occupation now says nothing about then.
            if connector_status not in UNAVAILABLE_STATUSES:
                connector_status = None
            charging = False
        state = space_state(space, reservation, connector_status, charging, window_start)
        if reservation is not None and state is SpaceState.FREE:
            state = SpaceState.RESERVED  # overlaps the asked window, if not now
        return SpaceView(space, state, reservation)

    async def reserve(
        self,
        owner_id: int,
        space_id: int,
        starts_at: datetime,
        ends_at: datetime,
    ) -> Reservation:
        """Book the space for the window; exactly one of two overlapping requests wins."""
        now = self._clock.now()
        limits = self._limits
        if ends_at <= starts_at:
            raise ReservationRefused("the window must end after it starts")
        if ends_at - starts_at > limits.max_window:
            raise ReservationRefused(f"a window may last at most {limits.max_window}")
        if starts_at < now - limits.start_tolerance:
            raise ReservationRefused("the window starts in the past")
        async with self._uow() as uow:
            space = await uow.spaces.get(space_id, for_update=True)
            if space is None:
                raise NotFound("space", space_id)
            if not space.has_charger:
                raise ReservationRefused(f"space {space.label} has no charger")
            if await uow.reservations.live_count(owner_id, now) >= limits.max_live_per_owner:
                raise ReservationRefused(
                    f"at most {limits.max_live_per_owner} reservations may be open at once"
                )
            if await uow.reservations.overlapping(space_id, starts_at, ends_at):
                raise SpaceTaken(space.label)
            deadline = min(starts_at + limits.arrival_grace, ends_at)
            reservation = await uow.reservations.add(
                owner_id, space_id, starts_at, ends_at, deadline
            )
            await uow.events.add(
                Event(
                    EventKind.RESERVATION_BOOKED,
                    now,
                    space.charge_point_id,
                    {
                        "reservation_id": reservation.id,
                        "owner_id": owner_id,
                        "space": space.label,
                        "starts_at": starts_at.isoformat(),
                        "ends_at": ends_at.isoformat(),
                        "why": "booked by its owner",
                    },
                )
            )
            await uow.commit()
        return reservation

    async def reservations(self, owner_id: int, page: Page) -> Sequence[Reservation]:
        async with self._uow(read_only=True) as uow:
            return await uow.reservations.for_owner(owner_id, page)

    async def reservation(self, owner_id: int, reservation_id: int) -> Reservation:
        async with self._uow(read_only=True) as uow:
            reservation = await uow.reservations.get(reservation_id)
        if reservation is None or reservation.owner_id != owner_id:
            raise NotFound("reservation", reservation_id)  # another owner's looks absent
        return reservation

    async def cancel(self, owner_id: int, reservation_id: int) -> Transition | None:
        """Cancel one of the owner's live reservations; the transition, if it was held."""
        now = self._clock.now()
        async with self._uow() as uow:
            reservation = await uow.reservations.get(reservation_id)
            if reservation is None or reservation.owner_id != owner_id:
                raise NotFound("reservation", reservation_id)
            if not await uow.reservations.set_state(
                reservation_id, ReservationState.CANCELLED, expected=LIVE
            ):
                raise ReservationRefused(f"the reservation is {reservation.state.value}")
            space = await uow.spaces.get(reservation.space_id)
            assert space is not None
            await uow.events.add(
                Event(
                    EventKind.RESERVATION_CANCELLED,
                    now,
                    space.charge_point_id,
                    {
                        "reservation_id": reservation_id,
                        "owner_id": owner_id,
                        "why": "cancelled by its owner",
                    },
                )
            )
            await uow.commit()
        if reservation.state is ReservationState.ACTIVE:
            return Transition(reservation, space, ReservationState.CANCELLED)
        return None

    # ------------------------------------------------------- mirroring to chargers

    async def held_at_charger(self, charge_point_id: str) -> list[HeldSpace]:
        """Spaces behind a charger held now, with the tag the charger should reserve for."""
        async with self._uow(read_only=True) as uow:
            return await held_at_charger(uow, charge_point_id, self._clock.now())

    async def held_space(self, transition: Transition) -> HeldSpace:
        async with self._uow(read_only=True) as uow:
            return await _held(uow, transition.space, transition.reservation)

    # --------------------------------------------------------------- life cycle

    async def advance(self, limit: int = 100) -> list[Transition]:
        """Move due reservations on: open windows, expire no-shows, close ended ones.

        Safe to run from several places at once: each move only happens from the
        state it expects, so a reservation is moved (and reported) once.
        """
        now = self._clock.now()
        moved: list[Transition] = []
        async with self._uow() as uow:
            for reservation in await uow.reservations.due(now, limit):
                target, why = _next_state(reservation, now)
                if not await uow.reservations.set_state(
                    reservation.id, target, expected=[reservation.state]
                ):
                    continue
                space = await uow.spaces.get(reservation.space_id)
                assert space is not None
                await uow.events.add(
                    Event(
                        _EVENT_FOR[target],
                        now,
                        space.charge_point_id,
                        {
                            "reservation_id": reservation.id,
                            "owner_id": reservation.owner_id,
                            "why": why,
                        },
                    )
                )
                moved.append(Transition(reservation, space, target))
            await uow.commit()
        return moved


@dataclass(frozen=True, slots=True)
class HeldSpace:
    space: Space
    reservation: Reservation
    #: The owner's tag (and its group) a charger holding the space should admit.
    id_tag: str | None
    parent_id_tag: str | None


async def held_at_charger(uow: UnitOfWork, charge_point_id: str, now: datetime) -> list[HeldSpace]:
    """The spaces behind a charger held at ``now``, with the tag to reserve for."""
    spaces = await uow.spaces.at_charger(charge_point_id)
    by_id = {space.id: space for space in spaces}
    return [
        await _held(uow, by_id[reservation.space_id], reservation)
        for reservation in await uow.reservations.holding(list(by_id), now)
    ]


async def _held(uow: UnitOfWork, space: Space, reservation: Reservation) -> HeldSpace:
    tags = [t for t in await uow.owners.tags(reservation.owner_id) if t.status.value == "Accepted"]
    first = tags[0] if tags else None
    return HeldSpace(
        space,
        reservation,
        None if first is None else first.id_tag,
        None if first is None else first.parent_id_tag,
    )


_EVENT_FOR = {
    ReservationState.ACTIVE: EventKind.RESERVATION_ACTIVE,
    ReservationState.EXPIRED: EventKind.RESERVATION_EXPIRED,
    ReservationState.FULFILLED: EventKind.RESERVATION_FULFILLED,
    ReservationState.CANCELLED: EventKind.RESERVATION_CANCELLED,
}


def _next_state(reservation: Reservation, now: datetime) -> tuple[ReservationState, str]:
    if reservation.state is ReservationState.BOOKED:
        if reservation.ends_at <= now:
            return ReservationState.EXPIRED, "its window passed before it was opened"
        return ReservationState.ACTIVE, "its window opened"
    if reservation.transaction_id is not None:
        return ReservationState.FULFILLED, "its window closed after charging"
    return ReservationState.EXPIRED, "no-show: nobody started charging by the arrival deadline"

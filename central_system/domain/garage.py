"""The garage: owners, their parking spaces, and reservations of those spaces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ReservationState(StrEnum):
    BOOKED = "booked"  # made; its window has not started
    ACTIVE = "active"  # its window is open; the space is held for the owner
    FULFILLED = "fulfilled"  # the owner charged (or parked) and left
    CANCELLED = "cancelled"  # the owner or the operator cancelled it
    EXPIRED = "expired"  # no-show: the arrival deadline passed without a start

    @property
    def is_live(self) -> bool:
        return self in (ReservationState.BOOKED, ReservationState.ACTIVE)


class SpaceState(StrEnum):
    FREE = "free"
    RESERVED = "reserved"
    OCCUPIED = "occupied"
    CHARGING = "charging"
    UNAVAILABLE = "unavailable"
    NO_CHARGER = "no_charger"


@dataclass(frozen=True, slots=True)
class Owner:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Space:
    id: int
    label: str
    level: str | None = None
    charge_point_id: str | None = None
    connector_id: int | None = None

    @property
    def has_charger(self) -> bool:
        return self.charge_point_id is not None and self.connector_id is not None


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    owner_id: int
    space_id: int
    starts_at: datetime
    ends_at: datetime
    arrival_deadline: datetime
    state: ReservationState = ReservationState.BOOKED
    transaction_id: int | None = None

    def holds(self, now: datetime) -> bool:
        """Is the space held for the owner at ``now``?"""
        return self.state.is_live and self.starts_at <= now < self.ends_at

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.state.is_live and self.starts_at < ends_at and starts_at < self.ends_at


#: Connector statuses (OCPP 1.6 §7.7) that mean a car is at the space.
OCCUPIED_STATUSES = frozenset({"Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing"})
#: Connector statuses that mean nobody can charge there now.
UNAVAILABLE_STATUSES = frozenset({"Faulted", "Unavailable"})


def space_state(
    space: Space,
    reservation: Reservation | None,
    connector_status: str | None,
    charging: bool,
    now: datetime,
) -> SpaceState:
    """What an owner and the operator see for a space, derived, never stored."""
    if not space.has_charger:
        return SpaceState.NO_CHARGER
    if connector_status in UNAVAILABLE_STATUSES:
        return SpaceState.UNAVAILABLE
    if charging or connector_status == "Charging":
        return SpaceState.CHARGING
    if connector_status in OCCUPIED_STATUSES:
        return SpaceState.OCCUPIED
    if reservation is not None and reservation.holds(now):
        return SpaceState.RESERVED
    return SpaceState.FREE

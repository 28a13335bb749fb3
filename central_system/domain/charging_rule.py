"""THE rule: the charger on a reserved space charges its reserving owner and nobody else.

One pure function, ``decide_charging``, answers every charging request:
Authorize (no connector: every space behind the charger is considered),
StartTransaction (its connector; also when replayed after an outage) and a
plug-in seen as StatusNotification ``Preparing``. ``docs/domain-rules.md`` holds
the case table; ``tests/unit/test_charging_rule.py`` mirrors it row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from central_system.domain.garage import Reservation, Space
from central_system.domain.model import IdTag, IdTagInfo, TagStatus
from central_system.domain.rules import authorize_tag


class ChargingPolicy(StrEnum):
    """Who may charge at a space that nobody has reserved."""

    REGISTERED_TAGS = "registered_tags"
    RESERVATION_REQUIRED = "reservation_required"


class Refusal(StrEnum):
    SPACE_RESERVED = "space_reserved"  # someone else holds this space now
    RESERVATION_REQUIRED = "reservation_required"  # policy: no reservation, no charge
    TAG_NOT_ACCEPTED = "tag_not_accepted"  # unknown, blocked or expired tag


@dataclass(frozen=True, slots=True)
class SpaceAtCharger:
    """A space behind the charger, with what holds it at the moment of the request."""

    space: Space
    reservation: Reservation | None = None
    #: The reserving owner's tags and their parentIdTag groups.
    owner_tags: frozenset[str] = frozenset()
    owner_groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Allow:
    id_tag_info: IdTagInfo
    space: Space | None = None
    reservation: Reservation | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    id_tag_info: IdTagInfo
    reason: Refusal
    #: Show the "space reserved" reminder on the charger.
    remind: bool
    space: Space | None = None


Decision = Allow | Refuse


@dataclass(frozen=True, slots=True)
class Reminder:
    """What a charger should show after a refusal: sent after the reply, never in it."""

    charge_point_id: str
    connector_id: int | None
    reason: Refusal
    space_label: str | None
    id_tag: str | None = None


def _belongs_to_reserver(tag: IdTag, candidate: SpaceAtCharger) -> bool:
    reservation = candidate.reservation
    assert reservation is not None
    if tag.owner_id is not None and tag.owner_id == reservation.owner_id:
        return True
    if tag.id_tag in candidate.owner_tags:
        return True
    return tag.parent_id_tag is not None and tag.parent_id_tag in candidate.owner_groups


def _refusal_info(status: TagStatus, now: datetime) -> IdTagInfo:
    # Expired already when it arrives: a charger's Authorization Cache may store the
    # verdict, but never uses it, so the tag is asked about afresh at the next space.
    return IdTagInfo(status=status, expiry_date=now)


def decide_charging(
    tag: IdTag | None,
    spaces: Sequence[SpaceAtCharger],
    now: datetime,
    policy: ChargingPolicy,
) -> Decision:
    """May this tag charge at (one of) these spaces now?

    ``spaces`` are the spaces behind the connector (StartTransaction, plug-in) or
    behind the charger (Authorize). A charger with no space mapped counts as one
    unreserved space. A reservation only counts while it ``holds(now)``.
    """
    held = [s for s in spaces if s.reservation is not None and s.reservation.holds(now)]
    free = [s for s in spaces if s not in held] if spaces else [None]
    verdict = authorize_tag(tag, now)
    if tag is None or verdict.status is not TagStatus.ACCEPTED:
        return Refuse(
            _refusal_info(verdict.status, now),
            Refusal.TAG_NOT_ACCEPTED,
            # Someone at another owner's space is told it is reserved, whoever they are.
            remind=bool(held) and not free_for_anyone(free, policy),
            space=held[0].space if held else None,
        )
    for candidate in held:
        if _belongs_to_reserver(tag, candidate):
            reservation = candidate.reservation
            assert reservation is not None
            expiry = reservation.ends_at
            if verdict.expiry_date is not None:
                expiry = min(expiry, verdict.expiry_date)
            return Allow(
                IdTagInfo(TagStatus.ACCEPTED, expiry, verdict.parent_id_tag),
                candidate.space,
                reservation,
            )
    if free_for_anyone(free, policy):
        first = free[0]
        return Allow(verdict, None if first is None else first.space)
    if held:
        return Refuse(
            _refusal_info(TagStatus.INVALID, now),
            Refusal.SPACE_RESERVED,
            remind=True,
            space=held[0].space,
        )
    first = free[0]
    return Refuse(
        _refusal_info(TagStatus.INVALID, now),
        Refusal.RESERVATION_REQUIRED,
        remind=True,
        space=None if first is None else first.space,
    )


def free_for_anyone(free: Sequence[SpaceAtCharger | None], policy: ChargingPolicy) -> bool:
    return bool(free) and policy is ChargingPolicy.REGISTERED_TAGS

"""The community rule, case by case. Each row is a row of docs/domain-rules.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from central_system.domain.charging_rule import (
    Allow,
    ChargingPolicy,
    Refusal,
    Refuse,
    SpaceAtCharger,
    decide_charging,
)
from central_system.domain.garage import Reservation, ReservationState, Space
from central_system.domain.model import IdTag, TagStatus

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
REGISTERED = ChargingPolicy.REGISTERED_TAGS
REQUIRED = ChargingPolicy.RESERVATION_REQUIRED

S1 = Space(1, "S1", "B1", "CP1", 1)
S2 = Space(2, "S2", "B1", "CP1", 2)

ALICE = IdTag("ALICE-1", owner_id=1, parent_id_tag="HOUSE-A")
ALICE_FAMILY = IdTag("ALICE-KID", owner_id=None, parent_id_tag="HOUSE-A")
ALICE_SECOND_CARD = IdTag("ALICE-2", owner_id=1)
BOB = IdTag("BOB-1", owner_id=2, parent_id_tag="HOUSE-B")
BLOCKED = IdTag("BOB-OLD", TagStatus.BLOCKED, owner_id=2)
EXPIRED = IdTag("BOB-EXP", TagStatus.ACCEPTED, expiry_date=NOW - HOUR, owner_id=2)


def reservation(
    state: ReservationState = ReservationState.ACTIVE, *, start: int = -1, end: int = 2
):
    return Reservation(
        id=10,
        owner_id=1,
        space_id=1,
        starts_at=NOW + start * HOUR,
        ends_at=NOW + end * HOUR,
        arrival_deadline=NOW + HOUR,
        state=state,
    )


def held_by_alice(space: Space = S1, **kwargs: object) -> SpaceAtCharger:
    return SpaceAtCharger(
        space,
        reservation(**kwargs),  # type: ignore[arg-type]
        owner_tags=frozenset({"ALICE-1", "ALICE-2"}),
        owner_groups=frozenset({"HOUSE-A"}),
    )


FREE_S1 = SpaceAtCharger(S1)
FREE_S2 = SpaceAtCharger(S2)

# (case, tag, spaces, policy, expected verdict, expected status, reason, remind)
CASES = [
    (
        "reserving owner charges",
        ALICE,
        [held_by_alice()],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "owner's other card",
        ALICE_SECOND_CARD,
        [held_by_alice()],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "same parentIdTag group",
        ALICE_FAMILY,
        [held_by_alice()],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "another owner at a reserved space",
        BOB,
        [held_by_alice()],
        REGISTERED,
        Refuse,
        "Invalid",
        Refusal.SPACE_RESERVED,
        True,
    ),
    (
        "another owner, reservation required",
        BOB,
        [held_by_alice()],
        REQUIRED,
        Refuse,
        "Invalid",
        Refusal.SPACE_RESERVED,
        True,
    ),
    (
        "unknown tag at a reserved space",
        None,
        [held_by_alice()],
        REGISTERED,
        Refuse,
        "Invalid",
        Refusal.TAG_NOT_ACCEPTED,
        True,
    ),
    (
        "blocked tag at a reserved space",
        BLOCKED,
        [held_by_alice()],
        REGISTERED,
        Refuse,
        "Blocked",
        Refusal.TAG_NOT_ACCEPTED,
        True,
    ),
    (
        "expired tag at a free space",
        EXPIRED,
        [FREE_S1],
        REGISTERED,
        Refuse,
        "Expired",
        Refusal.TAG_NOT_ACCEPTED,
        False,
    ),
    (
        "blocked tag at a free space",
        BLOCKED,
        [FREE_S1],
        REGISTERED,
        Refuse,
        "Blocked",
        Refusal.TAG_NOT_ACCEPTED,
        False,
    ),
    (
        "unknown tag at a free space",
        None,
        [FREE_S1],
        REGISTERED,
        Refuse,
        "Invalid",
        Refusal.TAG_NOT_ACCEPTED,
        False,
    ),
    ("registered tag at a free space", BOB, [FREE_S1], REGISTERED, Allow, "Accepted", None, False),
    (
        "free space, reservation required",
        BOB,
        [FREE_S1],
        REQUIRED,
        Refuse,
        "Invalid",
        Refusal.RESERVATION_REQUIRED,
        True,
    ),
    ("charger with no space mapped", BOB, [], REGISTERED, Allow, "Accepted", None, False),
    (
        "no space mapped, reservation required",
        BOB,
        [],
        REQUIRED,
        Refuse,
        "Invalid",
        Refusal.RESERVATION_REQUIRED,
        True,
    ),
    (
        "reservation not started yet",
        BOB,
        [held_by_alice(state=ReservationState.BOOKED, start=1, end=3)],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "reservation already over",
        BOB,
        [held_by_alice(start=-3, end=0)],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "cancelled reservation",
        BOB,
        [held_by_alice(state=ReservationState.CANCELLED)],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "expired (no-show) reservation",
        BOB,
        [held_by_alice(state=ReservationState.EXPIRED)],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "Authorize: other connector is free",
        BOB,
        [held_by_alice(), FREE_S2],
        REGISTERED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "Authorize: owner's connector among others",
        ALICE,
        [FREE_S2, held_by_alice()],
        REQUIRED,
        Allow,
        "Accepted",
        None,
        False,
    ),
    (
        "Authorize: all connectors reserved by others",
        BOB,
        [held_by_alice(), held_by_alice(S2)],
        REGISTERED,
        Refuse,
        "Invalid",
        Refusal.SPACE_RESERVED,
        True,
    ),
]


@pytest.mark.parametrize(
    ("tag", "spaces", "policy", "verdict", "status", "reason", "remind"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide_charging(
    tag: IdTag | None,
    spaces: list[SpaceAtCharger],
    policy: ChargingPolicy,
    verdict: type,
    status: str,
    reason: Refusal | None,
    remind: bool,
) -> None:
    decision = decide_charging(tag, spaces, NOW, policy)
    assert isinstance(decision, verdict)
    assert decision.id_tag_info.status.value == status
    if isinstance(decision, Refuse):
        assert decision.reason is reason
        assert decision.remind is remind
        # A refusal is expired on arrival, so no Authorization Cache keeps it as a ban.
        assert decision.id_tag_info.expiry_date == NOW


def test_the_reserving_owner_is_accepted_until_the_window_closes() -> None:
    decision = decide_charging(ALICE, [held_by_alice()], NOW, REGISTERED)
    assert isinstance(decision, Allow)
    assert decision.reservation is not None
    assert decision.reservation.id == 10
    assert decision.space == S1
    assert decision.id_tag_info.expiry_date == NOW + 2 * HOUR


def test_a_tag_expiring_before_the_window_keeps_its_own_expiry() -> None:
    soon = IdTag("ALICE-1", expiry_date=NOW + HOUR, owner_id=1)
    decision = decide_charging(soon, [held_by_alice()], NOW, REGISTERED)
    assert decision.id_tag_info.expiry_date == NOW + HOUR


def test_a_free_space_allows_with_the_tags_own_verdict() -> None:
    decision = decide_charging(BOB, [held_by_alice(), FREE_S2], NOW, REGISTERED)
    assert isinstance(decision, Allow)
    assert decision.space == S2
    assert decision.reservation is None
    assert decision.id_tag_info.parent_id_tag == "HOUSE-B"


def test_the_documented_table_is_the_tested_table() -> None:
    document = (Path(__file__).parents[2] / "docs" / "domain-rules.md").read_text()
    section = document.split("## Cases", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| case")
    ]
    tested = [
        [
            name,
            verdict.__name__,
            status,
            reason.value if reason else "—",
            "yes" if remind else "no",
        ]
        for name, _, _, _, verdict, status, reason, remind in CASES
    ]
    assert rows == tested

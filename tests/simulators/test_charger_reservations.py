"""Reservations held by the charger itself (OCPP 1.6 §5.13, §5.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.auth_cache import IdTagInfo
from simulators.charger import Charger, Fit, Reservation, Status, reservation_fit

from .helpers import (
    T0,
    accepted,
    actions,
    at,
    make_charger,
    notes,
    sent,
    shown,
    start_session,
    statuses,
)

LATER = at(3600)


def reserve(
    charger: Charger,
    connector: int = 1,
    tag: str = "ALICE",
    parent: str | None = None,
    rid: int = 1,
) -> str:
    status, _ = charger.reserve_now(connector, LATER, tag, parent, rid, T0)
    return status


@pytest.mark.parametrize(
    ("reservation", "tag", "parent", "known", "fit"),
    [
        (None, "A", None, True, Fit.FREE),
        (Reservation(1, 1, "A", None, LATER), "A", None, False, Fit.MATCH),
        (Reservation(1, 1, "A", None, LATER), "B", "H", True, Fit.MISMATCH),
        (Reservation(1, 1, "A", "H", LATER), "B", None, False, Fit.NEED_PARENT),
        (Reservation(1, 1, "A", "H", LATER), "B", "H", True, Fit.MATCH),
        (Reservation(1, 1, "A", "H", LATER), "B", "X", True, Fit.MISMATCH),
        (Reservation(1, 1, "A", "H", LATER), "B", None, True, Fit.MISMATCH),
    ],
)
def test_reservation_fit(
    reservation: Reservation | None, tag: str, parent: str | None, known: bool, fit: Fit
) -> None:
    assert reservation_fit(reservation, tag, parent, parent_known=known) is fit


def _faulted(c: Charger) -> None:
    c.fault(1, "OtherError", T0)


def _unavailable(c: Charger) -> None:
    c.change_availability(1, "Inoperative", T0)


def _plugged(c: Charger) -> None:
    c.plug(1, T0)


def _charging(c: Charger) -> None:
    start_session(c)


def _reserved_by_other(c: Charger) -> None:
    reserve(c, 1, "BOB", rid=9)


def _nothing(c: Charger) -> None:
    pass


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (_nothing, "Accepted"),
        (_faulted, "Faulted"),
        (_unavailable, "Unavailable"),
        (_plugged, "Occupied"),
        (_charging, "Occupied"),
        (_reserved_by_other, "Occupied"),
    ],
)
def test_reserve_now_answers_from_the_connector_state(
    prepare: Callable[[Charger], None], expected: str
) -> None:
    charger = make_charger()
    prepare(charger)
    assert reserve(charger) == expected


@pytest.mark.parametrize(
    ("connector", "expiry", "settings", "expected"),
    [
        (0, LATER, {}, "Rejected"),
        (0, LATER, {"ReserveConnectorZeroSupported": "true"}, "Accepted"),
        (3, LATER, {}, "Rejected"),
        (1, T0, {}, "Rejected"),
    ],
)
def test_reserve_now_refusals(
    connector: int, expiry: object, settings: dict[str, str], expected: str
) -> None:
    charger = make_charger(**settings)
    assert charger.reserve_now(connector, expiry, "ALICE", None, 1, T0)[0] == expected  # type: ignore[arg-type]


def test_a_reservation_shows_reserved_and_the_same_id_replaces_it() -> None:
    charger = make_charger()
    status, effects = charger.reserve_now(1, LATER, "ALICE", None, 1, T0)
    assert (status, statuses(effects)) == ("Accepted", [(1, "Reserved")])
    status, effects = charger.reserve_now(2, LATER, "ALICE", None, 1, T0)
    assert (status, statuses(effects)) == ("Accepted", [(1, "Available"), (2, "Reserved")])
    assert [r.connector_id for r in charger.reservations()] == [2]


def test_another_card_is_refused_on_a_reserved_connector_without_asking() -> None:
    charger = make_charger()
    reserve(charger, 1, "ALICE")
    effects = charger.present("BOB", 1, T0)
    assert actions(effects) == []
    assert shown(effects) == ["Reserved for another user"]
    assert notes(effects, "authorization")[0] == {
        "id_tag": "BOB",
        "connector_id": 1,
        "status": "Reserved",
        "source": "reservation",
    }
    assert charger.status_of(1)[0] is Status.RESERVED
    # The other connector is free for Bob.
    assert actions(charger.present("BOB", 2, T0)) == ["Authorize"]


def test_the_reserved_card_starts_and_the_start_carries_the_reservation() -> None:
    charger = make_charger()
    reserve(charger, 1, "ALICE", rid=42)
    assert statuses(charger.plug(1, T0)) == [(1, "Preparing")]  # a cable does not cancel it
    charger.present("ALICE", 1, T0)
    effects = charger.authorize_answered("ALICE", accepted(), T0)
    assert sent(effects)[0][1]["reservation_id"] == 42
    assert charger.reservations() == []


def test_a_card_of_the_reserved_parent_may_start_after_asking_for_its_parent() -> None:
    charger = make_charger()
    reserve(charger, 1, "ALICE", parent="HOUSE")
    charger.plug(1, T0)
    assert actions(charger.present("ALICE-2", 1, T0)) == ["Authorize"]
    effects = charger.authorize_answered("ALICE-2", accepted("HOUSE"), T0)
    assert actions(effects)[0] == "StartTransaction"
    assert sent(effects)[0][1]["reservation_id"] == 1


def test_a_card_of_another_parent_is_refused_after_asking() -> None:
    charger = make_charger()
    reserve(charger, 1, "ALICE", parent="HOUSE")
    charger.present("BOB", 1, T0)
    effects = charger.authorize_answered("BOB", accepted("OTHER"), T0)
    assert actions(effects) == []
    assert notes(effects, "authorization")[0]["status"] == "Reserved"
    # The refusal here did not make Bob's card bad for the charger.
    assert charger.cache.lookup("BOB", T0) == accepted("OTHER")


def test_offline_a_parent_reservation_admits_only_cards_whose_parent_is_cached() -> None:
    charger = make_charger(online=False)
    reserve(charger, 1, "ALICE", parent="HOUSE")
    charger.cache.update("ALICE-2", accepted("HOUSE"), T0)
    charger.plug(1, T0)
    assert notes(charger.present("STRANGER", 1, T0), "authorization")[0]["status"] == "Reserved"
    assert actions(charger.present("ALICE-2", 1, T0))[0] == "StartTransaction"


def test_remote_start_for_another_card_on_a_reserved_connector_is_rejected() -> None:
    charger = make_charger()
    reserve(charger, 1, "ALICE")
    assert charger.remote_start("BOB", 1, T0) == ("Rejected", [])
    assert charger.remote_start("ALICE", 1, T0)[0] == "Accepted"


def test_a_reservation_expires_and_can_be_cancelled() -> None:
    charger = make_charger()
    reserve(charger, 1, "ALICE", rid=1)
    reserve(charger, 2, "BOB", rid=2)
    effects = charger.tick(LATER)
    assert notes(effects, "reservation_expired") == [{"reservation_id": 1}, {"reservation_id": 2}]
    assert statuses(effects) == [(1, "Available"), (2, "Available")]
    reserve(charger, 1, "ALICE", rid=3)
    assert charger.cancel_reservation(3, T0)[0] == "Accepted"
    assert charger.cancel_reservation(3, T0) == ("Rejected", [])
    assert charger.status_of(1)[0] is Status.AVAILABLE


def test_a_connector_zero_reservation_keeps_the_last_free_connector() -> None:
    charger = make_charger(ReserveConnectorZeroSupported="true")
    reserve(charger, 0, "ALICE")
    start_session(charger, "BOB", 1)  # one connector left free: Bob may take the first
    assert notes(charger.present("CAROL", 2, T0), "authorization")[0]["status"] == "Reserved"
    charger.present("ALICE", 2, T0)
    effects = charger.authorize_answered("ALICE", IdTagInfo("Accepted"), T0)
    assert notes(effects, "authorization")[0]["status"] == "Accepted"

"""The pure charger: sessions, the central system's answers, meters, commands."""

from __future__ import annotations

import pytest

from simulators.auth_cache import IdTagInfo
from simulators.charger import ChargerError, Quirks, Status

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


def test_a_whole_session_online() -> None:
    charger = make_charger()
    presented = charger.present("ALICE", 1, at(0))
    assert sent(presented) == [("Authorize", {"id_tag": "ALICE"})]
    answered = charger.authorize_answered("ALICE", accepted("HOUSE"), at(1))
    assert statuses(answered) == [(1, "Preparing")]
    assert shown(answered) == ["Card accepted: plug in the cable"]
    plugged = charger.plug(1, at(2))
    assert actions(plugged) == ["StartTransaction", "StatusNotification"]
    assert sent(plugged)[0][1] == {
        "connector_id": 1,
        "id_tag": "ALICE",
        "meter_start": 1000,
        "timestamp": "2026-11-24T10:00:02.000Z",
    }
    assert statuses(plugged) == [(1, "Charging")]
    confirmed = charger.start_answered(1, 77, accepted("HOUSE"), at(3))
    assert notes(confirmed, "transaction_confirmed")[0]["transaction_id"] == 77
    stopped = charger.present("ALICE", 1, at(62))
    assert actions(stopped) == ["StopTransaction", "StatusNotification"]
    stop = sent(stopped)[0][1]
    assert (stop["meter_stop"], stop["reason"], stop["id_tag"]) == (1060, "Local", "ALICE")
    assert [v["sampled_value"][0]["value"] for v in stop["transaction_data"]] == ["1000", "1060"]
    assert statuses(stopped) == [(1, "Finishing")]
    assert statuses(charger.unplug(1, at(63))) == [(1, "Available")]


def test_plugging_first_then_presenting_the_card_starts_at_once() -> None:
    charger = make_charger()
    assert statuses(charger.plug(1, T0)) == [(1, "Preparing")]
    charger.present("ALICE", None, T0)  # the charger picks the plugged connector
    answered = charger.authorize_answered("ALICE", accepted(), T0)
    assert actions(answered) == ["StartTransaction", "StatusNotification"]


@pytest.mark.parametrize(
    ("stop_on_invalid", "expected_actions", "expected_status"),
    [
        ("true", ["StopTransaction", "StatusNotification"], Status.FINISHING),
        ("false", ["StatusNotification"], Status.SUSPENDED_EVSE),
    ],
)
def test_a_start_the_central_system_refuses(
    stop_on_invalid: str, expected_actions: list[str], expected_status: Status
) -> None:
    charger = make_charger(StopTransactionOnInvalidId=stop_on_invalid)
    ref = start_session(charger)
    effects = charger.start_answered(ref, 5, IdTagInfo("Blocked"), at(10))
    assert actions(effects) == expected_actions
    assert charger.status_of(1)[0] is expected_status
    assert shown(effects) == ["Charging refused by the operator (Blocked)"]
    if stop_on_invalid == "true":
        assert sent(effects)[0][1]["reason"] == "DeAuthorized"
    # the cache learnt the refusal
    assert charger.cache.lookup("ALICE", at(10)) == IdTagInfo("Blocked")


def test_a_refused_card_starts_nothing() -> None:
    charger = make_charger()
    charger.plug(1, T0)
    charger.present("LOST", 1, T0)
    effects = charger.authorize_answered("LOST", IdTagInfo("Blocked"), T0)
    assert actions(effects) == []
    assert notes(effects, "authorization")[0]["status"] == "Blocked"
    assert charger.status_of(1)[0] is Status.PREPARING


@pytest.mark.parametrize(
    ("stop_on_disconnect", "status", "queued"),
    [("true", Status.AVAILABLE, ["StopTransaction"]), ("false", Status.SUSPENDED_EV, [])],
)
def test_unplugging_during_a_transaction(
    stop_on_disconnect: str, status: Status, queued: list[str]
) -> None:
    charger = make_charger(StopTransactionOnEVSideDisconnect=stop_on_disconnect)
    start_session(charger)
    effects = charger.unplug(1, at(5))
    assert [a for a in actions(effects) if a != "StatusNotification"] == queued
    assert charger.status_of(1)[0] is status


def test_the_meter_rises_only_while_charging_and_never_falls() -> None:
    charger = make_charger(MeterValueSampleInterval="10")
    start_session(charger)
    readings = []
    for second in range(1, 41):
        for action, payload in sent(charger.tick(at(second))):
            if action == "MeterValues":
                readings.append(int(payload["meter_value"][0]["sampled_value"][0]["value"]))
    assert readings == [1010, 1020, 1030, 1040]
    charger.stop_button(1, at(40))
    assert charger.tick(at(100)) == []
    assert [view.energy_wh for view in charger.views()] == [0, 1040, 1000]


def test_the_relative_meter_quirk_counts_from_the_start() -> None:
    charger = make_charger(quirks=Quirks(relative_meter_values=True, naive_timestamps=True))
    start_session(charger)
    (reading,) = [p for a, p in sent(charger.sample(1, at(5))) if a == "MeterValues"]
    value = reading["meter_value"][0]
    assert value["sampled_value"][0]["value"] == "5"
    assert value["timestamp"] == "2026-11-24T10:00:05.000"


def test_offline_an_unknown_card_starts_only_if_allowed() -> None:
    strict = make_charger(online=False)
    strict.plug(1, T0)
    refused = strict.present("NEW", 1, T0)
    assert notes(refused, "authorization")[0]["status"] == "Invalid"
    lenient = make_charger(online=False, AllowOfflineTxForUnknownId="true")
    lenient.plug(1, T0)
    assert "StartTransaction" in actions(lenient.present("NEW", 1, T0))


def test_local_pre_authorize_starts_from_the_cache_without_asking() -> None:
    charger = make_charger(LocalPreAuthorize="true")
    charger.cache.update("ALICE", accepted(), T0)
    charger.plug(1, T0)
    effects = charger.present("ALICE", 1, T0)
    assert actions(effects)[0] == "StartTransaction"
    assert notes(effects, "authorization")[0]["source"] == "cache"


def test_no_answer_to_authorize_falls_back_to_the_offline_rule() -> None:
    charger = make_charger()
    charger.cache.update("ALICE", accepted(), T0)
    charger.plug(1, T0)
    assert actions(charger.present("ALICE", 1, T0)) == ["Authorize"]
    effects = charger.authorize_answered("ALICE", None, T0)
    assert actions(effects)[0] == "StartTransaction"


def test_another_card_stops_a_session_only_with_the_same_parent() -> None:
    charger = make_charger()
    charger.present("ALICE", 1, T0)
    charger.authorize_answered("ALICE", accepted("HOUSE"), T0)
    charger.plug(1, T0)
    asked = charger.present("ALICE-2", 1, T0)
    assert actions(asked) == ["Authorize"]
    stopped = charger.authorize_answered("ALICE-2", accepted("HOUSE"), T0)
    assert sent(stopped)[0][1]["id_tag"] == "ALICE-2"
    charger.unplug(1, T0)
    start_session(charger, "BOB")
    assert shown(charger.present("CAROL", 1, T0)) == ["This session belongs to another card"]


def test_the_connection_timeout_forgets_an_unused_authorisation() -> None:
    charger = make_charger(ConnectionTimeOut="30")
    charger.present("ALICE", 1, T0)
    charger.authorize_answered("ALICE", accepted(), T0)
    assert charger.tick(at(29)) == []
    effects = charger.tick(at(30))
    assert statuses(effects) == [(1, "Available")]
    assert notes(effects, "authorization_timed_out") == [{"connector_id": 1}]


def test_faults_stop_the_session_and_clear() -> None:
    charger = make_charger()
    start_session(charger)
    effects = charger.fault(1, "GroundFailure", at(3))
    assert sent(effects)[0][1]["reason"] == "Other"
    assert sent(effects)[1][1] == {
        "connector_id": 1,
        "error_code": "GroundFailure",
        "status": "Faulted",
        "timestamp": "2026-11-24T10:00:03.000Z",
    }
    assert notes(charger.present("BOB", 1, at(4)), "authorization")[0]["status"] == "Faulted"
    assert statuses(charger.clear_fault(1, at(5))) == [(1, "Finishing")]
    with pytest.raises(ChargerError, match=r"not an OCPP 1\.6 error code"):
        charger.fault(1, "Error", at(6))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.plug(3, T0), "no connector 3"),
        (lambda c: c.unplug(1, T0), "not plugged"),
        (lambda c: c.stop_button(1, T0), "no transaction"),
    ],
)
def test_impossible_physical_actions(call: object, message: str) -> None:
    with pytest.raises(ChargerError, match=message):
        call(make_charger())  # type: ignore[operator]


def test_change_availability_waits_for_a_running_transaction() -> None:
    charger = make_charger()
    start_session(charger)
    status, effects = charger.change_availability(0, "Inoperative", T0)
    assert status == "Scheduled"
    assert statuses(effects) == [(0, "Unavailable"), (2, "Unavailable")]
    after_stop = charger.stop_button(1, T0)
    assert statuses(after_stop) == [(1, "Unavailable")]
    assert charger.change_availability(1, "Operative", T0)[0] == "Accepted"
    assert charger.change_availability(9, "Operative", T0)[0] == "Rejected"


def test_remote_start_and_stop() -> None:
    charger = make_charger()
    charger.plug(2, T0)
    status, effects = charger.remote_start("ALICE", None, T0)
    assert status == "Accepted"
    assert sent(effects)[0] == (
        "StartTransaction",
        {
            "connector_id": 2,
            "id_tag": "ALICE",
            "meter_start": 1000,
            "timestamp": "2026-11-24T10:00:00.000Z",
        },
    )
    assert notes(effects, "authorization")[0]["source"] == "remote start"
    assert charger.remote_start("BOB", 2, T0)[0] == "Rejected"  # busy
    assert charger.remote_start("BOB", 7, T0)[0] == "Rejected"  # no such connector
    assert charger.remote_stop(99, T0) == ("Rejected", [])
    ref = notes(effects, "transaction_started")[0]["transaction_ref"]
    charger.start_answered(ref, 99, accepted(), T0)
    status, stopped = charger.remote_stop(99, at(1))
    assert status == "Accepted"
    assert sent(stopped)[0][1]["reason"] == "Remote"


def test_remote_start_asks_first_when_authorize_remote_tx_requests() -> None:
    charger = make_charger(AuthorizeRemoteTxRequests="true")
    status, effects = charger.remote_start("ALICE", 1, T0)
    assert (status, actions(effects)) == ("Accepted", ["Authorize"])
    refused = charger.authorize_answered("ALICE", IdTagInfo("Invalid"), T0)
    assert charger.status_of(1)[0] is Status.AVAILABLE
    assert shown(refused) == ["Card not accepted (Invalid)"]


@pytest.mark.parametrize(
    ("connector", "transaction", "expected", "stop_reason"),
    [
        (1, True, "Unlocked", "UnlockCommand"),
        (1, False, "Unlocked", None),
        (5, False, "NotSupported", None),
    ],
)
def test_unlock_connector(
    connector: int, transaction: bool, expected: str, stop_reason: str | None
) -> None:
    charger = make_charger()
    if transaction:
        start_session(charger)
    status, effects = charger.unlock_connector(connector, T0)
    assert status == expected
    reasons = [p["reason"] for a, p in sent(effects) if a == "StopTransaction"]
    assert reasons == ([stop_reason] if stop_reason else [])


@pytest.mark.parametrize(("kind", "reason"), [("Soft", "SoftReset"), ("Hard", "HardReset")])
def test_reset_stops_every_transaction(kind: str, reason: str) -> None:
    charger = make_charger()
    start_session(charger, "ALICE", 1)
    start_session(charger, "BOB", 2)
    status, effects = charger.reset(kind, T0)
    assert status == "Accepted"
    assert [p["reason"] for a, p in sent(effects) if a == "StopTransaction"] == [reason, reason]


def test_a_reboot_applies_pending_configuration() -> None:
    charger = make_charger()
    charger.config.change("WebSocketPingInterval", "90")
    charger.rebooted(T0)
    assert charger.config.number("WebSocketPingInterval") == 90


@pytest.mark.parametrize(
    ("requested", "connector", "status", "expected"),
    [
        ("Heartbeat", None, "Accepted", ["Heartbeat"]),
        ("BootNotification", None, "Accepted", ["BootNotification"]),
        ("StatusNotification", None, "Accepted", ["StatusNotification"] * 3),
        ("StatusNotification", 2, "Accepted", ["StatusNotification"]),
        ("MeterValues", 1, "Accepted", ["MeterValues"]),
        ("FirmwareStatusNotification", None, "Accepted", ["FirmwareStatusNotification"]),
        ("DiagnosticsStatusNotification", None, "Accepted", ["DiagnosticsStatusNotification"]),
        ("StatusNotification", 9, "Rejected", []),
        ("SignChargePointCertificate", None, "NotImplemented", []),
    ],
)
def test_trigger_message(
    requested: str, connector: int | None, status: str, expected: list[str]
) -> None:
    answer, effects = make_charger().trigger_message(requested, connector, T0)
    assert (answer, actions(effects)) == (status, expected)


def test_a_triggered_meter_reading_carries_the_known_transaction_id() -> None:
    charger = make_charger()
    ref = start_session(charger)
    charger.start_answered(ref, 31, accepted(), T0)
    _, effects = charger.trigger_message("MeterValues", 1, at(2))
    payload = sent(effects)[0][1]
    assert payload["transaction_id"] == 31
    assert payload["meter_value"][0]["sampled_value"][0]["context"] == "Trigger"


def test_clear_cache() -> None:
    charger = make_charger()
    charger.cache.update("ALICE", accepted(), T0)
    assert charger.clear_cache() == "Accepted"
    assert len(charger.cache) == 0

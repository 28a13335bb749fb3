"""The use cases, on the in-memory fakes of the ports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from central_system.domain.charging_rule import Refusal, Reminder
from central_system.domain.errors import ChargePointInUse, UnknownChargePoint
from central_system.domain.garage import Reservation, ReservationState
from central_system.domain.model import (
    BootInfo,
    ChargePoint,
    ConnectorStatus,
    Event,
    EventKind,
    IdTag,
    IdTagInfo,
    LoggedMessage,
    MeterValue,
    RegistrationStatus,
    ReportedMeterValue,
    SampledValue,
    StartRequest,
    StopRequest,
    TagStatus,
    Transaction,
    UnknownChargerPolicy,
)
from central_system.ports import Page
from central_system.services import (
    ChargerSessions,
    DataTransferHandler,
    DataTransferReply,
    Operations,
    Verdict,
)
from tests.fakes import (
    DataError,
    FixedClock,
    InMemoryDatabase,
    InMemoryTransactionRepository,
    InMemoryUnitOfWorkFactory,
    IntegrityViolation,
    Opened,
    ReadOnlyViolation,
    StoredDataTransfer,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HEARTBEAT_INTERVAL = 300
BOOT_RETRY_INTERVAL = 60
CP = "CP1"
OTHER_CP = "CP2"
TAG = "TAG1"
OWNER_TAG = "OWNER"
CHARGER_TIME = "2026-11-24T11:58:00Z"
CHARGER_MOMENT = datetime(2026, 11, 24, 11, 58, tzinfo=UTC)


@dataclass
class World:
    database: InMemoryDatabase = field(default_factory=InMemoryDatabase)
    clock: FixedClock = field(default_factory=lambda: FixedClock(NOW))
    uow: InMemoryUnitOfWorkFactory = field(init=False)

    def __post_init__(self) -> None:
        self.uow = InMemoryUnitOfWorkFactory(self.database, self.clock)

    def sessions(
        self,
        policy: UnknownChargerPolicy = UnknownChargerPolicy.REJECT,
        handlers: dict[str, DataTransferHandler] | None = None,
    ) -> ChargerSessions:
        return ChargerSessions(
            uow=self.uow,
            clock=self.clock,
            heartbeat_interval=HEARTBEAT_INTERVAL,
            boot_retry_interval=BOOT_RETRY_INTERVAL,
            unknown_chargers=policy,
            data_transfer_handlers=handlers,
        )

    def operations(self) -> Operations:
        return Operations(uow=self.uow, clock=self.clock)

    async def charger(
        self, charge_point_id: str = CP, status: RegistrationStatus = RegistrationStatus.ACCEPTED
    ) -> None:
        async with self.uow() as uow:
            await uow.charge_points.add(ChargePoint(charge_point_id, status))
            await uow.commit()

    async def tag(self, tag: IdTag) -> None:
        async with self.uow() as uow:
            await uow.id_tags.put(tag)
            await uow.commit()

    def transaction(self, transaction_id: int) -> Transaction:
        return self.database.state.transactions[transaction_id].transaction

    def events(self, kind: EventKind) -> list[Event]:
        return self.database.events_of(kind)

    async def reserved_space(
        self,
        *,
        label: str = "B2-07",
        connector_id: int = 1,
        owner_tag: str = OWNER_TAG,
        starts_at: datetime = NOW - timedelta(minutes=10),
        ends_at: datetime = NOW + timedelta(hours=2),
    ) -> Reservation:
        """A space on ``CP``'s connector, reserved by an owner whose tag is ``owner_tag``."""
        async with self.uow() as uow:
            owner = await uow.owners.add("Ada")
            await uow.id_tags.put(IdTag(owner_tag, owner_id=owner.id))
            space = await uow.spaces.add(label, "B2", CP, connector_id)
            reservation = await uow.reservations.add(
                owner.id, space.id, starts_at, ends_at, starts_at + timedelta(minutes=30)
            )
            await uow.commit()
        return reservation

    def reservation(self, reservation_id: int) -> Reservation:
        return self.database.state.reservations[reservation_id]


@pytest.fixture
async def world() -> World:
    world = World()
    await world.charger(CP)
    await world.charger(OTHER_CP)
    await world.tag(IdTag(TAG))
    return world


def start(
    connector_id: int = 1,
    id_tag: str = TAG,
    meter_start: int = 1000,
    timestamp_raw: str = CHARGER_TIME,
) -> StartRequest:
    return StartRequest(connector_id, id_tag, meter_start, timestamp_raw)


def stop(
    transaction_id: int,
    meter_stop: int = 5000,
    timestamp_raw: str = "2026-11-24T11:59:30Z",
    *,
    id_tag: str | None = TAG,
    reason: str | None = "Local",
    transaction_data: tuple[ReportedMeterValue, ...] = (),
) -> StopRequest:
    return StopRequest(transaction_id, meter_stop, timestamp_raw, id_tag, reason, transaction_data)


def energy(timestamp_raw: str, *values: str) -> ReportedMeterValue:
    return ReportedMeterValue(
        timestamp_raw,
        tuple(
            SampledValue(v, measurand="Energy.Active.Import.Register", unit="Wh") for v in values
        ),
    )


# ------------------------------------------------------------------------ admit


async def test_admit_refuses_unknown_charger_under_reject_policy() -> None:
    world = World()
    assert await world.sessions(UnknownChargerPolicy.REJECT).admit("STRANGER") is False
    assert world.database.state.charge_points == {}
    assert world.database.state.events == []


async def test_admit_registers_unknown_charger_under_accept_policy() -> None:
    world = World()
    assert await world.sessions(UnknownChargerPolicy.ACCEPT).admit("STRANGER") is True
    assert world.database.state.charge_points == {
        "STRANGER": ChargePoint("STRANGER", RegistrationStatus.ACCEPTED)
    }
    [event] = world.events(EventKind.CHARGER_REGISTERED)
    assert (event.at, event.charge_point_id) == (NOW, "STRANGER")
    assert "accept" in str(event.detail["why"])


@pytest.mark.parametrize("policy", list(UnknownChargerPolicy))
async def test_admit_lets_known_charger_in_unchanged(policy: UnknownChargerPolicy) -> None:
    world = World()
    await world.charger("KNOWN", RegistrationStatus.PENDING)
    assert await world.sessions(policy).admit("KNOWN") is True
    assert world.database.state.charge_points["KNOWN"].registration_status is (
        RegistrationStatus.PENDING
    )
    assert world.database.state.events == []


# ------------------------------------------------------------------------- boot


@pytest.mark.parametrize(
    ("status", "interval"),
    [
        (RegistrationStatus.ACCEPTED, HEARTBEAT_INTERVAL),
        (RegistrationStatus.PENDING, BOOT_RETRY_INTERVAL),
        (RegistrationStatus.REJECTED, BOOT_RETRY_INTERVAL),
    ],
)
async def test_boot_answers_by_registration_status(
    world: World, status: RegistrationStatus, interval: int
) -> None:
    await world.charger("BOOTING", status)
    booted_at = world.clock.advance(timedelta(minutes=3))
    info = BootInfo("Garage", "Wallbox", charge_box_serial_number="CB-1", firmware_version="2.0")

    decision = await world.sessions().boot("BOOTING", info)

    assert (decision.status, decision.interval, decision.current_time) == (
        status,
        interval,
        booted_at,
    )
    charger = world.database.state.charge_points["BOOTING"]
    assert (charger.vendor, charger.model, charger.serial_number) == ("Garage", "Wallbox", "CB-1")
    assert (charger.last_boot_at, charger.registration_status) == (booted_at, status)
    assert world.database.state.boots["BOOTING"] == info


async def test_boot_of_unknown_charger_raises(world: World) -> None:
    with pytest.raises(UnknownChargePoint):
        await world.sessions().boot("NOBODY", BootInfo("Garage", "Wallbox"))
    assert "NOBODY" not in world.database.state.charge_points


async def test_heartbeat_gives_the_clock_time(world: World) -> None:
    later = world.clock.advance(timedelta(hours=5))
    assert await world.sessions().heartbeat(CP) == later


# -------------------------------------------------------------------- authorize


@pytest.mark.parametrize(
    ("id_tag", "expected"),
    [
        (TAG, IdTagInfo(TagStatus.ACCEPTED)),
        # A refusal expires on arrival, so no Authorization Cache keeps it as a ban.
        ("BLOCKED", IdTagInfo(TagStatus.BLOCKED, expiry_date=NOW)),
        ("UNKNOWN", IdTagInfo(TagStatus.INVALID, expiry_date=NOW)),
    ],
)
async def test_authorize(world: World, id_tag: str, expected: IdTagInfo) -> None:
    await world.tag(IdTag("BLOCKED", TagStatus.BLOCKED))
    verdict = await world.sessions().authorize(CP, id_tag)
    assert verdict == Verdict(expected)
    assert world.uow.opened[-1] == Opened(durable=False, read_only=True)


async def test_authorize_expires_by_the_clock(world: World) -> None:
    await world.tag(IdTag("SOON", expiry_date=NOW + timedelta(hours=1)))
    sessions = world.sessions()
    assert (await sessions.authorize(CP, "SOON")).id_tag_info.status is TagStatus.ACCEPTED
    world.clock.advance(timedelta(hours=2))
    assert (await sessions.authorize(CP, "SOON")).id_tag_info.status is TagStatus.EXPIRED


# ---------------------------------------------------------- status notification


async def test_status_notification_records_connector(world: World) -> None:
    report = ConnectorStatus(
        2, "Faulted", "GroundFailure", info="RCD", timestamp_raw="2026-11-24T13:55:00+02:00"
    )
    world.clock.advance(timedelta(seconds=30))
    await world.sessions().status_notification(CP, report)

    view = await world.operations().charge_point(CP)
    [connector] = view.connectors
    assert (connector.connector_id, connector.status, connector.error_code, connector.info) == (
        2,
        "Faulted",
        "GroundFailure",
        "RCD",
    )
    assert connector.status_at == datetime(2026, 11, 24, 11, 55, tzinfo=UTC)
    assert connector.updated_at == NOW + timedelta(seconds=30)
    assert world.events(EventKind.SUSPECT_TIMESTAMP) == []


async def test_status_notification_without_timestamp(world: World) -> None:
    report = ConnectorStatus(0, "Available", "NoError")
    await world.sessions().status_notification(CP, report)

    view = await world.operations().charge_point(CP)
    [connector] = view.connectors
    assert (connector.status, connector.status_at, connector.updated_at) == ("Available", None, NOW)
    assert world.events(EventKind.SUSPECT_TIMESTAMP) == []


async def test_status_notification_with_empty_timestamp_uses_received_time(world: World) -> None:
    await world.sessions().status_notification(
        CP, ConnectorStatus(1, "Available", "NoError", timestamp_raw="")
    )

    [connector] = (await world.operations().charge_point(CP)).connectors
    assert connector.status_at == NOW
    [event] = world.events(EventKind.SUSPECT_TIMESTAMP)
    assert event.detail["message"] == "StatusNotification"
    assert event.detail["why"] == "empty"


# ------------------------------------------------------------ start_transaction


async def test_start_transaction_ids_increase(world: World) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start(connector_id=1))
    second = await sessions.start_transaction(CP, start(connector_id=2))
    third = await sessions.start_transaction(OTHER_CP, start(connector_id=1))

    assert first.transaction_id < second.transaction_id < third.transaction_id
    assert [first.replayed, second.replayed, third.replayed] == [False, False, False]
    assert [t.id for t in world.database.transactions] == [
        first.transaction_id,
        second.transaction_id,
        third.transaction_id,
    ]


async def test_start_transaction_records_the_start(world: World) -> None:
    request = StartRequest(2, TAG, 1234, "2026-11-24T13:58:00+02:00", reservation_id=9)
    outcome = await world.sessions().start_transaction(CP, request)

    assert outcome.id_tag_info == IdTagInfo(TagStatus.ACCEPTED)
    assert world.transaction(outcome.transaction_id) == Transaction(
        id=outcome.transaction_id,
        charge_point_id=CP,
        connector_id=2,
        id_tag=TAG,
        meter_start=1234,
        started_at=CHARGER_MOMENT,
        reservation_id=9,
        start_status=TagStatus.ACCEPTED,
    )
    assert world.events(EventKind.SUSPECT_TIMESTAMP) == []


async def test_start_transaction_is_committed_durably(world: World) -> None:
    await world.sessions().start_transaction(CP, start())
    assert world.uow.opened[-1] == Opened(durable=True, read_only=False)
    assert world.database.commits[-1].durable is True


async def test_retried_start_gets_the_same_id(world: World) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start())
    world.clock.advance(timedelta(seconds=40))

    retried = await sessions.start_transaction(CP, start())

    assert retried.transaction_id == first.transaction_id
    assert retried.replayed is True
    assert retried.id_tag_info == first.id_tag_info
    assert len(world.database.transactions) == 1
    [event] = world.events(EventKind.START_REPLAYED)
    assert (event.charge_point_id, event.at) == (CP, NOW + timedelta(seconds=40))
    assert event.detail["transaction_id"] == first.transaction_id
    assert world.events(EventKind.TRANSACTION_LEFT_OPEN) == []


@pytest.mark.parametrize(
    "changed",
    [
        start(connector_id=2),
        start(id_tag="TAG2"),
        start(meter_start=1001),
        start(timestamp_raw="2026-11-24T11:58:01Z"),
    ],
)
async def test_start_differing_in_any_key_is_a_new_transaction(
    world: World, changed: StartRequest
) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start())
    second = await sessions.start_transaction(CP, changed)
    assert second.transaction_id > first.transaction_id
    assert second.replayed is False
    assert world.events(EventKind.START_REPLAYED) == []


async def test_same_start_on_another_charger_is_a_new_transaction(world: World) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start())
    second = await sessions.start_transaction(OTHER_CP, start())
    assert second.transaction_id != first.transaction_id
    assert second.replayed is False


@pytest.mark.parametrize(
    ("tag", "status"),
    [
        (None, TagStatus.INVALID),
        (IdTag("X", TagStatus.BLOCKED), TagStatus.BLOCKED),
        (IdTag("X", TagStatus.EXPIRED), TagStatus.EXPIRED),
        (IdTag("X", expiry_date=NOW - timedelta(days=1)), TagStatus.EXPIRED),
    ],
    ids=["unknown", "blocked", "expired", "expiry passed"],
)
async def test_start_for_a_refused_tag_still_creates_the_transaction(
    world: World, tag: IdTag | None, status: TagStatus
) -> None:
    if tag is not None:
        await world.tag(tag)
    outcome = await world.sessions().start_transaction(CP, start(id_tag="X"))

    assert outcome.id_tag_info == IdTagInfo(status, expiry_date=NOW)
    assert world.transaction(outcome.transaction_id).start_status is status
    assert world.transaction(outcome.transaction_id).is_open


async def test_start_carries_expiry_and_parent(world: World) -> None:
    expiry = NOW + timedelta(days=30)
    await world.tag(IdTag("CHILD", expiry_date=expiry, parent_id_tag="FAMILY"))
    outcome = await world.sessions().start_transaction(CP, start(id_tag="CHILD"))
    assert outcome.id_tag_info == IdTagInfo(TagStatus.ACCEPTED, expiry, "FAMILY")


async def test_start_on_a_connector_with_an_open_transaction_flags_it(world: World) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start(connector_id=1, id_tag=TAG))
    second = await sessions.start_transaction(CP, start(connector_id=1, id_tag="OTHER"))

    [event] = world.events(EventKind.TRANSACTION_LEFT_OPEN)
    assert event.charge_point_id == CP
    assert event.detail["transaction_id"] == first.transaction_id
    assert event.detail["connector_id"] == 1
    # Flagged, not closed: only the charger can stop a transaction.
    assert world.transaction(first.transaction_id).is_open
    assert world.transaction(second.transaction_id).is_open


@pytest.mark.parametrize(
    ("charge_point_id", "connector_id"), [(CP, 2), (OTHER_CP, 1)], ids=["connector", "charger"]
)
async def test_start_elsewhere_flags_nothing(
    world: World, charge_point_id: str, connector_id: int
) -> None:
    sessions = world.sessions()
    await sessions.start_transaction(CP, start(connector_id=1))
    await sessions.start_transaction(charge_point_id, start(connector_id=connector_id, id_tag="B"))
    assert world.events(EventKind.TRANSACTION_LEFT_OPEN) == []


async def test_start_after_a_stop_on_the_same_connector_flags_nothing(world: World) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start())
    await sessions.stop_transaction(CP, stop(first.transaction_id))
    await sessions.start_transaction(CP, start(id_tag="B", timestamp_raw="2026-11-24T11:59:50Z"))
    assert world.events(EventKind.TRANSACTION_LEFT_OPEN) == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("soon", "unparsable"),
        ("1970-01-01T00:00:12Z", "clock_not_set"),
        ("2031-01-01T00:00:00Z", "in_future"),
    ],
)
async def test_start_with_suspect_timestamp_uses_received_time(
    world: World, raw: str, why: str
) -> None:
    outcome = await world.sessions().start_transaction(CP, start(timestamp_raw=raw))

    assert world.transaction(outcome.transaction_id).started_at == NOW
    [event] = world.events(EventKind.SUSPECT_TIMESTAMP)
    assert event.charge_point_id == CP
    assert event.detail == {
        "message": "StartTransaction",
        "timestamp": raw,
        "why": why,
        "used": NOW.isoformat(),
    }


async def test_start_with_naive_timestamp_is_taken_as_utc_and_flagged(world: World) -> None:
    outcome = await world.sessions().start_transaction(
        CP, start(timestamp_raw="2026-11-24T11:58:00")
    )
    assert world.transaction(outcome.transaction_id).started_at == CHARGER_MOMENT
    [event] = world.events(EventKind.SUSPECT_TIMESTAMP)
    assert event.detail["why"] == "naive"


async def test_replayed_offline_start_keeps_its_old_timestamp(world: World) -> None:
    outcome = await world.sessions().start_transaction(
        CP, start(timestamp_raw="2026-11-21T07:00:00Z")
    )
    started_at = world.transaction(outcome.transaction_id).started_at
    assert started_at == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert world.events(EventKind.SUSPECT_TIMESTAMP) == []


# ------------------------------------------------------------- stop_transaction


async def test_stop_transaction_closes_it(world: World) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start(meter_start=1000))
    world.clock.advance(timedelta(minutes=1))

    answer = await sessions.stop_transaction(
        CP, stop(started.transaction_id, meter_stop=4500, reason="EVDisconnected")
    )

    assert answer == IdTagInfo(TagStatus.ACCEPTED)
    closed = world.transaction(started.transaction_id)
    assert closed.meter_stop == 4500
    assert closed.stopped_at == datetime(2026, 11, 24, 11, 59, 30, tzinfo=UTC)
    assert (closed.stop_reason, closed.stop_id_tag) == ("EVDisconnected", TAG)
    assert closed.energy_wh == 3500
    assert not closed.is_open
    assert world.events(EventKind.STOP_ALREADY_STOPPED) == []
    assert world.events(EventKind.STOP_UNKNOWN_TRANSACTION) == []


async def test_stop_transaction_is_committed_durably(world: World) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start())
    await sessions.stop_transaction(CP, stop(started.transaction_id))
    assert world.uow.opened[-1] == Opened(durable=True, read_only=False)
    assert world.database.commits[-1].durable is True


@pytest.mark.parametrize(
    ("id_tag", "expected"),
    [
        (None, None),
        (TAG, IdTagInfo(TagStatus.ACCEPTED)),
        ("BLOCKED", IdTagInfo(TagStatus.BLOCKED)),
        ("NOBODY", IdTagInfo(TagStatus.INVALID)),
    ],
)
async def test_stop_answers_about_the_presented_tag(
    world: World, id_tag: str | None, expected: IdTagInfo | None
) -> None:
    await world.tag(IdTag("BLOCKED", TagStatus.BLOCKED))
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start())

    answer = await sessions.stop_transaction(CP, stop(started.transaction_id, id_tag=id_tag))

    assert answer == expected
    assert world.transaction(started.transaction_id).stop_id_tag == id_tag


async def test_stop_stores_transaction_data(world: World) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start(connector_id=2))
    data = (
        energy("2026-11-24T11:58:00Z", "1000"),
        energy("2026-11-24T13:59:00+02:00", "3000", "3001"),
    )

    await sessions.stop_transaction(CP, stop(started.transaction_id, transaction_data=data))

    rows = world.database.state.meter_values
    assert {(row.transaction_id, row.connector_id, row.source) for row in rows} == {
        (started.transaction_id, 2, "StopTransaction")
    }
    view = await world.operations().transaction(started.transaction_id)
    assert view is not None
    assert view.meter_values == [
        (MeterValue(CHARGER_MOMENT, data[0].sampled_values), "StopTransaction"),
        (
            MeterValue(datetime(2026, 11, 24, 11, 59, tzinfo=UTC), data[1].sampled_values),
            "StopTransaction",
        ),
    ]


async def test_retried_stop_changes_nothing_and_is_flagged(world: World) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start())
    data = (energy("2026-11-24T11:59:00Z", "4000"),)
    first = stop(started.transaction_id, meter_stop=4000, transaction_data=data)
    await sessions.stop_transaction(CP, first)
    closed = world.transaction(started.transaction_id)
    rows = list(world.database.state.meter_values)

    answer = await sessions.stop_transaction(CP, first)
    different = await sessions.stop_transaction(
        CP, stop(started.transaction_id, meter_stop=9999, reason="Other", transaction_data=data)
    )

    assert answer == different == IdTagInfo(TagStatus.ACCEPTED)
    assert world.transaction(started.transaction_id) == closed
    assert world.database.state.meter_values == rows
    events = world.events(EventKind.STOP_ALREADY_STOPPED)
    assert [event.detail["transaction_id"] for event in events] == [started.transaction_id] * 2
    assert [event.detail["meter_stop"] for event in events] == [4000, 9999]
    assert world.events(EventKind.NEGATIVE_ENERGY) == []


async def test_stop_that_loses_a_race_to_another_stop_changes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start())
    await sessions.stop_transaction(CP, stop(started.transaction_id, meter_stop=4000))
    closed = world.transaction(started.transaction_id)
    read = InMemoryTransactionRepository.get

    async def stale_get(
        repository: InMemoryTransactionRepository, transaction_id: int
    ) -> Transaction | None:
        # What a read just before another connection's stop committed saw: still open.
        found = await read(repository, transaction_id)
        if found is None:
            return None
        return replace(found, meter_stop=None, stopped_at=None, stop_reason=None)

    monkeypatch.setattr(InMemoryTransactionRepository, "get", stale_get)
    data = (energy(CHARGER_TIME, "9000"),)
    await sessions.stop_transaction(
        CP, stop(started.transaction_id, meter_stop=9000, transaction_data=data)
    )

    assert world.transaction(started.transaction_id) == closed
    assert world.database.state.meter_values == []
    [event] = world.events(EventKind.STOP_ALREADY_STOPPED)
    assert event.detail["transaction_id"] == started.transaction_id


@pytest.mark.parametrize(
    "transaction_id", [-(2**63), -1, 0, 12345, 2**31 - 1, 2**31, 2**63], ids=str
)
@pytest.mark.parametrize("id_tag", [None, TAG])
async def test_stop_of_unknown_transaction_is_answered_and_flagged(
    world: World, transaction_id: int, id_tag: str | None
) -> None:
    sessions = world.sessions()
    open_one = await sessions.start_transaction(CP, start())

    answer = await sessions.stop_transaction(CP, stop(transaction_id, id_tag=id_tag))

    assert answer == (None if id_tag is None else IdTagInfo(TagStatus.ACCEPTED))
    [event] = world.events(EventKind.STOP_UNKNOWN_TRANSACTION)
    assert event.charge_point_id == CP
    assert event.detail["transaction_id"] == transaction_id
    assert event.detail["why"] == "unknown_transaction"
    assert world.transaction(open_one.transaction_id).is_open
    assert len(world.database.transactions) == 1


async def test_stop_of_another_chargers_transaction_is_flagged(world: World) -> None:
    sessions = world.sessions()
    theirs = await sessions.start_transaction(CP, start())

    answer = await sessions.stop_transaction(OTHER_CP, stop(theirs.transaction_id))

    assert answer == IdTagInfo(TagStatus.ACCEPTED)
    assert world.transaction(theirs.transaction_id).is_open
    [event] = world.events(EventKind.STOP_UNKNOWN_TRANSACTION)
    assert event.charge_point_id == OTHER_CP
    assert event.detail["why"] == "other_charger"


@pytest.mark.parametrize(("meter_stop", "negative"), [(999, True), (0, True), (1000, False)])
async def test_meter_stop_below_meter_start_flags_negative_energy(
    world: World, meter_stop: int, negative: bool
) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start(meter_start=1000))

    await sessions.stop_transaction(CP, stop(started.transaction_id, meter_stop=meter_stop))

    closed = world.transaction(started.transaction_id)
    assert (closed.is_open, closed.meter_stop) == (False, meter_stop)
    events = world.events(EventKind.NEGATIVE_ENERGY)
    if negative:
        [event] = events
        assert event.detail == {
            "transaction_id": started.transaction_id,
            "meter_start": 1000,
            "meter_stop": meter_stop,
        }
    else:
        assert events == []


async def test_stop_with_suspect_timestamp_uses_received_time(world: World) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start())
    stopped_at = world.clock.advance(timedelta(minutes=10))

    await sessions.stop_transaction(
        CP, stop(started.transaction_id, timestamp_raw="1970-01-01T00:03:00Z")
    )

    assert world.transaction(started.transaction_id).stopped_at == stopped_at
    [event] = world.events(EventKind.SUSPECT_TIMESTAMP)
    assert event.detail["message"] == "StopTransaction"
    assert event.detail["why"] == "clock_not_set"


async def test_stop_transaction_data_with_suspect_timestamp_uses_received_time(
    world: World,
) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start())

    await sessions.stop_transaction(
        CP, stop(started.transaction_id, transaction_data=(energy("", "4000"),))
    )

    [row] = world.database.state.meter_values
    assert row.timestamp == NOW
    [event] = world.events(EventKind.SUSPECT_TIMESTAMP)
    assert event.detail["why"] == "empty"


# ------------------------------------------------------------ reserved spaces


async def test_owner_charges_at_their_reserved_space(world: World) -> None:
    reservation = await world.reserved_space()

    outcome = await world.sessions().start_transaction(CP, start(id_tag=OWNER_TAG))

    assert outcome.id_tag_info == IdTagInfo(TagStatus.ACCEPTED, expiry_date=reservation.ends_at)
    assert outcome.reminder is None
    held = world.reservation(reservation.id)
    assert (held.state, held.transaction_id) == (ReservationState.ACTIVE, outcome.transaction_id)
    [event] = world.events(EventKind.CHARGING_ALLOWED)
    assert event.detail["reservation_id"] == reservation.id
    assert event.detail["transaction_id"] == outcome.transaction_id


async def test_someone_else_at_a_reserved_space_is_refused_and_reminded(world: World) -> None:
    reservation = await world.reserved_space(label="B2-07")

    outcome = await world.sessions().start_transaction(CP, start(id_tag=TAG))

    assert outcome.id_tag_info == IdTagInfo(TagStatus.INVALID, expiry_date=NOW)
    assert outcome.reminder == Reminder(CP, 1, Refusal.SPACE_RESERVED, "B2-07", TAG)
    # The central system cannot prevent a start (§4.10): it is recorded as refused.
    assert world.transaction(outcome.transaction_id).start_status is TagStatus.INVALID
    assert world.reservation(reservation.id) == reservation
    [event] = world.events(EventKind.CHARGING_REFUSED)
    assert event.detail["why"] == "space_reserved"
    assert world.events(EventKind.CHARGING_ALLOWED) == []


async def test_reservation_of_another_connector_refuses_nobody_here(world: World) -> None:
    await world.reserved_space(connector_id=2)
    outcome = await world.sessions().start_transaction(CP, start(connector_id=1, id_tag=TAG))
    assert outcome.id_tag_info == IdTagInfo(TagStatus.ACCEPTED)
    assert outcome.reminder is None


async def test_reservation_outside_its_window_holds_nothing(world: World) -> None:
    await world.reserved_space(starts_at=NOW + timedelta(hours=1))
    outcome = await world.sessions().start_transaction(CP, start(id_tag=TAG))
    assert outcome.id_tag_info == IdTagInfo(TagStatus.ACCEPTED)


async def test_authorize_at_a_charger_whose_space_is_held(world: World) -> None:
    reservation = await world.reserved_space(connector_id=2, label="B2-08")
    sessions = world.sessions()

    stranger = await sessions.authorize(CP, TAG)
    owner = await sessions.authorize(CP, OWNER_TAG)

    assert stranger == Verdict(
        IdTagInfo(TagStatus.INVALID, expiry_date=NOW),
        Reminder(CP, 2, Refusal.SPACE_RESERVED, "B2-08", TAG),
    )
    assert owner == Verdict(IdTagInfo(TagStatus.ACCEPTED, expiry_date=reservation.ends_at))


@pytest.mark.parametrize(
    ("status", "connector_id", "reminded"),
    [("Preparing", 1, True), ("Preparing", 2, False), ("Available", 1, False)],
)
async def test_plug_in_at_a_held_space_reminds(
    world: World, status: str, connector_id: int, reminded: bool
) -> None:
    await world.reserved_space(connector_id=1, label="B2-07")

    reminder = await world.sessions().status_notification(
        CP, ConnectorStatus(connector_id, status, "NoError")
    )

    assert reminder == (Reminder(CP, 1, Refusal.SPACE_RESERVED, "B2-07") if reminded else None)


async def test_stop_fulfils_the_reservation(world: World) -> None:
    reservation = await world.reserved_space()
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start(id_tag=OWNER_TAG))

    await sessions.stop_transaction(CP, stop(started.transaction_id, id_tag=OWNER_TAG))

    assert world.reservation(reservation.id).state is ReservationState.FULFILLED
    [event] = world.events(EventKind.RESERVATION_FULFILLED)
    assert event.detail == {
        "reservation_id": reservation.id,
        "transaction_id": started.transaction_id,
        "why": "its transaction ended",
    }


async def test_stop_fulfils_the_reservation_when_the_charger_clock_lags(world: World) -> None:
    reservation = await world.reserved_space(starts_at=NOW - timedelta(minutes=1))
    sessions = world.sessions()
    lagging = (NOW - timedelta(minutes=2)).isoformat()  # believed: past times are kept
    started = await sessions.start_transaction(CP, start(id_tag=OWNER_TAG, timestamp_raw=lagging))
    activated = world.reservation(reservation.id)
    assert (activated.state, activated.transaction_id) == (
        ReservationState.ACTIVE,
        started.transaction_id,
    )

    await sessions.stop_transaction(CP, stop(started.transaction_id, id_tag=OWNER_TAG))

    assert world.reservation(reservation.id).state is ReservationState.FULFILLED


async def test_retried_refused_start_gets_the_same_answer(world: World) -> None:
    await world.reserved_space()
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start(id_tag=TAG))
    assert first.id_tag_info.status is TagStatus.INVALID

    retried = await sessions.start_transaction(CP, start(id_tag=TAG))

    assert retried.transaction_id == first.transaction_id
    assert retried.id_tag_info.status is TagStatus.INVALID


# ----------------------------------------------------------------- meter_values


async def test_meter_values_of_a_known_transaction(world: World) -> None:
    sessions = world.sessions()
    started = await sessions.start_transaction(CP, start(connector_id=1))

    await sessions.meter_values(
        CP, 1, started.transaction_id, [energy("2026-11-24T11:59:00Z", "2000")]
    )

    [row] = world.database.state.meter_values
    assert (row.charge_point_id, row.connector_id, row.transaction_id, row.source) == (
        CP,
        1,
        started.transaction_id,
        "MeterValues",
    )
    assert row.timestamp == datetime(2026, 11, 24, 11, 59, tzinfo=UTC)
    assert row.sample == SampledValue("2000", "Energy.Active.Import.Register", "Wh")


@pytest.mark.parametrize("transaction_id", [None, 999, -1, 0, 2**31, 2**63], ids=str)
async def test_meter_values_without_known_transaction_are_kept_unlinked(
    world: World, transaction_id: int | None
) -> None:
    await world.sessions().meter_values(
        CP, 3, transaction_id, [energy("2026-11-24T11:59:00Z", "10", "11")]
    )

    rows = world.database.state.meter_values
    assert [(row.transaction_id, row.connector_id, row.sample.value) for row in rows] == [
        (None, 3, "10"),
        (None, 3, "11"),
    ]


async def test_meter_values_for_another_chargers_transaction_are_kept_unlinked(
    world: World,
) -> None:
    sessions = world.sessions()
    theirs = await sessions.start_transaction(OTHER_CP, start())

    await sessions.meter_values(CP, 1, theirs.transaction_id, [energy(CHARGER_TIME, "5")])

    [row] = world.database.state.meter_values
    assert (row.charge_point_id, row.transaction_id) == (CP, None)


async def test_meter_values_timestamps_by_policy(world: World) -> None:
    await world.sessions().meter_values(
        CP,
        1,
        None,
        [energy("2026-11-20T03:00:00Z", "1"), energy("2031-01-01T00:00:00Z", "2")],
    )

    timestamps = [row.timestamp for row in world.database.state.meter_values]
    assert timestamps == [datetime(2026, 11, 20, 3, 0, tzinfo=UTC), NOW]
    [event] = world.events(EventKind.SUSPECT_TIMESTAMP)
    assert event.detail["message"] == "MeterValues"
    assert event.detail["why"] == "in_future"


# ---------------------------------------------------------------- data_transfer


async def test_data_transfer_without_handler_is_unknown_vendor_and_recorded(
    world: World,
) -> None:
    reply = await world.sessions().data_transfer(CP, "com.example", "Ping", '{"a": 1}')

    assert reply == DataTransferReply("UnknownVendorId")
    assert world.database.state.data_transfers == [
        StoredDataTransfer(CP, "com.example", "Ping", '{"a": 1}', "UnknownVendorId", NOW)
    ]


async def test_data_transfer_with_handler_returns_its_reply(world: World) -> None:
    calls: list[tuple[str, str | None, str | None]] = []

    async def handler(
        charge_point_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        calls.append((charge_point_id, message_id, data))
        return DataTransferReply("Accepted", data=f"pong:{data}")

    sessions = world.sessions(handlers={"com.example": handler})

    reply = await sessions.data_transfer(CP, "com.example", "Ping", "42")
    other = await sessions.data_transfer(CP, "org.other", None, None)

    assert reply == DataTransferReply("Accepted", "pong:42")
    assert other == DataTransferReply("UnknownVendorId")
    assert calls == [(CP, "Ping", "42")]
    assert [t.status for t in world.database.state.data_transfers] == [
        "Accepted",
        "UnknownVendorId",
    ]


# ------------------------------------------------------- diagnostics / firmware


async def test_diagnostics_and_firmware_status(world: World) -> None:
    sessions = world.sessions()
    await sessions.diagnostics_status(CP, "Uploaded")
    await sessions.firmware_status(CP, "Installing")

    charger = world.database.state.charge_points[CP]
    assert (charger.diagnostics_status, charger.firmware_status) == ("Uploaded", "Installing")
    assert [e.detail for e in world.events(EventKind.DIAGNOSTICS_STATUS)] == [
        {"status": "Uploaded"}
    ]
    assert [e.detail for e in world.events(EventKind.FIRMWARE_STATUS)] == [{"status": "Installing"}]


async def test_record_event(world: World) -> None:
    event = Event(EventKind.SCHEMA_QUIRK_ACCEPTED, NOW, CP, {"quirks": ["meterValue wrapped"]})
    await world.sessions().record_event(event)
    assert world.database.state.events[-1] == event


# ------------------------------------------------------------------- Operations


async def test_put_charge_point_creates_then_updates() -> None:
    world = World()
    operations = world.operations()

    view, created = await operations.put_charge_point("NEW", RegistrationStatus.PENDING)
    assert created is True
    assert view.charge_point.registration_status is RegistrationStatus.PENDING

    view, created = await operations.put_charge_point("NEW", RegistrationStatus.ACCEPTED)
    assert created is False
    assert view.charge_point.registration_status is RegistrationStatus.ACCEPTED
    assert list(world.database.state.charge_points) == ["NEW"]


async def test_charge_points_lists_with_connectors(world: World) -> None:
    await world.sessions().status_notification(CP, ConnectorStatus(1, "Charging", "NoError"))
    views = await world.operations().charge_points(Page())
    assert [(v.charge_point.id, [c.status for c in v.connectors]) for v in views] == [
        (CP, ["Charging"]),
        (OTHER_CP, []),
    ]
    assert [v.charge_point.id for v in await world.operations().charge_points(Page(1, 1))] == [
        OTHER_CP
    ]


async def test_unknown_charge_point_raises(world: World) -> None:
    operations = world.operations()
    with pytest.raises(UnknownChargePoint):
        await operations.charge_point("NOBODY")
    with pytest.raises(UnknownChargePoint):
        await operations.delete_charge_point("NOBODY")


async def test_delete_charge_point(world: World) -> None:
    await world.sessions().status_notification(OTHER_CP, ConnectorStatus(1, "Available", "NoError"))
    await world.operations().delete_charge_point(OTHER_CP)
    assert OTHER_CP not in world.database.state.charge_points
    assert world.database.state.connectors == {}


async def test_charge_point_with_transactions_is_kept(world: World) -> None:
    await world.sessions().start_transaction(CP, start())
    with pytest.raises(ChargePointInUse):
        await world.operations().delete_charge_point(CP)
    assert CP in world.database.state.charge_points


async def test_id_tags(world: World) -> None:
    operations = world.operations()
    assert await operations.put_id_tag(IdTag("NEW")) is True
    assert await operations.put_id_tag(IdTag("NEW", TagStatus.BLOCKED)) is False
    assert await operations.id_tag("NEW") == IdTag("NEW", TagStatus.BLOCKED)
    assert [t.id_tag for t in await operations.id_tags(Page())] == ["NEW", TAG]
    assert await operations.delete_id_tag("NEW") is True
    assert await operations.delete_id_tag("NEW") is False
    assert await operations.id_tag("NEW") is None


async def test_transactions_newest_first_and_by_charger(world: World) -> None:
    sessions = world.sessions()
    first = await sessions.start_transaction(CP, start(connector_id=1))
    second = await sessions.start_transaction(OTHER_CP, start(connector_id=1))
    third = await sessions.start_transaction(CP, start(connector_id=2))
    operations = world.operations()

    assert [t.id for t in await operations.transactions(Page())] == [
        third.transaction_id,
        second.transaction_id,
        first.transaction_id,
    ]
    assert [t.id for t in await operations.transactions(Page(), CP)] == [
        third.transaction_id,
        first.transaction_id,
    ]
    assert await operations.transaction(second.transaction_id + 1000) is None


async def test_events_newest_first_and_by_charger(world: World) -> None:
    sessions = world.sessions()
    await sessions.diagnostics_status(CP, "Uploading")
    await sessions.diagnostics_status(OTHER_CP, "Idle")
    await sessions.diagnostics_status(CP, "Uploaded")

    events = await world.operations().events(Page(), CP)
    assert [e.detail["status"] for e in events] == ["Uploaded", "Uploading"]
    assert len(await world.operations().events(Page())) == 3


async def test_messages_newest_first_and_by_charger(world: World) -> None:
    logged = [
        LoggedMessage(cp, "in", 2, "Heartbeat", str(n), "[]", NOW + timedelta(seconds=n))
        for n, cp in enumerate([CP, OTHER_CP, CP])
    ]
    world.database.state.messages.extend(logged)
    assert await world.operations().messages(Page(), CP) == [logged[2], logged[0]]


# ------------------------------------------------ the fakes keep the contracts


async def test_fake_never_reuses_a_rolled_back_transaction_id(world: World) -> None:
    async with world.uow() as uow:
        lost = await uow.transactions.add(CP, start(), NOW, TagStatus.ACCEPTED)
        assert lost is not None
    async with world.uow() as uow:
        assert await uow.transactions.get(lost.id) is None
        kept = await uow.transactions.add(CP, start(), NOW, TagStatus.ACCEPTED)
        assert kept is not None
        assert kept.id > lost.id
        assert await uow.transactions.add(CP, start(), NOW, TagStatus.ACCEPTED) is None
        for closes in (True, False):
            closed = await uow.transactions.stop(
                kept.id, meter_stop=1, stopped_at=NOW, reason=None, id_tag=None
            )
            assert closed is closes


async def test_fake_refuses_writes_that_the_database_would(world: World) -> None:
    async with world.uow(read_only=True) as uow:
        with pytest.raises(ReadOnlyViolation):
            await uow.id_tags.put(IdTag("X"))
    async with world.uow() as uow:
        with pytest.raises(IntegrityViolation):
            await uow.transactions.add("NOBODY", start(), NOW, TagStatus.ACCEPTED)
        with pytest.raises(IntegrityViolation):
            await uow.meter_values.add(CP, 1, 999, [MeterValue(NOW, (SampledValue("1"),))], "x")
        with pytest.raises(DataError):
            await uow.transactions.get(2**31)
        with pytest.raises(RuntimeError, match="inside another"):
            async with world.uow():
                pass

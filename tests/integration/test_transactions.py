"""Transactions that survive what chargers in the field do, on SQLite and PostgreSQL.

Retried starts, stops for transactions that do not exist or ended already, offline
queues replayed days later and stops sent after a power failure: each is answered
with a CALLRESULT (a CALLERROR makes a charger retry and finally drop the message)
and what is doubtful is flagged for the operator.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import delete, select

from central_system.domain.model import Event, EventKind, IdTag, RegistrationStatus
from central_system.persistence.tables import MeterValueRow, TransactionRow
from central_system.ports import Page
from central_system.system import CentralSystem
from tests.chargers import RawCharger, raw_charger
from tests.conftest import (
    OPERATOR_TOKEN,
    DatabaseConfig,
    ocpp_url,
    running_system,
    settings_for,
)

CP = "CP-TX-1"
OTHER_CP = "CP-TX-2"
TAG = "TAG-TX"


def ocpp_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def acked(charger: RawCharger, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send a CALL with a fresh message id; it must be answered with a CALLRESULT."""
    unique_id = uuid.uuid4().hex
    frame = await charger.call(unique_id, action, payload)
    assert frame[0] == 3, frame
    assert frame[1] == unique_id, frame
    answer: dict[str, Any] = frame[2]
    return answer


async def prepare(system: CentralSystem) -> None:
    for charge_point_id in (CP, OTHER_CP):
        await system.operations.put_charge_point(charge_point_id, RegistrationStatus.ACCEPTED)
    await system.operations.put_id_tag(IdTag(TAG))


@contextlib.asynccontextmanager
async def garage(config: DatabaseConfig, **overrides: Any) -> AsyncIterator[CentralSystem]:
    async with running_system(config, **overrides) as system:
        await prepare(system)
        yield system


@contextlib.asynccontextmanager
async def restarted(config: DatabaseConfig) -> AsyncIterator[CentralSystem]:
    """The central system started again on the database a previous one left behind."""
    system = CentralSystem(settings_for(config), operator_token=OPERATOR_TOKEN)
    await system.start()
    try:
        yield system
    finally:
        await system.stop()


@contextlib.asynccontextmanager
async def charger(system: CentralSystem, charge_point_id: str = CP) -> AsyncIterator[RawCharger]:
    async with raw_charger(ocpp_url(system, charge_point_id)) as connection:
        yield connection


async def transactions(system: CentralSystem) -> list[TransactionRow]:
    async with system.database.read_sessions() as session:
        return list(
            (await session.scalars(select(TransactionRow).order_by(TransactionRow.id))).all()
        )


async def transaction(system: CentralSystem, transaction_id: int) -> TransactionRow:
    async with system.database.read_sessions() as session:
        row = await session.get(TransactionRow, transaction_id)
    assert row is not None
    return row


async def meter_values(system: CentralSystem, transaction_id: int) -> list[MeterValueRow]:
    async with system.database.read_sessions() as session:
        rows = await session.scalars(
            select(MeterValueRow)
            .where(MeterValueRow.transaction_id == transaction_id)
            .order_by(MeterValueRow.id)
        )
        return list(rows.all())


async def events(system: CentralSystem, kind: EventKind) -> list[Event]:
    """Events of one kind, oldest first."""
    listed = await system.operations.events(Page(limit=500))
    return [event for event in reversed(listed) if event.kind is kind]


def start_request(
    timestamp: datetime, *, connector_id: int = 1, meter_start: int = 1000
) -> dict[str, Any]:
    return {
        "connectorId": connector_id,
        "idTag": TAG,
        "meterStart": meter_start,
        "timestamp": ocpp_time(timestamp),
    }


def boot_request() -> dict[str, Any]:
    return {"chargePointVendor": "Acme", "chargePointModel": "Wallbox"}


def flagged_ids(flags: Sequence[Event]) -> list[tuple[str | None, object]]:
    return [(event.charge_point_id, event.detail["transaction_id"]) for event in flags]


# ----------------------------------------------------------------- StartTransaction


async def test_retried_start_gets_the_same_transaction_id_and_adds_no_row(
    database_config: DatabaseConfig,
) -> None:
    async with garage(database_config) as system:
        start = start_request(now() - timedelta(minutes=3), meter_start=1200)
        async with charger(system) as connection:
            first = await acked(connection, "StartTransaction", start)
            retried = await acked(connection, "StartTransaction", start)
        async with charger(system) as connection:  # the charger reconnected
            after_reconnect = await acked(connection, "StartTransaction", start)

        assert first["idTagInfo"]["status"] == "Accepted"
        assert retried == first
        assert after_reconnect == first
        transaction_id = first["transactionId"]
        assert [row.id for row in await transactions(system)] == [transaction_id]
        replays = await events(system, EventKind.START_REPLAYED)
        assert flagged_ids(replays) == [(CP, transaction_id), (CP, transaction_id)]

        # A start that differs in one value is a new transaction, not a retry.
        async with charger(system) as connection:
            other = await acked(
                connection, "StartTransaction", {**start, "meterStart": start["meterStart"] + 1}
            )
        assert other["transactionId"] != transaction_id
        assert len(await transactions(system)) == 2


async def test_transaction_ids_are_unique_increasing_and_never_reused(
    database_config: DatabaseConfig,
) -> None:
    base = now() - timedelta(hours=2)
    issued: list[int] = []
    async with garage(database_config) as system:
        async with charger(system) as connection:
            for number in range(30):
                answer = await acked(
                    connection,
                    "StartTransaction",
                    start_request(
                        base + timedelta(minutes=number),
                        connector_id=1 + number % 3,
                        meter_start=number * 1000,
                    ),
                )
                issued.append(answer["transactionId"])
        assert all(earlier < later for earlier, later in pairwise(issued))
        assert [row.id for row in await transactions(system)] == issued

        # Even the newest id is not issued again once its row is gone.
        async with system.database.write_sessions() as session:
            await session.execute(delete(TransactionRow).where(TransactionRow.id == issued[-1]))
            await session.commit()
        async with charger(system) as connection:
            answer = await acked(
                connection, "StartTransaction", start_request(base + timedelta(minutes=40))
            )
        assert answer["transactionId"] > issued[-1]
        issued.append(answer["transactionId"])

    # Nor after a restart of the central system.
    async with restarted(database_config) as system, charger(system) as connection:
        answer = await acked(
            connection, "StartTransaction", start_request(base + timedelta(minutes=50))
        )
    assert answer["transactionId"] > max(issued)


# ------------------------------------------------------------------ StopTransaction


async def test_stop_for_a_transaction_that_is_not_ours_is_acked_and_flagged(
    database_config: DatabaseConfig,
) -> None:
    async with garage(database_config) as system:
        started_at = now() - timedelta(minutes=30)
        async with charger(system, OTHER_CP) as other:
            elsewhere = await acked(other, "StartTransaction", start_request(started_at))
        async with charger(system) as connection:
            own = await acked(connection, "StartTransaction", start_request(started_at))
            unknown = max(own["transactionId"], elsewhere["transactionId"]) + 1000
            refused_ids = [-1, 0, 2**31 - 1, unknown, elsewhere["transactionId"]]
            for transaction_id in refused_ids:
                answer = await acked(
                    connection,
                    "StopTransaction",
                    {
                        "transactionId": transaction_id,
                        "meterStop": 5000,
                        "timestamp": ocpp_time(now()),
                        "idTag": TAG,
                        "reason": "Local",
                    },
                )
                assert answer["idTagInfo"]["status"] == "Accepted"

        flagged = await events(system, EventKind.STOP_UNKNOWN_TRANSACTION)
        assert flagged_ids(flagged) == [(CP, transaction_id) for transaction_id in refused_ids]
        assert await events(system, EventKind.STOP_ALREADY_STOPPED) == []
        # Neither the charger's own transaction nor the other charger's was closed.
        rows = await transactions(system)
        assert sorted(row.id for row in rows) == sorted(
            [own["transactionId"], elsewhere["transactionId"]]
        )
        assert [(row.stopped_at, row.meter_stop) for row in rows] == [(None, None)] * 2


@pytest.mark.parametrize("transaction_id", [2**31, 2**63])
async def test_transaction_id_beyond_the_database_integer_is_acked(
    database_config: DatabaseConfig, transaction_id: int
) -> None:
    async with garage(database_config) as system, charger(system) as connection:
        stopped = await acked(
            connection,
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": 10, "timestamp": ocpp_time(now())},
        )
        assert stopped == {}
        sampled = await acked(
            connection,
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{"timestamp": ocpp_time(now()), "sampledValue": [{"value": "1"}]}],
            },
        )
        assert sampled == {}
        flagged = await events(system, EventKind.STOP_UNKNOWN_TRANSACTION)
        assert flagged_ids(flagged) == [(CP, transaction_id)]


async def test_retried_stop_adds_no_meter_values_and_is_flagged(
    database_config: DatabaseConfig,
) -> None:
    async with garage(database_config) as system:
        started_at = now() - timedelta(hours=1)
        stopped_at = now() - timedelta(minutes=1)
        async with charger(system) as connection:
            started = await acked(
                connection, "StartTransaction", start_request(started_at, meter_start=1500)
            )
            transaction_id = started["transactionId"]
            stop = {
                "transactionId": transaction_id,
                "meterStop": 4200,
                "timestamp": ocpp_time(stopped_at),
                "idTag": TAG,
                "reason": "Local",
                "transactionData": [
                    {
                        "timestamp": ocpp_time(started_at),
                        "sampledValue": [
                            {"value": "1500", "context": "Transaction.Begin", "unit": "Wh"}
                        ],
                    },
                    {
                        "timestamp": ocpp_time(stopped_at),
                        "sampledValue": [
                            {"value": "4200", "context": "Transaction.End", "unit": "Wh"},
                            {"value": "15.9", "measurand": "Current.Import", "unit": "A"},
                        ],
                    },
                ],
            }
            first = await acked(connection, "StopTransaction", stop)
            closed = await transaction(system, transaction_id)
            recorded = await meter_values(system, transaction_id)
            retried = await acked(connection, "StopTransaction", stop)
        async with charger(system) as connection:  # and once more after a reconnect
            after_reconnect = await acked(connection, "StopTransaction", stop)

        assert first["idTagInfo"]["status"] == "Accepted"
        assert retried == first
        assert after_reconnect == first
        assert (closed.stopped_at, closed.meter_stop, closed.stop_reason) == (
            stopped_at,
            4200,
            "Local",
        )
        assert [(row.value, row.source) for row in recorded] == [
            (sampled["value"], "StopTransaction")
            for meter_value in stop["transactionData"]
            for sampled in meter_value["sampledValue"]
        ]
        assert [row.id for row in await meter_values(system, transaction_id)] == [
            row.id for row in recorded
        ]
        still = await transaction(system, transaction_id)
        assert (still.stopped_at, still.meter_stop, still.stop_reason) == (
            closed.stopped_at,
            closed.meter_stop,
            closed.stop_reason,
        )
        flagged = await events(system, EventKind.STOP_ALREADY_STOPPED)
        assert flagged_ids(flagged) == [(CP, transaction_id), (CP, transaction_id)]
        assert await events(system, EventKind.STOP_UNKNOWN_TRANSACTION) == []


# ------------------------------------------------------- offline replay, power failure


async def test_offline_queue_replayed_days_later_keeps_the_chargers_times(
    database_config: DatabaseConfig,
) -> None:
    began = now() - timedelta(days=3)
    interval = timedelta(minutes=5)
    samples = [(began + interval * number, 10_000 + 100 * number) for number in range(1, 51)]
    ended = began + interval * 51
    async with garage(database_config) as system:
        async with charger(system) as connection:
            booted = await acked(connection, "BootNotification", boot_request())
            assert booted["status"] == "Accepted"
            started = await acked(
                connection,
                "StartTransaction",
                start_request(began, connector_id=2, meter_start=10_000),
            )
            transaction_id = started["transactionId"]
            for taken_at, register in samples:
                answer = await acked(
                    connection,
                    "MeterValues",
                    {
                        "connectorId": 2,
                        "transactionId": transaction_id,
                        "meterValue": [
                            {
                                "timestamp": ocpp_time(taken_at),
                                "sampledValue": [
                                    {
                                        "value": str(register),
                                        "measurand": "Energy.Active.Import.Register",
                                        "unit": "Wh",
                                    }
                                ],
                            }
                        ],
                    },
                )
                assert answer == {}
            await acked(
                connection,
                "StopTransaction",
                {
                    "transactionId": transaction_id,
                    "meterStop": 15_200,
                    "timestamp": ocpp_time(ended),
                    "reason": "EVDisconnected",
                },
            )

        row = await transaction(system, transaction_id)
        assert (row.connector_id, row.meter_start, row.started_at) == (2, 10_000, began)
        assert (row.meter_stop, row.stopped_at, row.stop_reason) == (
            15_200,
            ended,
            "EVDisconnected",
        )
        recorded = await meter_values(system, transaction_id)
        assert [(value.timestamp, value.value, value.source) for value in recorded] == [
            (taken_at, str(register), "MeterValues") for taken_at, register in samples
        ]
        assert await events(system, EventKind.SUSPECT_TIMESTAMP) == []
        assert await events(system, EventKind.STOP_UNKNOWN_TRANSACTION) == []


async def test_stop_after_a_power_failure_boot_closes_the_open_transaction(
    database_config: DatabaseConfig,
) -> None:
    async with garage(database_config) as system:
        started_at = now() - timedelta(hours=2)
        power_lost_at = now() - timedelta(minutes=10)
        async with charger(system) as connection:
            await acked(connection, "BootNotification", boot_request())
            started = await acked(
                connection, "StartTransaction", start_request(started_at, meter_start=3000)
            )
        transaction_id = started["transactionId"]

        async with charger(system) as connection:  # power is back
            booted = await acked(connection, "BootNotification", boot_request())
            assert booted["status"] == "Accepted"
            assert (await transaction(system, transaction_id)).stopped_at is None
            stopped = await acked(
                connection,
                "StopTransaction",
                {
                    "transactionId": transaction_id,
                    "meterStop": 7300,
                    "timestamp": ocpp_time(power_lost_at),
                    "reason": "PowerLoss",
                },
            )
            assert stopped == {}
            await acked(
                connection,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
            )
            # The connector is free: a new start there leaves nothing open behind.
            await acked(connection, "StartTransaction", start_request(now(), meter_start=7300))

        row = await transaction(system, transaction_id)
        assert (row.meter_stop, row.stopped_at, row.stop_reason) == (
            7300,
            power_lost_at,
            "PowerLoss",
        )
        assert await events(system, EventKind.TRANSACTION_LEFT_OPEN) == []
        assert await events(system, EventKind.STOP_UNKNOWN_TRANSACTION) == []
        assert await events(system, EventKind.STOP_ALREADY_STOPPED) == []

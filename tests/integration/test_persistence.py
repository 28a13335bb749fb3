"""Repositories, units of work and the message log on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from central_system.clock import SystemClock
from central_system.domain.errors import ChargePointInUse
from central_system.domain.model import (
    BootInfo,
    ChargePoint,
    ConnectorStatus,
    Event,
    EventKind,
    IdTag,
    LoggedMessage,
    MeterValue,
    RegistrationStatus,
    SampledValue,
    StartRequest,
    TagStatus,
)
from central_system.persistence.db import Database
from central_system.persistence.message_log import MessageLog
from central_system.persistence.tables import MessageLogRow
from central_system.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from central_system.ports import Page
from tests.conftest import DatabaseConfig, migrated

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Fixed:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def start(connector: int = 1, tag: str = "TAG", meter: int = 0, at: str = "2026-11-24T11:00:00Z"):
    return StartRequest(connector_id=connector, id_tag=tag, meter_start=meter, timestamp_raw=at)


async def add_charger(uow: SqlAlchemyUnitOfWorkFactory, charge_point_id: str = "CP1") -> None:
    async with uow() as work:
        await work.charge_points.add(ChargePoint(id=charge_point_id))
        await work.commit()


async def test_uncommitted_work_is_rolled_back(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    async with uow() as work:
        await work.id_tags.put(IdTag("FORGOTTEN"))
    async with uow(read_only=True) as work:
        assert await work.id_tags.get("FORGOTTEN") is None


async def test_charge_point_boot_and_registration(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow)
    async with uow() as work:
        await work.charge_points.record_boot(
            "CP1", BootInfo(vendor="Acme", model="W1", charge_box_serial_number="SN-9"), NOW
        )
        await work.charge_points.set_registration_status("CP1", RegistrationStatus.PENDING)
        await work.commit()
    async with uow(read_only=True) as work:
        charger = await work.charge_points.get("CP1")
    assert charger is not None
    assert (charger.vendor, charger.model, charger.serial_number) == ("Acme", "W1", "SN-9")
    assert charger.registration_status is RegistrationStatus.PENDING
    assert charger.last_boot_at == NOW


async def test_connector_status_keeps_latest_and_history(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow)
    async with uow() as work:
        for status, code in (("Available", "NoError"), ("Faulted", "GroundFailure")):
            await work.connectors.record_status(
                "CP1",
                ConnectorStatus(1, status, code, vendor_id="acme", vendor_error_code="E7"),
                NOW,
                NOW,
            )
        await work.commit()
    async with uow(read_only=True) as work:
        (connector,) = await work.connectors.for_charge_point("CP1")
    assert (connector.status, connector.error_code, connector.vendor_error_code) == (
        "Faulted",
        "GroundFailure",
        "E7",
    )
    async with database.read_sessions() as session:
        history = await session.scalar(text("SELECT count(*) FROM status_notifications"))
    assert history == 2


async def test_transaction_ids_are_unique_and_a_duplicate_start_is_refused(
    database: Database,
) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow)
    ids = []
    async with uow(durable=True) as work:
        for meter in range(3):
            created = await work.transactions.add(
                "CP1", start(meter=meter), NOW, TagStatus.ACCEPTED
            )
            assert created is not None
            ids.append(created.id)
        duplicate = await work.transactions.add("CP1", start(meter=0), NOW, TagStatus.ACCEPTED)
        await work.commit()
    assert duplicate is None
    assert ids == sorted(set(ids))
    async with uow(read_only=True) as work:
        found = await work.transactions.find_start("CP1", start(meter=1))
    assert found is not None
    assert found.id == ids[1]


async def test_transaction_ids_are_never_reused_after_a_delete(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow)
    async with uow(durable=True) as work:
        first = await work.transactions.add("CP1", start(meter=1), NOW, TagStatus.ACCEPTED)
        await work.commit()
    assert first is not None
    async with database.write_engine.begin() as connection:
        await connection.execute(text("DELETE FROM transactions"))
    async with uow(durable=True) as work:
        second = await work.transactions.add("CP1", start(meter=2), NOW, TagStatus.ACCEPTED)
        await work.commit()
    assert second is not None
    assert second.id > first.id


async def test_stop_closes_once(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow)
    async with uow(durable=True) as work:
        created = await work.transactions.add("CP1", start(), NOW, TagStatus.ACCEPTED)
        assert created is not None
        assert await work.transactions.stop(
            created.id, meter_stop=10, stopped_at=NOW, reason="Local", id_tag=None
        )
        assert not await work.transactions.stop(
            created.id, meter_stop=20, stopped_at=NOW, reason="Local", id_tag=None
        )
        await work.commit()
    async with uow(read_only=True) as work:
        stored = await work.transactions.get(created.id)
        assert await work.transactions.open_on_connector("CP1", 1) == []
    assert stored is not None
    assert stored.meter_stop == 10
    assert stored.energy_wh == 10


async def test_meter_values_round_trip_grouped_by_timestamp(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow)
    async with uow() as work:
        created = await work.transactions.add("CP1", start(), NOW, TagStatus.ACCEPTED)
        assert created is not None
        values = [
            MeterValue(
                NOW,
                (
                    SampledValue(
                        "12.5", "Energy.Active.Import.Register", "kWh", None, None, "Outlet"
                    ),
                    SampledValue("230", "Voltage", "V", "L1-N"),
                ),
            ),
            MeterValue(NOW + timedelta(minutes=1), (SampledValue("13.0", unit="kWh"),)),
        ]
        await work.meter_values.add("CP1", 1, created.id, values, source="MeterValues")
        await work.commit()
    async with uow(read_only=True) as work:
        stored = await work.meter_values.for_transaction(created.id)
    assert [(v, source) for v, source in stored] == [(v, "MeterValues") for v in values]


async def test_charger_with_transactions_cannot_be_deleted(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    await add_charger(uow, "CP1")
    await add_charger(uow, "CP2")
    async with uow() as work:
        await work.transactions.add("CP1", start(), NOW, TagStatus.ACCEPTED)
        await work.commit()
    async with uow() as work:
        with pytest.raises(ChargePointInUse):
            await work.charge_points.delete("CP1")
        assert await work.charge_points.delete("CP2")
        assert not await work.charge_points.delete("CP3")
        await work.commit()
    async with uow(read_only=True) as work:
        assert [cp.id for cp in await work.charge_points.list(Page())] == ["CP1"]


async def test_events_newest_first_and_filtered(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, Fixed(NOW))
    async with uow() as work:
        await work.events.add(Event(EventKind.START_REPLAYED, NOW, "CP1", {"transaction_id": 1}))
        await work.events.add(Event(EventKind.NEGATIVE_ENERGY, NOW, "CP2", {"meter_stop": -1}))
        await work.commit()
    async with uow(read_only=True) as work:
        everything = await work.events.list(Page())
        only_cp1 = await work.events.list(Page(), "CP1")
    assert [e.kind for e in everything] == [EventKind.NEGATIVE_ENERGY, EventKind.START_REPLAYED]
    assert only_cp1 == [Event(EventKind.START_REPLAYED, NOW, "CP1", {"transaction_id": 1})]


async def test_message_log_batches_frames_moves_last_seen_and_prunes(database: Database) -> None:
    clock = Fixed(NOW)
    uow = SqlAlchemyUnitOfWorkFactory(database, clock)
    await add_charger(uow)
    log = MessageLog(database, clock, batch_size=7, retention=timedelta(days=30))
    log.start()
    try:
        old = NOW - timedelta(days=31)
        await log.record(LoggedMessage("CP1", "in", 2, "Heartbeat", "old", "[2]", old))
        for n in range(20):
            await log.record(LoggedMessage("CP1", "in", 2, "Heartbeat", str(n), "[2]", NOW))
        await log.flush()
        async with uow(read_only=True) as work:
            assert len(await work.message_log.list(Page(limit=100))) == 21
            charger = await work.charge_points.get("CP1")
        assert charger is not None
        assert charger.last_seen_at == NOW
        assert await log.prune() == 1
    finally:
        await log.stop()
    async with database.read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MessageLogRow)) == 20


async def test_sqlite_durable_units_of_work_commit_with_synchronous_full(
    sqlite_config: DatabaseConfig,
) -> None:
    async with migrated(sqlite_config) as database:
        await _check_synchronous_modes(database)


async def _check_synchronous_modes(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, SystemClock())

    async def synchronous_mode(durable: bool) -> int:
        work = uow(durable=durable)
        async with work:
            session = work._session  # the unit of work's own connection
            assert session is not None
            mode = await session.scalar(text("PRAGMA synchronous"))
        return int(mode)

    assert await synchronous_mode(durable=True) == 2  # FULL
    assert await synchronous_mode(durable=False) == 1  # NORMAL
    async with database.read_sessions() as session:
        assert await session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert await session.scalar(text("PRAGMA foreign_keys")) == 1


async def test_concurrent_writers_never_see_database_locked(database: Database) -> None:
    uow = SqlAlchemyUnitOfWorkFactory(database, SystemClock())
    await add_charger(uow)

    async def writer(n: int) -> None:
        async with uow() as work:
            await work.id_tags.put(IdTag(f"T{n}"))
            await work.commit()

    async def reader() -> int:
        async with uow(read_only=True) as work:
            return len(await work.id_tags.list(Page(limit=500)))

    # Any "database is locked" would surface here as an exception.
    await asyncio.gather(*(writer(n) for n in range(100)), *(reader() for _ in range(50)))
    assert await reader() == 100

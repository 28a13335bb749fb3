"""The SQLite writer thread: group commits, one job's failure rolled back alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from central_system.domain.model import ChargePoint, Event, EventKind
from central_system.persistence.db import Database
from central_system.persistence.unit_of_work import GroupUnitOfWorkFactory
from central_system.persistence.writer import SqliteWriter, WriterStopped
from tests.conftest import DatabaseConfig, migrated
from tests.fakes import FixedClock

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
async def database(sqlite_config: DatabaseConfig) -> AsyncIterator[Database]:
    async with migrated(sqlite_config) as database:
        yield database


@pytest.fixture
async def writer(sqlite_config: DatabaseConfig, database: Database) -> AsyncIterator[SqliteWriter]:
    # A budget no group reaches here: how jobs are grouped does not depend on speed.
    writer = SqliteWriter(sqlite_config.url, group_budget=60.0)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()


async def _charge_point_ids(database: Database) -> set[str]:
    async with database.read_engine.connect() as connection:
        rows = await connection.execute(text("SELECT id FROM charge_points"))
        return {row[0] for row in rows}


async def _add(uow: GroupUnitOfWorkFactory, charge_point_id: str, *, fail: bool = False) -> str:
    async with uow() as work:
        await work.charge_points.add(ChargePoint(id=charge_point_id))
        await work.events.add(Event(EventKind.CHARGER_REGISTERED, NOW, charge_point_id, {}))
        if fail:
            raise RuntimeError(f"{charge_point_id} changed its mind")
        await work.commit()
    return charge_point_id


async def test_a_result_arrives_only_once_it_is_committed(
    writer: SqliteWriter, database: Database
) -> None:
    uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))

    assert await writer(_add(uow, "CP-1")) == "CP-1"

    # Another connection sees it at once: the group was committed before the answer.
    assert await _charge_point_ids(database) == {"CP-1"}


async def test_waiting_jobs_share_one_commit_and_a_failing_one_rolls_back_alone(
    writer: SqliteWriter, database: Database
) -> None:
    uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))
    started, release = threading.Event(), threading.Event()

    async def hold_the_thread() -> None:
        started.set()
        release.wait(timeout=10)  # blocks the writer thread, as a slow disk would

    first = asyncio.ensure_future(writer(hold_the_thread()))
    assert await asyncio.to_thread(started.wait, 10)
    groups_before = writer.groups
    jobs = [asyncio.ensure_future(writer(_add(uow, f"CP-{n}", fail=n == 2))) for n in range(1, 5)]
    await asyncio.sleep(0)  # every job is queued behind the held thread
    release.set()
    await first
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)

    assert [outcomes[0], outcomes[2], outcomes[3]] == ["CP-1", "CP-3", "CP-4"]
    assert isinstance(outcomes[1], RuntimeError)
    assert writer.groups - groups_before == 2  # the held job's group, then all four in one
    assert await _charge_point_ids(database) == {"CP-1", "CP-3", "CP-4"}
    async with database.read_engine.connect() as connection:
        events = await connection.execute(text("SELECT charge_point_id FROM events"))
        assert sorted(row[0] for row in events) == ["CP-1", "CP-3", "CP-4"]


async def test_a_unique_violation_fails_its_job_and_not_the_group(
    writer: SqliteWriter, database: Database
) -> None:
    uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))
    await writer(_add(uow, "CP-1"))

    outcomes = await asyncio.gather(
        writer(_add(uow, "CP-1")), writer(_add(uow, "CP-2")), return_exceptions=True
    )

    assert not isinstance(outcomes[0], str)  # the duplicate
    assert outcomes[1] == "CP-2"
    assert await _charge_point_ids(database) == {"CP-1", "CP-2"}


async def test_a_stopped_writer_refuses_work_and_runs_none_of_it(writer: SqliteWriter) -> None:
    uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))
    await writer.stop()
    work = _add(uow, "CP-1")

    with pytest.raises(WriterStopped):
        await writer(work)
    assert work.cr_frame is None  # closed without running


async def test_a_job_that_submits_another_fails_instead_of_waiting_for_itself(
    writer: SqliteWriter,
) -> None:
    async def inner() -> str:
        return "never run"

    async def nested() -> str:
        return await writer(inner())

    with pytest.raises(RuntimeError, match="cannot submit another job"):
        await asyncio.wait_for(writer(nested()), timeout=10)


async def test_a_read_only_job_reads_what_is_committed_without_a_group(
    writer: SqliteWriter,
) -> None:
    uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))
    await writer(_add(uow, "CP-1"))
    groups = writer.groups

    async def read() -> ChargePoint | None:
        async with uow(read_only=True) as work:
            return await work.charge_points.get("CP-1")

    found = await writer(read(), read_only=True)

    assert found is not None
    assert found.id == "CP-1"
    assert writer.groups == groups  # nothing to commit, so no group


async def test_a_group_is_committed_when_its_budget_is_spent(
    sqlite_config: DatabaseConfig, database: Database
) -> None:
    writer = SqliteWriter(sqlite_config.url, group_budget=0.0)  # one job spends it
    writer.start()
    try:
        uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))
        started, release = threading.Event(), threading.Event()

        async def hold_the_thread() -> None:
            started.set()
            release.wait(timeout=10)

        first = asyncio.ensure_future(writer(hold_the_thread()))
        assert await asyncio.to_thread(started.wait, 10)
        jobs = [asyncio.ensure_future(writer(_add(uow, f"CP-{n}"))) for n in range(3)]
        await asyncio.sleep(0)  # all three wait behind the held thread, in one batch
        release.set()
        await first

        assert await asyncio.gather(*jobs) == ["CP-0", "CP-1", "CP-2"]
        assert writer.groups == 4  # the held job's group, then one group per job
    finally:
        await writer.stop()


async def test_urgent_work_goes_before_the_writes_waiting_with_it(writer: SqliteWriter) -> None:
    uow = GroupUnitOfWorkFactory(writer, FixedClock(NOW))
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    async def hold_the_thread() -> None:
        started.set()
        release.wait(timeout=10)

    async def add(charge_point_id: str) -> str:
        ran.append(charge_point_id)
        return await _add(uow, charge_point_id)

    first = asyncio.ensure_future(writer(hold_the_thread()))
    assert await asyncio.to_thread(started.wait, 10)
    plain = asyncio.ensure_future(writer(add("CP-PLAIN")))
    urgent = asyncio.ensure_future(writer(add("CP-URGENT"), urgent=True))
    await asyncio.sleep(0)  # both wait behind the held thread, in one batch
    release.set()
    await first

    assert await asyncio.gather(plain, urgent) == ["CP-PLAIN", "CP-URGENT"]
    assert ran == ["CP-URGENT", "CP-PLAIN"]

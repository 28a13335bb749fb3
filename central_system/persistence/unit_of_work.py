"""One session and one database transaction, with the repositories built on it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from central_system import ports
from central_system.persistence.db import Database
from central_system.persistence.repositories import (
    SqlAlchemyChargePointRepository,
    SqlAlchemyChargerSecurityRepository,
    SqlAlchemyConnectorRepository,
    SqlAlchemyDataTransferRepository,
    SqlAlchemyEventRepository,
    SqlAlchemyIdTagRepository,
    SqlAlchemyMessageLogRepository,
    SqlAlchemyMeterValueRepository,
    SqlAlchemyOwnerAccountRepository,
    SqlAlchemyOwnerRepository,
    SqlAlchemyReservationRepository,
    SqlAlchemySpaceRepository,
    SqlAlchemyTransactionRepository,
)
from central_system.persistence.writer import SqliteWriter, WriterStopped
from central_system.ports import Clock


class SqlAlchemyUnitOfWork:
    charge_points: ports.ChargePointRepository
    connectors: ports.ConnectorRepository
    id_tags: ports.IdTagRepository
    transactions: ports.TransactionRepository
    meter_values: ports.MeterValueRepository
    events: ports.EventRepository
    data_transfers: ports.DataTransferRepository
    message_log: ports.MessageLogRepository
    owners: ports.OwnerRepository
    spaces: ports.SpaceRepository
    reservations: ports.ReservationRepository
    accounts: ports.OwnerAccountRepository
    security: ports.ChargerSecurityRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        session = self._sessions()
        await session.begin()
        self._session = session
        now = self._clock.now()
        self.charge_points = SqlAlchemyChargePointRepository(session, now)
        self.connectors = SqlAlchemyConnectorRepository(session)
        self.id_tags = SqlAlchemyIdTagRepository(session)
        self.transactions = SqlAlchemyTransactionRepository(session, now)
        self.meter_values = SqlAlchemyMeterValueRepository(session)
        self.events = SqlAlchemyEventRepository(session)
        self.data_transfers = SqlAlchemyDataTransferRepository(session)
        self.message_log = SqlAlchemyMessageLogRepository(session)
        self.owners = SqlAlchemyOwnerRepository(session, now)
        self.spaces = SqlAlchemySpaceRepository(session)
        self.reservations = SqlAlchemyReservationRepository(session, now)
        self.accounts = SqlAlchemyOwnerAccountRepository(session, now)
        self.security = SqlAlchemyChargerSecurityRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()  # a no-op after commit()
        finally:
            await self._session.close()
            self._session = None

    async def commit(self) -> None:
        assert self._session is not None
        await self._session.commit()


class SqlAlchemyUnitOfWorkFactory:
    """Hands out units of work on the right engine for the job."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def __call__(self, *, durable: bool = False, read_only: bool = False) -> SqlAlchemyUnitOfWork:
        if read_only:
            sessions = self._database.read_sessions
        elif durable:
            sessions = self._database.durable_sessions
        else:
            sessions = self._database.write_sessions
        return SqlAlchemyUnitOfWork(sessions, self._clock)


class GroupUnitOfWorkFactory:
    """Units of work inside the SQLite writer's group transaction (``persistence.writer``).

    Only code running on the writer's thread may use them. Every group commits
    with ``synchronous=FULL``, so ``durable`` needs nothing more; reads see the
    group's earlier writes.
    """

    def __init__(self, writer: SqliteWriter, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock

    def __call__(self, *, durable: bool = False, read_only: bool = False) -> SqlAlchemyUnitOfWork:
        if self._writer.sessions is None:
            raise WriterStopped("the database writer has not started")
        return SqlAlchemyUnitOfWork(self._writer.sessions, self._clock)

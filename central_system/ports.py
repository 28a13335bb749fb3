"""The interfaces the services need from the outside world.

Implementations live in ``persistence`` (SQLAlchemy) and ``transport`` (OCPP);
tests use the in-memory fakes of ``tests/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from central_system.domain.accounts import OwnerAccount, OwnerToken
from central_system.domain.garage import Owner, Reservation, ReservationState, Space
from central_system.domain.model import (
    BootInfo,
    ChargePoint,
    ChargerCapabilities,
    Connector,
    ConnectorStatus,
    Event,
    IdTag,
    LoggedMessage,
    MeterValue,
    RegistrationStatus,
    StartRequest,
    TagStatus,
    Transaction,
)
from central_system.domain.security import ChargerSecurity, SecurityProfile

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = 100
    offset: int = 0


class ChargePointRepository(Protocol):
    async def get(self, charge_point_id: str) -> ChargePoint | None: ...
    async def list(self, page: Page) -> Sequence[ChargePoint]: ...
    async def add(self, charge_point: ChargePoint) -> None: ...
    async def set_registration_status(
        self, charge_point_id: str, status: RegistrationStatus
    ) -> None: ...
    async def record_boot(self, charge_point_id: str, info: BootInfo, at: datetime) -> None: ...
    async def set_capabilities(
        self, charge_point_id: str, capabilities: ChargerCapabilities
    ) -> None: ...
    async def set_diagnostics_status(self, charge_point_id: str, status: str) -> None: ...
    async def set_firmware_status(self, charge_point_id: str, status: str) -> None: ...
    async def delete(self, charge_point_id: str) -> bool: ...


class ConnectorRepository(Protocol):
    async def record_status(
        self,
        charge_point_id: str,
        report: ConnectorStatus,
        status_at: datetime | None,
        received_at: datetime,
    ) -> None: ...
    async def for_charge_point(self, charge_point_id: str) -> Sequence[Connector]: ...


class IdTagRepository(Protocol):
    async def get(self, id_tag: str) -> IdTag | None: ...
    async def put(self, tag: IdTag) -> None: ...
    async def list(self, page: Page) -> Sequence[IdTag]: ...
    async def delete(self, id_tag: str) -> bool: ...


class TransactionRepository(Protocol):
    async def find_start(self, charge_point_id: str, request: StartRequest) -> Transaction | None:
        """The transaction a retried StartTransaction already created, if any."""
        ...

    async def add(
        self, charge_point_id: str, request: StartRequest, started_at: datetime, status: TagStatus
    ) -> Transaction | None:
        """Insert a new transaction; ``None`` if an identical start won the race."""
        ...

    async def get(self, transaction_id: int) -> Transaction | None: ...
    async def open_on_connector(
        self, charge_point_id: str, connector_id: int
    ) -> Sequence[Transaction]: ...
    async def stop(
        self,
        transaction_id: int,
        *,
        meter_stop: int,
        stopped_at: datetime,
        reason: str | None,
        id_tag: str | None,
    ) -> bool:
        """Close an open transaction; ``False`` if it was already closed."""
        ...

    async def list(
        self,
        page: Page,
        charge_point_id: str | None = None,
        id_tags: Collection[str] | None = None,
    ) -> Sequence[Transaction]: ...


class MeterValueRepository(Protocol):
    async def add(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        values: Sequence[MeterValue],
        source: str,
    ) -> None: ...
    async def for_transaction(self, transaction_id: int) -> Sequence[tuple[MeterValue, str]]: ...


class EventRepository(Protocol):
    async def add(self, event: Event) -> None: ...
    async def list(self, page: Page, charge_point_id: str | None = None) -> Sequence[Event]: ...
    async def list_kinds(
        self, page: Page, kinds: Collection[str], charge_point_id: str | None = None
    ) -> Sequence[Event]:
        """Events of the given kinds, newest first."""
        ...


class ChargerSecurityRepository(Protocol):
    """A charger's security profile and password hashes (never a password)."""

    async def get(self, charge_point_id: str) -> ChargerSecurity | None: ...
    async def set_profile(self, charge_point_id: str, profile: SecurityProfile) -> bool: ...
    async def set_password(
        self, charge_point_id: str, password_hash: str | None, at: datetime
    ) -> bool:
        """Replace the password (``None`` removes it) and forget a pending one."""
        ...

    async def set_pending(self, charge_point_id: str, password_hash: str | None) -> bool: ...
    async def promote_pending(self, charge_point_id: str, expected: str, at: datetime) -> bool:
        """Make the pending password the password, if it still is ``expected``."""
        ...


class DataTransferRepository(Protocol):
    async def add(
        self,
        charge_point_id: str,
        *,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str,
        at: datetime,
    ) -> None: ...


class MessageLogRepository(Protocol):
    async def list(
        self, page: Page, charge_point_id: str | None = None
    ) -> Sequence[LoggedMessage]: ...


class OwnerRepository(Protocol):
    async def add(self, name: str) -> Owner: ...
    async def get(self, owner_id: int) -> Owner | None: ...
    async def list(self, page: Page) -> Sequence[Owner]: ...
    async def tags(self, owner_id: int) -> Sequence[IdTag]: ...
    async def rename(self, owner_id: int, name: str) -> bool: ...
    async def delete(self, owner_id: int) -> bool:
        """Delete the owner, its account, tokens and reservations; its tags stay, unowned."""
        ...


class OwnerAccountRepository(Protocol):
    """Owners' logins and bearer tokens (tokens only as digests)."""

    async def get(self, owner_id: int) -> OwnerAccount | None: ...
    async def by_login(self, login: str) -> OwnerAccount | None: ...
    async def put(self, owner_id: int, login: str, password_hash: str) -> None:
        """Create or replace the owner's login; raises ``Duplicate`` for a taken login."""
        ...

    async def add_token(self, token_hash: str, owner_id: int, expires_at: datetime) -> None: ...
    async def token(self, token_hash: str) -> OwnerToken | None: ...
    async def revoke_token(self, token_hash: str, at: datetime) -> bool: ...
    async def revoke_tokens(self, owner_id: int, at: datetime) -> int: ...
    async def delete_tokens_expired_before(self, moment: datetime) -> int: ...


class SpaceRepository(Protocol):
    async def add(
        self,
        label: str,
        level: str | None,
        charge_point_id: str | None,
        connector_id: int | None,
    ) -> Space: ...
    async def get(self, space_id: int, *, for_update: bool = False) -> Space | None:
        """``for_update`` locks the space until commit: reservations of it queue up."""
        ...

    async def list(self, page: Page) -> Sequence[Space]: ...
    async def at_charger(
        self, charge_point_id: str, connector_id: int | None = None
    ) -> Sequence[Space]: ...
    async def update(self, space: Space) -> bool:
        """Replace label, level and connector; raises ``Duplicate`` for a taken one."""
        ...

    async def delete(self, space_id: int) -> bool: ...


class ReservationRepository(Protocol):
    async def add(
        self,
        owner_id: int,
        space_id: int,
        starts_at: datetime,
        ends_at: datetime,
        arrival_deadline: datetime,
    ) -> Reservation: ...
    async def get(self, reservation_id: int) -> Reservation | None: ...
    async def overlapping(
        self, space_id: int, starts_at: datetime, ends_at: datetime
    ) -> Sequence[Reservation]:
        """Live (booked or active) reservations of the space that overlap the window."""
        ...

    async def holding(self, space_ids: Sequence[int], now: datetime) -> Sequence[Reservation]:
        """Live reservations whose window contains ``now``."""
        ...

    async def for_owner(self, owner_id: int, page: Page) -> Sequence[Reservation]: ...
    async def for_transaction(self, transaction_id: int) -> Reservation | None: ...
    async def live_count(self, owner_id: int, now: datetime) -> int: ...
    async def set_state(
        self,
        reservation_id: int,
        state: ReservationState,
        *,
        expected: Sequence[ReservationState],
        transaction_id: int | None = None,
    ) -> bool:
        """Move to ``state`` only from one of ``expected``; ``False`` if it was elsewhere."""
        ...

    async def due(self, now: datetime, limit: int) -> Sequence[Reservation]:
        """Live reservations with something to do at ``now``: start, no-show, or end."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; the service that opens it decides to commit."""

    charge_points: ChargePointRepository
    connectors: ConnectorRepository
    id_tags: IdTagRepository
    transactions: TransactionRepository
    meter_values: MeterValueRepository
    events: EventRepository
    data_transfers: DataTransferRepository
    message_log: MessageLogRepository
    owners: OwnerRepository
    spaces: SpaceRepository
    reservations: ReservationRepository
    accounts: OwnerAccountRepository
    security: ChargerSecurityRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, durable: bool = False, read_only: bool = False) -> UnitOfWork:
        """A new unit of work.

        ``durable`` asks for a commit that survives power loss, not only a crash;
        ``read_only`` promises not to write, which lets SQLite read beside the writer.
        """
        ...


class DatabaseRunner(Protocol):
    """Where a use case's database part runs: ``await run(coroutine)`` returns its result.

    On SQLite it is the writer thread, which commits many such parts at once; on
    PostgreSQL, and in the unit tests, the coroutine simply runs where it is.
    The coroutine may await nothing but units of work from the matching factory.
    """

    async def __call__(
        self, work: Coroutine[Any, Any, T], *, read_only: bool = False, urgent: bool = False
    ) -> T:
        """``read_only`` promises no writes: the work need not wait for a commit.
        ``urgent`` work goes before the other waiting writes (a handshake)."""
        ...


async def run_here(
    work: Coroutine[Any, Any, T], *, read_only: bool = False, urgent: bool = False
) -> T:
    """The ``DatabaseRunner`` that runs the coroutine in place."""
    return await work


class FrameLog(Protocol):
    """Where every OCPP-J frame in and out is kept (written off the reply path)."""

    async def record(self, frame: LoggedMessage) -> None: ...


class ChargerCommands(Protocol):
    """Sends a CS-initiated OCPP call to a connected charger and returns its answer."""

    async def send(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]: ...

    def is_connected(self, charge_point_id: str) -> bool: ...

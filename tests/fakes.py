"""In-memory fakes of the ports, for the unit tier.

They keep the contracts of ``central_system/persistence`` as the SQLite backend
shows them:

* one writer at a time: a write unit of work holds the writer until it exits, and
  opening a second one inside the first raises instead of hanging;
* a unit of work works on its own copy; others see its changes after ``commit``,
  and whatever was not committed is gone when it exits;
* a read-only unit of work refuses to write (SQLite's readers run ``query_only``);
* foreign keys hold: rows for an unknown charge point, transaction, owner or
  space are refused, a charge point with transactions cannot be deleted, and
  deleting one takes its connectors, status notifications, meter values and data
  transfers with it and leaves its spaces without a charger;
* unique constraints hold: a space label, a charger connector per space;
* ids increase and are never reused, not even after a rollback;
* ``transactions.add`` answers ``None`` for a start already stored under the same
  (charge point, connector, idTag, raw timestamp, meterStart);
* ``transactions.stop`` answers ``False`` for a transaction already stopped;
* event details go through JSON, as the ``JSON`` column does;
* a transaction id outside the 32-bit ``INTEGER`` column is refused, as
  PostgreSQL's driver refuses it.

``InMemoryDatabase.state`` is what has been committed; tests read it directly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from central_system import ports
from central_system.domain.accounts import Duplicate, OwnerAccount, OwnerToken
from central_system.domain.errors import ChargePointInUse
from central_system.domain.garage import Owner, Reservation, ReservationState, Space
from central_system.domain.model import (
    BootInfo,
    ChargePoint,
    Connector,
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
    Transaction,
)
from central_system.domain.security import ChargerSecurity, SecurityProfile
from central_system.ports import Page

if TYPE_CHECKING:
    from central_system.domain.model import ChargerCapabilities


class IntegrityViolation(Exception):
    """A write the database's constraints would refuse."""


class ReadOnlyViolation(Exception):
    """A write inside a unit of work that promised only to read."""


class DataError(Exception):
    """A value the column cannot hold (PostgreSQL's driver refuses it before the query)."""


_INT32 = range(-(2**31), 2**31)


def _integer_column(value: int) -> int:
    if value not in _INT32:
        raise DataError(f"value out of int32 range: {value}")
    return value


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, moment: datetime) -> None:
        self._moment = _utc(moment)

    def now(self) -> datetime:
        return self._moment

    def set(self, moment: datetime) -> None:
        self._moment = _utc(moment)

    def advance(self, delta: timedelta) -> datetime:
        self._moment += delta
        return self._moment


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a clock gives timezone-aware times")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    transaction: Transaction
    start_timestamp_raw: str


@dataclass(frozen=True, slots=True)
class StoredStatusNotification:
    charge_point_id: str
    report: ConnectorStatus
    status_at: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StoredMeterValue:
    """One sampled value, as ``meter_values`` keeps it: one row per sample."""

    id: int
    charge_point_id: str
    connector_id: int
    transaction_id: int | None
    timestamp: datetime
    sample: SampledValue
    source: str


@dataclass(frozen=True, slots=True)
class StoredDataTransfer:
    charge_point_id: str
    vendor_id: str
    message_id: str | None
    data: str | None
    status: str
    received_at: datetime


@dataclass(slots=True)
class State:
    """Every table. Values are frozen, so a copy of the containers is a snapshot."""

    charge_points: dict[str, ChargePoint] = field(default_factory=dict)
    boots: dict[str, BootInfo] = field(default_factory=dict)
    connectors: dict[tuple[str, int], Connector] = field(default_factory=dict)
    status_notifications: list[StoredStatusNotification] = field(default_factory=list)
    id_tags: dict[str, IdTag] = field(default_factory=dict)
    transactions: dict[int, StoredTransaction] = field(default_factory=dict)
    meter_values: list[StoredMeterValue] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    data_transfers: list[StoredDataTransfer] = field(default_factory=list)
    messages: list[LoggedMessage] = field(default_factory=list)
    owners: dict[int, Owner] = field(default_factory=dict)
    spaces: dict[int, Space] = field(default_factory=dict)
    reservations: dict[int, Reservation] = field(default_factory=dict)
    accounts: dict[int, OwnerAccount] = field(default_factory=dict)
    tokens: dict[str, OwnerToken] = field(default_factory=dict)
    security: dict[str, ChargerSecurity] = field(default_factory=dict)

    def copy(self) -> State:
        return State(
            charge_points=dict(self.charge_points),
            boots=dict(self.boots),
            connectors=dict(self.connectors),
            status_notifications=list(self.status_notifications),
            id_tags=dict(self.id_tags),
            transactions=dict(self.transactions),
            meter_values=list(self.meter_values),
            events=list(self.events),
            data_transfers=list(self.data_transfers),
            messages=list(self.messages),
            owners=dict(self.owners),
            spaces=dict(self.spaces),
            reservations=dict(self.reservations),
            accounts=dict(self.accounts),
            tokens=dict(self.tokens),
            security=dict(self.security),
        )


@dataclass(frozen=True, slots=True)
class Commit:
    durable: bool


class InMemoryDatabase:
    """The committed state, the writer lock and the id sequences."""

    def __init__(self) -> None:
        self.state = State()
        self.commits: list[Commit] = []
        self._writer = asyncio.Lock()
        self._writer_task: asyncio.Task[Any] | None = None
        self._sequences: dict[str, int] = {}

    def next_id(self, table: str) -> int:
        # Outside any unit of work, like a sequence: a rolled-back id stays used.
        self._sequences[table] = self._sequences.get(table, 0) + 1
        return self._sequences[table]

    async def acquire_writer(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._writer_task:
            raise RuntimeError("a write unit of work opened inside another would wait forever")
        await self._writer.acquire()
        self._writer_task = task

    def release_writer(self) -> None:
        self._writer_task = None
        self._writer.release()

    @property
    def transactions(self) -> list[Transaction]:
        """Committed transactions, oldest first."""
        return [stored.transaction for _, stored in sorted(self.state.transactions.items())]

    def events_of(self, kind: EventKind) -> list[Event]:
        """Committed events of one kind, oldest first."""
        return [event for event in self.state.events if event.kind == kind]


class _Access:
    """What a repository may do in its unit of work."""

    def __init__(self, database: InMemoryDatabase, *, read_only: bool) -> None:
        self.database = database
        self.read_only = read_only
        self.state = database.state.copy()

    def write(self) -> State:
        if self.read_only:
            raise ReadOnlyViolation("attempt to write a readonly database")
        return self.state

    def require_charge_point(self, charge_point_id: str) -> None:
        if charge_point_id not in self.state.charge_points:
            raise IntegrityViolation(f"FOREIGN KEY: no charge point {charge_point_id!r}")


_T = TypeVar("_T")


def _page(items: Sequence[_T], page: Page) -> list[_T]:
    return list(items[page.offset : page.offset + page.limit])


class InMemoryChargePointRepository:
    def __init__(self, access: _Access, now: datetime) -> None:
        self._access = access
        self._now = now

    async def get(self, charge_point_id: str) -> ChargePoint | None:
        return self._access.state.charge_points.get(charge_point_id)

    async def list(self, page: Page) -> Sequence[ChargePoint]:
        chargers = self._access.state.charge_points
        return _page([chargers[key] for key in sorted(chargers)], page)

    async def add(self, charge_point: ChargePoint) -> None:
        state = self._access.write()
        if charge_point.id in state.charge_points:
            raise IntegrityViolation(f"UNIQUE: charge point {charge_point.id!r}")
        # Only the id and the registration status are stored on creation.
        state.charge_points[charge_point.id] = ChargePoint(
            id=charge_point.id, registration_status=charge_point.registration_status
        )

    async def set_registration_status(
        self, charge_point_id: str, status: RegistrationStatus
    ) -> None:
        self._update(charge_point_id, registration_status=status)

    async def record_boot(self, charge_point_id: str, info: BootInfo, at: datetime) -> None:
        if self._update(
            charge_point_id,
            vendor=info.vendor,
            model=info.model,
            serial_number=info.serial_number or info.charge_box_serial_number,
            firmware_version=info.firmware_version,
            last_boot_at=at,
            last_seen_at=at,
        ):
            self._access.write().boots[charge_point_id] = info

    async def set_capabilities(
        self, charge_point_id: str, capabilities: ChargerCapabilities
    ) -> None:
        # Stored as columns and JSON: what comes back is a copy, never the caller's dicts.
        stored = replace(
            capabilities,
            configuration=dict(capabilities.configuration),
            refused=dict(capabilities.refused),
        )
        self._update(charge_point_id, capabilities=stored)

    async def set_diagnostics_status(self, charge_point_id: str, status: str) -> None:
        self._update(charge_point_id, diagnostics_status=status)

    async def set_firmware_status(self, charge_point_id: str, status: str) -> None:
        self._update(charge_point_id, firmware_status=status)

    async def delete(self, charge_point_id: str) -> bool:
        state = self._access.write()
        if charge_point_id not in state.charge_points:
            return False
        if any(
            stored.transaction.charge_point_id == charge_point_id
            for stored in state.transactions.values()
        ):
            raise ChargePointInUse(charge_point_id)
        del state.charge_points[charge_point_id]
        state.boots.pop(charge_point_id, None)
        state.connectors = {
            key: value for key, value in state.connectors.items() if key[0] != charge_point_id
        }
        state.status_notifications = [
            row for row in state.status_notifications if row.charge_point_id != charge_point_id
        ]
        state.meter_values = [
            row for row in state.meter_values if row.charge_point_id != charge_point_id
        ]
        state.data_transfers = [
            row for row in state.data_transfers if row.charge_point_id != charge_point_id
        ]
        for space in list(state.spaces.values()):
            if space.charge_point_id == charge_point_id:
                state.spaces[space.id] = replace(space, charge_point_id=None)
        return True

    def _update(self, charge_point_id: str, **values: Any) -> bool:
        """An UPDATE: no row, no change, no error."""
        state = self._access.write()
        current = state.charge_points.get(charge_point_id)
        if current is None:
            return False
        state.charge_points[charge_point_id] = replace(current, **values)
        return True


class InMemoryConnectorRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def record_status(
        self,
        charge_point_id: str,
        report: ConnectorStatus,
        status_at: datetime | None,
        received_at: datetime,
    ) -> None:
        state = self._access.write()
        self._access.require_charge_point(charge_point_id)
        state.status_notifications.append(
            StoredStatusNotification(charge_point_id, report, status_at, received_at)
        )
        state.connectors[(charge_point_id, report.connector_id)] = Connector(
            charge_point_id=charge_point_id,
            connector_id=report.connector_id,
            status=report.status,
            error_code=report.error_code,
            info=report.info,
            vendor_id=report.vendor_id,
            vendor_error_code=report.vendor_error_code,
            status_at=status_at,
            updated_at=received_at,
        )

    async def for_charge_point(self, charge_point_id: str) -> Sequence[Connector]:
        connectors = self._access.state.connectors
        return [connectors[key] for key in sorted(connectors) if key[0] == charge_point_id]


class InMemoryIdTagRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def get(self, id_tag: str) -> IdTag | None:
        return self._access.state.id_tags.get(id_tag)

    async def put(self, tag: IdTag) -> None:
        state = self._access.write()
        if tag.owner_id is not None and tag.owner_id not in state.owners:
            raise IntegrityViolation(f"FOREIGN KEY: no owner {tag.owner_id}")
        state.id_tags[tag.id_tag] = tag

    async def list(self, page: Page) -> Sequence[IdTag]:
        tags = self._access.state.id_tags
        return _page([tags[key] for key in sorted(tags)], page)

    async def delete(self, id_tag: str) -> bool:
        return self._access.write().id_tags.pop(id_tag, None) is not None


class InMemoryTransactionRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def find_start(self, charge_point_id: str, request: StartRequest) -> Transaction | None:
        for stored in self._access.state.transactions.values():
            if _same_start(stored, charge_point_id, request):
                return stored.transaction
        return None

    async def add(
        self, charge_point_id: str, request: StartRequest, started_at: datetime, status: TagStatus
    ) -> Transaction | None:
        state = self._access.write()
        self._access.require_charge_point(charge_point_id)
        if await self.find_start(charge_point_id, request) is not None:
            return None  # the unique constraint on the start
        transaction = Transaction(
            id=self._access.database.next_id("transactions"),
            charge_point_id=charge_point_id,
            connector_id=request.connector_id,
            id_tag=request.id_tag,
            meter_start=request.meter_start,
            started_at=started_at,
            reservation_id=request.reservation_id,
            start_status=status,
        )
        state.transactions[transaction.id] = StoredTransaction(transaction, request.timestamp_raw)
        return transaction

    async def get(self, transaction_id: int) -> Transaction | None:
        stored = self._access.state.transactions.get(_integer_column(transaction_id))
        return None if stored is None else stored.transaction

    async def open_on_connector(
        self, charge_point_id: str, connector_id: int
    ) -> Sequence[Transaction]:
        return [
            stored.transaction
            for _, stored in sorted(self._access.state.transactions.items())
            if stored.transaction.charge_point_id == charge_point_id
            and stored.transaction.connector_id == connector_id
            and stored.transaction.is_open
        ]

    async def stop(
        self,
        transaction_id: int,
        *,
        meter_stop: int,
        stopped_at: datetime,
        reason: str | None,
        id_tag: str | None,
    ) -> bool:
        state = self._access.write()
        stored = state.transactions.get(_integer_column(transaction_id))
        if stored is None or not stored.transaction.is_open:
            return False
        closed = replace(
            stored.transaction,
            meter_stop=meter_stop,
            stopped_at=stopped_at,
            stop_reason=reason,
            stop_id_tag=id_tag,
        )
        state.transactions[transaction_id] = replace(stored, transaction=closed)
        return True

    async def list(
        self,
        page: Page,
        charge_point_id: str | None = None,
        id_tags: Collection[str] | None = None,
    ) -> Sequence[Transaction]:
        newest_first = [
            stored.transaction
            for _, stored in sorted(self._access.state.transactions.items(), reverse=True)
            if (charge_point_id is None or stored.transaction.charge_point_id == charge_point_id)
            and (id_tags is None or stored.transaction.id_tag in id_tags)
        ]
        return _page(newest_first, page)


def _same_start(stored: StoredTransaction, charge_point_id: str, request: StartRequest) -> bool:
    transaction = stored.transaction
    return (
        transaction.charge_point_id == charge_point_id
        and transaction.connector_id == request.connector_id
        and transaction.id_tag == request.id_tag
        and stored.start_timestamp_raw == request.timestamp_raw
        and transaction.meter_start == request.meter_start
    )


class InMemoryMeterValueRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def add(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        values: Sequence[MeterValue],
        source: str,
    ) -> None:
        state = self._access.write()
        rows = [(value.timestamp, sample) for value in values for sample in value.sampled_values]
        if not rows:
            return
        self._access.require_charge_point(charge_point_id)
        if transaction_id is not None and _integer_column(transaction_id) not in state.transactions:
            raise IntegrityViolation(f"FOREIGN KEY: no transaction {transaction_id}")
        database = self._access.database
        state.meter_values.extend(
            StoredMeterValue(
                id=database.next_id("meter_values"),
                charge_point_id=charge_point_id,
                connector_id=connector_id,
                transaction_id=transaction_id,
                timestamp=timestamp,
                sample=sample,
                source=source,
            )
            for timestamp, sample in rows
        )

    async def for_transaction(self, transaction_id: int) -> Sequence[tuple[MeterValue, str]]:
        rows = sorted(
            (
                row
                for row in self._access.state.meter_values
                if row.transaction_id == transaction_id
            ),
            key=lambda row: (row.timestamp, row.id),
        )
        grouped: dict[tuple[datetime, str], list[SampledValue]] = {}
        for row in rows:
            grouped.setdefault((row.timestamp, row.source), []).append(row.sample)
        return [
            (MeterValue(timestamp=at, sampled_values=tuple(samples)), source)
            for (at, source), samples in grouped.items()
        ]


class InMemoryEventRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def add(self, event: Event) -> None:
        state = self._access.write()
        # The detail column is JSON: what json cannot write, the database refuses.
        detail = json.loads(json.dumps(event.detail))
        state.events.append(replace(event, detail=detail))

    async def list(self, page: Page, charge_point_id: str | None = None) -> Sequence[Event]:
        newest_first = [
            event
            for event in reversed(self._access.state.events)
            if charge_point_id is None or event.charge_point_id == charge_point_id
        ]
        return _page(newest_first, page)

    async def list_kinds(
        self, page: Page, kinds: Collection[str], charge_point_id: str | None = None
    ) -> Sequence[Event]:
        wanted = set(kinds)
        newest_first = [
            event
            for event in reversed(self._access.state.events)
            if event.kind in wanted
            and (charge_point_id is None or event.charge_point_id == charge_point_id)
        ]
        return _page(newest_first, page)


class InMemoryChargerSecurityRepository:
    """Security columns of ``charge_points``; serial numbers come from the last boot."""

    def __init__(self, access: _Access) -> None:
        self._access = access

    async def get(self, charge_point_id: str) -> ChargerSecurity | None:
        state = self._access.state
        if charge_point_id not in state.charge_points:
            return None
        stored = state.security.get(charge_point_id) or ChargerSecurity(charge_point_id)
        boot = state.boots.get(charge_point_id)
        serials = (
            frozenset(s for s in (boot.serial_number, boot.charge_box_serial_number) if s)
            if boot is not None
            else frozenset()
        )
        return replace(stored, serial_numbers=serials)

    async def set_profile(self, charge_point_id: str, profile: SecurityProfile) -> bool:
        return self._update(charge_point_id, profile=profile)

    async def set_password(
        self, charge_point_id: str, password_hash: str | None, at: datetime
    ) -> bool:
        return self._update(
            charge_point_id,
            password_hash=password_hash,
            pending_password_hash=None,
            password_set_at=None if password_hash is None else at,
        )

    async def set_pending(self, charge_point_id: str, password_hash: str | None) -> bool:
        return self._update(charge_point_id, pending_password_hash=password_hash)

    async def promote_pending(self, charge_point_id: str, expected: str, at: datetime) -> bool:
        current = self._access.state.security.get(charge_point_id)
        if current is None or current.pending_password_hash != expected:
            return False
        return self._update(
            charge_point_id,
            password_hash=expected,
            pending_password_hash=None,
            password_set_at=at,
        )

    def _update(self, charge_point_id: str, **values: Any) -> bool:
        state = self._access.write()
        if charge_point_id not in state.charge_points:
            return False
        current = state.security.get(charge_point_id) or ChargerSecurity(charge_point_id)
        state.security[charge_point_id] = replace(current, **values)
        return True


class InMemoryDataTransferRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def add(
        self,
        charge_point_id: str,
        *,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        status: str,
        at: datetime,
    ) -> None:
        state = self._access.write()
        self._access.require_charge_point(charge_point_id)
        state.data_transfers.append(
            StoredDataTransfer(charge_point_id, vendor_id, message_id, data, status, at)
        )


class InMemoryMessageLogRepository:
    """Read side only, as the port is; tests fill ``state.messages`` directly."""

    def __init__(self, access: _Access) -> None:
        self._access = access

    async def list(self, page: Page, charge_point_id: str | None = None) -> Sequence[LoggedMessage]:
        newest_first = [
            message
            for message in reversed(self._access.state.messages)
            if charge_point_id is None or message.charge_point_id == charge_point_id
        ]
        return _page(newest_first, page)


class InMemoryOwnerRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def add(self, name: str) -> Owner:
        state = self._access.write()
        owner = Owner(self._access.database.next_id("owners"), name)
        state.owners[owner.id] = owner
        return owner

    async def get(self, owner_id: int) -> Owner | None:
        return self._access.state.owners.get(owner_id)

    async def list(self, page: Page) -> Sequence[Owner]:
        owners = self._access.state.owners
        return _page([owners[key] for key in sorted(owners)], page)

    async def tags(self, owner_id: int) -> Sequence[IdTag]:
        tags = self._access.state.id_tags
        return [tags[key] for key in sorted(tags) if tags[key].owner_id == owner_id]

    async def rename(self, owner_id: int, name: str) -> bool:
        state = self._access.write()
        if owner_id not in state.owners:
            return False
        state.owners[owner_id] = replace(state.owners[owner_id], name=name)
        return True

    async def delete(self, owner_id: int) -> bool:
        state = self._access.write()
        if state.owners.pop(owner_id, None) is None:
            return False
        # ON DELETE CASCADE for the account, tokens and reservations; SET NULL for tags.
        state.accounts.pop(owner_id, None)
        for key in [k for k, t in state.tokens.items() if t.owner_id == owner_id]:
            del state.tokens[key]
        for number in [k for k, r in state.reservations.items() if r.owner_id == owner_id]:
            del state.reservations[number]
        for key, tag in list(state.id_tags.items()):
            if tag.owner_id == owner_id:
                state.id_tags[key] = replace(tag, owner_id=None)
        return True


class InMemoryOwnerAccountRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def get(self, owner_id: int) -> OwnerAccount | None:
        return self._access.state.accounts.get(owner_id)

    async def by_login(self, login: str) -> OwnerAccount | None:
        return next((a for a in self._access.state.accounts.values() if a.login == login), None)

    async def put(self, owner_id: int, login: str, password_hash: str) -> None:
        state = self._access.write()
        if owner_id not in state.owners:
            raise IntegrityViolation(f"FOREIGN KEY: no owner {owner_id}")
        if any(a.login == login and a.owner_id != owner_id for a in state.accounts.values()):
            raise Duplicate("login", login)
        state.accounts[owner_id] = OwnerAccount(owner_id, login, password_hash)

    async def add_token(self, token_hash: str, owner_id: int, expires_at: datetime) -> None:
        state = self._access.write()
        if owner_id not in state.owners:
            raise IntegrityViolation(f"FOREIGN KEY: no owner {owner_id}")
        if token_hash in state.tokens:
            raise IntegrityViolation("UNIQUE: token")
        state.tokens[token_hash] = OwnerToken(owner_id, expires_at)

    async def token(self, token_hash: str) -> OwnerToken | None:
        return self._access.state.tokens.get(token_hash)

    async def revoke_token(self, token_hash: str, at: datetime) -> bool:
        state = self._access.write()
        token = state.tokens.get(token_hash)
        if token is None or token.revoked_at is not None:
            return False
        state.tokens[token_hash] = replace(token, revoked_at=at)
        return True

    async def revoke_tokens(self, owner_id: int, at: datetime) -> int:
        state = self._access.write()
        keys = [
            k for k, t in state.tokens.items() if t.owner_id == owner_id and t.revoked_at is None
        ]
        for key in keys:
            state.tokens[key] = replace(state.tokens[key], revoked_at=at)
        return len(keys)

    async def delete_tokens_expired_before(self, moment: datetime) -> int:
        state = self._access.write()
        keys = [k for k, t in state.tokens.items() if t.expires_at < moment]
        for key in keys:
            del state.tokens[key]
        return len(keys)


class InMemorySpaceRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def add(
        self,
        label: str,
        level: str | None,
        charge_point_id: str | None,
        connector_id: int | None,
    ) -> Space:
        state = self._access.write()
        if charge_point_id is not None:
            self._access.require_charge_point(charge_point_id)
        for space in state.spaces.values():
            if space.label == label:
                raise IntegrityViolation(f"UNIQUE: space label {label!r}")
            # Like SQL's UNIQUE, a NULL on either side never collides.
            if (
                charge_point_id is not None
                and connector_id is not None
                and (space.charge_point_id, space.connector_id) == (charge_point_id, connector_id)
            ):
                raise IntegrityViolation(f"UNIQUE: connector {charge_point_id}/{connector_id}")
        space = Space(
            self._access.database.next_id("spaces"), label, level, charge_point_id, connector_id
        )
        state.spaces[space.id] = space
        return space

    async def get(self, space_id: int, *, for_update: bool = False) -> Space | None:
        # No lock to take: a write unit of work already holds the only writer.
        return self._access.state.spaces.get(space_id)

    async def list(self, page: Page) -> Sequence[Space]:
        by_label = sorted(self._access.state.spaces.values(), key=lambda space: space.label)
        return _page(by_label, page)

    async def at_charger(
        self, charge_point_id: str, connector_id: int | None = None
    ) -> Sequence[Space]:
        return sorted(
            (
                space
                for space in self._access.state.spaces.values()
                if space.charge_point_id == charge_point_id
                and (connector_id is None or space.connector_id == connector_id)
            ),
            key=lambda space: (space.connector_id is None, space.connector_id or 0, space.id),
        )

    async def update(self, space: Space) -> bool:
        state = self._access.write()
        if space.id not in state.spaces:
            return False
        if space.charge_point_id is not None:
            self._access.require_charge_point(space.charge_point_id)
        for other in state.spaces.values():
            if other.id == space.id:
                continue
            if other.label == space.label or (
                space.charge_point_id is not None
                and space.connector_id is not None
                and (other.charge_point_id, other.connector_id)
                == (space.charge_point_id, space.connector_id)
            ):
                raise Duplicate("space label or charger connector", space.label)
        state.spaces[space.id] = space
        return True

    async def delete(self, space_id: int) -> bool:
        state = self._access.write()
        if state.spaces.pop(space_id, None) is None:
            return False
        for key in [k for k, r in state.reservations.items() if r.space_id == space_id]:
            del state.reservations[key]
        return True


class InMemoryReservationRepository:
    def __init__(self, access: _Access) -> None:
        self._access = access

    async def add(
        self,
        owner_id: int,
        space_id: int,
        starts_at: datetime,
        ends_at: datetime,
        arrival_deadline: datetime,
    ) -> Reservation:
        state = self._access.write()
        if owner_id not in state.owners:
            raise IntegrityViolation(f"FOREIGN KEY: no owner {owner_id}")
        if space_id not in state.spaces:
            raise IntegrityViolation(f"FOREIGN KEY: no space {space_id}")
        reservation = Reservation(
            self._access.database.next_id("reservations"),
            owner_id,
            space_id,
            starts_at,
            ends_at,
            arrival_deadline,
        )
        state.reservations[reservation.id] = reservation
        return reservation

    async def get(self, reservation_id: int) -> Reservation | None:
        return self._access.state.reservations.get(reservation_id)

    async def overlapping(
        self, space_id: int, starts_at: datetime, ends_at: datetime
    ) -> Sequence[Reservation]:
        return [
            r
            for r in self._all()
            if r.space_id == space_id
            and r.state.is_live
            and r.starts_at < ends_at
            and r.ends_at > starts_at
        ]

    async def holding(self, space_ids: Sequence[int], now: datetime) -> Sequence[Reservation]:
        return [
            r
            for r in self._all()
            if r.space_id in space_ids and r.state.is_live and r.starts_at <= now < r.ends_at
        ]

    async def for_owner(self, owner_id: int, page: Page) -> Sequence[Reservation]:
        newest_first = sorted(
            (r for r in self._all() if r.owner_id == owner_id),
            key=lambda r: (r.starts_at, r.id),
            reverse=True,
        )
        return _page(newest_first, page)

    async def for_transaction(self, transaction_id: int) -> Reservation | None:
        return next((r for r in self._all() if r.transaction_id == transaction_id), None)

    async def live_count(self, owner_id: int, now: datetime) -> int:
        return sum(
            1 for r in self._all() if r.owner_id == owner_id and r.state.is_live and r.ends_at > now
        )

    async def set_state(
        self,
        reservation_id: int,
        state: ReservationState,
        *,
        expected: Sequence[ReservationState],
        transaction_id: int | None = None,
    ) -> bool:
        tables = self._access.write()
        current = tables.reservations.get(reservation_id)
        if current is None or current.state not in expected:
            return False
        changed = replace(current, state=state)
        if transaction_id is not None:
            changed = replace(changed, transaction_id=transaction_id)
        tables.reservations[reservation_id] = changed
        return True

    async def due(self, now: datetime, limit: int) -> Sequence[Reservation]:
        def is_due(r: Reservation) -> bool:
            if r.state is ReservationState.BOOKED:
                return r.starts_at <= now
            if r.state is ReservationState.ACTIVE:
                return r.ends_at <= now or (r.transaction_id is None and r.arrival_deadline <= now)
            return False

        return sorted((r for r in self._all() if is_due(r)), key=lambda r: r.starts_at)[:limit]

    def _all(self) -> list[Reservation]:
        reservations = self._access.state.reservations
        return [reservations[key] for key in sorted(reservations)]


class InMemoryUnitOfWork:
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

    def __init__(
        self, database: InMemoryDatabase, clock: ports.Clock, *, durable: bool, read_only: bool
    ) -> None:
        self._database = database
        self._clock = clock
        self.durable = durable
        self.read_only = read_only
        self._access: _Access | None = None
        self._holds_writer = False

    async def __aenter__(self) -> Self:
        if not self.read_only:
            await self._database.acquire_writer()
            self._holds_writer = True
        access = _Access(self._database, read_only=self.read_only)
        self._access = access
        now = self._clock.now()
        self.charge_points = InMemoryChargePointRepository(access, now)
        self.connectors = InMemoryConnectorRepository(access)
        self.id_tags = InMemoryIdTagRepository(access)
        self.transactions = InMemoryTransactionRepository(access)
        self.meter_values = InMemoryMeterValueRepository(access)
        self.events = InMemoryEventRepository(access)
        self.data_transfers = InMemoryDataTransferRepository(access)
        self.message_log = InMemoryMessageLogRepository(access)
        self.owners = InMemoryOwnerRepository(access)
        self.spaces = InMemorySpaceRepository(access)
        self.reservations = InMemoryReservationRepository(access)
        self.accounts = InMemoryOwnerAccountRepository(access)
        self.security = InMemoryChargerSecurityRepository(access)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._access = None  # uncommitted changes are dropped with it
        if self._holds_writer:
            self._holds_writer = False
            self._database.release_writer()

    async def commit(self) -> None:
        access = self._access
        if access is None:
            raise RuntimeError("commit outside the unit of work")
        if access.read_only:
            return  # nothing was written: every write raised
        self._database.state = access.state.copy()
        self._database.commits.append(Commit(durable=self.durable))


@dataclass(frozen=True, slots=True)
class Opened:
    durable: bool
    read_only: bool


class InMemoryUnitOfWorkFactory:
    """``ports.UnitOfWorkFactory`` over one ``InMemoryDatabase``; remembers what it opened."""

    def __init__(self, database: InMemoryDatabase, clock: ports.Clock) -> None:
        self.database = database
        self._clock = clock
        self.opened: list[Opened] = []

    def __call__(self, *, durable: bool = False, read_only: bool = False) -> InMemoryUnitOfWork:
        self.opened.append(Opened(durable=durable, read_only=read_only))
        return InMemoryUnitOfWork(self.database, self._clock, durable=durable, read_only=read_only)

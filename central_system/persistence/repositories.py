"""Rows to domain objects and back. No rules, no commits.

What chargers cause (a status, a start, a meter value, an event) runs through
statements built once below, on the tables rather than the mapped classes: the
ORM's per-call statement building and identity map cost more than the SQL
itself on that path. The operator's and owners' reads keep the ORM's comfort.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from central_system.domain.accounts import Duplicate, OwnerAccount, OwnerToken
from central_system.domain.errors import ChargePointInUse
from central_system.domain.garage import Owner, Reservation, ReservationState, Space
from central_system.domain.model import (
    BootInfo,
    ChargePoint,
    ChargerCapabilities,
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
from central_system.persistence.tables import (
    ChargePointRow,
    ConnectorRow,
    DataTransferRow,
    EventRow,
    IdTagRow,
    MessageLogRow,
    MeterValueRow,
    OwnerAccountRow,
    OwnerRow,
    OwnerTokenRow,
    ReservationRow,
    SpaceRow,
    StatusNotificationRow,
    TransactionRow,
)
from central_system.ports import Page


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


_charge_points = _table(ChargePointRow)
_connectors = _table(ConnectorRow)
_status_notifications = _table(StatusNotificationRow)
_id_tags = _table(IdTagRow)
_transactions = _table(TransactionRow)
_meter_values = _table(MeterValueRow)
_events = _table(EventRow)
_spaces = _table(SpaceRow)
_reservations = _table(ReservationRow)

# Bound parameters are named b_*: an UPDATE takes its SET columns from the other keys.
_CHARGE_POINT = select(_charge_points).where(_charge_points.c.id == bindparam("b_id"))
_UPDATE_CHARGE_POINT = update(_charge_points).where(_charge_points.c.id == bindparam("b_id"))
_UPDATE_CONNECTOR = update(_connectors).where(
    _connectors.c.charge_point_id == bindparam("b_charge_point_id"),
    _connectors.c.connector_id == bindparam("b_connector_id"),
)
_INSERT_CONNECTOR = insert(_connectors)
_INSERT_STATUS = insert(_status_notifications)
_ID_TAG = select(_id_tags).where(_id_tags.c.id_tag == bindparam("b_id_tag"))
_OWNER_TAGS = (
    select(_id_tags)
    .where(_id_tags.c.owner_id == bindparam("b_owner_id"))
    .order_by(_id_tags.c.id_tag)
)
_TRANSACTION = select(_transactions).where(_transactions.c.id == bindparam("b_id"))
_FIND_START = select(_transactions).where(
    _transactions.c.charge_point_id == bindparam("b_charge_point_id"),
    _transactions.c.connector_id == bindparam("b_connector_id"),
    _transactions.c.id_tag == bindparam("b_id_tag"),
    _transactions.c.start_timestamp_raw == bindparam("b_timestamp_raw"),
    _transactions.c.meter_start == bindparam("b_meter_start"),
)
_OPEN_ON_CONNECTOR = select(_transactions).where(
    _transactions.c.charge_point_id == bindparam("b_charge_point_id"),
    _transactions.c.connector_id == bindparam("b_connector_id"),
    _transactions.c.stopped_at.is_(None),
)
_INSERT_TRANSACTION = insert(_transactions).returning(_transactions.c.id)
_STOP_TRANSACTION = update(_transactions).where(
    _transactions.c.id == bindparam("b_id"), _transactions.c.stopped_at.is_(None)
)
_INSERT_METER_VALUES = insert(_meter_values)
_INSERT_EVENT = insert(_events)
_SPACES_AT_CHARGER = (
    select(_spaces)
    .where(_spaces.c.charge_point_id == bindparam("b_charge_point_id"))
    .order_by(_spaces.c.connector_id)
)
_SPACES_AT_CONNECTOR = (
    select(_spaces)
    .where(
        _spaces.c.charge_point_id == bindparam("b_charge_point_id"),
        _spaces.c.connector_id == bindparam("b_connector_id"),
    )
    .order_by(_spaces.c.connector_id)
)


def _charge_point(row: ChargePointRow | Any) -> ChargePoint:
    return ChargePoint(
        id=row.id,
        registration_status=RegistrationStatus(row.registration_status),
        vendor=row.vendor,
        model=row.model,
        serial_number=row.serial_number or row.charge_box_serial_number,
        firmware_version=row.firmware_version,
        last_boot_at=row.last_boot_at,
        last_seen_at=row.last_seen_at,
        diagnostics_status=row.diagnostics_status,
        firmware_status=row.firmware_status,
        capabilities=None
        if row.configuration is None
        else ChargerCapabilities(
            feature_profiles=frozenset(filter(None, (row.feature_profiles or "").split(","))),
            can_display_messages=row.can_display_messages,
            configuration=dict(row.configuration),
            refused=dict(row.configuration_refused or {}),
        ),
    )


class SqlAlchemyChargePointRepository:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def get(self, charge_point_id: str) -> ChargePoint | None:
        result = await self._session.execute(_CHARGE_POINT, {"b_id": charge_point_id})
        row = result.first()
        return None if row is None else _charge_point(row)

    async def list(self, page: Page) -> Sequence[ChargePoint]:
        rows = await self._session.scalars(
            select(ChargePointRow).order_by(ChargePointRow.id).limit(page.limit).offset(page.offset)
        )
        return [_charge_point(row) for row in rows]

    async def add(self, charge_point: ChargePoint) -> None:
        self._session.add(
            ChargePointRow(
                id=charge_point.id,
                registration_status=charge_point.registration_status.value,
                created_at=self._now,
            )
        )
        await self._session.flush()

    async def set_registration_status(
        self, charge_point_id: str, status: RegistrationStatus
    ) -> None:
        await self._session.execute(
            update(ChargePointRow)
            .where(ChargePointRow.id == charge_point_id)
            .values(registration_status=status.value)
        )

    async def record_boot(self, charge_point_id: str, info: BootInfo, at: datetime) -> None:
        await self._update(
            charge_point_id,
            vendor=info.vendor,
            model=info.model,
            serial_number=info.serial_number,
            charge_box_serial_number=info.charge_box_serial_number,
            firmware_version=info.firmware_version,
            iccid=info.iccid,
            imsi=info.imsi,
            meter_type=info.meter_type,
            meter_serial_number=info.meter_serial_number,
            last_boot_at=at,
            last_seen_at=at,
        )

    async def set_capabilities(
        self, charge_point_id: str, capabilities: ChargerCapabilities
    ) -> None:
        await self._update(
            charge_point_id,
            feature_profiles=",".join(sorted(capabilities.feature_profiles)),
            can_display_messages=capabilities.can_display_messages,
            configuration=capabilities.configuration,
            configuration_refused=capabilities.refused,
        )

    async def set_diagnostics_status(self, charge_point_id: str, status: str) -> None:
        await self._update(charge_point_id, diagnostics_status=status)

    async def set_firmware_status(self, charge_point_id: str, status: str) -> None:
        await self._update(charge_point_id, firmware_status=status)

    async def _update(self, charge_point_id: str, **values: object) -> None:
        await self._session.execute(_UPDATE_CHARGE_POINT, {"b_id": charge_point_id, **values})

    async def delete(self, charge_point_id: str) -> bool:
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    delete(ChargePointRow).where(ChargePointRow.id == charge_point_id)
                )
        except IntegrityError:
            raise ChargePointInUse(charge_point_id) from None
        return bool(getattr(result, "rowcount", 0))


def _connector(row: ConnectorRow) -> Connector:
    return Connector(
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        status=row.status,
        error_code=row.error_code,
        info=row.info,
        vendor_id=row.vendor_id,
        vendor_error_code=row.vendor_error_code,
        status_at=row.status_at,
        updated_at=row.updated_at,
    )


class SqlAlchemyConnectorRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_status(
        self,
        charge_point_id: str,
        report: ConnectorStatus,
        status_at: datetime | None,
        received_at: datetime,
    ) -> None:
        values = {
            "status": report.status,
            "error_code": report.error_code,
            "info": report.info,
            "vendor_id": report.vendor_id,
            "vendor_error_code": report.vendor_error_code,
            "status_at": status_at,
        }
        key = {"charge_point_id": charge_point_id, "connector_id": report.connector_id}
        await self._session.execute(_INSERT_STATUS, {**key, **values, "received_at": received_at})
        updated = await self._session.execute(
            _UPDATE_CONNECTOR,
            {
                "b_charge_point_id": charge_point_id,
                "b_connector_id": report.connector_id,
                **values,
                "updated_at": received_at,
            },
        )
        if not getattr(updated, "rowcount", 0):  # the connector's first status
            await self._session.execute(
                _INSERT_CONNECTOR, {**key, **values, "updated_at": received_at}
            )

    async def for_charge_point(self, charge_point_id: str) -> Sequence[Connector]:
        rows = await self._session.scalars(
            select(ConnectorRow)
            .where(ConnectorRow.charge_point_id == charge_point_id)
            .order_by(ConnectorRow.connector_id)
        )
        return [_connector(row) for row in rows]


def _id_tag(row: IdTagRow | Any) -> IdTag:
    return IdTag(
        id_tag=row.id_tag,
        status=TagStatus(row.status),
        expiry_date=row.expiry_date,
        parent_id_tag=row.parent_id_tag,
        owner_id=row.owner_id,
    )


class SqlAlchemyIdTagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, id_tag: str) -> IdTag | None:
        row = (await self._session.execute(_ID_TAG, {"b_id_tag": id_tag})).first()
        return None if row is None else _id_tag(row)

    async def put(self, tag: IdTag) -> None:
        row = await self._session.get(IdTagRow, tag.id_tag)
        if row is None:
            row = IdTagRow(id_tag=tag.id_tag)
            self._session.add(row)
        row.status = tag.status.value
        row.expiry_date = tag.expiry_date
        row.parent_id_tag = tag.parent_id_tag
        row.owner_id = tag.owner_id
        await self._session.flush()

    async def list(self, page: Page) -> Sequence[IdTag]:
        rows = await self._session.scalars(
            select(IdTagRow).order_by(IdTagRow.id_tag).limit(page.limit).offset(page.offset)
        )
        return [_id_tag(row) for row in rows]

    async def delete(self, id_tag: str) -> bool:
        result = await self._session.execute(delete(IdTagRow).where(IdTagRow.id_tag == id_tag))
        return bool(getattr(result, "rowcount", 0))


def _transaction(row: TransactionRow | Any) -> Transaction:
    return Transaction(
        id=row.id,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
        id_tag=row.id_tag,
        meter_start=row.meter_start,
        started_at=row.started_at,
        reservation_id=row.reservation_id,
        start_status=TagStatus(row.start_status),
        meter_stop=row.meter_stop,
        stopped_at=row.stopped_at,
        stop_reason=row.stop_reason,
        stop_id_tag=row.stop_id_tag,
    )


class SqlAlchemyTransactionRepository:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def find_start(self, charge_point_id: str, request: StartRequest) -> Transaction | None:
        result = await self._session.execute(
            _FIND_START,
            {
                "b_charge_point_id": charge_point_id,
                "b_connector_id": request.connector_id,
                "b_id_tag": request.id_tag,
                "b_timestamp_raw": request.timestamp_raw,
                "b_meter_start": request.meter_start,
            },
        )
        row = result.first()
        return None if row is None else _transaction(row)

    async def add(
        self, charge_point_id: str, request: StartRequest, started_at: datetime, status: TagStatus
    ) -> Transaction | None:
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    _INSERT_TRANSACTION,
                    {
                        "charge_point_id": charge_point_id,
                        "connector_id": request.connector_id,
                        "id_tag": request.id_tag,
                        "meter_start": request.meter_start,
                        "start_timestamp_raw": request.timestamp_raw,
                        "started_at": started_at,
                        "reservation_id": request.reservation_id,
                        "start_status": status.value,
                        "created_at": self._now,
                    },
                )
                transaction_id = result.scalar_one()
        except IntegrityError:
            return None
        assert transaction_id is not None
        return Transaction(
            id=transaction_id,
            charge_point_id=charge_point_id,
            connector_id=request.connector_id,
            id_tag=request.id_tag,
            meter_start=request.meter_start,
            started_at=started_at,
            reservation_id=request.reservation_id,
            start_status=status,
        )

    async def get(self, transaction_id: int) -> Transaction | None:
        row = (await self._session.execute(_TRANSACTION, {"b_id": transaction_id})).first()
        return None if row is None else _transaction(row)

    async def open_on_connector(
        self, charge_point_id: str, connector_id: int
    ) -> Sequence[Transaction]:
        result = await self._session.execute(
            _OPEN_ON_CONNECTOR,
            {"b_charge_point_id": charge_point_id, "b_connector_id": connector_id},
        )
        return [_transaction(row) for row in result]

    async def stop(
        self,
        transaction_id: int,
        *,
        meter_stop: int,
        stopped_at: datetime,
        reason: str | None,
        id_tag: str | None,
    ) -> bool:
        result = await self._session.execute(
            _STOP_TRANSACTION,
            {
                "b_id": transaction_id,
                "meter_stop": meter_stop,
                "stopped_at": stopped_at,
                "stop_reason": reason,
                "stop_id_tag": id_tag,
            },
        )
        return bool(getattr(result, "rowcount", 0))

    async def list(
        self,
        page: Page,
        charge_point_id: str | None = None,
        id_tags: Collection[str] | None = None,
    ) -> Sequence[Transaction]:
        query = select(TransactionRow).order_by(TransactionRow.id.desc())
        if charge_point_id is not None:
            query = query.where(TransactionRow.charge_point_id == charge_point_id)
        if id_tags is not None:
            query = query.where(TransactionRow.id_tag.in_(list(id_tags)))
        rows = await self._session.scalars(query.limit(page.limit).offset(page.offset))
        return [_transaction(row) for row in rows]


class SqlAlchemyMeterValueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        values: Sequence[MeterValue],
        source: str,
    ) -> None:
        rows = [
            {
                "charge_point_id": charge_point_id,
                "connector_id": connector_id,
                "transaction_id": transaction_id,
                "timestamp": meter_value.timestamp,
                "value": sample.value,
                "measurand": sample.measurand,
                "unit": sample.unit,
                "phase": sample.phase,
                "context": sample.context,
                "location": sample.location,
                "format": sample.format,
                "source": source,
            }
            for meter_value in values
            for sample in meter_value.sampled_values
        ]
        if rows:
            await self._session.execute(_INSERT_METER_VALUES, rows)

    async def for_transaction(self, transaction_id: int) -> Sequence[tuple[MeterValue, str]]:
        rows = await self._session.scalars(
            select(MeterValueRow)
            .where(MeterValueRow.transaction_id == transaction_id)
            .order_by(MeterValueRow.timestamp, MeterValueRow.id)
        )
        grouped: dict[tuple[datetime, str], list[SampledValue]] = {}
        for row in rows:
            grouped.setdefault((row.timestamp, row.source), []).append(
                SampledValue(
                    value=row.value,
                    measurand=row.measurand,
                    unit=row.unit,
                    phase=row.phase,
                    context=row.context,
                    location=row.location,
                    format=row.format,
                )
            )
        return [
            (MeterValue(timestamp=at, sampled_values=tuple(samples)), source)
            for (at, source), samples in grouped.items()
        ]


class SqlAlchemyEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, event: Event) -> None:
        await self._session.execute(
            _INSERT_EVENT,
            {
                "kind": event.kind.value,
                "at": event.at,
                "charge_point_id": event.charge_point_id,
                "detail": event.detail,
            },
        )

    async def list(self, page: Page, charge_point_id: str | None = None) -> Sequence[Event]:
        query = select(EventRow).order_by(EventRow.id.desc())
        if charge_point_id is not None:
            query = query.where(EventRow.charge_point_id == charge_point_id)
        rows = await self._session.scalars(query.limit(page.limit).offset(page.offset))
        return [
            Event(EventKind(row.kind), row.at, row.charge_point_id, dict(row.detail))
            for row in rows
        ]

    async def list_kinds(
        self, page: Page, kinds: Collection[str], charge_point_id: str | None = None
    ) -> Sequence[Event]:
        query = select(EventRow).where(EventRow.kind.in_(list(kinds))).order_by(EventRow.id.desc())
        if charge_point_id is not None:
            query = query.where(EventRow.charge_point_id == charge_point_id)
        rows = await self._session.scalars(query.limit(page.limit).offset(page.offset))
        return [
            Event(EventKind(row.kind), row.at, row.charge_point_id, dict(row.detail))
            for row in rows
        ]


class SqlAlchemyDataTransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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
        await self._session.execute(
            insert(DataTransferRow).values(
                charge_point_id=charge_point_id,
                vendor_id=vendor_id,
                message_id=message_id,
                data=data,
                status=status,
                received_at=at,
            )
        )


class SqlAlchemyMessageLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self, page: Page, charge_point_id: str | None = None) -> Sequence[LoggedMessage]:
        query = select(MessageLogRow).order_by(MessageLogRow.id.desc())
        if charge_point_id is not None:
            query = query.where(MessageLogRow.charge_point_id == charge_point_id)
        rows = await self._session.scalars(query.limit(page.limit).offset(page.offset))
        return [
            LoggedMessage(
                charge_point_id=row.charge_point_id,
                direction=row.direction,
                message_type=row.message_type,
                action=row.action,
                unique_id=row.unique_id,
                payload=row.payload,
                at=row.at,
            )
            for row in rows
        ]


class SqlAlchemyOwnerRepository:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def add(self, name: str) -> Owner:
        owner_id = await self._session.scalar(
            insert(OwnerRow).values(name=name, created_at=self._now).returning(OwnerRow.id)
        )
        assert owner_id is not None
        return Owner(owner_id, name)

    async def get(self, owner_id: int) -> Owner | None:
        row = await self._session.get(OwnerRow, owner_id)
        return None if row is None else Owner(row.id, row.name)

    async def list(self, page: Page) -> Sequence[Owner]:
        rows = await self._session.scalars(
            select(OwnerRow).order_by(OwnerRow.id).limit(page.limit).offset(page.offset)
        )
        return [Owner(row.id, row.name) for row in rows]

    async def tags(self, owner_id: int) -> Sequence[IdTag]:
        result = await self._session.execute(_OWNER_TAGS, {"b_owner_id": owner_id})
        return [_id_tag(row) for row in result]

    async def rename(self, owner_id: int, name: str) -> bool:
        result = await self._session.execute(
            update(OwnerRow).where(OwnerRow.id == owner_id).values(name=name)
        )
        return bool(getattr(result, "rowcount", 0))

    async def delete(self, owner_id: int) -> bool:
        result = await self._session.execute(delete(OwnerRow).where(OwnerRow.id == owner_id))
        return bool(getattr(result, "rowcount", 0))


class SqlAlchemyOwnerAccountRepository:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def get(self, owner_id: int) -> OwnerAccount | None:
        row = await self._session.get(OwnerAccountRow, owner_id)
        return None if row is None else OwnerAccount(row.owner_id, row.login, row.password_hash)

    async def by_login(self, login: str) -> OwnerAccount | None:
        row = await self._session.scalar(
            select(OwnerAccountRow).where(OwnerAccountRow.login == login)
        )
        return None if row is None else OwnerAccount(row.owner_id, row.login, row.password_hash)

    async def put(self, owner_id: int, login: str, password_hash: str) -> None:
        try:
            async with self._session.begin_nested():
                row = await self._session.get(OwnerAccountRow, owner_id)
                if row is None:
                    self._session.add(
                        OwnerAccountRow(
                            owner_id=owner_id,
                            login=login,
                            password_hash=password_hash,
                            created_at=self._now,
                            updated_at=self._now,
                        )
                    )
                else:
                    row.login = login
                    row.password_hash = password_hash
                    row.updated_at = self._now
                await self._session.flush()
        except IntegrityError:
            raise Duplicate("login", login) from None

    async def add_token(self, token_hash: str, owner_id: int, expires_at: datetime) -> None:
        await self._session.execute(
            insert(OwnerTokenRow).values(
                token_hash=token_hash,
                owner_id=owner_id,
                created_at=self._now,
                expires_at=expires_at,
            )
        )

    async def token(self, token_hash: str) -> OwnerToken | None:
        row = await self._session.get(OwnerTokenRow, token_hash)
        return None if row is None else OwnerToken(row.owner_id, row.expires_at, row.revoked_at)

    async def revoke_token(self, token_hash: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(OwnerTokenRow)
            .where(OwnerTokenRow.token_hash == token_hash, OwnerTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def revoke_tokens(self, owner_id: int, at: datetime) -> int:
        result = await self._session.execute(
            update(OwnerTokenRow)
            .where(OwnerTokenRow.owner_id == owner_id, OwnerTokenRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(getattr(result, "rowcount", 0))

    async def delete_tokens_expired_before(self, moment: datetime) -> int:
        result = await self._session.execute(
            delete(OwnerTokenRow).where(OwnerTokenRow.expires_at < moment)
        )
        return int(getattr(result, "rowcount", 0))


def _space(row: SpaceRow | Any) -> Space:
    return Space(
        id=row.id,
        label=row.label,
        level=row.level,
        charge_point_id=row.charge_point_id,
        connector_id=row.connector_id,
    )


class SqlAlchemySpaceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        label: str,
        level: str | None,
        charge_point_id: str | None,
        connector_id: int | None,
    ) -> Space:
        space_id = await self._session.scalar(
            insert(SpaceRow)
            .values(
                label=label, level=level, charge_point_id=charge_point_id, connector_id=connector_id
            )
            .returning(SpaceRow.id)
        )
        assert space_id is not None
        return Space(space_id, label, level, charge_point_id, connector_id)

    async def get(self, space_id: int, *, for_update: bool = False) -> Space | None:
        query = select(SpaceRow).where(SpaceRow.id == space_id)
        if for_update:
            # PostgreSQL: a row lock until commit. SQLite: the single writer's
            # BEGIN IMMEDIATE already holds the database's write lock.
            query = query.with_for_update()
        row = await self._session.scalar(query)
        return None if row is None else _space(row)

    async def list(self, page: Page) -> Sequence[Space]:
        rows = await self._session.scalars(
            select(SpaceRow).order_by(SpaceRow.label).limit(page.limit).offset(page.offset)
        )
        return [_space(row) for row in rows]

    async def at_charger(
        self, charge_point_id: str, connector_id: int | None = None
    ) -> Sequence[Space]:
        if connector_id is None:
            result = await self._session.execute(
                _SPACES_AT_CHARGER, {"b_charge_point_id": charge_point_id}
            )
        else:
            result = await self._session.execute(
                _SPACES_AT_CONNECTOR,
                {"b_charge_point_id": charge_point_id, "b_connector_id": connector_id},
            )
        return [_space(row) for row in result]

    async def update(self, space: Space) -> bool:
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(
                    update(SpaceRow)
                    .where(SpaceRow.id == space.id)
                    .values(
                        label=space.label,
                        level=space.level,
                        charge_point_id=space.charge_point_id,
                        connector_id=space.connector_id,
                    )
                )
        except IntegrityError:
            raise Duplicate("space label or charger connector", space.label) from None
        return bool(getattr(result, "rowcount", 0))

    async def delete(self, space_id: int) -> bool:
        result = await self._session.execute(delete(SpaceRow).where(SpaceRow.id == space_id))
        return bool(getattr(result, "rowcount", 0))


_LIVE = (ReservationState.BOOKED.value, ReservationState.ACTIVE.value)


_HOLDING = select(_reservations).where(
    _reservations.c.space_id.in_(bindparam("b_space_ids", expanding=True)),
    _reservations.c.state.in_(_LIVE),
    _reservations.c.starts_at <= bindparam("b_now"),
    _reservations.c.ends_at > bindparam("b_now"),
)
_FOR_TRANSACTION = select(_reservations).where(
    _reservations.c.transaction_id == bindparam("b_transaction_id")
)
_SET_STATE = update(_reservations).where(
    _reservations.c.id == bindparam("b_id"),
    _reservations.c.state.in_(bindparam("b_expected", expanding=True)),
)


def _reservation(row: ReservationRow | Any) -> Reservation:
    return Reservation(
        id=row.id,
        owner_id=row.owner_id,
        space_id=row.space_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        arrival_deadline=row.arrival_deadline,
        state=ReservationState(row.state),
        transaction_id=row.transaction_id,
    )


class SqlAlchemyReservationRepository:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def add(
        self,
        owner_id: int,
        space_id: int,
        starts_at: datetime,
        ends_at: datetime,
        arrival_deadline: datetime,
    ) -> Reservation:
        reservation_id = await self._session.scalar(
            insert(ReservationRow)
            .values(
                owner_id=owner_id,
                space_id=space_id,
                starts_at=starts_at,
                ends_at=ends_at,
                arrival_deadline=arrival_deadline,
                state=ReservationState.BOOKED.value,
                created_at=self._now,
                updated_at=self._now,
            )
            .returning(ReservationRow.id)
        )
        assert reservation_id is not None
        return Reservation(reservation_id, owner_id, space_id, starts_at, ends_at, arrival_deadline)

    async def get(self, reservation_id: int) -> Reservation | None:
        row = await self._session.get(ReservationRow, reservation_id)
        return None if row is None else _reservation(row)

    async def overlapping(
        self, space_id: int, starts_at: datetime, ends_at: datetime
    ) -> Sequence[Reservation]:
        rows = await self._session.scalars(
            select(ReservationRow).where(
                ReservationRow.space_id == space_id,
                ReservationRow.state.in_(_LIVE),
                ReservationRow.starts_at < ends_at,
                ReservationRow.ends_at > starts_at,
            )
        )
        return [_reservation(row) for row in rows]

    async def holding(self, space_ids: Sequence[int], now: datetime) -> Sequence[Reservation]:
        if not space_ids:
            return []
        result = await self._session.execute(
            _HOLDING, {"b_space_ids": list(space_ids), "b_now": now}
        )
        return [_reservation(row) for row in result]

    async def for_owner(self, owner_id: int, page: Page) -> Sequence[Reservation]:
        rows = await self._session.scalars(
            select(ReservationRow)
            .where(ReservationRow.owner_id == owner_id)
            .order_by(ReservationRow.starts_at.desc(), ReservationRow.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        )
        return [_reservation(row) for row in rows]

    async def for_transaction(self, transaction_id: int) -> Reservation | None:
        result = await self._session.execute(_FOR_TRANSACTION, {"b_transaction_id": transaction_id})
        row = result.first()
        return None if row is None else _reservation(row)

    async def live_count(self, owner_id: int, now: datetime) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(ReservationRow)
            .where(
                ReservationRow.owner_id == owner_id,
                ReservationRow.state.in_(_LIVE),
                ReservationRow.ends_at > now,
            )
        )
        return int(count or 0)

    async def set_state(
        self,
        reservation_id: int,
        state: ReservationState,
        *,
        expected: Sequence[ReservationState],
        transaction_id: int | None = None,
    ) -> bool:
        values: dict[str, object] = {
            "b_id": reservation_id,
            "b_expected": [e.value for e in expected],
            "state": state.value,
            "updated_at": self._now,
        }
        if transaction_id is not None:
            values["transaction_id"] = transaction_id
        result = await self._session.execute(_SET_STATE, values)
        return bool(getattr(result, "rowcount", 0))

    async def due(self, now: datetime, limit: int) -> Sequence[Reservation]:
        rows = await self._session.scalars(
            select(ReservationRow)
            .where(
                or_(
                    and_(
                        ReservationRow.state == ReservationState.BOOKED.value,
                        ReservationRow.starts_at <= now,
                    ),
                    and_(
                        ReservationRow.state == ReservationState.ACTIVE.value,
                        or_(
                            ReservationRow.ends_at <= now,
                            and_(
                                ReservationRow.transaction_id.is_(None),
                                ReservationRow.arrival_deadline <= now,
                            ),
                        ),
                    ),
                )
            )
            .order_by(ReservationRow.starts_at)
            .limit(limit)
        )
        return [_reservation(row) for row in rows]


def _security(row: ChargePointRow) -> ChargerSecurity:
    return ChargerSecurity(
        charge_point_id=row.id,
        profile=SecurityProfile(row.security_profile),
        password_hash=row.password_hash,
        pending_password_hash=row.pending_password_hash,
        password_set_at=row.password_set_at,
        serial_numbers=frozenset(s for s in (row.serial_number, row.charge_box_serial_number) if s),
    )


class SqlAlchemyChargerSecurityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, charge_point_id: str) -> ChargerSecurity | None:
        row = await self._session.get(ChargePointRow, charge_point_id)
        return None if row is None else _security(row)

    async def set_profile(self, charge_point_id: str, profile: SecurityProfile) -> bool:
        return await self._update(charge_point_id, security_profile=int(profile))

    async def set_password(
        self, charge_point_id: str, password_hash: str | None, at: datetime
    ) -> bool:
        return await self._update(
            charge_point_id,
            password_hash=password_hash,
            pending_password_hash=None,
            password_set_at=None if password_hash is None else at,
        )

    async def set_pending(self, charge_point_id: str, password_hash: str | None) -> bool:
        return await self._update(charge_point_id, pending_password_hash=password_hash)

    async def promote_pending(self, charge_point_id: str, expected: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(ChargePointRow)
            .where(
                ChargePointRow.id == charge_point_id,
                ChargePointRow.pending_password_hash == expected,
            )
            .values(password_hash=expected, pending_password_hash=None, password_set_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def _update(self, charge_point_id: str, **values: object) -> bool:
        result = await self._session.execute(
            update(ChargePointRow).where(ChargePointRow.id == charge_point_id).values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

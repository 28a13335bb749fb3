"""Use cases. Each opens one unit of work and decides when it commits.

``ChargerSessions`` answers what chargers send; ``Operations`` serves the operator.
Neither knows about OCPP frames, WebSockets, HTTP or SQL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from central_system.domain import rules
from central_system.domain.charging_rule import (
    Allow,
    ChargingPolicy,
    Decision,
    Refusal,
    Refuse,
    Reminder,
    SpaceAtCharger,
    decide_charging,
)
from central_system.domain.errors import UnknownChargePoint
from central_system.domain.garage import ReservationState
from central_system.domain.model import (
    BootDecision,
    BootInfo,
    ChargePoint,
    ChargerCapabilities,
    Connector,
    ConnectorStatus,
    Event,
    EventKind,
    IdTag,
    IdTagInfo,
    LoggedMessage,
    MeterValue,
    RegistrationStatus,
    ReportedMeterValue,
    StartRequest,
    StopRequest,
    TagStatus,
    Transaction,
    UnknownChargerPolicy,
)
from central_system.domain.security import ChargerSecurity
from central_system.ports import (
    Clock,
    DatabaseRunner,
    Page,
    UnitOfWork,
    UnitOfWorkFactory,
    run_here,
)
from central_system.reservations import HeldSpace, held_at_charger

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _runs_on_database(
    method: Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]], **options: bool
) -> Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def run(self: ChargerSessions, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(method(self, *args, **kwargs), **options)

    return run


def _on_database(
    method: Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]]:
    """Run the use case where its database is (``ChargerSessions(run=...)``).

    Such a method awaits nothing but its units of work, so it can run on the
    SQLite writer's thread as one job of a group commit.
    """
    return _runs_on_database(method)


def _reads_database(
    method: Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]]:
    """``_on_database`` for a use case that only reads: it waits for no commit."""
    return _runs_on_database(method, read_only=True)


def _admits_on_database(
    method: Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[ChargerSessions, P], Coroutine[Any, Any, R]]:
    """``_on_database`` for a WebSocket handshake: it goes before other waiting writes.

    A charger whose opening handshake is not answered in time gives up and dials
    again; one that is connected waits for its answers far longer.
    """
    return _runs_on_database(method, urgent=True)


@dataclass(frozen=True, slots=True)
class DataTransferReply:
    status: str
    data: str | None = None


#: A handler for vendor-specific DataTransfer: (charge point id, message id, data) -> reply.
DataTransferHandler = Callable[[str, str | None, str | None], Awaitable[DataTransferReply]]


class ChargerSessions:
    """What happens when a charger speaks to us."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        heartbeat_interval: int,
        boot_retry_interval: int,
        unknown_chargers: UnknownChargerPolicy,
        charging_policy: ChargingPolicy = ChargingPolicy.REGISTERED_TAGS,
        data_transfer_handlers: dict[str, DataTransferHandler] | None = None,
        run: DatabaseRunner = run_here,
    ) -> None:
        self._uow = uow
        self._run = run
        self._charging_policy = charging_policy
        self._clock = clock
        self._heartbeat_interval = heartbeat_interval
        self._boot_retry_interval = boot_retry_interval
        self._unknown_chargers = unknown_chargers
        self._data_transfer_handlers = dict(data_transfer_handlers or {})

    @_admits_on_database
    async def admit(self, charge_point_id: str) -> bool:
        """May a WebSocket for this charge point id be opened? Registers it by policy."""
        # A reconnect storm is mostly known chargers: answer those without the writer.
        async with self._uow(read_only=True) as uow:
            known = await uow.charge_points.get(charge_point_id) is not None
        if known:
            return True
        if self._unknown_chargers is UnknownChargerPolicy.REJECT:
            return False
        async with self._uow() as uow:
            if await uow.charge_points.get(charge_point_id) is not None:
                return True  # registered by a concurrent handshake
            await uow.charge_points.add(ChargePoint(id=charge_point_id))
            await uow.events.add(
                Event(
                    EventKind.CHARGER_REGISTERED,
                    self._clock.now(),
                    charge_point_id,
                    {"why": "unknown charger admitted by the 'accept' policy"},
                )
            )
            await uow.commit()
            return True

    @_on_database
    async def boot(self, charge_point_id: str, info: BootInfo) -> BootDecision:
        now = self._clock.now()
        async with self._uow() as uow:
            charger = await self._charger(uow, charge_point_id)
            await uow.charge_points.record_boot(charge_point_id, info, now)
            await uow.commit()
        return rules.decide_boot(
            charger.registration_status,
            now,
            heartbeat_interval=self._heartbeat_interval,
            retry_interval=self._boot_retry_interval,
        )

    async def heartbeat(self, charge_point_id: str) -> datetime:
        """The time to give the charger; last-seen follows from the message log."""
        return self._clock.now()

    @_on_database
    async def status_notification(
        self, charge_point_id: str, report: ConnectorStatus
    ) -> Reminder | None:
        """Record the status; a plug-in at a space someone holds gets the reminder."""
        now = self._clock.now()
        async with self._uow() as uow:
            status_at = (
                None
                if report.timestamp_raw is None
                else await _interpret(
                    uow, charge_point_id, report.timestamp_raw, now, "StatusNotification"
                )
            )
            await uow.connectors.record_status(charge_point_id, report, status_at, now)
            spaces = (
                await _spaces_at(uow, charge_point_id, report.connector_id, now)
                if report.status == "Preparing" and report.connector_id > 0
                else []
            )
            await uow.commit()
        for space in spaces:
            if space.reservation is not None and space.reservation.holds(now):
                # Nobody is identified by a plug-in: it starts nothing, and says why.
                return Reminder(
                    charge_point_id, report.connector_id, Refusal.SPACE_RESERVED, space.space.label
                )
        return None

    @_reads_database
    async def authorize(self, charge_point_id: str, id_tag: str) -> Verdict:
        """Authorize carries no connector: decide over every space behind the charger."""
        now = self._clock.now()
        async with self._uow(read_only=True) as uow:
            tag = await uow.id_tags.get(id_tag)
            spaces = await _spaces_at(uow, charge_point_id, None, now)
        decision = decide_charging(tag, spaces, now, self._charging_policy)
        return _verdict(decision, charge_point_id, None, id_tag)

    @_on_database
    async def start_transaction(self, charge_point_id: str, request: StartRequest) -> StartOutcome:
        """Record a start and answer it; a retried start gets the same transaction id.

        The commit is durable and happens before the caller replies, so an id the
        charger has seen is never lost nor issued twice.
        """
        now = self._clock.now()
        async with self._uow(durable=True) as uow:
            existing = await uow.transactions.find_start(charge_point_id, request)
            if existing is not None:
                return await self._replayed_start(uow, existing, now)
            started_at = await _interpret(
                uow, charge_point_id, request.timestamp_raw, now, "StartTransaction"
            )
            tag = await uow.id_tags.get(request.id_tag)
            spaces = await _spaces_at(uow, charge_point_id, request.connector_id, now)
            decision = decide_charging(tag, spaces, now, self._charging_policy)
            verdict = decision.id_tag_info
            for left_open in await uow.transactions.open_on_connector(
                charge_point_id, request.connector_id
            ):
                await uow.events.add(
                    Event(
                        EventKind.TRANSACTION_LEFT_OPEN,
                        now,
                        charge_point_id,
                        {
                            "transaction_id": left_open.id,
                            "connector_id": request.connector_id,
                            "why": "a new transaction started on the same connector",
                        },
                    )
                )
            created = await uow.transactions.add(
                charge_point_id, request, started_at, verdict.status
            )
            if created is None:  # an identical start, on another connection, won the race
                existing = await uow.transactions.find_start(charge_point_id, request)
                assert existing is not None
                return await self._replayed_start(uow, existing, now)
            if isinstance(decision, Allow) and decision.reservation is not None:
                await uow.reservations.set_state(
                    decision.reservation.id,
                    ReservationState.ACTIVE,
                    expected=[ReservationState.BOOKED, ReservationState.ACTIVE],
                    transaction_id=created.id,
                )
            await uow.events.add(
                _decision_event(
                    decision, charge_point_id, request.id_tag, now, "StartTransaction", created.id
                )
            )
            await uow.commit()
        verdict_ = _verdict(decision, charge_point_id, request.connector_id, request.id_tag)
        return StartOutcome(created.id, verdict, reminder=verdict_.reminder)

    async def _replayed_start(
        self, uow: UnitOfWork, existing: Transaction, now: datetime
    ) -> StartOutcome:
        tag = await uow.id_tags.get(existing.id_tag)
        await uow.events.add(
            Event(
                EventKind.START_REPLAYED,
                now,
                existing.charge_point_id,
                {"transaction_id": existing.id, "why": "StartTransaction received again"},
            )
        )
        await uow.commit()
        if existing.start_status is TagStatus.ACCEPTED:
            info = rules.authorize_tag(tag, now)
        else:  # refused the first time: the same answer, expired on arrival
            info = IdTagInfo(existing.start_status, expiry_date=now)
        return StartOutcome(existing.id, info, replayed=True)

    @_on_database
    async def stop_transaction(
        self, charge_point_id: str, request: StopRequest
    ) -> IdTagInfo | None:
        """Close the transaction. Always answered; problems are flagged, never refused."""
        now = self._clock.now()
        async with self._uow(durable=True) as uow:
            transaction = (
                await uow.transactions.get(request.transaction_id)
                if rules.is_our_transaction_id(request.transaction_id)
                else None
            )
            problem = rules.check_stop(transaction, charge_point_id)
            if problem is None and transaction is not None:
                closed = await uow.transactions.stop(
                    transaction.id,
                    meter_stop=request.meter_stop,
                    stopped_at=await _interpret(
                        uow, charge_point_id, request.timestamp_raw, now, "StopTransaction"
                    ),
                    reason=request.reason,
                    id_tag=request.id_tag,
                )
                if closed:
                    await _fulfil(uow, transaction, now)
                    if request.transaction_data:
                        await uow.meter_values.add(
                            charge_point_id,
                            transaction.connector_id,
                            transaction.id,
                            await _meter_values(
                                uow,
                                charge_point_id,
                                request.transaction_data,
                                now,
                                "StopTransaction.transactionData",
                            ),
                            source="StopTransaction",
                        )
                    if request.meter_stop < transaction.meter_start:
                        await uow.events.add(
                            Event(
                                EventKind.NEGATIVE_ENERGY,
                                now,
                                charge_point_id,
                                {
                                    "transaction_id": transaction.id,
                                    "meter_start": transaction.meter_start,
                                    "meter_stop": request.meter_stop,
                                },
                            )
                        )
                else:
                    problem = rules.StopProblem.ALREADY_STOPPED
            if problem is not None:
                kind = (
                    EventKind.STOP_ALREADY_STOPPED
                    if problem is rules.StopProblem.ALREADY_STOPPED
                    else EventKind.STOP_UNKNOWN_TRANSACTION
                )
                await uow.events.add(
                    Event(
                        kind,
                        now,
                        charge_point_id,
                        {
                            "transaction_id": request.transaction_id,
                            "why": problem.value,
                            "meter_stop": request.meter_stop,
                        },
                    )
                )
            tag = await uow.id_tags.get(request.id_tag) if request.id_tag else None
            await uow.commit()
        if request.id_tag is None:
            return None
        return rules.authorize_tag(tag, now)

    @_on_database
    async def meter_values(
        self,
        charge_point_id: str,
        connector_id: int,
        transaction_id: int | None,
        values: Sequence[ReportedMeterValue],
    ) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            known = transaction_id
            if transaction_id is not None and not rules.is_our_transaction_id(transaction_id):
                known = None
            elif transaction_id is not None:
                transaction = await uow.transactions.get(transaction_id)
                if transaction is None or transaction.charge_point_id != charge_point_id:
                    known = None  # keep the values, not a dangling reference
            await uow.meter_values.add(
                charge_point_id,
                connector_id,
                known,
                await _meter_values(uow, charge_point_id, values, now),
                source="MeterValues",
            )
            await uow.commit()

    async def data_transfer(
        self, charge_point_id: str, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        handler = self._data_transfer_handlers.get(vendor_id)
        reply = (
            DataTransferReply("UnknownVendorId")
            if handler is None
            else await handler(charge_point_id, message_id, data)
        )
        await self._record_data_transfer(charge_point_id, vendor_id, message_id, data, reply)
        return reply

    @_on_database
    async def _record_data_transfer(
        self,
        charge_point_id: str,
        vendor_id: str,
        message_id: str | None,
        data: str | None,
        reply: DataTransferReply,
    ) -> None:
        async with self._uow() as uow:
            await uow.data_transfers.add(
                charge_point_id,
                vendor_id=vendor_id,
                message_id=message_id,
                data=data,
                status=reply.status,
                at=self._clock.now(),
            )
            await uow.commit()

    @_on_database
    async def diagnostics_status(self, charge_point_id: str, status: str) -> None:
        async with self._uow() as uow:
            await uow.charge_points.set_diagnostics_status(charge_point_id, status)
            await uow.events.add(
                Event(
                    EventKind.DIAGNOSTICS_STATUS,
                    self._clock.now(),
                    charge_point_id,
                    {"status": status},
                )
            )
            await uow.commit()

    @_on_database
    async def firmware_status(self, charge_point_id: str, status: str) -> None:
        async with self._uow() as uow:
            await uow.charge_points.set_firmware_status(charge_point_id, status)
            await uow.events.add(
                Event(
                    EventKind.FIRMWARE_STATUS,
                    self._clock.now(),
                    charge_point_id,
                    {"status": status},
                )
            )
            await uow.commit()

    @_on_database
    async def record_capabilities(
        self, charge_point_id: str, capabilities: ChargerCapabilities
    ) -> None:
        kind = EventKind.CHARGER_CONFIGURED
        async with self._uow() as uow:
            await uow.charge_points.set_capabilities(charge_point_id, capabilities)
            await uow.events.add(
                Event(
                    kind,
                    self._clock.now(),
                    charge_point_id,
                    {
                        "feature_profiles": sorted(capabilities.feature_profiles),
                        "can_display_messages": capabilities.can_display_messages,
                        "refused": capabilities.refused,
                        "why": "read and set at boot for the reservation rule",
                    },
                )
            )
            await uow.commit()

    @_reads_database
    async def capabilities(self, charge_point_id: str) -> ChargerCapabilities | None:
        async with self._uow(read_only=True) as uow:
            charger = await uow.charge_points.get(charge_point_id)
        return None if charger is None else charger.capabilities

    @_reads_database
    async def security(self, charge_point_id: str) -> ChargerSecurity | None:
        """The charger's security profile and keys, read at each of its handshakes."""
        async with self._uow(read_only=True) as uow:
            return await uow.security.get(charge_point_id)

    @_reads_database
    async def held_at_charger(self, charge_point_id: str) -> list[HeldSpace]:
        """What the charger should hold as reservations, read after each of its boots."""
        async with self._uow(read_only=True) as uow:
            return await held_at_charger(uow, charge_point_id, self._clock.now())

    @_on_database
    async def record_event(self, event: Event) -> None:
        async with self._uow() as uow:
            await uow.events.add(event)
            await uow.commit()

    async def _charger(self, uow: UnitOfWork, charge_point_id: str) -> ChargePoint:
        charger = await uow.charge_points.get(charge_point_id)
        if charger is None:
            raise UnknownChargePoint(charge_point_id)
        return charger


@dataclass(frozen=True, slots=True)
class StartOutcome:
    transaction_id: int
    id_tag_info: IdTagInfo
    replayed: bool = False
    reminder: Reminder | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    id_tag_info: IdTagInfo
    reminder: Reminder | None = None


def _verdict(
    decision: Decision, charge_point_id: str, connector_id: int | None, id_tag: str
) -> Verdict:
    if isinstance(decision, Refuse) and decision.remind:
        label = None if decision.space is None else decision.space.label
        if connector_id is None and decision.space is not None:
            connector_id = decision.space.connector_id
        return Verdict(
            decision.id_tag_info,
            Reminder(charge_point_id, connector_id, decision.reason, label, id_tag),
        )
    return Verdict(decision.id_tag_info)


def _decision_event(
    decision: Decision,
    charge_point_id: str,
    id_tag: str,
    now: datetime,
    request: str,
    transaction_id: int | None = None,
) -> Event:
    detail: dict[str, object] = {"request": request, "id_tag": id_tag}
    if transaction_id is not None:
        detail["transaction_id"] = transaction_id
    if decision.space is not None:
        detail["space"] = decision.space.label
    if isinstance(decision, Allow):
        if decision.reservation is not None:
            detail["reservation_id"] = decision.reservation.id
        detail["why"] = "the reserving owner" if decision.reservation else "an unreserved space"
        return Event(EventKind.CHARGING_ALLOWED, now, charge_point_id, detail)
    detail["why"] = decision.reason.value
    detail["status"] = decision.id_tag_info.status.value
    return Event(EventKind.CHARGING_REFUSED, now, charge_point_id, detail)


async def _spaces_at(
    uow: UnitOfWork, charge_point_id: str, connector_id: int | None, now: datetime
) -> list[SpaceAtCharger]:
    """The spaces behind a connector (or the whole charger) and who holds them now."""
    spaces = await uow.spaces.at_charger(charge_point_id, connector_id)
    held = {r.space_id: r for r in await uow.reservations.holding([s.id for s in spaces], now)}
    result = []
    for space in spaces:
        reservation = held.get(space.id)
        tags: frozenset[str] = frozenset()
        groups: frozenset[str] = frozenset()
        if reservation is not None:
            owned = await uow.owners.tags(reservation.owner_id)
            tags = frozenset(t.id_tag for t in owned)
            groups = frozenset(t.parent_id_tag for t in owned if t.parent_id_tag)
        result.append(SpaceAtCharger(space, reservation, tags, groups))
    return result


async def _fulfil(uow: UnitOfWork, transaction: Transaction, now: datetime) -> None:
    """A transaction that charged on a reservation's space fulfils that reservation."""
    reservation = await uow.reservations.for_transaction(transaction.id)
    if reservation is not None and await uow.reservations.set_state(
        reservation.id, ReservationState.FULFILLED, expected=[ReservationState.ACTIVE]
    ):
        await uow.events.add(
            Event(
                EventKind.RESERVATION_FULFILLED,
                now,
                transaction.charge_point_id,
                {
                    "reservation_id": reservation.id,
                    "transaction_id": transaction.id,
                    "why": "its transaction ended",
                },
            )
        )


async def _interpret(
    uow: UnitOfWork, charge_point_id: str, raw: str, now: datetime, where: str
) -> datetime:
    """A charger's timestamp by the policy of ``rules.interpret_timestamp``; flags doubts."""
    timestamp = rules.interpret_timestamp(raw, now)
    if timestamp.problem is not None:
        await uow.events.add(
            Event(
                EventKind.SUSPECT_TIMESTAMP,
                now,
                charge_point_id,
                {
                    "message": where,
                    "timestamp": raw,
                    "why": timestamp.problem.value,
                    "used": timestamp.value.isoformat(),
                },
            )
        )
    return timestamp.value


async def _meter_values(
    uow: UnitOfWork,
    charge_point_id: str,
    values: Sequence[ReportedMeterValue],
    now: datetime,
    where: str = "MeterValues",
) -> list[MeterValue]:
    return [
        MeterValue(
            await _interpret(uow, charge_point_id, value.timestamp_raw, now, where),
            value.sampled_values,
        )
        for value in values
    ]


@dataclass(frozen=True, slots=True)
class ChargePointView:
    charge_point: ChargePoint
    connectors: Sequence[Connector]


@dataclass(frozen=True, slots=True)
class TransactionView:
    transaction: Transaction
    meter_values: Sequence[tuple[MeterValue, str]]


class Operations:
    """What the operator reads and changes."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def charge_points(self, page: Page) -> list[ChargePointView]:
        async with self._uow(read_only=True) as uow:
            chargers = await uow.charge_points.list(page)
            return [
                ChargePointView(cp, await uow.connectors.for_charge_point(cp.id)) for cp in chargers
            ]

    async def charge_point(self, charge_point_id: str) -> ChargePointView:
        async with self._uow(read_only=True) as uow:
            charger = await uow.charge_points.get(charge_point_id)
            if charger is None:
                raise UnknownChargePoint(charge_point_id)
            return ChargePointView(charger, await uow.connectors.for_charge_point(charge_point_id))

    async def put_charge_point(
        self, charge_point_id: str, registration_status: RegistrationStatus
    ) -> tuple[ChargePointView, bool]:
        """Create or update a charger's record; True when it was created."""
        async with self._uow() as uow:
            existing = await uow.charge_points.get(charge_point_id)
            if existing is None:
                await uow.charge_points.add(
                    ChargePoint(id=charge_point_id, registration_status=registration_status)
                )
            else:
                await uow.charge_points.set_registration_status(
                    charge_point_id, registration_status
                )
            await uow.commit()
        return await self.charge_point(charge_point_id), existing is None

    async def delete_charge_point(self, charge_point_id: str) -> None:
        async with self._uow() as uow:
            if not await uow.charge_points.delete(charge_point_id):
                raise UnknownChargePoint(charge_point_id)
            await uow.commit()

    async def put_id_tag(self, tag: IdTag) -> bool:
        """Create or update an idTag; True when it was created."""
        async with self._uow() as uow:
            created = await uow.id_tags.get(tag.id_tag) is None
            await uow.id_tags.put(tag)
            await uow.commit()
        return created

    async def id_tag(self, id_tag: str) -> IdTag | None:
        async with self._uow(read_only=True) as uow:
            return await uow.id_tags.get(id_tag)

    async def id_tags(self, page: Page) -> Sequence[IdTag]:
        async with self._uow(read_only=True) as uow:
            return await uow.id_tags.list(page)

    async def delete_id_tag(self, id_tag: str) -> bool:
        async with self._uow() as uow:
            deleted = await uow.id_tags.delete(id_tag)
            await uow.commit()
        return deleted

    async def transactions(
        self, page: Page, charge_point_id: str | None = None
    ) -> Sequence[Transaction]:
        async with self._uow(read_only=True) as uow:
            return await uow.transactions.list(page, charge_point_id)

    async def transaction(self, transaction_id: int) -> TransactionView | None:
        async with self._uow(read_only=True) as uow:
            transaction = await uow.transactions.get(transaction_id)
            if transaction is None:
                return None
            return TransactionView(
                transaction, await uow.meter_values.for_transaction(transaction_id)
            )

    async def messages(
        self, page: Page, charge_point_id: str | None = None
    ) -> Sequence[LoggedMessage]:
        async with self._uow(read_only=True) as uow:
            return await uow.message_log.list(page, charge_point_id)

    async def events(self, page: Page, charge_point_id: str | None = None) -> Sequence[Event]:
        async with self._uow(read_only=True) as uow:
            return await uow.events.list(page, charge_point_id)


__all__ = [
    "ChargePointView",
    "ChargerSessions",
    "DataTransferHandler",
    "DataTransferReply",
    "Operations",
    "TagStatus",
    "TransactionView",
]

"""One charger's OCPP-J session: the receive loop, our answers, and our commands.

``CentralChargePoint`` is an ``ocpp.v16.ChargePoint``: handlers are declared with
the library's ``@on``/``@after``, payloads are converted by its helpers, frames are
its ``Call``/``CallResult``/``CallError`` and schemas its validators. What it
replaces is the library's message loop, because that loop

* handles each CALL inside the receive loop, so a slow handler delays the answers
  to our own commands, and nothing bounds what a charger can queue;
* answers broken frames with the 2.x spelling and logs them as exceptions;
* lets a reply that arrives after its call timed out wait in a queue;
* keeps waiting for an answer after the connection closed.

Here the receive loop only reads. CALLs go to a bounded inbox served in order by
one worker (so a StatusNotification sent while a StartTransaction is in flight is
answered after it, and per-connector order holds). Answers to our commands are
matched by unique id to the one outstanding call; anything else is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.messages import Call, CallError, CallResult
from ocpp.routing import create_route_map, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from central_system.domain.charging_rule import Reminder
from central_system.domain.errors import (
    ChargerDisconnected,
    CommandFailed,
    CommandPayloadInvalid,
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    InvalidCommandReply,
    UnknownChargePoint,
    UnknownCommand,
)
from central_system.domain.model import (
    Event,
    EventKind,
    LoggedMessage,
    RegistrationStatus,
    StartRequest,
    StopRequest,
)
from central_system.observability import Metrics
from central_system.ports import Clock, FrameLog
from central_system.services import ChargerSessions
from central_system.transport import framing, mapping, validation
from central_system.transport.charger_sync import ChargerSync
from central_system.transport.errors import (
    InternalError,
    OCPPError,
    ProtocolError,
    SecurityError,
    unknown_action,
)
from central_system.transport.reminders import Reminders
from central_system.transport.security import (
    WhitepaperServices,
    redact_frame,
    redact_payload,
)
from central_system.transport.tls import CsrRefused, SigningRequest

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Outstanding:
    unique_id: str
    action: str
    reply: asyncio.Future[CallResult | CallError]


_ROUTES: dict[type[ChargePoint], dict[str, dict[str, Any]]] = {}


def _routes(cls: type[ChargePoint]) -> dict[str, dict[str, Any]]:
    """The library's route map, built once per class: actions to (unbound) handlers."""
    routes = _ROUTES.get(cls)
    if routes is None:
        routes = _ROUTES[cls] = create_route_map(cls)
    return routes


#: Statuses after which a charger no longer holds a reservation on that connector.
_DROPS_RESERVATIONS = frozenset({"Faulted", "Unavailable"})


class CentralChargePoint(ChargePoint):
    def __init__(
        self,
        charge_point_id: str,
        connection: Any,
        *,
        sessions: ChargerSessions,
        message_log: FrameLog,
        metrics: Metrics,
        clock: Clock,
        response_timeout: float = 30.0,
        inbox_size: int = 16,
        command_queue_limit: int = 32,
        reminders: Reminders | None = None,
        sync: ChargerSync | None = None,
        security: WhitepaperServices | None = None,
    ) -> None:
        super().__init__(charge_point_id, connection, response_timeout, logger=logger)
        # The library builds a map of bound handlers and a response queue for every
        # connection. The map is the class's here (handlers are bound on use), and
        # our own receive loop has no use for the queue: kilobytes per idle charger.
        self.route_map = _routes(type(self))
        del self._response_queue
        self._security = security
        self._sessions = sessions
        self._message_log = message_log
        self._metrics = metrics
        self._clock = clock
        self._inbox: asyncio.Queue[tuple[Call, float]] = asyncio.Queue(maxsize=inbox_size)
        self._handling: set[str] = set()
        self._outstanding: _Outstanding | None = None
        self._command_queue_limit = command_queue_limit
        self._commands_waiting = 0
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reminders = reminders
        self._sync = sync
        #: ``CustomDisplayCostAndPrice`` as read at boot; None until known.
        self.can_display: bool | None = None
        self._after_reply: list[Coroutine[Any, Any, None]] = []
        #: The model from the last BootNotification: picks how reminders are displayed.
        self.model: str | None = None
        #: Each connector's last status on this connection (a boot re-issues on its own).
        self._statuses: dict[int, str] = {}

    # ----------------------------------------------------------------- lifecycle

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Serve the connection until it closes; then finish what was received."""
        worker = asyncio.create_task(self._work(), name=f"ocpp-worker-{self.id}")
        try:
            while True:
                try:
                    raw = await self._connection.recv()
                except ConnectionClosed:
                    break
                await self._receive(raw)
        finally:
            self._closed = True
            if self._outstanding is not None and not self._outstanding.reply.done():
                self._outstanding.reply.set_exception(ChargerDisconnected(self.id))
            await self._inbox.join()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def close(self, code: int, reason: str) -> None:
        await self._connection.close(code, reason)

    async def settled(self) -> None:
        """Wait for the work started after answers (reminders, boot configuration)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        """Run work after an answer (``@after``) without losing the task."""
        task = asyncio.create_task(coroutine, name=f"{name}-{self.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------- receive side

    async def _receive(self, raw: str | bytes) -> None:
        frame = framing.parse(raw)
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        outstanding = self._outstanding
        if (
            isinstance(frame, CallResult | CallError)
            and outstanding is not None
            and outstanding.unique_id == frame.unique_id
        ):
            frame.action = outstanding.action  # so the message log names the answer
        await self._log_frame("in", frame, text)
        if isinstance(frame, Call):
            if frame.unique_id in self._handling:
                await self._send_error(
                    frame.unique_id,
                    ProtocolError(
                        details={"cause": "a call with this unique id is being handled already"}
                    ),
                    frame.action,
                )
                return
            self._handling.add(frame.unique_id)
            await self._inbox.put((frame, time.perf_counter()))
        elif isinstance(frame, CallResult | CallError):
            self._resolve(frame)
        elif isinstance(frame, framing.BrokenCall):
            logger.info("broken frame answered with %s: %s", frame.error.code, frame.error.details)
            await self._send_error(frame.unique_id, frame.error, frame.action or "(unreadable)")
        elif isinstance(frame, framing.BrokenReply):
            logger.warning("unreadable reply dropped (%s)", frame.reason)
            self._metrics.messages.labels("in", "(reply)", "broken").inc()
            outstanding = self._outstanding
            if (
                outstanding is not None
                and outstanding.unique_id == frame.unique_id
                and not outstanding.reply.done()  # answered (or timed out) already
            ):
                outstanding.reply.set_exception(
                    InvalidCommandReply(outstanding.action, frame.reason, text)
                )
        else:
            logger.info("frame with unknown MessageTypeId %s ignored", frame.message_type)
            self._metrics.messages.labels("in", "(unknown)", "ignored").inc()

    def _resolve(self, reply: CallResult | CallError) -> None:
        outstanding = self._outstanding
        if (
            outstanding is None
            or outstanding.unique_id != reply.unique_id
            or outstanding.reply.done()
        ):
            logger.warning("reply %s matches no outstanding call; dropped", reply.unique_id)
            self._metrics.messages.labels("in", "(reply)", "unmatched").inc()
            return
        outstanding.reply.set_result(reply)

    async def _work(self) -> None:
        while True:
            call, received = await self._inbox.get()
            try:
                await self._handle(call, received)
            finally:
                self._handling.discard(call.unique_id)
                self._inbox.task_done()

    async def _handle(self, call: Call, received: float) -> None:
        handlers = self.route_map.get(call.action, {})
        handler = handlers.get("_on_action")
        if handler is None:
            await self._send_error(
                call.unique_id,
                unknown_action(call.action, known_to_ocpp16=call.action in validation.ALL_ACTIONS),
                call.action,
            )
            return
        try:
            checked = validation.check_call(call.action, call.payload)
        except OCPPError as error:
            logger.info("%s refused: %s %s", call.action, error.code, error.details)
            await self._send_error(call.unique_id, error, call.action)
            return
        if checked.quirks:
            await self._sessions.record_event(
                Event(
                    EventKind.SCHEMA_QUIRK_ACCEPTED,
                    self._clock.now(),
                    self.id,
                    {"action": call.action, "unique_id": call.unique_id, "quirks": checked.quirks},
                )
            )
        snake_payload = mapping.to_snake_case(checked.payload)
        for pending in self._after_reply:
            pending.close()
        self._after_reply = []
        try:
            result = await handler(self, **snake_payload)
            payload = mapping.to_camel_case(remove_nones(serialize_as_dict(result)))
            invalid = validation.check_reply(call.action, payload)
            if invalid is not None:
                raise RuntimeError(f"our {call.action} answer breaks the schema: {invalid}")
        except OCPPError as error:
            await self._send_error(call.unique_id, error, call.action)
            return
        except UnknownChargePoint as error:
            await self._send_error(
                call.unique_id, SecurityError(details={"cause": str(error)}), call.action
            )
            return
        except Exception:
            logger.exception("handling %s %s failed", call.action, call.unique_id)
            await self._send_error(
                call.unique_id, InternalError(details={"cause": "see the server log"}), call.action
            )
            return
        await self._send_frame(CallResult(call.unique_id, payload, call.action), "result")
        self._metrics.reply_latency.labels(call.action).observe(time.perf_counter() - received)
        work, self._after_reply = self._after_reply, []
        for coroutine in work:
            self.spawn(coroutine, f"after-{call.action}")
        after = handlers.get("_after_action")
        if after is not None:
            self.spawn(after(self, **snake_payload), f"after-{call.action}")

    # ----------------------------------------------------------------- commands

    async def send_command(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CS-initiated CALL and return the charger's CALLRESULT payload.

        One call is outstanding per charger; further ones wait their turn (at most
        ``command_queue_limit`` of them). Raises the ``CommandFailed`` family.
        """
        if action not in validation.CENTRAL_SYSTEM_ACTIONS:
            raise UnknownCommand(action)
        invalid = validation.check_outgoing(action, payload)
        if invalid is not None:
            raise CommandPayloadInvalid(action, invalid.code, invalid.details)
        if self._closed:
            raise ChargerDisconnected(self.id)
        if self._commands_waiting >= self._command_queue_limit:
            raise CommandQueueFull(self.id)
        self._commands_waiting += 1
        try:
            async with self._call_lock:
                reply = await self._exchange(action, payload)
        finally:
            self._commands_waiting -= 1
        if isinstance(reply, CallError):
            raise CommandRejected(reply.error_code, reply.error_description, reply.error_details)
        invalid = validation.check_reply(action, reply.payload)
        if invalid is not None:
            raise InvalidCommandReply(action, str(invalid.details.get("cause")), reply.payload)
        # AuthorizationKey is write-only: a charger that reads it back is not echoed.
        result: dict[str, Any] = redact_payload(action, reply.payload, reply=True)
        return result

    async def _exchange(self, action: str, payload: dict[str, Any]) -> CallResult | CallError:
        if self._closed:
            raise ChargerDisconnected(self.id)
        call = Call(unique_id=str(self._unique_id_generator()), action=action, payload=payload)
        outstanding = _Outstanding(
            call.unique_id, action, asyncio.get_running_loop().create_future()
        )
        self._outstanding = outstanding
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                await self._send_frame(call, "call", raise_closed=True)
            except ConnectionClosed:
                raise ChargerDisconnected(self.id) from None
            try:
                reply = await asyncio.wait_for(outstanding.reply, self._response_timeout)
            except TimeoutError:
                outcome = "timeout"
                raise CommandTimeout(action, self._response_timeout) from None
            outcome = "result" if isinstance(reply, CallResult) else "callerror"
            return reply
        finally:
            # A reply that arrives from now on matches nothing and is dropped.
            self._outstanding = None
            self._metrics.command_latency.labels(action, outcome).observe(
                time.perf_counter() - started
            )

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """The library's ``call`` on top of ``send_command``: dataclass in, dataclass out.

        ``suppress`` is ignored: failures always raise (a swallowed CallError is a lost one).
        """
        action = payload.__class__.__name__
        request = mapping.to_camel_case(remove_nones(serialize_as_dict(payload)))
        answer = await self.send_command(action, request)
        return getattr(call_result, action)(**mapping.to_snake_case(answer))

    # ------------------------------------------------------------------ sending

    async def _send_error(self, unique_id: str, error: OCPPError, action: str) -> None:
        frame = CallError(unique_id, error.code, error.description, error.details or {})
        self._metrics.messages.labels("out", action, error.code).inc()
        await self._send_frame(frame, None)

    async def _send_frame(
        self,
        frame: Call | CallResult | CallError,
        outcome: str | None,
        *,
        raise_closed: bool = False,
    ) -> None:
        text = frame.to_json()
        if outcome is not None:
            self._metrics.messages.labels(
                "out", getattr(frame, "action", None) or "-", outcome
            ).inc()
        await self._log_frame("out", frame, text)
        try:
            await self._connection.send(text)
        except ConnectionClosed:
            if raise_closed:
                raise
            logger.info("connection closed before %s could be sent", type(frame).__name__)

    async def _log_frame(self, direction: str, frame: framing.Frame, text: str) -> None:
        message_type: int | None
        action: str | None = None
        unique_id: str | None = None
        if isinstance(frame, Call | CallResult | CallError):
            message_type = frame.message_type_id
            unique_id = frame.unique_id
            action = getattr(frame, "action", None)
        elif isinstance(frame, framing.BrokenCall):
            message_type, unique_id, action = frame.message_type, frame.unique_id, frame.action
        elif isinstance(frame, framing.Ignored):
            message_type = frame.message_type
        else:
            message_type, unique_id = None, frame.unique_id
        if direction == "in" and isinstance(frame, Call):
            self._metrics.messages.labels("in", frame.action, "call").inc()
        await self._message_log.record(
            LoggedMessage(
                charge_point_id=self.id,
                direction=direction,
                message_type=message_type,
                action=action,
                unique_id=unique_id,
                payload=redact_frame(frame, text),
                at=self._clock.now(),
            )
        )

    # ------------------------------------------------------------------ handlers

    @on(Action.boot_notification)
    async def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        info = mapping.boot_info(payload)
        self.model = info.model
        decision = await self._sessions.boot(self.id, info)
        if decision.status is RegistrationStatus.ACCEPTED and self._sync is not None:
            self._after_reply.append(self._after_boot())
        return call_result.BootNotification(
            current_time=mapping.ocpp_time(decision.current_time),
            interval=decision.interval,
            status=decision.status.value,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        now = await self._sessions.heartbeat(self.id)
        return call_result.Heartbeat(current_time=mapping.ocpp_time(now))

    @on(Action.status_notification)
    async def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        report = mapping.connector_status(payload)
        reminder = await self._sessions.status_notification(self.id, report)
        self._remind_after_reply(reminder)
        before = self._statuses.get(report.connector_id)
        self._statuses[report.connector_id] = report.status
        if (
            report.status == "Available"
            and before in _DROPS_RESERVATIONS
            and report.connector_id > 0
            and self._sync is not None
        ):
            # The charger dropped what it held on this connector: hold it again.
            self._after_reply.append(self._sync.connector_available(self.id, report.connector_id))
        return call_result.StatusNotification()

    def _remind_after_reply(self, reminder: Reminder | None) -> None:
        if reminder is not None and self._reminders is not None:
            self._after_reply.append(
                self._reminders.remind(self, self.model, self.can_display, reminder)
            )

    async def _after_boot(self) -> None:
        assert self._sync is not None
        capabilities = await self._sync.after_boot(self.id)
        if capabilities is not None:
            self.can_display = capabilities.can_display_messages

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        verdict = await self._sessions.authorize(self.id, id_tag)
        self._remind_after_reply(verdict.reminder)
        return call_result.Authorize(id_tag_info=mapping.id_tag_info(verdict.id_tag_info))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> call_result.StartTransaction:
        outcome = await self._sessions.start_transaction(
            self.id,
            StartRequest(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp_raw=timestamp,
                reservation_id=reservation_id,
            ),
        )
        self._remind_after_reply(outcome.reminder)
        return call_result.StartTransaction(
            transaction_id=outcome.transaction_id,
            id_tag_info=mapping.id_tag_info(outcome.id_tag_info),
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        timestamp: str,
        id_tag: str | None = None,
        reason: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
    ) -> call_result.StopTransaction:
        info = await self._sessions.stop_transaction(
            self.id,
            StopRequest(
                transaction_id=transaction_id,
                meter_stop=meter_stop,
                timestamp_raw=timestamp,
                id_tag=id_tag,
                reason=reason,
                transaction_data=mapping.meter_values(transaction_data or ()),
            ),
        )
        return call_result.StopTransaction(
            id_tag_info=None if info is None else mapping.id_tag_info(info)
        )

    @on(Action.meter_values)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
    ) -> call_result.MeterValues:
        await self._sessions.meter_values(
            self.id, connector_id, transaction_id, mapping.meter_values(meter_value)
        )
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        reply = await self._sessions.data_transfer(self.id, vendor_id, message_id, data)
        return call_result.DataTransfer(status=reply.status, data=reply.data)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(
        self, status: str
    ) -> call_result.DiagnosticsStatusNotification:
        await self._sessions.diagnostics_status(self.id, status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
        self, status: str
    ) -> call_result.FirmwareStatusNotification:
        await self._sessions.firmware_status(self.id, status)
        return call_result.FirmwareStatusNotification()

    # ------------------------------------------ security whitepaper (docs/security.md)

    @on(Action.security_event_notification)
    async def on_security_event_notification(
        self, **payload: Any
    ) -> call_result.SecurityEventNotification:
        # Always confirmed (A04.FR.03): chargers resend unconfirmed critical events.
        event_type, timestamp = payload["type"], payload["timestamp"]
        if self._security is None:
            logger.warning("security event %s not stored: no security services", event_type)
        else:
            await self._security.notices.security_event(
                self.id, event_type, timestamp, payload.get("tech_info")
            )
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str) -> call_result.SignCertificate:
        security = self._security
        if security is None or security.authority is None:
            return call_result.SignCertificate(status="Rejected")
        names = await security.credentials.certificate_names(
            self.id, security.authority.certificate_name
        )
        try:
            request = security.authority.check(csr, names)
        except CsrRefused as refused:
            await security.notices.certificate(self.id, signed=False, detail={"why": str(refused)})
            return call_result.SignCertificate(status="Rejected")
        self._after_reply.append(self._issue_certificate(request))
        return call_result.SignCertificate(status="Accepted")

    async def _issue_certificate(self, request: SigningRequest) -> None:
        """Sign the CSR with the signing CA and send the chain in CertificateSigned."""
        security = self._security
        assert security is not None
        assert security.authority is not None
        issued = await security.authority.sign(request, self._clock.now())
        detail: dict[str, object] = {
            "common_name": issued.common_name,
            "serial_number": issued.serial_number,
            "not_after": issued.not_after.isoformat(),
        }
        try:
            answer = await self.send_command(
                "CertificateSigned", {"certificateChain": issued.chain}
            )
        except CommandFailed as error:
            detail["why"] = f"CertificateSigned failed: {error}"
            await security.notices.certificate(self.id, signed=False, detail=detail)
            return
        detail["status"] = answer.get("status")
        await security.notices.certificate(
            self.id, signed=answer.get("status") == "Accepted", detail=detail
        )

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, status: str, request_id: int | None = None
    ) -> call_result.LogStatusNotification:
        if self._security is not None:
            await self._security.notices.log_status(self.id, status, request_id)
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(
        self, status: str, request_id: int | None = None
    ) -> call_result.SignedFirmwareStatusNotification:
        if self._security is not None:
            await self._security.notices.signed_firmware_status(self.id, status, request_id)
        return call_result.SignedFirmwareStatusNotification()


ChargePointFactory = Callable[[str, Any], CentralChargePoint]

"""The OCPP side of a simulated charger: ``SimulatedChargePoint(ocpp.v16.ChargePoint)``.

One instance lives as long as one WebSocket connection; the charger behind it
(``Device``, implemented by ``station.Station``) outlives reconnections.

Each ``@on`` handler asks the pure charger for the answer and returns it at once.
Messages that follow from a command (a StartTransaction after a RemoteStart, a
StatusNotification after ReserveNow...) must reach the central system *after* the
answer, and a handler must never wait for a call of its own: the library's
receive loop is blocked inside the handler, so the reply would never be read.
They are therefore held back until the matching ``@after`` hook, which the
library runs once the answer has been sent.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from simulators import display
from simulators.charger import Charger, Effect, Note, Queue, Send, Show
from simulators.clock import parse_time
from simulators.config_store import ChangeStatus, ConfigStore, authorization_password

logger = logging.getLogger(__name__)


class Device(Protocol):
    """What the protocol adapter needs from the charger it speaks for."""

    @property
    def charger(self) -> Charger: ...

    @property
    def config(self) -> ConfigStore: ...

    @property
    def display_vendors(self) -> Collection[str]: ...

    def now(self) -> datetime: ...

    def apply(self, effects: Sequence[Effect]) -> None: ...

    def request_reboot(self, *, hard: bool) -> None: ...

    def password_changed(self, password: bytes) -> None: ...


class SimulatedChargePoint(ChargePoint):
    def __init__(
        self, device: Device, charge_point_id: str, connection: Any, *, response_timeout: float
    ) -> None:
        super().__init__(charge_point_id, connection, response_timeout, logger=logger)
        self._device = device
        self._held: dict[str, list[Effect]] = {}

    # --------------------------------------------------------------- plumbing

    def _answer(
        self,
        unique_id: str,
        action: str,
        request: Mapping[str, Any],
        answer: Mapping[str, Any],
        effects: Sequence[Effect] = (),
    ) -> None:
        """Record the command; show what is local now, hold messages for ``@after``."""
        now_effects: list[Effect] = [
            Note("command", {"action": action, "request": dict(request), "answer": dict(answer)})
        ]
        held: list[Effect] = []
        for effect in effects:
            (held if isinstance(effect, Send | Queue) else now_effects).append(effect)
        self._device.apply(now_effects)
        if held:
            self._held[unique_id] = held

    def _release(self, unique_id: str) -> None:
        held = self._held.pop(unique_id, None)
        if held:
            self._device.apply(held)

    # ------------------------------------------------------------ configuration

    @on(Action.get_configuration)
    async def on_get_configuration(
        self, call_unique_id: str, key: list[str] | None = None
    ) -> call_result.GetConfiguration:
        known, unknown = self._device.config.get(key)
        self._answer(
            call_unique_id,
            "GetConfiguration",
            {"key": key},
            {"known": len(known), "unknown": unknown},
        )
        return call_result.GetConfiguration(
            configuration_key=known or None, unknown_key=unknown or None
        )

    @on(Action.change_configuration)
    async def on_change_configuration(
        self, call_unique_id: str, key: str, value: str
    ) -> call_result.ChangeConfiguration:
        status = self._device.config.change(key, value)
        if key == "AuthorizationKey" and status is ChangeStatus.ACCEPTED:
            password = authorization_password(value)
            assert password is not None  # the store accepted it
            self._device.password_changed(password)
        shown = "********" if key == "AuthorizationKey" else value
        self._answer(
            call_unique_id,
            "ChangeConfiguration",
            {"key": key, "value": shown},
            {"status": status.value},
        )
        return call_result.ChangeConfiguration(status=status.value)

    # ------------------------------------------------------------- transactions

    @on(Action.remote_start_transaction)
    async def on_remote_start_transaction(
        self,
        call_unique_id: str,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: Any = None,
    ) -> call_result.RemoteStartTransaction:
        status, effects = self._device.charger.remote_start(
            id_tag, connector_id, self._device.now()
        )
        request = {"id_tag": id_tag, "connector_id": connector_id}
        self._answer(call_unique_id, "RemoteStartTransaction", request, {"status": status}, effects)
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    async def after_remote_start_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop_transaction(
        self, call_unique_id: str, transaction_id: int
    ) -> call_result.RemoteStopTransaction:
        status, effects = self._device.charger.remote_stop(transaction_id, self._device.now())
        self._answer(
            call_unique_id,
            "RemoteStopTransaction",
            {"transaction_id": transaction_id},
            {"status": status},
            effects,
        )
        return call_result.RemoteStopTransaction(status=status)

    @after(Action.remote_stop_transaction)
    async def after_remote_stop_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    @on(Action.unlock_connector)
    async def on_unlock_connector(
        self, call_unique_id: str, connector_id: int
    ) -> call_result.UnlockConnector:
        status, effects = self._device.charger.unlock_connector(connector_id, self._device.now())
        self._answer(
            call_unique_id,
            "UnlockConnector",
            {"connector_id": connector_id},
            {"status": status},
            effects,
        )
        return call_result.UnlockConnector(status=status)

    @after(Action.unlock_connector)
    async def after_unlock_connector(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    # ------------------------------------------------------------- reservations

    @on(Action.reserve_now)
    async def on_reserve_now(
        self,
        call_unique_id: str,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> call_result.ReserveNow:
        expiry = parse_time(expiry_date)
        status, effects = (
            ("Rejected", [])
            if expiry is None
            else self._device.charger.reserve_now(
                connector_id, expiry, id_tag, parent_id_tag, reservation_id, self._device.now()
            )
        )
        request = {
            "connector_id": connector_id,
            "expiry_date": expiry_date,
            "id_tag": id_tag,
            "parent_id_tag": parent_id_tag,
            "reservation_id": reservation_id,
        }
        self._answer(call_unique_id, "ReserveNow", request, {"status": status}, effects)
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    async def after_reserve_now(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(
        self, call_unique_id: str, reservation_id: int
    ) -> call_result.CancelReservation:
        status, effects = self._device.charger.cancel_reservation(
            reservation_id, self._device.now()
        )
        self._answer(
            call_unique_id,
            "CancelReservation",
            {"reservation_id": reservation_id},
            {"status": status},
            effects,
        )
        return call_result.CancelReservation(status=status)

    @after(Action.cancel_reservation)
    async def after_cancel_reservation(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    # ----------------------------------------------------------------- the box

    @on(Action.reset)
    async def on_reset(self, call_unique_id: str, type: str) -> call_result.Reset:
        status, effects = self._device.charger.reset(type, self._device.now())
        self._answer(call_unique_id, "Reset", {"type": type}, {"status": status}, effects)
        return call_result.Reset(status=status)

    @after(Action.reset)
    async def after_reset(self, call_unique_id: str, type: str, **_: Any) -> None:
        self._release(call_unique_id)
        self._device.request_reboot(hard=type == "Hard")

    @on(Action.change_availability)
    async def on_change_availability(
        self, call_unique_id: str, connector_id: int, type: str
    ) -> call_result.ChangeAvailability:
        status, effects = self._device.charger.change_availability(
            connector_id, type, self._device.now()
        )
        self._answer(
            call_unique_id,
            "ChangeAvailability",
            {"connector_id": connector_id, "type": type},
            {"status": status},
            effects,
        )
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    async def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    @on(Action.trigger_message)
    async def on_trigger_message(
        self, call_unique_id: str, requested_message: str, connector_id: int | None = None
    ) -> call_result.TriggerMessage:
        status, effects = self._device.charger.trigger_message(
            requested_message, connector_id, self._device.now()
        )
        self._answer(
            call_unique_id,
            "TriggerMessage",
            {"requested_message": requested_message, "connector_id": connector_id},
            {"status": status},
            effects,
        )
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self._release(call_unique_id)

    @on(Action.clear_cache)
    async def on_clear_cache(self, call_unique_id: str) -> call_result.ClearCache:
        status = self._device.charger.clear_cache()
        self._answer(call_unique_id, "ClearCache", {}, {"status": status})
        return call_result.ClearCache(status=status)

    @on(Action.data_transfer)
    async def on_data_transfer(
        self,
        call_unique_id: str,
        vendor_id: str,
        message_id: str | None = None,
        data: str | None = None,
    ) -> call_result.DataTransfer:
        verdict = display.interpret(
            vendor_id,
            message_id,
            data,
            self._device.display_vendors,
            costmsg=self._device.config.flag("CustomDisplayCostAndPrice"),
        )
        effects: list[Effect] = [] if verdict.text is None else [Show(verdict.text)]
        self._answer(
            call_unique_id,
            "DataTransfer",
            {"vendor_id": vendor_id, "message_id": message_id, "data": data},
            {"status": verdict.status.value},
            effects,
        )
        return call_result.DataTransfer(status=verdict.status.value)

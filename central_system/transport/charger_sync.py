"""Keeps what a charger holds in line with the rule: its configuration, its reservations.

* After an accepted BootNotification: read the configuration (GetConfiguration),
  keep its capabilities, and set what the rule needs (``rules.configuration_for_the_rule``)
  with ChangeConfiguration, recording every key the charger refuses.
* Where the charger has the Reservation profile, mirror each reservation held on
  one of its spaces with ReserveNow, and undo it with CancelReservation when the
  reservation is cancelled, expires or ends. Chargers drop reservations on a
  reboot or a fault, so they are re-issued after every boot and when a connector
  comes back Available from Faulted or Unavailable while the window is open.

Every exchange is a command after the reply, never inside a handler. Failures are
recorded as events for the operator, not retried in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from central_system.domain import rules
from central_system.domain.errors import CentralSystemError
from central_system.domain.garage import ReservationState
from central_system.domain.model import ChargerCapabilities, Event, EventKind
from central_system.ports import ChargerCommands, Clock
from central_system.reservations import Garage, HeldSpace, Transition
from central_system.services import ChargerSessions
from central_system.transport.mapping import ocpp_time

logger = logging.getLogger(__name__)

_UNDONE = (ReservationState.CANCELLED, ReservationState.EXPIRED, ReservationState.FULFILLED)

#: Chargers configured at once after their boot. In a reconnect storm every charger
#: boots together; answering their BootNotifications comes first, configuring them
#: (several commands each) follows in this many lanes.
CONFIGURING_AT_ONCE = 32


class ChargerSync:
    def __init__(
        self,
        *,
        commands: ChargerCommands,
        sessions: ChargerSessions,
        garage: Garage,
        clock: Clock,
        configuring_at_once: int = CONFIGURING_AT_ONCE,
    ) -> None:
        self._configuring = asyncio.Semaphore(configuring_at_once)
        self._commands = commands
        self._sessions = sessions
        self._garage = garage
        self._clock = clock

    async def _event(self, kind: EventKind, charge_point_id: str, **detail: Any) -> None:
        await self._sessions.record_event(Event(kind, self._clock.now(), charge_point_id, detail))

    # ---------------------------------------------------------------- at boot

    async def after_boot(self, charge_point_id: str) -> ChargerCapabilities | None:
        async with self._configuring:
            capabilities = await self.configure(charge_point_id)
            if capabilities is not None and capabilities.supports_reservations:
                for held in await self._sessions.held_at_charger(charge_point_id):
                    await self.reserve(charge_point_id, held)
        return capabilities

    async def configure(self, charge_point_id: str) -> ChargerCapabilities | None:
        try:
            answer = await self._commands.send(charge_point_id, "GetConfiguration", {})
        except CentralSystemError as error:
            await self._event(
                EventKind.CHARGER_NOT_CONFIGURED, charge_point_id, why=f"GetConfiguration: {error}"
            )
            return None
        keys = answer.get("configurationKey") or []
        configuration: dict[str, str | None] = {k["key"]: k.get("value") for k in keys}
        read_only = {k["key"] for k in keys if k.get("readonly")}
        capabilities = rules.read_capabilities(configuration)
        refused: dict[str, str] = {}
        for key, value in rules.configuration_for_the_rule(capabilities).items():
            current = configuration.get(key)
            if current is not None and current.strip().lower() == value:
                continue
            if key in read_only:
                refused[key] = "ReadOnly"
                continue
            try:
                changed = await self._commands.send(
                    charge_point_id, "ChangeConfiguration", {"key": key, "value": value}
                )
            except CentralSystemError as error:
                refused[key] = type(error).__name__
                continue
            if changed.get("status") == "Accepted":
                configuration[key] = value
            else:
                refused[key] = str(changed.get("status"))
        capabilities = replace(capabilities, configuration=configuration, refused=refused)
        await self._sessions.record_capabilities(charge_point_id, capabilities)
        return capabilities

    # ----------------------------------------------------------- reservations

    async def on_transition(self, transition: Transition) -> None:
        charge_point_id = transition.space.charge_point_id
        if charge_point_id is None or not self._commands.is_connected(charge_point_id):
            return  # re-issued at its next boot
        capabilities = await self._sessions.capabilities(charge_point_id)
        if capabilities is None or not capabilities.supports_reservations:
            return
        if transition.to is ReservationState.ACTIVE:
            await self.reserve(charge_point_id, await self._garage.held_space(transition))
        elif transition.to in _UNDONE and transition.reservation.state is ReservationState.ACTIVE:
            await self.cancel(charge_point_id, transition.reservation.id)

    async def connector_available(self, charge_point_id: str, connector_id: int) -> None:
        """A connector is Available again: re-issue a reservation the charger dropped."""
        capabilities = await self._sessions.capabilities(charge_point_id)
        if capabilities is None or not capabilities.supports_reservations:
            return
        for held in await self._sessions.held_at_charger(charge_point_id):
            if held.space.connector_id == connector_id and held.reservation.transaction_id is None:
                await self.reserve(charge_point_id, held)

    async def reserve(self, charge_point_id: str, held: HeldSpace) -> None:
        reservation = held.reservation
        if held.id_tag is None or held.space.connector_id is None:
            await self._event(
                EventKind.RESERVATION_NOT_MIRRORED,
                charge_point_id,
                reservation_id=reservation.id,
                why="the owner has no accepted tag",
            )
            return
        payload: dict[str, Any] = {
            "connectorId": held.space.connector_id,
            "expiryDate": ocpp_time(reservation.ends_at),
            "idTag": held.id_tag,
            "reservationId": reservation.id,
        }
        if held.parent_id_tag:
            payload["parentIdTag"] = held.parent_id_tag
        await self._exchange(charge_point_id, "ReserveNow", payload, reservation.id)

    async def cancel(self, charge_point_id: str, reservation_id: int) -> None:
        await self._exchange(
            charge_point_id, "CancelReservation", {"reservationId": reservation_id}, reservation_id
        )

    async def _exchange(
        self, charge_point_id: str, action: str, payload: dict[str, Any], reservation_id: int
    ) -> None:
        try:
            answer = await self._commands.send(charge_point_id, action, payload)
        except CentralSystemError as error:
            status = type(error).__name__
        else:
            status = str(answer.get("status"))
        kind = (
            EventKind.RESERVATION_MIRRORED
            if status == "Accepted"
            else EventKind.RESERVATION_NOT_MIRRORED
        )
        await self._event(
            kind, charge_point_id, action=action, reservation_id=reservation_id, status=status
        )

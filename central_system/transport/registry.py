"""Which connection speaks for which charger (the newest one, always)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from central_system.domain.errors import (
    ChargerNotConnected,
    CommandPayloadInvalid,
    UnknownCommand,
)
from central_system.transport import validation
from central_system.transport.charge_point import CentralChargePoint

logger = logging.getLogger(__name__)


class RegistryListener(Protocol):
    """Told when a connection becomes, or stops being, a charger's (cluster ownership)."""

    def registered(self, charge_point: CentralChargePoint) -> None: ...
    def unregistered(self, charge_point: CentralChargePoint) -> None: ...


class ConnectionRegistry:
    def __init__(self, listener: RegistryListener | None = None) -> None:
        self._by_id: dict[str, CentralChargePoint] = {}
        self._listener = listener

    def register(self, charge_point: CentralChargePoint) -> CentralChargePoint | None:
        """Make this the charger's connection; returns the one it replaces."""
        previous = self._by_id.get(charge_point.id)
        self._by_id[charge_point.id] = charge_point
        if self._listener is not None:
            self._listener.registered(charge_point)
        return previous

    def unregister(self, charge_point: CentralChargePoint) -> bool:
        """Forget this connection, unless a newer one has already replaced it."""
        if self._by_id.get(charge_point.id) is charge_point:
            del self._by_id[charge_point.id]
            if self._listener is not None:
                self._listener.unregistered(charge_point)
            return True
        return False

    def get(self, charge_point_id: str) -> CentralChargePoint | None:
        return self._by_id.get(charge_point_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, charge_point_id: object) -> bool:
        return charge_point_id in self._by_id


class ConnectedChargers:
    """``ports.ChargerCommands`` for the chargers connected to this process."""

    def __init__(self, registry: ConnectionRegistry) -> None:
        self._registry = registry

    def _live(self, charge_point_id: str) -> CentralChargePoint | None:
        """The charger's connection, unless it has closed (its cleanup may still be running)."""
        charge_point = self._registry.get(charge_point_id)
        return None if charge_point is None or charge_point.closed else charge_point

    def is_connected(self, charge_point_id: str) -> bool:
        return self._live(charge_point_id) is not None

    async def send(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Checks the action, then the payload, then that the charger is here."""
        if action not in validation.CENTRAL_SYSTEM_ACTIONS:
            raise UnknownCommand(action)
        invalid = validation.check_outgoing(action, payload)
        if invalid is not None:
            raise CommandPayloadInvalid(action, invalid.code, invalid.details)
        charge_point = self._live(charge_point_id)
        if charge_point is None:
            raise ChargerNotConnected(charge_point_id)
        return await charge_point.send_command(action, payload)

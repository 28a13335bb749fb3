"""``ClusterCommands``: the ``ChargerCommands`` port of a cluster node.

The same checks, in the same order, and the same errors as ``ConnectedChargers``
on one node: the action, the payload, then where the charger is. A charger held
here gets the command directly; one held elsewhere gets it through its node.

A command goes to one node only. If that node answers ``ChargerNotConnected``
(nothing reached a charger there: it had just left), the owner is read again and,
if the charger has moved, the command follows it once. Any other failure is the
caller's, as on one node: in particular ``ChargerDisconnected`` when the charger
left while its node was sending, which is never retried (it may have arrived).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

from central_system.cluster.node import ClusterNode
from central_system.cluster.wire import Owner
from central_system.domain.errors import (
    ChargerNotConnected,
    CommandPayloadInvalid,
    UnknownCommand,
)
from central_system.ports import ChargerCommands
from central_system.transport import validation

logger = logging.getLogger(__name__)


class ClusterCommands:
    def __init__(self, node: ClusterNode, local: ChargerCommands) -> None:
        self._node = node
        self._local = local

    def is_connected(self, charge_point_id: str) -> bool:
        return self._local.is_connected(charge_point_id) or self._node.held_elsewhere(
            charge_point_id
        )

    async def send(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        if self._local.is_connected(charge_point_id):
            return await self._send_here(charge_point_id, action, payload)
        if action not in validation.CENTRAL_SYSTEM_ACTIONS:
            raise UnknownCommand(action)
        invalid = validation.check_outgoing(action, payload)
        if invalid is not None:
            raise CommandPayloadInvalid(action, invalid.code, invalid.details)
        tried: Owner | None = None
        while True:
            try:
                owner = await self._node.owner_of(charge_point_id)
            except RedisError as error:
                logger.error("cannot find the node of %s: Redis: %s", charge_point_id, error)
                raise ChargerNotConnected(charge_point_id) from error
            if owner is not None and owner.node == self._node.node_id:
                if self._local.is_connected(charge_point_id):  # connected meanwhile
                    return await self._send_here(charge_point_id, action, payload)
                owner = None  # its socket here is closing
            if owner is None or owner == tried:
                raise ChargerNotConnected(charge_point_id)
            try:
                return await self._node.request(owner, charge_point_id, action, payload)
            except ChargerNotConnected:
                if tried is not None:
                    raise
                tried = owner
            except RedisError as error:
                logger.error("cannot reach node %s: Redis: %s", owner.node, error)
                raise ChargerNotConnected(charge_point_id) from error

    async def _send_here(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        async with self._node.in_flight():
            return await self._local.send(charge_point_id, action, payload)

"""Test chargers: one built on the ``ocpp`` library, and a raw frame socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect


class LibraryCharger(ChargePoint):  # type: ignore[misc]
    """A plain ``ocpp``-library charger that records every command it receives."""

    def __init__(self, charge_point_id: str, connection: ClientConnection) -> None:
        super().__init__(charge_point_id, connection, response_timeout=5)
        self.received: list[tuple[str, dict[str, Any]]] = []
        #: GetConfiguration/ChangeConfiguration, which follow every accepted boot.
        self.configuration_requests: list[tuple[str, dict[str, Any]]] = []
        self.command_received = asyncio.Event()
        self.answers: dict[str, dict[str, Any]] = {}
        #: key -> (value, read-only): a charger with neither a cache nor reservations.
        self.configuration: dict[str, tuple[str, bool]] = {
            "HeartbeatInterval": ("300", False),
            "SupportedFeatureProfiles": ("Core,RemoteTrigger", True),
            "CustomDisplayCostAndPrice": ("true", True),
            "LocalPreAuthorize": ("true", False),
            "LocalAuthorizeOffline": ("true", False),
            "StopTransactionOnInvalidId": ("false", False),
            "AuthorizationCacheEnabled": ("false", True),
        }

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        self.command_received.set()

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, **payload: Any) -> call_result.RemoteStartTransaction:
        self._record("RemoteStartTransaction", payload)
        return call_result.RemoteStartTransaction(
            **self.answers.get("RemoteStartTransaction", {"status": "Accepted"})
        )

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, **payload: Any) -> call_result.RemoteStopTransaction:
        self._record("RemoteStopTransaction", payload)
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.data_transfer)
    async def on_data_transfer(self, **payload: Any) -> call_result.DataTransfer:
        self._record("DataTransfer", payload)
        return call_result.DataTransfer(status="Accepted")

    @on(Action.get_configuration)
    async def on_get_configuration(self, **payload: Any) -> call_result.GetConfiguration:
        self.configuration_requests.append(("GetConfiguration", payload))
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": key, "readonly": readonly, "value": value}
                for key, (value, readonly) in self.configuration.items()
            ]
        )

    @on(Action.change_configuration)
    async def on_change_configuration(
        self, key: str, value: str, **payload: Any
    ) -> call_result.ChangeConfiguration:
        self.configuration_requests.append(("ChangeConfiguration", {"key": key, "value": value}))
        if key not in self.configuration or self.configuration[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        self.configuration[key] = (value, False)
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, **payload: Any) -> call_result.Reset:
        self._record("Reset", payload)
        return call_result.Reset(status="Accepted")


@contextlib.asynccontextmanager
async def library_charger(url: str, charge_point_id: str) -> AsyncIterator[LibraryCharger]:
    async with connect(url, subprotocols=["ocpp1.6"]) as connection:  # type: ignore[list-item]
        charger = LibraryCharger(charge_point_id, connection)
        task = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class RawCharger:
    """Sends frames exactly as given and reads what comes back."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: str | list[Any]) -> None:
        await self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self) -> list[Any]:
        """The next frame; a test that expects none wraps this in ``asyncio.timeout``."""
        async with asyncio.timeout(5):
            message = await self.connection.recv()
        decoded: list[Any] = json.loads(message)
        return decoded

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        await self.send([2, unique_id, action, payload])
        return await self.receive()


@contextlib.asynccontextmanager
async def raw_charger(url: str, subprotocols: list[str] | None = None) -> AsyncIterator[RawCharger]:
    async with connect(
        url,
        subprotocols=["ocpp1.6"] if subprotocols is None else subprotocols,  # type: ignore[misc]
    ) as connection:
        yield RawCharger(connection)

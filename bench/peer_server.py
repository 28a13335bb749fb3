# mypy: disallow-untyped-decorators=False
"""The peer: a central system built on the bare ``ocpp`` library, as its examples do.

A ``ChargePoint`` subclass with ``@on`` handlers, the library's schema validation
on, websockets' defaults, no database; the connection handler checks the
subprotocol as the library's ``examples/v16/central_system.py`` does.
``python -m bench.peer_server --port N`` prints ``listening on PORT`` and serves
until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

logger = logging.getLogger(__name__)
_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PeerChargePoint(ChargePoint):  # type: ignore[misc]
    @on(Action.boot_notification)
    async def on_boot(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    async def on_start(self, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info={"status": "Accepted"}
        )

    @on(Action.stop_transaction)
    async def on_stop(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction()

    @on(Action.meter_values)
    async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")


async def on_connect(connection: ServerConnection) -> None:
    assert connection.request is not None
    if not connection.subprotocol:
        logger.warning("no ocpp1.6 subprotocol: closing")
        await connection.close()
        return
    charge_point = PeerChargePoint(connection.request.path.rsplit("/", 1)[-1], connection)
    try:
        await charge_point.start()
    except Exception:  # the library's loop ends with the connection
        return


async def main(port: int) -> None:
    # The library logs every frame at INFO; its examples configure INFO. A peer that
    # printed every frame would measure the terminal, so it logs warnings only.
    logging.basicConfig(level=logging.WARNING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    async with serve(
        on_connect, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")]
    ) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))

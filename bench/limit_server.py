"""The ceiling of this machine: a bare websockets server with canned answers.

Every CALL gets a valid CALLRESULT for its action, built from a table; no JSON
schema, no database, no logging. ``python -m bench.limit_server --port N``
prints ``listening on PORT`` and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def answer(action: str) -> dict[str, Any]:
    accepted = {"status": "Accepted"}
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": _now(), "interval": 300}
    if action == "Heartbeat":
        return {"currentTime": _now()}
    if action == "Authorize":
        return {"idTagInfo": accepted}
    if action == "StartTransaction":
        return {"transactionId": next(_transaction_ids), "idTagInfo": accepted}
    if action == "DataTransfer":
        return accepted
    return {}


async def _serve(connection: ServerConnection) -> None:
    async for message in connection:
        frame = json.loads(message)
        if frame[0] == 2:
            await connection.send(json.dumps([3, frame[1], answer(frame[2])]))


async def main(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    async with serve(
        _serve, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")], compression=None
    ) as server:
        print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))

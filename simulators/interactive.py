"""Drive one simulated charger by hand: a prompt of short commands.

    > present OWNER-ALICE 1
    > plug 1
    > status
    > unplug 1

``parse`` turns a line into a ``Command`` (pure); ``execute`` carries it out on a
station; ``run`` reads lines until ``quit`` or the end of input, printing what the
charger does and shows as it happens.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from simulators.charger import ChargerError
from simulators.config_store import ConfigError
from simulators.observations import Observation
from simulators.station import Station

USAGE = {
    "plug": ("plug N", "plug the cable into connector N"),
    "unplug": ("unplug N", "pull the cable out of connector N"),
    "present": ("present TAG [N]", "hold card TAG to the reader (of connector N)"),
    "stop": ("stop N", "press the stop button of connector N"),
    "fault": ("fault N [CODE]", "report a fault (default OtherError); N=0: the whole charger"),
    "clear": ("clear N", "clear the fault on connector N"),
    "meter": ("meter N", "send a meter reading of connector N now"),
    "status": ("status", "connectors, transactions, queue, cache, display"),
    "config": ("config [KEY [VALUE]]", "show the configuration, or set a key locally"),
    "offline": ("offline", "lose the network (the charger keeps working and queues)"),
    "online": ("online", "get the network back"),
    "help": ("help", "this list"),
    "quit": ("quit", "switch the charger off"),
}
_ALIASES = {"exit": "quit", "?": "help", "swipe": "present", "tap": "present"}
#: Observations worth a line on the prompt.
_SHOWN = frozenset(
    {
        "registration",
        "authorization",
        "authorization_timed_out",
        "transaction_started",
        "transaction_confirmed",
        "transaction_stopped",
        "status",
        "display",
        "command",
        "error",
        "online",
        "offline",
        "connected",
        "disconnected",
        "reconnecting",
        "reserved",
        "reservation_cancelled",
        "reservation_expired",
        "dropped",
    }
)


class CommandError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    connector: int | None = None
    tag: str | None = None
    code: str | None = None
    key: str | None = None
    value: str | None = None


def _connector(word: str, name: str) -> int:
    if not word.isdigit():
        raise CommandError(f"{name}: {word!r} is not a connector number (usage: {USAGE[name][0]})")
    return int(word)


def parse(line: str) -> Command | None:
    """A command, or ``None`` for a blank line or a ``#`` comment."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    name = _ALIASES.get(words[0].lower(), words[0].lower())
    args = words[1:]
    if name not in USAGE:
        raise CommandError(f"unknown command {words[0]!r}; try 'help'")
    usage = USAGE[name][0]
    if name in ("plug", "unplug", "stop", "clear", "meter"):
        if len(args) != 1:
            raise CommandError(f"usage: {usage}")
        return Command(name, connector=_connector(args[0], name))
    if name == "present":
        if len(args) not in (1, 2):
            raise CommandError(f"usage: {usage}")
        connector = _connector(args[1], name) if len(args) == 2 else None
        return Command(name, tag=args[0], connector=connector)
    if name == "fault":
        if len(args) not in (1, 2):
            raise CommandError(f"usage: {usage}")
        return Command(
            name, connector=_connector(args[0], name), code=args[1] if len(args) == 2 else None
        )
    if name == "config":
        if len(args) > 2:
            raise CommandError(f"usage: {usage}")
        return Command(
            name,
            key=args[0] if args else None,
            value=args[1] if len(args) == 2 else None,
        )
    if args:
        raise CommandError(f"usage: {usage}")
    return Command(name)


def describe(station: Station) -> str:
    snapshot = station.snapshot()
    state = "online" if snapshot["online"] else "offline"
    lines = [f"{station.id}: {state}, registration {snapshot['registration'] or '-'}"]
    for view in station.charger.views():
        details = [view.status]
        if view.error_code != "NoError":
            details.append(view.error_code)
        if view.plugged:
            details.append("cable in")
        if view.transaction_ref is not None:
            transaction = view.transaction_id if view.transaction_id is not None else "pending"
            details.append(f"transaction {transaction} for {view.id_tag}")
        elif view.id_tag:
            details.append(f"authorised {view.id_tag}")
        if view.reservation_id is not None:
            details.append(f"reservation {view.reservation_id}")
        if view.connector_id:
            details.append(f"meter {view.energy_wh} Wh")
        lines.append(f"  connector {view.connector_id}: " + ", ".join(details))
    for reservation in station.charger.reservations():
        lines.append(
            f"  reservation {reservation.reservation_id}: connector {reservation.connector_id} "
            f"for {reservation.id_tag} until {reservation.expiry.isoformat()}"
        )
    lines.append(f"  queue: {snapshot['queued_transaction_messages']} transaction message(s)")
    cache = ", ".join(f"{tag} {status}" for tag, status in snapshot["cache"].items())
    lines.append(f"  cache: {cache or 'empty'}")
    lines.append(f"  display: {snapshot['display'] or '-'}")
    return "\n".join(lines)


def execute(station: Station, command: Command, out: TextIO) -> bool:
    """Carry the command out; ``False`` when it was ``quit``."""
    name, connector = command.name, command.connector
    if name == "quit":
        return False
    if name == "help":
        width = max(len(usage) for usage, _ in USAGE.values())
        for usage, text in USAGE.values():
            print(f"  {usage:<{width}}  {text}", file=out)
    elif name == "status":
        print(describe(station), file=out)
    elif name == "config":
        if command.key is None:
            known, _ = station.config.get(None)
            for entry in known:
                flag = " (read-only)" if entry["readonly"] else ""
                print(f"  {entry['key']} = {entry['value']}{flag}", file=out)
        elif command.value is None:
            known, unknown = station.config.get([command.key])
            for entry in known:
                print(f"  {entry['key']} = {entry.get('value', '(write-only)')}", file=out)
            for key in unknown:
                print(f"  {key}: unknown key", file=out)
        else:
            station.config.set_locally(command.key, command.value)
            print(f"  {command.key} = {station.config.text(command.key)}", file=out)
    elif name == "offline":
        station.go_offline()
    elif name == "online":
        station.go_online()
    elif name == "present":
        assert command.tag is not None
        station.present(command.tag, connector)
    else:
        assert connector is not None
        if name == "plug":
            station.plug(connector)
        elif name == "unplug":
            station.unplug(connector)
        elif name == "stop":
            station.stop(connector)
        elif name == "fault":
            station.fault(connector, command.code or "OtherError")
        elif name == "clear":
            station.clear_fault(connector)
        elif name == "meter":
            station.sample(connector)
    return True


def printer(station: Station, out: TextIO) -> None:
    """Print what the charger does and shows, as it happens."""

    def show(observation: Observation) -> None:
        if observation.kind not in _SHOWN:
            return
        stamp = datetime.now().strftime("%H:%M:%S")
        if observation.kind == "display":
            print(f"[{stamp}] {station.id} DISPLAY: {observation.data['text']}", file=out)
        else:
            print(f"[{stamp}] {station.id} {observation}", file=out, flush=True)

    station.recorder.listen(show)


async def stdin_lines() -> AsyncIterator[str]:
    """Lines of standard input, read by a daemon thread (pipes, files and terminals)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:  # the loop has closed: the simulator is gone
            return

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        yield line


async def run(
    station: Station, lines: AsyncIterator[str], out: TextIO, *, prompt: bool = False
) -> None:
    """Execute commands from ``lines`` until ``quit`` or the end of input."""
    print(f"{station.id}: type 'help' for the commands", file=out)
    if prompt:
        print("> ", end="", file=out, flush=True)
    async for line in lines:
        try:
            command = parse(line)
            if command is not None and not execute(station, command, out):
                return
        except (CommandError, ChargerError, ConfigError) as error:
            print(f"  {error}", file=out)
        if prompt:
            print("> ", end="", file=out, flush=True)

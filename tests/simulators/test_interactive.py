"""The prompt: parsing commands, and one drive through it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest

from simulators.interactive import Command, CommandError, parse, printer, run
from simulators.station import Station, StationSettings


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("plug 1", Command("plug", connector=1)),
        ("  UNPLUG   2  ", Command("unplug", connector=2)),
        ("present OWNER-ALICE 1", Command("present", tag="OWNER-ALICE", connector=1)),
        ("present OWNER-ALICE", Command("present", tag="OWNER-ALICE")),
        ("swipe TAG 2", Command("present", tag="TAG", connector=2)),
        ("fault 1", Command("fault", connector=1)),
        ("fault 0 GroundFailure", Command("fault", connector=0, code="GroundFailure")),
        ("stop 1", Command("stop", connector=1)),
        ("clear 1", Command("clear", connector=1)),
        ("meter 2", Command("meter", connector=2)),
        ("status", Command("status")),
        ("config", Command("config")),
        ("config HeartbeatInterval", Command("config", key="HeartbeatInterval")),
        ("config HeartbeatInterval 60", Command("config", key="HeartbeatInterval", value="60")),
        ("offline", Command("offline")),
        ("exit", Command("quit")),
        ("?", Command("help")),
        ("", None),
        ("   # a comment", None),
        ("plug 1  # cable in", Command("plug", connector=1)),
    ],
)
def test_parse(line: str, command: Command | None) -> None:
    assert parse(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("dance", "unknown command 'dance'"),
        ("plug", "usage: plug N"),
        ("plug one", "'one' is not a connector number"),
        ("present", "usage: present TAG"),
        ("present A B", "'B' is not a connector number"),
        ("status now", "usage: status"),
        ("config a b c", "usage: config"),
    ],
)
def test_parse_errors(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse(line)


async def lines(*texts: str) -> AsyncIterator[str]:
    for text in texts:
        yield text + "\n"


async def test_a_drive_through_the_prompt_offline() -> None:
    # Never started: the charger has no network, and decides on its own.
    station = Station(
        StationSettings("CP-PROMPT", connectors=2, config={"AllowOfflineTxForUnknownId": "true"})
    )
    out = io.StringIO()
    await run(
        station,
        lines(
            "plug 1",
            "present VISITOR 1",
            "plug 1",
            "config HeartbeatInterval 60",
            "status",
            "unplug 1",
            "quit",
            "plug 2",
        ),
        out,
    )
    text = out.getvalue()
    assert "connector 1 is plugged already" in text
    assert "HeartbeatInterval = 60" in text
    assert "connector 1: Charging, cable in, transaction pending for VISITOR" in text
    assert "queue: 1 transaction message(s)" in text
    # The session was stopped and both messages wait for the network; nothing after quit ran.
    assert [item.action for item in station.queue] == ["StartTransaction", "StopTransaction"]
    assert [view.plugged for view in station.charger.views()] == [False, False, False]


async def test_every_command_through_the_prompt() -> None:
    station = Station(StationSettings("CP-ALL", connectors=2))
    out = io.StringIO()
    printer(station, out)
    await run(
        station,
        lines(
            "help",
            "config",
            "config AuthorizationKey",
            "config Nope",
            "fault 2 GroundFailure",
            "clear 2",
            "fault 1 Nonsense",
            "meter 1",
            "stop 1",
            "offline",
            "online",
        ),
        out,
    )
    text = out.getvalue()
    assert "present TAG [N]" in text  # help
    assert "NumberOfConnectors = 2 (read-only)" in text
    assert "AuthorizationKey = (write-only)" in text
    assert "Nope: unknown key" in text
    assert "status connector_id=2 status=Faulted error_code=GroundFailure" in text
    assert "status connector_id=2 status=Available error_code=NoError" in text
    assert "'Nonsense' is not an OCPP 1.6 error code" in text
    assert "no transaction on connector 1" in text

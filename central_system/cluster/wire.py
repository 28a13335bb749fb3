"""What nodes say to each other over Redis: commands, answers, ownership news.

Commands and answers are JSON on the receiving node's inbox channel. Errors travel
as their class name and fields and are rebuilt as the same domain exceptions, so
a caller cannot tell a remote charger's failure from a local one's.

Ownership news is one line, ``claim|<node>|<epoch>|<charger>`` or
``release|<node>|<epoch>|<charger>``, written by the Lua scripts in ``node``; the
charger id comes last because it may contain ``|``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from central_system.domain.errors import (
    CentralSystemError,
    ChargerDisconnected,
    ChargerNotConnected,
    CommandFailed,
    CommandPayloadInvalid,
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    InvalidCommandReply,
    UnknownCommand,
)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    request_id: str
    reply_to: str
    charge_point_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandReply:
    request_id: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Owner:
    """Who holds a charger's socket: a node, and the epoch of that connection."""

    node: str
    epoch: int

    def value(self) -> str:
        return f"{self.node}|{self.epoch}"

    @classmethod
    def parse(cls, value: str | None) -> Owner | None:
        if not value:
            return None
        node, _, epoch = value.rpartition("|")
        try:
            return cls(node, int(epoch)) if node else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class OwnershipNews:
    claimed: bool
    owner: Owner
    charge_point_id: str

    @classmethod
    def parse(cls, text: str) -> OwnershipNews | None:
        parts = text.split("|", 3)
        if len(parts) != 4 or parts[0] not in ("claim", "release"):
            return None
        owner = Owner.parse(f"{parts[1]}|{parts[2]}")
        if owner is None:
            return None
        return cls(parts[0] == "claim", owner, parts[3])


def encode(message: CommandRequest | CommandReply) -> str:
    if isinstance(message, CommandRequest):
        body: dict[str, Any] = {
            "kind": "request",
            "id": message.request_id,
            "reply_to": message.reply_to,
            "charge_point_id": message.charge_point_id,
            "action": message.action,
            "payload": message.payload,
        }
    else:
        body = {"kind": "reply", "id": message.request_id}
        if message.error is not None:
            body["error"] = message.error
        else:
            body["result"] = message.result
    return json.dumps(body, separators=(",", ":"))


def decode(text: str) -> CommandRequest | CommandReply | None:
    """The message, or ``None`` for anything this version does not understand."""
    try:
        body = json.loads(text)
        if body["kind"] == "request":
            return CommandRequest(
                request_id=str(body["id"]),
                reply_to=str(body["reply_to"]),
                charge_point_id=str(body["charge_point_id"]),
                action=str(body["action"]),
                payload=dict(body["payload"]),
            )
        if body["kind"] == "reply":
            error = body.get("error")
            return CommandReply(
                request_id=str(body["id"]),
                result=None if error is not None else dict(body["result"]),
                error=None if error is None else dict(error),
            )
    except (ValueError, KeyError, TypeError):
        return None
    return None


def error_to_wire(error: Exception) -> dict[str, Any]:
    """A command's failure as the fields that rebuild it on the calling node."""
    fields: dict[str, Any]
    match error:
        case ChargerNotConnected() | ChargerDisconnected() | CommandQueueFull():
            fields = {"charge_point_id": error.charge_point_id}
        case CommandTimeout():
            fields = {"action": error.action, "timeout": error.timeout}
        case CommandRejected():
            fields = {
                "code": error.code,
                "description": error.description,
                "details": error.details,
            }
        case InvalidCommandReply():
            fields = {"action": error.action, "reason": error.reason, "payload": error.payload}
        case UnknownCommand():
            fields = {"action": error.action}
        case CommandPayloadInvalid():
            fields = {"action": error.action, "code": error.code, "details": error.details}
        case _:
            return {"type": "CommandFailed", "message": str(error)}
    return {"type": type(error).__name__, **fields}


def error_from_wire(error: dict[str, Any]) -> CentralSystemError:
    """The domain exception that ``error_to_wire`` described."""
    kind = error.get("type")
    try:
        match kind:
            case "ChargerNotConnected":
                return ChargerNotConnected(str(error["charge_point_id"]))
            case "ChargerDisconnected":
                return ChargerDisconnected(str(error["charge_point_id"]))
            case "CommandQueueFull":
                return CommandQueueFull(str(error["charge_point_id"]))
            case "CommandTimeout":
                return CommandTimeout(str(error["action"]), float(error["timeout"]))
            case "CommandRejected":
                return CommandRejected(
                    str(error["code"]), str(error["description"]), error["details"]
                )
            case "InvalidCommandReply":
                return InvalidCommandReply(
                    str(error["action"]), str(error["reason"]), error["payload"]
                )
            case "UnknownCommand":
                return UnknownCommand(str(error["action"]))
            case "CommandPayloadInvalid":
                return CommandPayloadInvalid(
                    str(error["action"]), str(error["code"]), dict(error["details"])
                )
    except (KeyError, TypeError, ValueError):
        pass
    return CommandFailed(str(error.get("message") or f"the owning node failed ({kind})"))

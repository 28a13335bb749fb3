"""Domain errors, mapped once at each edge (OCPP in ``transport``, HTTP in ``owner_api``).

Hierarchy::

    CentralSystemError
    ├── UnknownChargePoint       no record of that charge point id
    ├── ChargePointInUse         a charger with transactions cannot be deleted
    ├── ChargerNotConnected      a command for a charger with no live connection
    ├── NotFound                 no such space, owner or reservation (for this owner)
    ├── SpaceTaken               the space is reserved for an overlapping window
    ├── ReservationRefused       the request breaks a limit (window, count, timing)
    ├── UnknownCommand           not an action the central system sends to chargers
    ├── CommandPayloadInvalid    a command's payload breaks the OCPP 1.6 schema
    └── CommandFailed            a command reached the charger but did not succeed
        ├── CommandTimeout       no answer within the response timeout
        ├── CommandRejected      the charger answered with a CALLERROR
        ├── InvalidCommandReply  the charger's answer breaks the 1.6 schema
        ├── ChargerDisconnected  the connection closed before the answer came
        └── CommandQueueFull     too many commands already waiting for this charger
"""

from __future__ import annotations


class CentralSystemError(Exception):
    """Base of every error this package raises on purpose."""


class UnknownChargePoint(CentralSystemError):
    def __init__(self, charge_point_id: str) -> None:
        super().__init__(f"no charge point {charge_point_id!r}")
        self.charge_point_id = charge_point_id


class ChargePointInUse(CentralSystemError):
    def __init__(self, charge_point_id: str) -> None:
        super().__init__(f"charge point {charge_point_id!r} has transactions and is kept")
        self.charge_point_id = charge_point_id


class NotFound(CentralSystemError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"no {what} {key!r}")
        self.what = what
        self.key = key


class SpaceTaken(CentralSystemError):
    def __init__(self, space_label: str) -> None:
        super().__init__(f"space {space_label} was just reserved for an overlapping window")
        self.space_label = space_label


class ReservationRefused(CentralSystemError):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class ChargerNotConnected(CentralSystemError):
    def __init__(self, charge_point_id: str) -> None:
        super().__init__(f"charge point {charge_point_id!r} is not connected")
        self.charge_point_id = charge_point_id


class UnknownCommand(CentralSystemError):
    def __init__(self, action: str) -> None:
        super().__init__(f"{action!r} is not a command the central system sends to chargers")
        self.action = action


class CommandPayloadInvalid(CentralSystemError):
    def __init__(self, action: str, code: str, details: dict[str, object]) -> None:
        super().__init__(f"{action} payload breaks the OCPP 1.6 schema: {details.get('cause')}")
        self.action = action
        self.code = code
        self.details = details


class CommandFailed(CentralSystemError):
    pass


class CommandTimeout(CommandFailed):
    def __init__(self, action: str, timeout: float) -> None:
        super().__init__(f"no answer to {action} within {timeout:g} s")
        self.action = action
        self.timeout = timeout


class CommandRejected(CommandFailed):
    """The charger answered with a CALLERROR."""

    def __init__(self, code: str, description: str, details: object) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


class InvalidCommandReply(CommandFailed):
    def __init__(self, action: str, reason: str, payload: object) -> None:
        super().__init__(f"answer to {action} breaks the OCPP 1.6 schema: {reason}")
        self.action = action
        self.reason = reason
        self.payload = payload


class ChargerDisconnected(CommandFailed):
    def __init__(self, charge_point_id: str) -> None:
        super().__init__(f"charge point {charge_point_id!r} disconnected before answering")
        self.charge_point_id = charge_point_id


class CommandQueueFull(CommandFailed):
    def __init__(self, charge_point_id: str) -> None:
        super().__init__(f"too many commands waiting for {charge_point_id!r}")
        self.charge_point_id = charge_point_id

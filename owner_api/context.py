"""What the HTTP routes are given: built once by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from central_system.observability import Metrics
from central_system.ports import ChargerCommands
from central_system.services import Operations


@dataclass(frozen=True)
class ApiContext:
    operations: Operations
    commands: ChargerCommands
    operator_token: str
    metrics: Metrics
    #: Named readiness checks; each returns True when its part is ready.
    readiness: dict[str, Callable[[], Awaitable[bool]]]

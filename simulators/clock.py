"""Time for the simulated charger: one source of ``now`` and the OCPP text format."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Where the simulator reads the time; tests pass their own.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def ocpp_time(moment: datetime, *, naive: bool = False) -> str:
    """UTC, millisecond precision, ``Z`` suffix; ``naive`` drops the suffix (a field quirk)."""
    text = (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    )
    return text if naive else text + "Z"


def parse_time(text: str) -> datetime | None:
    """An OCPP timestamp from the central system; ``None`` when it cannot be read."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

"""Pure rules of the central system. Time is always an argument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from central_system.domain.model import (
    BootDecision,
    ChargerCapabilities,
    IdTag,
    IdTagInfo,
    RegistrationStatus,
    TagStatus,
    Transaction,
)


def authorize_tag(tag: IdTag | None, now: datetime) -> IdTagInfo:
    """The verdict on a presented idTag by the operator's registry.

    An unknown tag is ``Invalid``; an ``Accepted`` tag whose expiry date has passed
    is ``Expired``. The expiry date and parent tag travel with the verdict so the
    charger's Authorization Cache learns them too.
    """
    if tag is None:
        return IdTagInfo(status=TagStatus.INVALID)
    status = tag.status
    if status is TagStatus.ACCEPTED and tag.expiry_date is not None and tag.expiry_date <= now:
        status = TagStatus.EXPIRED
    return IdTagInfo(status=status, expiry_date=tag.expiry_date, parent_id_tag=tag.parent_id_tag)


def decide_boot(
    status: RegistrationStatus, now: datetime, *, heartbeat_interval: int, retry_interval: int
) -> BootDecision:
    """Accepted chargers get the heartbeat interval; the others when to try again."""
    interval = heartbeat_interval if status is RegistrationStatus.ACCEPTED else retry_interval
    return BootDecision(status=status, interval=interval, current_time=now)


class TimestampProblem(StrEnum):
    EMPTY = "empty"
    UNPARSABLE = "unparsable"
    NAIVE = "naive"
    CLOCK_NOT_SET = "clock_not_set"
    IN_FUTURE = "in_future"


#: A charger whose clock says earlier than this has not been given the time yet.
CLOCK_EPOCH = datetime(2010, 1, 1, tzinfo=UTC)
#: How far ahead of our clock a charger's timestamp may be before it is not believed.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Timestamp:
    value: datetime
    problem: TimestampProblem | None = None


def interpret_timestamp(raw: str, received_at: datetime) -> Timestamp:
    """Read a charger's timestamp by the documented policy (docs/ocpp.md).

    Offsets and fractional seconds are honoured. A timestamp without an offset is
    taken as UTC and flagged. Empty or unreadable ones, and those from a clock that
    was never set (before 2010) or that runs ahead of ours, are replaced by the time
    we received the message, and flagged. Old timestamps are kept as they are: a
    charger replays its offline queue with the times things happened.
    """
    if not raw.strip():
        return Timestamp(received_at, TimestampProblem.EMPTY)
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return Timestamp(received_at, TimestampProblem.UNPARSABLE)
    problem = None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
        problem = TimestampProblem.NAIVE
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # the UTC instant lies beyond year 1 or 9999
        late = parsed.year > 1
        return Timestamp(
            received_at, TimestampProblem.IN_FUTURE if late else TimestampProblem.CLOCK_NOT_SET
        )
    if parsed < CLOCK_EPOCH:
        return Timestamp(received_at, TimestampProblem.CLOCK_NOT_SET)
    if parsed > received_at + FUTURE_TOLERANCE:
        return Timestamp(received_at, TimestampProblem.IN_FUTURE)
    return Timestamp(parsed, problem)


#: Transaction ids are OCPP integers we issue from 1; anything else is no id of ours.
MAX_TRANSACTION_ID = 2**31 - 1


def is_our_transaction_id(transaction_id: int) -> bool:
    return 0 < transaction_id <= MAX_TRANSACTION_ID


def read_capabilities(configuration: dict[str, str | None]) -> ChargerCapabilities:
    """Capabilities from a GetConfiguration answer (OCPP 1.6 §9.1 keys)."""
    profiles = configuration.get("SupportedFeatureProfiles") or ""
    display = configuration.get("CustomDisplayCostAndPrice")
    return ChargerCapabilities(
        feature_profiles=frozenset(p.strip() for p in profiles.split(",") if p.strip()),
        can_display_messages=None if display is None else display.strip().lower() == "true",
        configuration=dict(configuration),
    )


def configuration_for_the_rule(capabilities: ChargerCapabilities) -> dict[str, str]:
    """What the reservation rule needs a charger's configuration to say.

    * ``LocalPreAuthorize=false``: a cached tag must not start before we decide;
    * ``StopTransactionOnInvalidId=true``: a start we refuse afterwards is stopped;
    * ``LocalAuthorizeOffline=false`` where the charger cannot hold a reservation
      itself (no Reservation profile): offline, its cache would let anyone in.
    """
    wanted = {"LocalPreAuthorize": "false", "StopTransactionOnInvalidId": "true"}
    if not capabilities.supports_reservations:
        wanted["LocalAuthorizeOffline"] = "false"
    return wanted


class StopProblem(StrEnum):
    UNKNOWN_TRANSACTION = "unknown_transaction"
    ALREADY_STOPPED = "already_stopped"
    OTHER_CHARGER = "other_charger"


def check_stop(transaction: Transaction | None, charge_point_id: str) -> StopProblem | None:
    """Why a StopTransaction cannot close a transaction, or ``None`` when it can.

    Whatever the answer, the charger gets a StopTransaction.conf (OCPP 1.6 §4.10:
    the central system cannot prevent a stop); a problem is flagged for the operator.
    """
    if transaction is None:
        return StopProblem.UNKNOWN_TRANSACTION
    if transaction.charge_point_id != charge_point_id:
        return StopProblem.OTHER_CHARGER
    if not transaction.is_open:
        return StopProblem.ALREADY_STOPPED
    return None

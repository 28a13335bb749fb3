"""The pure rules, case by case. Plain, synchronous, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from central_system.domain.model import (
    IdTag,
    IdTagInfo,
    RegistrationStatus,
    TagStatus,
    Transaction,
)
from central_system.domain.rules import (
    CLOCK_EPOCH,
    FUTURE_TOLERANCE,
    MAX_TRANSACTION_ID,
    StopProblem,
    Timestamp,
    TimestampProblem,
    authorize_tag,
    check_stop,
    decide_boot,
    interpret_timestamp,
    is_our_transaction_id,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)
TOMORROW = NOW + timedelta(days=1)

# ---------------------------------------------------------------- authorize_tag


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        pytest.param(None, IdTagInfo(TagStatus.INVALID), id="unknown tag is Invalid"),
        pytest.param(IdTag("A"), IdTagInfo(TagStatus.ACCEPTED), id="accepted"),
        pytest.param(
            IdTag("B", TagStatus.BLOCKED), IdTagInfo(TagStatus.BLOCKED), id="blocked stays blocked"
        ),
        pytest.param(
            IdTag("E", TagStatus.EXPIRED), IdTagInfo(TagStatus.EXPIRED), id="expired status"
        ),
        pytest.param(
            IdTag("I", TagStatus.INVALID), IdTagInfo(TagStatus.INVALID), id="invalid status"
        ),
        pytest.param(
            IdTag("C", TagStatus.CONCURRENT_TX),
            IdTagInfo(TagStatus.CONCURRENT_TX),
            id="concurrent tx status",
        ),
        pytest.param(
            IdTag("A", expiry_date=YESTERDAY),
            IdTagInfo(TagStatus.EXPIRED, expiry_date=YESTERDAY),
            id="accepted but expiry passed is Expired",
        ),
        pytest.param(
            IdTag("A", expiry_date=NOW),
            IdTagInfo(TagStatus.EXPIRED, expiry_date=NOW),
            id="accepted and expiring right now is Expired",
        ),
        pytest.param(
            IdTag("A", expiry_date=TOMORROW),
            IdTagInfo(TagStatus.ACCEPTED, expiry_date=TOMORROW),
            id="expiry in the future stays Accepted",
        ),
        pytest.param(
            IdTag("B", TagStatus.BLOCKED, expiry_date=YESTERDAY),
            IdTagInfo(TagStatus.BLOCKED, expiry_date=YESTERDAY),
            id="blocked and expired stays Blocked",
        ),
        pytest.param(
            IdTag("CHILD", parent_id_tag="PARENT"),
            IdTagInfo(TagStatus.ACCEPTED, parent_id_tag="PARENT"),
            id="parent id tag carried",
        ),
        pytest.param(
            IdTag("CHILD", expiry_date=YESTERDAY, parent_id_tag="PARENT"),
            IdTagInfo(TagStatus.EXPIRED, expiry_date=YESTERDAY, parent_id_tag="PARENT"),
            id="parent id tag carried when expired",
        ),
    ],
)
def test_authorize_tag(tag: IdTag | None, expected: IdTagInfo) -> None:
    assert authorize_tag(tag, NOW) == expected


def test_authorize_tag_compares_expiry_across_offsets() -> None:
    # 13:30 at +02:00 is 11:30 UTC: already past at NOW (12:00 UTC).
    expiry = datetime(2026, 11, 24, 13, 30, tzinfo=timezone(timedelta(hours=2)))
    assert authorize_tag(IdTag("A", expiry_date=expiry), NOW).status is TagStatus.EXPIRED


# ----------------------------------------------------------------- decide_boot


@pytest.mark.parametrize(
    ("status", "interval"),
    [
        (RegistrationStatus.ACCEPTED, 300),
        (RegistrationStatus.PENDING, 60),
        (RegistrationStatus.REJECTED, 60),
    ],
)
def test_decide_boot(status: RegistrationStatus, interval: int) -> None:
    decision = decide_boot(status, NOW, heartbeat_interval=300, retry_interval=60)
    assert decision.status is status
    assert decision.interval == interval
    assert decision.current_time == NOW


# ----------------------------------------------------------- interpret_timestamp

RECEIVED = NOW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "2026-11-24T11:59:00Z",
            Timestamp(datetime(2026, 11, 24, 11, 59, tzinfo=UTC)),
            id="Z",
        ),
        pytest.param(
            "2026-11-24T13:59:00+02:00",
            Timestamp(datetime(2026, 11, 24, 11, 59, tzinfo=UTC)),
            id="+02:00 converted to UTC",
        ),
        pytest.param(
            "2026-11-24T06:59:00-05:00",
            Timestamp(datetime(2026, 11, 24, 11, 59, tzinfo=UTC)),
            id="-05:00 converted to UTC",
        ),
        pytest.param(
            "2026-11-24T11:59:00.123Z",
            Timestamp(datetime(2026, 11, 24, 11, 59, 0, 123000, tzinfo=UTC)),
            id="fractional seconds",
        ),
        pytest.param(
            "2026-11-24T11:59:00.123456+01:00",
            Timestamp(datetime(2026, 11, 24, 10, 59, 0, 123456, tzinfo=UTC)),
            id="fractional seconds with offset",
        ),
        pytest.param(
            " 2026-11-24T11:59:00Z ",
            Timestamp(datetime(2026, 11, 24, 11, 59, tzinfo=UTC)),
            id="surrounding blanks",
        ),
        pytest.param(
            "2026-11-24T11:59:00",
            Timestamp(datetime(2026, 11, 24, 11, 59, tzinfo=UTC), TimestampProblem.NAIVE),
            id="naive taken as UTC, flagged",
        ),
        pytest.param("", Timestamp(RECEIVED, TimestampProblem.EMPTY), id="empty"),
        pytest.param("   ", Timestamp(RECEIVED, TimestampProblem.EMPTY), id="blank"),
        pytest.param(
            "yesterday at noon", Timestamp(RECEIVED, TimestampProblem.UNPARSABLE), id="garbage"
        ),
        pytest.param(
            "2026-13-01T00:00:00Z",
            Timestamp(RECEIVED, TimestampProblem.UNPARSABLE),
            id="month 13",
        ),
        pytest.param(
            "1970-01-01T00:00:07Z",
            Timestamp(RECEIVED, TimestampProblem.CLOCK_NOT_SET),
            id="1970: clock not set",
        ),
        pytest.param(
            "1970-01-01T00:00:07",
            Timestamp(RECEIVED, TimestampProblem.CLOCK_NOT_SET),
            id="naive 1970: clock not set wins over naive",
        ),
        pytest.param(
            "2009-12-31T23:59:59Z",
            Timestamp(RECEIVED, TimestampProblem.CLOCK_NOT_SET),
            id="just before the clock epoch",
        ),
        pytest.param(
            "2010-01-01T00:00:00Z",
            Timestamp(CLOCK_EPOCH),
            id="the clock epoch itself is believed",
        ),
        pytest.param(
            "2031-01-01T00:00:00Z",
            Timestamp(RECEIVED, TimestampProblem.IN_FUTURE),
            id="far future",
        ),
        pytest.param(
            (RECEIVED + FUTURE_TOLERANCE + timedelta(seconds=1)).isoformat(),
            Timestamp(RECEIVED, TimestampProblem.IN_FUTURE),
            id="just beyond the tolerance",
        ),
        pytest.param(
            (RECEIVED + FUTURE_TOLERANCE).isoformat(),
            Timestamp(RECEIVED + FUTURE_TOLERANCE),
            id="a clock slightly ahead is believed",
        ),
        pytest.param(
            "2026-11-20T08:15:30Z",
            Timestamp(datetime(2026, 11, 20, 8, 15, 30, tzinfo=UTC)),
            id="replayed days-old timestamp kept",
        ),
    ],
)
def test_interpret_timestamp(raw: str, expected: Timestamp) -> None:
    result = interpret_timestamp(raw, RECEIVED)
    assert result == expected
    assert result.value.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("9999-12-31T23:59:59-01:00", TimestampProblem.IN_FUTURE),
        ("0001-01-01T00:00:00+01:00", TimestampProblem.CLOCK_NOT_SET),
    ],
)
def test_interpret_timestamp_at_the_edges_of_the_calendar(
    raw: str, problem: TimestampProblem
) -> None:
    assert interpret_timestamp(raw, RECEIVED) == Timestamp(RECEIVED, problem)


# ------------------------------------------------------------------ check_stop


def _transaction(charge_point_id: str = "CP1", stopped_at: datetime | None = None) -> Transaction:
    return Transaction(
        id=7,
        charge_point_id=charge_point_id,
        connector_id=1,
        id_tag="A",
        meter_start=1000,
        started_at=YESTERDAY,
        meter_stop=None if stopped_at is None else 2000,
        stopped_at=stopped_at,
    )


@pytest.mark.parametrize(
    ("transaction", "expected"),
    [
        pytest.param(None, StopProblem.UNKNOWN_TRANSACTION, id="unknown"),
        pytest.param(_transaction("CP2"), StopProblem.OTHER_CHARGER, id="other charger"),
        pytest.param(
            _transaction("CP2", stopped_at=NOW),
            StopProblem.OTHER_CHARGER,
            id="other charger's stopped transaction",
        ),
        pytest.param(_transaction(stopped_at=NOW), StopProblem.ALREADY_STOPPED, id="stopped"),
        pytest.param(_transaction(), None, id="open"),
    ],
)
def test_check_stop(transaction: Transaction | None, expected: StopProblem | None) -> None:
    assert check_stop(transaction, "CP1") is expected


# ------------------------------------------------------- is_our_transaction_id


@pytest.mark.parametrize(
    ("transaction_id", "ours"),
    [
        (-(2**63), False),
        (-1, False),
        (0, False),
        (1, True),
        (2**31 - 1, True),
        (2**31, False),
        (2**63, False),
    ],
)
def test_is_our_transaction_id(transaction_id: int, ours: bool) -> None:
    assert MAX_TRANSACTION_ID == 2**31 - 1
    assert is_our_transaction_id(transaction_id) is ours

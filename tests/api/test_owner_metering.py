"""Energy, power and duration as an owner sees them, and the request budgets (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from central_system.domain.model import MeterValue, SampledValue, Transaction
from owner_api.limits import LoginThrottle, SlidingWindows, TokenBuckets, retry_after
from owner_api.metering import reading

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def tx(
    meter_start: int = 1000, meter_stop: int | None = None, minutes: int | None = None
) -> Transaction:
    return Transaction(
        id=1,
        charge_point_id="CP",
        connector_id=1,
        id_tag="T",
        meter_start=meter_start,
        started_at=T0,
        meter_stop=meter_stop,
        stopped_at=None if minutes is None else T0 + timedelta(minutes=minutes),
    )


def mv(minutes: int, *samples: SampledValue) -> MeterValue:
    return MeterValue(T0 + timedelta(minutes=minutes), samples)


@pytest.mark.parametrize(
    ("transaction", "values", "energy_wh", "power_w", "duration"),
    [
        (tx(), [], 0, None, 1800),
        (tx(), [mv(10, SampledValue("1500", unit="Wh"))], 500, None, 1800),
        (tx(), [mv(10, SampledValue("2.5", unit="kWh"))], 1500, None, 1800),
        (
            tx(),
            [mv(10, SampledValue("1500", unit="Wh")), mv(20, SampledValue("2500", unit="Wh"))],
            1500,
            6000.0,
            1800,
        ),
        (
            tx(),
            [mv(10, SampledValue("1500"), SampledValue("11", "Power.Active.Import", "kW"))],
            500,
            11000.0,
            1800,
        ),
        # Per-phase values and signed data are not the register; unknown units are skipped.
        (
            tx(),
            [
                mv(10, SampledValue("9999", unit="Wh", phase="L1")),
                mv(11, SampledValue("abc", format="SignedData")),
                mv(12, SampledValue("5", unit="MWh")),
            ],
            0,
            None,
            1800,
        ),
        (tx(meter_stop=4000, minutes=15), [mv(10, SampledValue("1500"))], 3000, None, 900),
    ],
)
def test_reading(
    transaction: Transaction,
    values: list[MeterValue],
    energy_wh: int,
    power_w: float | None,
    duration: int,
) -> None:
    measured = reading(transaction, values, T0 + timedelta(minutes=30))
    assert (measured.energy_wh, measured.power_w, measured.duration_seconds) == (
        energy_wh,
        power_w,
        duration,
    )


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_refill_at_their_rate() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=ticks)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # every key has its own bucket
    ticks.now = 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_sliding_windows_forget_old_events() -> None:
    ticks = Ticks()
    windows = SlidingWindows(limit=2, window=10.0, clock=ticks)
    windows.add("k")
    ticks.now = 4.0
    windows.add("k")
    assert windows.wait("k") == pytest.approx(6.0)
    ticks.now = 10.0
    assert windows.wait("k") == 0.0


def test_login_throttle_counts_failures_per_name_and_attempts_per_address() -> None:
    ticks = Ticks()
    throttle = LoginThrottle(failures_per_login=2, attempts_per_address=3, window=60, clock=ticks)
    assert throttle.attempt("10.0.0.1", "ann") == 0.0
    throttle.failed("ann")
    assert throttle.attempt("10.0.0.2", "ann") == 0.0
    throttle.failed("ann")
    assert throttle.attempt("10.0.0.3", "ann") == pytest.approx(60.0)
    assert throttle.attempt("10.0.0.1", "bea") == 0.0
    assert throttle.attempt("10.0.0.1", "cid") == 0.0
    assert throttle.attempt("10.0.0.1", "dan") == pytest.approx(60.0)
    throttle.succeeded("ann")
    assert throttle.attempt("10.0.0.4", "ann") == 0.0


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (299.5, "300")]
)
def test_retry_after_is_whole_seconds(seconds: float, header: str) -> None:
    assert retry_after(seconds) == header

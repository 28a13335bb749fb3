"""The fleet's numbers: percentiles and the summary the benchmarks read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators.fleet import (
    FleetOptions,
    FleetStats,
    format_summary,
    percentile,
    summary,
    write_json,
)
from simulators.station import StationSettings


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, 0.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 90, 4.0),
        ([float(i) for i in range(1, 101)], 99, 99.0),
        ([float(i) for i in range(1, 101)], 100, 100.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_the_summary_has_what_the_benchmarks_read(tmp_path: Path) -> None:
    stats = FleetStats()
    for ms in (10, 20, 30, 40):
        stats.answered("Authorize", ms / 1000)
    stats.answered("Heartbeat", 0.005)
    stats.failed("StartTransaction", "timeout")
    stats.registered.update({"A", "B"})
    options = FleetOptions(chargers=3, template=StationSettings("x"))
    result = summary(stats, options, duration=2.0, boot_time=0.5)
    assert {
        "chargers",
        "connected",
        "messages",
        "errors",
        "duration_s",
        "messages_per_s",
        "latency_ms",
        "boot_time_s",
    } <= set(result)
    assert (result["chargers"], result["connected"], result["messages"], result["errors"]) == (
        3,
        2,
        5,
        1,
    )
    assert result["messages_per_s"] == 2.5
    assert result["latency_ms"]["Authorize"] == {
        "p50": 20.0,
        "p90": 40.0,
        "p99": 40.0,
        "max": 40.0,
        "count": 4,
    }
    assert result["error_kinds"] == {"StartTransaction: timeout": 1}
    text = format_summary(result)
    assert "2/3 connected" in text
    assert "1 x StartTransaction: timeout" in text
    write_json(result, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == result


def test_fleet_ids_and_tags() -> None:
    options = FleetOptions(
        chargers=1,
        template=StationSettings("x"),
        id_prefix="P-",
        tag_prefix="a-very-long-tag-prefix-",
    )
    assert options.charge_point_id(7) == "P-0007"
    assert len(options.tag(7)) == 20

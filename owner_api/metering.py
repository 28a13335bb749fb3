"""What a charging session looks like to its owner: energy, power and duration.

Chargers report the energy register (``Energy.Active.Import.Register``, the
default measurand) in Wh or kWh, and sometimes the power. Energy so far is the
newest register reading less ``meterStart``; power is the newest reported
value, or else the slope of the last two register readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from central_system.domain.model import MeterValue, SampledValue, Transaction

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: int | None
    power_w: float | None
    duration_seconds: int


def _number(sample: SampledValue, units: dict[str, float]) -> float | None:
    if sample.format == "SignedData":
        return None
    factor = units.get(sample.unit or "") if sample.unit else 1.0
    if factor is None:
        return None
    try:
        return float(sample.value) * factor
    except ValueError:
        return None


def _series(
    values: Sequence[MeterValue], measurand: str, units: dict[str, float]
) -> list[tuple[datetime, float]]:
    series = []
    for value in values:
        for sample in value.sampled_values:
            if (sample.measurand or ENERGY) != measurand or sample.phase is not None:
                continue
            number = _number(sample, units)
            if number is not None:
                series.append((value.timestamp, number))
    return sorted(series, key=lambda point: point[0])


def reading(transaction: Transaction, values: Sequence[MeterValue], now: datetime) -> Reading:
    end = transaction.stopped_at or now
    duration = max(0, int((end - transaction.started_at).total_seconds()))
    energy = _series(values, ENERGY, {"Wh": 1.0, "kWh": 1000.0})
    power = _series(values, POWER, {"W": 1.0, "kW": 1000.0})
    if transaction.energy_wh is not None:
        energy_wh: int | None = transaction.energy_wh
    elif energy:
        energy_wh = max(0, round(energy[-1][1] - transaction.meter_start))
    else:
        energy_wh = 0 if transaction.is_open else None
    power_w: float | None = None
    if transaction.is_open:
        if power:
            power_w = power[-1][1]
        elif len(energy) >= 2:
            (t0, e0), (t1, e1) = energy[-2], energy[-1]
            hours = (t1 - t0).total_seconds() / 3600
            power_w = (e1 - e0) / hours if hours > 0 else None
    return Reading(energy_wh, power_w, duration)

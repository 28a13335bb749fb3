"""Pure translation between OCPP 1.6 payloads (snake_case, as the library hands
them to handlers) and domain values. No I/O, no rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.v16.datatypes import IdTagInfo as OcppIdTagInfo

from central_system.domain.model import (
    BootInfo,
    ConnectorStatus,
    IdTagInfo,
    ReportedMeterValue,
    SampledValue,
)


@lru_cache(maxsize=2048)
def _snake_key(key: str) -> str:
    converted: dict[str, Any] = camel_to_snake_case({key: None})
    return next(iter(converted))


@lru_cache(maxsize=2048)
def _camel_key(key: str) -> str:
    converted: dict[str, Any] = snake_to_camel_case({key: None})
    return next(iter(converted))


def _rename(data: Any, key: Callable[[str], str]) -> Any:
    if isinstance(data, dict):
        return {key(name): _rename(value, key) for name, value in data.items()}
    if isinstance(data, list):
        return [_rename(value, key) for value in data]
    return data


def to_snake_case(payload: Any) -> Any:
    """The library's ``camel_to_snake_case``, each key's spelling worked out once.

    The library runs two regular expressions per key of every message; the keys
    of OCPP 1.6 are few, so their conversions are remembered (bounded: a charger
    cannot grow the cache past ``maxsize``).
    """
    return _rename(payload, _snake_key)


def to_camel_case(payload: Any) -> Any:
    """The library's ``snake_to_camel_case``, each key's spelling worked out once."""
    return _rename(payload, _camel_key)


def ocpp_time(moment: datetime) -> str:
    """UTC with a ``Z``, millisecond precision: what every 1.6 charger can parse."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def id_tag_info(info: IdTagInfo) -> OcppIdTagInfo:
    return OcppIdTagInfo(
        status=info.status.value,
        expiry_date=None if info.expiry_date is None else ocpp_time(info.expiry_date),
        parent_id_tag=info.parent_id_tag,
    )


def boot_info(payload: Mapping[str, Any]) -> BootInfo:
    return BootInfo(
        vendor=payload["charge_point_vendor"],
        model=payload["charge_point_model"],
        serial_number=payload.get("charge_point_serial_number"),
        charge_box_serial_number=payload.get("charge_box_serial_number"),
        firmware_version=payload.get("firmware_version"),
        iccid=payload.get("iccid"),
        imsi=payload.get("imsi"),
        meter_type=payload.get("meter_type"),
        meter_serial_number=payload.get("meter_serial_number"),
    )


def connector_status(payload: Mapping[str, Any]) -> ConnectorStatus:
    return ConnectorStatus(
        connector_id=payload["connector_id"],
        status=payload["status"],
        error_code=payload["error_code"],
        info=payload.get("info"),
        vendor_id=payload.get("vendor_id"),
        vendor_error_code=payload.get("vendor_error_code"),
        timestamp_raw=payload.get("timestamp"),
    )


def meter_values(values: Iterable[Mapping[str, Any]]) -> tuple[ReportedMeterValue, ...]:
    return tuple(
        ReportedMeterValue(
            timestamp_raw=value["timestamp"],
            sampled_values=tuple(
                SampledValue(
                    value=sample["value"],
                    measurand=sample.get("measurand"),
                    unit=sample.get("unit"),
                    phase=sample.get("phase"),
                    context=sample.get("context"),
                    location=sample.get("location"),
                    format=sample.get("format"),
                )
                for sample in value["sampled_value"]
            ),
        )
        for value in values
    )

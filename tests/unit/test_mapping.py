"""Translation between library payloads (snake_case) and domain values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case

from central_system.domain.model import (
    BootInfo,
    ConnectorStatus,
    IdTagInfo,
    ReportedMeterValue,
    SampledValue,
    TagStatus,
)
from central_system.transport import mapping

CEST = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(
            datetime(2026, 6, 1, 14, 30, 5, 123456, tzinfo=CEST),
            "2026-06-01T12:30:05.123Z",
            id="offset converted, microseconds cut to milliseconds",
        ),
        pytest.param(
            datetime(2026, 6, 1, 0, 30, tzinfo=CEST),
            "2026-05-31T22:30:00.000Z",
            id="offset crosses the date",
        ),
        pytest.param(
            datetime(2026, 6, 1, 12, 0, 0, 999999, tzinfo=UTC),
            "2026-06-01T12:00:00.999Z",
            id="truncated, not rounded",
        ),
        pytest.param(
            datetime(2026, 6, 1, 12, 0, 0, 7000, tzinfo=timezone(timedelta(hours=-5))),
            "2026-06-01T17:00:00.007Z",
            id="negative offset, zero-padded milliseconds",
        ),
    ],
)
def test_ocpp_time(moment: datetime, expected: str) -> None:
    text = mapping.ocpp_time(moment)
    assert text == expected
    assert datetime.fromisoformat(text) == moment.replace(
        microsecond=moment.microsecond // 1000 * 1000
    )


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        pytest.param(
            IdTagInfo(TagStatus.ACCEPTED),
            {"status": "Accepted", "expiry_date": None, "parent_id_tag": None},
            id="status only",
        ),
        pytest.param(
            IdTagInfo(
                TagStatus.EXPIRED,
                expiry_date=datetime(2026, 6, 1, 14, 0, tzinfo=CEST),
                parent_id_tag="FAMILY",
            ),
            {
                "status": "Expired",
                "expiry_date": "2026-06-01T12:00:00.000Z",
                "parent_id_tag": "FAMILY",
            },
            id="expiry in UTC and parent",
        ),
        pytest.param(
            IdTagInfo(TagStatus.CONCURRENT_TX),
            {"status": "ConcurrentTx", "expiry_date": None, "parent_id_tag": None},
            id="ConcurrentTx spelled as 1.6 does",
        ),
    ],
)
def test_id_tag_info(info: IdTagInfo, expected: dict[str, object]) -> None:
    converted = mapping.id_tag_info(info)
    assert {
        "status": converted.status,
        "expiry_date": converted.expiry_date,
        "parent_id_tag": converted.parent_id_tag,
    } == expected
    assert type(converted.status) is str  # not the domain enum: the library serialises it


def test_boot_info_with_every_field() -> None:
    payload = {
        "charge_point_vendor": "Garage",
        "charge_point_model": "Wallbox",
        "charge_point_serial_number": "CP-SN",
        "charge_box_serial_number": "CB-SN",
        "firmware_version": "1.2.3",
        "iccid": "8949",
        "imsi": "2620",
        "meter_type": "Eastron",
        "meter_serial_number": "M-SN",
    }
    assert mapping.boot_info(payload) == BootInfo(
        vendor="Garage",
        model="Wallbox",
        serial_number="CP-SN",
        charge_box_serial_number="CB-SN",
        firmware_version="1.2.3",
        iccid="8949",
        imsi="2620",
        meter_type="Eastron",
        meter_serial_number="M-SN",
    )


def test_boot_info_with_only_required_fields() -> None:
    info = mapping.boot_info({"charge_point_vendor": "Garage", "charge_point_model": "Wallbox"})
    assert info == BootInfo(vendor="Garage", model="Wallbox")


def test_connector_status() -> None:
    payload = {
        "connector_id": 2,
        "status": "Faulted",
        "error_code": "GroundFailure",
        "info": "RCD tripped",
        "vendor_id": "com.example",
        "vendor_error_code": "E42",
        "timestamp": "2026-06-01T12:00:00Z",
    }
    assert mapping.connector_status(payload) == ConnectorStatus(
        connector_id=2,
        status="Faulted",
        error_code="GroundFailure",
        info="RCD tripped",
        vendor_id="com.example",
        vendor_error_code="E42",
        timestamp_raw="2026-06-01T12:00:00Z",
    )


def test_connector_status_without_timestamp() -> None:
    report = mapping.connector_status(
        {"connector_id": 0, "status": "Available", "error_code": "NoError"}
    )
    assert report == ConnectorStatus(connector_id=0, status="Available", error_code="NoError")
    assert report.timestamp_raw is None


def test_meter_values() -> None:
    values = [
        {
            "timestamp": "2026-06-01T12:00:00Z",
            "sampled_value": [
                {
                    "value": "1234.5",
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "kWh",
                    "phase": "L1",
                    "context": "Sample.Periodic",
                    "location": "Outlet",
                    "format": "Raw",
                },
                {"value": "16"},
            ],
        },
        {"timestamp": "", "sampled_value": [{"value": "7", "unit": "Hz"}]},
    ]
    assert mapping.meter_values(values) == (
        ReportedMeterValue(
            timestamp_raw="2026-06-01T12:00:00Z",
            sampled_values=(
                SampledValue(
                    value="1234.5",
                    measurand="Energy.Active.Import.Register",
                    unit="kWh",
                    phase="L1",
                    context="Sample.Periodic",
                    location="Outlet",
                    format="Raw",
                ),
                SampledValue(value="16"),
            ),
        ),
        ReportedMeterValue(timestamp_raw="", sampled_values=(SampledValue(value="7", unit="Hz"),)),
    )


def test_no_meter_values() -> None:
    assert mapping.meter_values([]) == ()


def _schema_keys() -> list[str]:
    """Every property name of every OCPP 1.6 schema the library ships."""
    keys: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for schema in (resources.files("ocpp") / "v16" / "schemas").iterdir():
        if schema.name.endswith(".json"):
            walk(json.loads(schema.read_text(encoding="utf-8")))
    return sorted(keys)


SCHEMA_KEYS = _schema_keys()


def test_every_schema_key_is_known() -> None:
    assert "chargePointVendor" in SCHEMA_KEYS
    assert len(SCHEMA_KEYS) > 50


@pytest.mark.parametrize("key", SCHEMA_KEYS)
def test_key_conversion_is_the_librarys(key: str) -> None:
    nested = {key: [{key: 1}, 2], "x": {key: None}}
    snake = camel_to_snake_case(nested)

    assert mapping.to_snake_case(nested) == snake
    assert mapping.to_camel_case(snake) == snake_to_camel_case(snake)

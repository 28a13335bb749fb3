"""Request and response bodies. Never ORM rows; requests forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from central_system.domain.model import (
    Connector,
    Event,
    IdTag,
    LoggedMessage,
    MeterValue,
    RegistrationStatus,
    TagStatus,
    Transaction,
)
from central_system.services import ChargePointView, TransactionView


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChargePointPut(Request):
    registration_status: RegistrationStatus = Field(
        RegistrationStatus.ACCEPTED, description="How the charger's BootNotification is answered."
    )


class IdTagPut(Request):
    status: TagStatus = TagStatus.ACCEPTED
    expiry_date: AwareDatetime | None = Field(None, description="ISO 8601 with an offset.")
    parent_id_tag: str | None = Field(None, min_length=1, max_length=20)


class ConnectorOut(BaseModel):
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    status_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, connector: Connector) -> ConnectorOut:
        return cls(
            connector_id=connector.connector_id,
            status=connector.status,
            error_code=connector.error_code,
            info=connector.info,
            vendor_id=connector.vendor_id,
            vendor_error_code=connector.vendor_error_code,
            status_at=connector.status_at,
            updated_at=connector.updated_at,
        )


class ChargePointOut(BaseModel):
    id: str
    registration_status: RegistrationStatus
    connected: bool
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    diagnostics_status: str | None
    firmware_status: str | None
    feature_profiles: list[str] | None = Field(
        None, description="SupportedFeatureProfiles as read at the last boot."
    )
    can_display_reminders: bool | None = Field(
        None,
        description="CustomDisplayCostAndPrice at the last boot; false: reminders need a "
        "model style (reminder_models) to be shown.",
    )
    configuration_refused: dict[str, str] | None = Field(
        None, description="Keys the rule needs that the charger refused to set, with its answer."
    )
    connectors: list[ConnectorOut]

    @classmethod
    def of(cls, view: ChargePointView, connected: bool) -> ChargePointOut:
        cp = view.charge_point
        caps = cp.capabilities
        return cls(
            id=cp.id,
            registration_status=cp.registration_status,
            connected=connected,
            vendor=cp.vendor,
            model=cp.model,
            serial_number=cp.serial_number,
            firmware_version=cp.firmware_version,
            last_boot_at=cp.last_boot_at,
            last_seen_at=cp.last_seen_at,
            diagnostics_status=cp.diagnostics_status,
            firmware_status=cp.firmware_status,
            feature_profiles=None if caps is None else sorted(caps.feature_profiles),
            can_display_reminders=None if caps is None else caps.can_display_messages,
            configuration_refused=None if caps is None else dict(caps.refused),
            connectors=[ConnectorOut.of(c) for c in view.connectors],
        )


class IdTagOut(BaseModel):
    id_tag: str
    status: TagStatus
    expiry_date: datetime | None
    parent_id_tag: str | None

    @classmethod
    def of(cls, tag: IdTag) -> IdTagOut:
        return cls(
            id_tag=tag.id_tag,
            status=tag.status,
            expiry_date=tag.expiry_date,
            parent_id_tag=tag.parent_id_tag,
        )


class SampledValueOut(BaseModel):
    value: str
    measurand: str | None
    unit: str | None
    phase: str | None
    context: str | None
    location: str | None
    format: str | None


class MeterValueOut(BaseModel):
    timestamp: datetime
    source: str
    sampled_values: list[SampledValueOut]

    @classmethod
    def of(cls, value: MeterValue, source: str) -> MeterValueOut:
        return cls(
            timestamp=value.timestamp,
            source=source,
            sampled_values=[
                SampledValueOut(
                    value=s.value,
                    measurand=s.measurand,
                    unit=s.unit,
                    phase=s.phase,
                    context=s.context,
                    location=s.location,
                    format=s.format,
                )
                for s in value.sampled_values
            ],
        )


class TransactionOut(BaseModel):
    id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    start_status: TagStatus
    meter_start: int
    started_at: datetime
    reservation_id: int | None
    meter_stop: int | None
    stopped_at: datetime | None
    stop_reason: str | None
    stop_id_tag: str | None
    energy_wh: int | None

    @classmethod
    def of(cls, t: Transaction) -> TransactionOut:
        return cls(
            id=t.id,
            charge_point_id=t.charge_point_id,
            connector_id=t.connector_id,
            id_tag=t.id_tag,
            start_status=t.start_status,
            meter_start=t.meter_start,
            started_at=t.started_at,
            reservation_id=t.reservation_id,
            meter_stop=t.meter_stop,
            stopped_at=t.stopped_at,
            stop_reason=t.stop_reason,
            stop_id_tag=t.stop_id_tag,
            energy_wh=t.energy_wh,
        )


class TransactionDetailOut(TransactionOut):
    meter_values: list[MeterValueOut]

    @classmethod
    def of_view(cls, view: TransactionView) -> TransactionDetailOut:
        return cls(
            **TransactionOut.of(view.transaction).model_dump(),
            meter_values=[MeterValueOut.of(v, source) for v, source in view.meter_values],
        )


class EventOut(BaseModel):
    kind: str
    at: datetime
    charge_point_id: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            kind=event.kind.value,
            at=event.at,
            charge_point_id=event.charge_point_id,
            detail=dict(event.detail),
        )


class MessageOut(BaseModel):
    charge_point_id: str
    direction: str
    message_type: int | None
    action: str | None
    unique_id: str | None
    payload: str
    at: datetime

    @classmethod
    def of(cls, m: LoggedMessage) -> MessageOut:
        return cls(
            charge_point_id=m.charge_point_id,
            direction=m.direction,
            message_type=m.message_type,
            action=m.action,
            unique_id=m.unique_id,
            payload=m.payload,
            at=m.at,
        )

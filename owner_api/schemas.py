"""Request and response bodies. Never ORM rows; requests forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator

from central_system.administration import OwnerView
from central_system.domain.garage import ReservationState, Space, SpaceState
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
from central_system.domain.security import ChargerSecurity
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


# ------------------------------------------------------------------ problems


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable for apps to branch on."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


# --------------------------------------------------------------- owner API


class LoginIn(Request):
    login: str = Field(min_length=1, max_length=254, description="E-mail address or name.")
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_at: datetime


class MeOut(BaseModel):
    id: int
    name: str
    login: str | None


class FreeSpaceOut(BaseModel):
    id: int
    label: str
    level: str | None


class SpaceStateOut(FreeSpaceOut):
    state: SpaceState


class ReservationIn(Request):
    space_id: int = Field(ge=1, le=2**31 - 1)
    starts_at: AwareDatetime | None = Field(
        None, description="When the space is needed from (ISO 8601 with an offset); default now."
    )
    ends_at: AwareDatetime = Field(description="When the space is released again.")


class SessionOut(BaseModel):
    id: int
    reservation_id: int | None
    started_at: datetime
    stopped_at: datetime | None
    is_open: bool
    duration_seconds: int
    energy_kwh: float | None = Field(description="Energy charged so far, or in total when closed.")
    power_kw: float | None = Field(description="Latest power reported, or estimated from energy.")
    stop_reason: str | None


class SessionDetailOut(SessionOut):
    meter_values: list[MeterValueOut]


class ReservationOut(BaseModel):
    id: int
    space_id: int
    space_label: str
    starts_at: datetime
    ends_at: datetime
    arrival_deadline: datetime
    state: ReservationState
    holds_now: bool = Field(description="The space is held for you right now.")
    space_state: SpaceState | None = Field(description="What the space is doing now.")
    session: SessionOut | None = Field(description="The charging session on this reservation.")
    notice: str | None = Field(description="Something you should know, in plain words.")


class ChargerVerdictOut(BaseModel):
    status: str = Field(description='The charger\'s answer: "Accepted" or "Rejected".')
    charge_point_id: str
    connector_id: int


# ------------------------------------------------------ operator: the garage


class SpaceIn(Request):
    label: str = Field(min_length=1, max_length=40)
    level: str | None = Field(None, max_length=40)
    charge_point_id: str | None = Field(None, min_length=1, max_length=255)
    connector_id: int | None = Field(None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _both_or_neither(self) -> SpaceIn:
        if (self.charge_point_id is None) != (self.connector_id is None):
            raise ValueError("charge_point_id and connector_id go together")
        return self


class ConnectorIn(Request):
    charge_point_id: str = Field(min_length=1, max_length=255)
    connector_id: int = Field(ge=1, le=2**31 - 1)


class SpaceOut(BaseModel):
    id: int
    label: str
    level: str | None
    charge_point_id: str | None
    connector_id: int | None

    @classmethod
    def of(cls, space: Space) -> SpaceOut:
        return cls(
            id=space.id,
            label=space.label,
            level=space.level,
            charge_point_id=space.charge_point_id,
            connector_id=space.connector_id,
        )


class OwnerIn(Request):
    name: str = Field(min_length=1, max_length=120)
    login: str | None = Field(None, min_length=1, max_length=254)
    password: str | None = Field(None, min_length=8, max_length=256)

    @model_validator(mode="after")
    def _both_or_neither(self) -> OwnerIn:
        if (self.login is None) != (self.password is None):
            raise ValueError("login and password go together")
        return self


class OwnerNameIn(Request):
    name: str = Field(min_length=1, max_length=120)


class OwnerLoginIn(Request):
    login: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=8, max_length=256)


class OwnerOut(BaseModel):
    id: int
    name: str
    login: str | None
    tags: list[IdTagOut]

    @classmethod
    def of(cls, view: OwnerView) -> OwnerOut:
        return cls(
            id=view.owner.id,
            name=view.owner.name,
            login=view.login,
            tags=[IdTagOut.of(t) for t in view.tags],
        )


# ---------------------------------------------------------- charger security


class SecurityProfileIn(Request):
    security_profile: int = Field(
        ge=0,
        le=3,
        description="0: no authentication; 1: Basic over ws://; 2: Basic over wss://; "
        "3: client certificate over wss://.",
    )


class ChargerPasswordIn(Request):
    password: SecretStr | None = Field(
        None,
        description="16-20 printable ASCII characters or 32-40 hex digits (the key's bytes). "
        "Omitted: 20 random bytes are generated and shown once, as 40 hex digits.",
    )


class KeyRotationIn(Request):
    key: SecretStr | None = Field(
        None,
        description="The new AuthorizationKey: 16-20 printable ASCII characters or 32-40 hex "
        "digits. Omitted: 20 random bytes are generated (and not shown).",
    )


class ChargerSecurityOut(BaseModel):
    charge_point_id: str
    security_profile: int = Field(description="The profile the charger must connect at.")
    password_set: bool
    password_set_at: datetime | None
    key_rotation_pending: bool = Field(
        description="A new key was sent without a clear answer; both are accepted until the "
        "charger authenticates with the new one."
    )

    @classmethod
    def of(cls, security: ChargerSecurity) -> ChargerSecurityOut:
        return cls(
            charge_point_id=security.charge_point_id,
            security_profile=int(security.required_profile),
            password_set=security.password_hash is not None,
            password_set_at=security.password_set_at,
            key_rotation_pending=security.pending_password_hash is not None,
        )


class ChargerPasswordOut(ChargerSecurityOut):
    generated_password: str | None = Field(
        None, description="The generated password (40 hex digits); shown this once only."
    )


class KeyRotationOut(BaseModel):
    status: str = Field(description="The charger's ChangeConfiguration answer.")
    key_changed: bool = Field(description="The new key is now the only one accepted.")
    key_rotation_pending: bool = Field(
        description="Old and new key are both accepted until the charger uses the new one."
    )

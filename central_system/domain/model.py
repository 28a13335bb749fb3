"""Domain values: what a charger is, what it told us, and what we answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RegistrationStatus(StrEnum):
    """How a charger's BootNotification is answered (OCPP 1.6 §7.44)."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class TagStatus(StrEnum):
    """``AuthorizationStatus`` of OCPP 1.6 §7.2."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class UnknownChargerPolicy(StrEnum):
    """What to do with a WebSocket from a charge point id we have no record of."""

    REJECT = "reject"
    ACCEPT = "accept"


@dataclass(frozen=True, slots=True)
class ChargePoint:
    id: str
    registration_status: RegistrationStatus = RegistrationStatus.ACCEPTED
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    last_boot_at: datetime | None = None
    last_seen_at: datetime | None = None
    diagnostics_status: str | None = None
    firmware_status: str | None = None
    capabilities: ChargerCapabilities | None = None


@dataclass(frozen=True, slots=True)
class ChargerCapabilities:
    """What a charger told us about itself in GetConfiguration, and what it refused."""

    feature_profiles: frozenset[str] = frozenset()
    #: ``CustomDisplayCostAndPrice`` (OCA California Pricing): None when not reported.
    can_display_messages: bool | None = None
    configuration: dict[str, str | None] = field(default_factory=dict)
    #: Configuration keys we asked to change and the charger's answer when not Accepted.
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def supports_reservations(self) -> bool:
        return "Reservation" in self.feature_profiles


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a charger says about itself in BootNotification."""

    vendor: str
    model: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus
    interval: int
    current_time: datetime


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """One StatusNotification, as received (connector 0 is the charger itself)."""

    connector_id: int
    status: str
    error_code: str
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    timestamp_raw: str | None = None


@dataclass(frozen=True, slots=True)
class Connector:
    charge_point_id: str
    connector_id: int
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    status_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class IdTag:
    """An idTag as the operator registered it."""

    id_tag: str
    status: TagStatus = TagStatus.ACCEPTED
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    owner_id: int | None = None


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """The verdict on a presented idTag (OCPP 1.6 §7.29)."""

    status: TagStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class SampledValue:
    value: str
    measurand: str | None = None
    unit: str | None = None
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class MeterValue:
    timestamp: datetime
    sampled_values: tuple[SampledValue, ...]


@dataclass(frozen=True, slots=True)
class ReportedMeterValue:
    """A meter value as the charger sent it, its timestamp not yet interpreted."""

    timestamp_raw: str
    sampled_values: tuple[SampledValue, ...]


@dataclass(frozen=True, slots=True)
class StartRequest:
    connector_id: int
    id_tag: str
    meter_start: int
    timestamp_raw: str
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class StopRequest:
    transaction_id: int
    meter_stop: int
    timestamp_raw: str
    id_tag: str | None = None
    reason: str | None = None
    transaction_data: tuple[ReportedMeterValue, ...] = ()


@dataclass(frozen=True, slots=True)
class Transaction:
    id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    reservation_id: int | None = None
    start_status: TagStatus = TagStatus.ACCEPTED
    meter_stop: int | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None

    @property
    def energy_wh(self) -> int | None:
        return None if self.meter_stop is None else self.meter_stop - self.meter_start


class EventKind(StrEnum):
    """What the operator is told about; each one says why."""

    CHARGER_REGISTERED = "charger_registered"
    STOP_UNKNOWN_TRANSACTION = "stop_unknown_transaction"
    STOP_ALREADY_STOPPED = "stop_already_stopped"
    START_REPLAYED = "start_replayed"
    TRANSACTION_LEFT_OPEN = "transaction_left_open"
    NEGATIVE_ENERGY = "negative_energy"
    SUSPECT_TIMESTAMP = "suspect_timestamp"
    SCHEMA_QUIRK_ACCEPTED = "schema_quirk_accepted"
    DIAGNOSTICS_STATUS = "diagnostics_status"
    FIRMWARE_STATUS = "firmware_status"
    RESERVATION_BOOKED = "reservation_booked"
    RESERVATION_ACTIVE = "reservation_active"
    RESERVATION_CANCELLED = "reservation_cancelled"
    RESERVATION_EXPIRED = "reservation_expired"
    RESERVATION_FULFILLED = "reservation_fulfilled"
    CHARGING_ALLOWED = "charging_allowed"
    CHARGING_REFUSED = "charging_refused"
    REMINDER_SENT = "reminder_sent"
    REMINDER_FAILED = "reminder_failed"
    REMINDER_NOT_SHOWN = "reminder_not_shown"
    CHARGER_CONFIGURED = "charger_configured"
    CHARGER_NOT_CONFIGURED = "charger_not_configured"
    RESERVATION_MIRRORED = "reservation_mirrored"
    RESERVATION_NOT_MIRRORED = "reservation_not_mirrored"
    # Charger security (docs/security.md): the reason is kept, never a secret.
    AUTHENTICATION_FAILED = "authentication_failed"
    AUTHENTICATION_THROTTLED = "authentication_throttled"
    SECURITY_PROFILE_RAISED = "security_profile_raised"
    CREDENTIALS_CHANGED = "credentials_changed"
    AUTHORIZATION_KEY_ROTATED = "authorization_key_rotated"
    AUTHORIZATION_KEY_NOT_ROTATED = "authorization_key_not_rotated"
    SECURITY_EVENT = "security_event"
    CRITICAL_SECURITY_EVENT = "critical_security_event"
    CERTIFICATE_SIGNED = "certificate_signed"
    CERTIFICATE_NOT_SIGNED = "certificate_not_signed"
    LOG_STATUS = "log_status"
    SIGNED_FIRMWARE_STATUS = "signed_firmware_status"


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    at: datetime
    charge_point_id: str | None = None
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """One OCPP-J frame, in ("in", from the charger) or out ("out", to it)."""

    charge_point_id: str
    direction: str
    message_type: int | None
    action: str | None
    unique_id: str | None
    payload: str
    at: datetime

"""Database rows. These are not the domain classes; repositories translate."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ChargePointRow(Base):
    __tablename__ = "charge_points"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    registration_status: Mapped[str] = mapped_column(String(16))
    vendor: Mapped[str | None] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(20))
    serial_number: Mapped[str | None] = mapped_column(String(25))
    charge_box_serial_number: Mapped[str | None] = mapped_column(String(25))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(20))
    meter_type: Mapped[str | None] = mapped_column(String(25))
    meter_serial_number: Mapped[str | None] = mapped_column(String(25))
    diagnostics_status: Mapped[str | None] = mapped_column(String(32))
    firmware_status: Mapped[str | None] = mapped_column(String(32))
    # From GetConfiguration at boot: what the charger can do, and what it refused.
    feature_profiles: Mapped[str | None] = mapped_column(String(255))
    can_display_messages: Mapped[bool | None] = mapped_column(Boolean)
    configuration: Mapped[dict[str, str | None] | None] = mapped_column(JSON)
    configuration_refused: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_boot_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Security (docs/security.md): the profile it must connect at; passwords only as
    # salted argon2 hashes, the pending one while a key rotation waits for an answer.
    security_profile: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    pending_password_hash: Mapped[str | None] = mapped_column(String(255))
    password_set_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ConnectorRow(Base):
    __tablename__ = "connectors"

    charge_point_id: Mapped[str] = mapped_column(
        ForeignKey("charge_points.id", ondelete="CASCADE"), primary_key=True
    )
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(32))
    info: Mapped[str | None] = mapped_column(String(50))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StatusNotificationRow(Base):
    """Every StatusNotification, in the order received."""

    __tablename__ = "status_notifications"
    __table_args__ = (Index("ix_status_notifications_cp", "charge_point_id", "connector_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(32))
    info: Mapped[str | None] = mapped_column(String(50))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IdTagRow(Base):
    __tablename__ = "id_tags"

    id_tag: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    expiry_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    parent_id_tag: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("owners.id", ondelete="SET NULL", name="fk_id_tags_owner_id_owners"), index=True
    )


class OwnerRow(Base):
    __tablename__ = "owners"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SpaceRow(Base):
    """A parking space; the charger connector on it, if any, is unique to it."""

    __tablename__ = "spaces"
    __table_args__ = (
        UniqueConstraint("charge_point_id", "connector_id", name="uq_spaces_connector"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    label: Mapped[str] = mapped_column(String(40), unique=True)
    level: Mapped[str | None] = mapped_column(String(40))
    charge_point_id: Mapped[str | None] = mapped_column(
        ForeignKey("charge_points.id", ondelete="SET NULL")
    )
    connector_id: Mapped[int | None] = mapped_column(Integer)


class ReservationRow(Base):
    """A space held for an owner; ``id`` doubles as the OCPP reservationId."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_space", "space_id", "state", "starts_at"),
        Index("ix_reservations_due", "state", "arrival_deadline"),
        Index("ix_reservations_owner", "owner_id", "state"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    arrival_deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TransactionRow(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        # A retried StartTransaction carries the same five values: one row, one id.
        UniqueConstraint(
            "charge_point_id",
            "connector_id",
            "id_tag",
            "start_timestamp_raw",
            "meter_start",
            name="uq_transactions_start",
        ),
        Index("ix_transactions_open", "charge_point_id", "connector_id", "stopped_at"),
        # Ids are never reused, even after the newest row is deleted.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(
        ForeignKey("charge_points.id", ondelete="RESTRICT")
    )
    connector_id: Mapped[int] = mapped_column(Integer)
    id_tag: Mapped[str] = mapped_column(String(20))
    meter_start: Mapped[int] = mapped_column(BigInteger)
    start_timestamp_raw: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reservation_id: Mapped[int | None] = mapped_column(Integer)
    start_status: Mapped[str] = mapped_column(String(16))
    meter_stop: Mapped[int | None] = mapped_column(BigInteger)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    stop_id_tag: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MeterValueRow(Base):
    """One sampled value, with the meter value's timestamp and where it came from."""

    __tablename__ = "meter_values"
    __table_args__ = (
        Index("ix_meter_values_transaction", "transaction_id"),
        Index("ix_meter_values_cp", "charge_point_id", "connector_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="SET NULL")
    )
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    value: Mapped[str] = mapped_column(String(64))
    measurand: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(16))
    phase: Mapped[str | None] = mapped_column(String(8))
    context: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(16))
    format: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))


class EventRow(Base):
    """Something the operator should know about, with why."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_cp", "charge_point_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    charge_point_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, object]] = mapped_column(JSON)


class DataTransferRow(Base):
    __tablename__ = "data_transfers"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    vendor_id: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(50))
    data: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MessageLogRow(Base):
    """Every OCPP-J frame in and out, kept for a configured number of days."""

    __tablename__ = "message_log"
    __table_args__ = (
        Index("ix_message_log_cp", "charge_point_id", "at"),
        Index("ix_message_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(3))  # "in" from the charger, "out" to it
    message_type: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str | None] = mapped_column(String(64))
    unique_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class OwnerAccountRow(Base):
    """An owner's login for the owner API; the password only as an argon2 hash."""

    __tablename__ = "owner_accounts"

    owner_id: Mapped[int] = mapped_column(
        ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True
    )
    login: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OwnerTokenRow(Base):
    """A bearer token of the owner API, kept as its SHA-256 digest, never in clear."""

    __tablename__ = "owner_tokens"
    __table_args__ = (
        Index("ix_owner_tokens_owner", "owner_id"),
        Index("ix_owner_tokens_expires", "expires_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

"""Settings, built once at start from flags and environment variables.

Every setting is an environment variable ``CENTRAL_SYSTEM_<NAME>`` and a flag
``--<name-in-kebab-case>`` of ``python -m central_system``; a flag wins over the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from central_system.domain.charging_rule import ChargingPolicy
from central_system.domain.model import UnknownChargerPolicy

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/central_system.sqlite3"
_MASK = "*" * 10


class ReminderModel(BaseModel):
    """How one charger model shows the reminder (overrides the reminder_* settings)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    vendor_id: str | None = Field(None, max_length=255)
    message_id: str | None = Field(None, max_length=50)
    language: str | None = Field(None, pattern=r"^(en|zh-Hans)$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_SYSTEM_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address both listeners bind to.")
    ocpp_port: int = Field(9000, ge=0, le=65535, description="OCPP-J WebSocket port.")
    api_port: int = Field(8000, ge=0, le=65535, description="HTTP API port.")
    ocpp_path_prefix: str = Field(
        "/ocpp", description="Charge points connect to ws://host:port/<prefix>/<chargePointId>."
    )
    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL),
        description="sqlite+aiosqlite:///path or postgresql+asyncpg://user:pw@host/db",
    )
    database_pool_size: int = Field(10, ge=1)
    database_schema: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="PostgreSQL only: the schema to use (search_path); default: the user's.",
    )
    operator_token: SecretStr | None = Field(
        None,
        description="Bearer token of the operator API; unset: read or create operator_token_file.",
    )
    operator_token_file: Path = Field(
        Path("var/operator-token"),
        description="Where a generated operator token is kept (mode 0600) when none is given.",
    )
    unknown_chargers: UnknownChargerPolicy = Field(
        UnknownChargerPolicy.REJECT,
        description="reject: HTTP 404 before the upgrade; accept: register on first connect.",
    )
    heartbeat_interval: int = Field(300, ge=1, description="Seconds, sent in BootNotification.")
    boot_retry_interval: int = Field(
        60, ge=1, description="Seconds a Pending/Rejected charger waits before booting again."
    )
    ocpp_response_timeout: float = Field(30.0, gt=0, description="Seconds to wait for a charger.")
    ocpp_command_queue: int = Field(
        32, ge=1, description="Commands that may wait for one charger before 503."
    )
    ws_max_frame_bytes: int = Field(256 * 1024, ge=1024, description="Larger frames close 1009.")
    ws_open_timeout: float = Field(10.0, gt=0, description="Seconds to finish the handshake.")
    ws_ping_interval: float = Field(30.0, gt=0, description="Seconds between WebSocket pings.")
    ws_ping_timeout: float = Field(20.0, gt=0, description="Seconds to wait for a pong.")
    ws_inbox_size: int = Field(
        16, ge=1, description="Calls from one charger queued before reading pauses."
    )
    allow_missing_subprotocol: bool = Field(
        False,
        description="Admit legacy chargers that offer no Sec-WebSocket-Protocol as ocpp1.6.",
    )
    message_log_retention_days: int = Field(30, ge=1)
    message_log_batch: int = Field(500, ge=1)
    message_log_queue: int = Field(10_000, ge=1)
    charging_policy: ChargingPolicy = Field(
        ChargingPolicy.REGISTERED_TAGS,
        description="At an unreserved space: registered_tags may charge, or reservation_required.",
    )
    max_live_reservations: int = Field(2, ge=1, description="Open reservations per owner.")
    max_reservation_hours: float = Field(24.0, gt=0, description="Longest reservation window.")
    arrival_grace_minutes: float = Field(
        30.0, gt=0, description="Minutes after a window opens before a no-show frees the space."
    )
    reservation_tick_seconds: float = Field(
        15.0, gt=0, description="How often reservations are opened, expired and closed."
    )
    configure_at_boot: bool = Field(
        True,
        description="After an accepted boot: read the configuration, set what the rule needs, "
        "re-issue reservations.",
    )
    reminder_vendor_id: str = Field("org.openchargealliance.costmsg", max_length=255)
    reminder_message_id: str | None = Field("SetUserPrice", max_length=50)
    reminder_language: str = Field("en", pattern=r"^(en|zh-Hans)$")
    reminder_models: dict[str, ReminderModel] = Field(
        default_factory=dict,
        description='Per charger model: {"Model": {"enabled": false}} or other vendor/message/'
        "language (JSON).",
    )
    log_level: str = Field("INFO")
    seed_demo: bool = Field(False, description="Seed the demo garage into an empty database.")

    @field_validator("ocpp_path_prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        return "/" + value.strip("/") if value.strip("/") else ""

    def safe_dump(self) -> dict[str, Any]:
        """The settings for the start-up log line: no secret appears in it."""
        dumped = self.model_dump(mode="json")
        dumped["operator_token"] = None if self.operator_token is None else _MASK
        dumped["database_url"] = make_url(self.database_url.get_secret_value()).render_as_string(
            hide_password=True
        )
        return dumped

    def sqlite_path(self) -> Path | None:
        url = make_url(self.database_url.get_secret_value())
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database)

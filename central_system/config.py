"""Settings, built once at start from flags and environment variables.

Every setting is an environment variable ``CENTRAL_SYSTEM_<NAME>`` and a flag
``--<name-in-kebab-case>`` of ``python -m central_system``; a flag wins over the
environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from central_system.domain.charging_rule import ChargingPolicy
from central_system.domain.model import UnknownChargerPolicy
from central_system.domain.security import WHITEPAPER_CIPHERS, CertificateName

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
    # Charger security: profiles, TLS and the CA for chargers (docs/security.md).
    ocpp_plain_enabled: bool = Field(
        True, description="Serve ws:// on ocpp_port (security profiles 0 and 1)."
    )
    ocpp_tls_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve wss:// on this port too (profiles 2 and 3); needs tls_cert_file "
        "and tls_key_file. Unset: no TLS listener.",
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate (chain) of the wss:// listener; its CN is the FQDN."
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_key_password: SecretStr | None = Field(None, description="Password of tls_key_file.")
    tls_client_ca_file: Path | None = Field(
        None,
        description="PEM CA certificate(s) chargers' client certificates must chain to "
        "(profile 3). Unset: the TLS listener asks for no client certificate.",
    )
    tls_require_client_certificate: bool = Field(
        False,
        description="Only profile 3 on the TLS listener: no handshake without a client "
        "certificate. Default: profiles 2 and 3 share it.",
    )
    tls_client_certificate_name: CertificateName = Field(
        CertificateName.CHARGE_POINT_ID,
        description="What a client certificate's CN must be: charge_point_id, or "
        "serial_number (as the charger's BootNotification reported it).",
    )
    tls_client_organization: str | None = Field(
        None, description="If set, a client certificate's O must be this (the CPO's name)."
    )
    tls_ciphers: str = Field(
        WHITEPAPER_CIPHERS,
        description="OpenSSL cipher list for TLS 1.2 (TLS 1.3 keeps its own suites).",
    )
    signing_ca_cert_file: Path | None = Field(
        None,
        description="PEM CA certificate that signs chargers' CSRs (SignCertificate). Unset: "
        "SignCertificate is answered Rejected.",
    )
    signing_ca_key_file: Path | None = Field(
        None, description="PEM private key of signing_ca_cert_file (not the TLS key)."
    )
    signing_ca_key_password: SecretStr | None = Field(
        None, description="Password of signing_ca_key_file."
    )
    signed_certificate_days: int = Field(
        365, ge=1, le=3650, description="Validity of the certificates signed for chargers."
    )
    charger_auth_failures: int = Field(
        10, ge=1, description="Failed charger handshakes from one address per window before 429."
    )
    charger_auth_window_seconds: float = Field(
        60.0, gt=0, description="The window of charger_auth_failures."
    )
    charger_auth_remember_seconds: float = Field(
        300.0,
        ge=0,
        description="How long a charger's checked password is remembered (0: check each time).",
    )
    charger_auth_concurrency: int = Field(
        2, ge=1, description="Password checks (argon2) running at once."
    )
    raise_security_profile_on_connect: bool = Field(
        True,
        description="A charger that connected at a higher profile is refused below it from "
        "then on (whitepaper A05.FR.09).",
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
    owner_token_hours: float = Field(
        12.0, gt=0, description="How long an owner's bearer token is valid after login."
    )
    password_time_cost: int = Field(3, ge=1, description="argon2id passes over memory.")
    password_memory_kib: int = Field(
        64 * 1024, ge=64, description="argon2id memory per password hash, in KiB."
    )
    login_failures_per_login: int = Field(
        5, ge=1, description="Failed logins for one login name per window before 429."
    )
    login_attempts_per_address: int = Field(
        20, ge=1, description="Login attempts from one address per window before 429."
    )
    login_window_seconds: float = Field(300.0, gt=0, description="The login throttle's window.")
    api_rate_per_second: float = Field(
        20.0, gt=0, description="Sustained API requests per second per token or address."
    )
    api_burst: int = Field(60, ge=1, description="API requests allowed at once before 429.")
    api_max_body_bytes: int = Field(
        256 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    redis_url: SecretStr | None = Field(
        None,
        description="redis://[:password@]host:6379/0 makes this process a cluster node "
        "(with a PostgreSQL database); unset: one process serves everything.",
    )
    redis_prefix: str = Field(
        "cs:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Prefix of every Redis key."
    )
    node_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,100}$",
        description="This node's name in the cluster; default: <hostname>-<pid>.",
    )
    ownership_lease_seconds: float = Field(
        15.0,
        ge=1,
        description="A dead node's chargers and jobs are free after this long (renewed at 1/3).",
    )
    redis_pool_size: int = Field(32, ge=2, description="Redis connections per process.")
    drain_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, how long commands in flight may take to finish."
    )
    workers: int = Field(
        1, ge=1, description="Processes sharing this node's ports (SO_REUSEPORT); needs redis_url."
    )
    reuse_port: bool = Field(
        False, description="Bind both listeners with SO_REUSEPORT (set for each of --workers)."
    )
    log_level: str = Field("INFO")
    seed_demo: bool = Field(False, description="Seed the demo garage into an empty database.")

    @field_validator("ocpp_path_prefix")
    @classmethod
    def _normalise_prefix(cls, value: str) -> str:
        return "/" + value.strip("/") if value.strip("/") else ""

    @model_validator(mode="after")
    def _tls_files_together(self) -> Settings:
        if self.ocpp_tls_port is not None and (
            self.tls_cert_file is None or self.tls_key_file is None
        ):
            raise ValueError("ocpp_tls_port needs tls_cert_file and tls_key_file")
        if self.tls_require_client_certificate and self.tls_client_ca_file is None:
            raise ValueError("tls_require_client_certificate needs tls_client_ca_file")
        if (self.signing_ca_cert_file is None) != (self.signing_ca_key_file is None):
            raise ValueError("signing_ca_cert_file and signing_ca_key_file go together")
        if not self.ocpp_plain_enabled and self.ocpp_tls_port is None:
            raise ValueError("with ocpp_plain_enabled off, ocpp_tls_port must be set")
        return self

    def safe_dump(self) -> dict[str, Any]:
        """The settings for the start-up log line: no secret appears in it."""
        dumped = self.model_dump(mode="json")
        dumped["operator_token"] = None if self.operator_token is None else _MASK
        dumped["database_url"] = make_url(self.database_url.get_secret_value()).render_as_string(
            hide_password=True
        )
        if self.redis_url is not None:
            dumped["redis_url"] = _hide_password(self.redis_url.get_secret_value())
        return dumped

    def sqlite_path(self) -> Path | None:
        url = make_url(self.database_url.get_secret_value())
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database)


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{_MASK}@{host}"))

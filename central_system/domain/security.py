"""Who may open a charger's connection: the OCPP 1.6 security profiles as one rule.

The security whitepaper defines three profiles; profile 0 is what a charger gets
before the operator sets anything up:

=======  ===============================  ================================
profile  transport                        the charger proves itself with
=======  ===============================  ================================
0        ws:// or wss://                  nothing (the default)
1        ws://                            HTTP Basic: its id and password
2        wss:// (server certificate)      HTTP Basic: its id and password
3        wss:// (mutual TLS)              its client certificate
=======  ===============================  ================================

A charger's *required* profile is the one the operator set, and at least 1 once
it has a password. A connection made at a lower profile is refused: no
downgrade (A00.FR.002, A05.FR.09). A verified client certificate that names the
charger is profile 3 and needs no password; one that names another charger is
refused outright. The password itself is checked outside this rule (it is
costly); the rule only says when it must be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

#: The security whitepaper's TLS 1.2 suites (A00.FR.317), in OpenSSL's names:
#: ECDHE-ECDSA or RSA key exchange, each with AES-128/256-GCM.
WHITEPAPER_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
    )
)


class SecurityProfile(IntEnum):
    NONE = 0
    BASIC = 1
    TLS_BASIC = 2
    TLS_CLIENT_CERTIFICATE = 3


class CertificateName(StrEnum):
    """What the common name (CN) of a charger's client certificate must be."""

    CHARGE_POINT_ID = "charge_point_id"
    SERIAL_NUMBER = "serial_number"


@dataclass(frozen=True, slots=True)
class ChargerSecurity:
    """What the central system knows to check a charger's connection against."""

    charge_point_id: str
    profile: SecurityProfile = SecurityProfile.NONE
    #: Salted argon2 hash of the charger's password (its ``AuthorizationKey``).
    password_hash: str | None = None
    #: A new password sent in ChangeConfiguration whose answer has not come yet.
    pending_password_hash: str | None = None
    password_set_at: datetime | None = None
    serial_numbers: frozenset[str] = frozenset()

    @property
    def password_hashes(self) -> tuple[str, ...]:
        """The passwords valid now: the current one, and a new one while a rotation waits."""
        return tuple(h for h in (self.password_hash, self.pending_password_hash) if h)

    @property
    def required_profile(self) -> SecurityProfile:
        if self.password_hash is not None and self.profile < SecurityProfile.BASIC:
            return SecurityProfile.BASIC
        return self.profile


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate whose chain the TLS layer has already verified."""

    common_name: str | None
    organization: str | None


@dataclass(frozen=True, slots=True)
class Channel:
    """How the connection arrived."""

    tls: bool
    certificate: ClientCertificate | None = None


class CredentialsProblem(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """HTTP Basic credentials as sent; the password stays bytes (it may be binary)."""

    username: str
    password: bytes

    def __repr__(self) -> str:  # never shows the secret, wherever it is printed
        return f"BasicCredentials(username={self.username!r}, password=<hidden>)"


class Refusal(StrEnum):
    NO_CREDENTIALS = "no_credentials"
    MALFORMED_CREDENTIALS = "malformed_credentials"
    USERNAME_MISMATCH = "username_mismatch"
    NO_PASSWORD_SET = "no_password_set"  # noqa: S105 - a reason, not a password
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a reason, not a password
    TLS_REQUIRED = "tls_required"
    CLIENT_CERTIFICATE_REQUIRED = "client_certificate_required"
    CERTIFICATE_NAMES_ANOTHER = "certificate_names_another"
    CERTIFICATE_ORGANIZATION = "certificate_organization"
    THROTTLED = "throttled"

    @property
    def is_credentials_problem(self) -> bool:
        """Answered with 401: the charger may try again with (other) credentials."""
        return self in _CREDENTIALS_PROBLEMS


_CREDENTIALS_PROBLEMS = frozenset(
    {
        Refusal.NO_CREDENTIALS,
        Refusal.MALFORMED_CREDENTIALS,
        Refusal.USERNAME_MISMATCH,
        Refusal.NO_PASSWORD_SET,
        Refusal.WRONG_PASSWORD,
    }
)


@dataclass(frozen=True, slots=True)
class Admit:
    profile: SecurityProfile


@dataclass(frozen=True, slots=True)
class CheckPassword:
    """Admit at ``profile`` if the password matches one of the charger's hashes."""

    profile: SecurityProfile


@dataclass(frozen=True, slots=True)
class Refuse:
    reason: Refusal
    required: SecurityProfile


Admission = Admit | CheckPassword | Refuse


def admission(
    charger: ChargerSecurity,
    channel: Channel,
    credentials: BasicCredentials | CredentialsProblem,
    *,
    certificate_name: CertificateName = CertificateName.CHARGE_POINT_ID,
    organization: str | None = None,
) -> Admission:
    """Decide a handshake, short of checking the password itself."""
    required = charger.required_profile
    if channel.certificate is not None:
        certificate = channel.certificate
        if not _names(certificate, charger, certificate_name):
            return Refuse(Refusal.CERTIFICATE_NAMES_ANOTHER, required)
        if organization is not None and certificate.organization != organization:
            return Refuse(Refusal.CERTIFICATE_ORGANIZATION, required)
        return Admit(SecurityProfile.TLS_CLIENT_CERTIFICATE)
    if required >= SecurityProfile.TLS_CLIENT_CERTIFICATE:
        reason = Refusal.CLIENT_CERTIFICATE_REQUIRED if channel.tls else Refusal.TLS_REQUIRED
        return Refuse(reason, required)
    if required >= SecurityProfile.TLS_BASIC and not channel.tls:
        return Refuse(Refusal.TLS_REQUIRED, required)
    if required == SecurityProfile.NONE:
        return Admit(SecurityProfile.NONE)
    if credentials is CredentialsProblem.MISSING:
        return Refuse(Refusal.NO_CREDENTIALS, required)
    if credentials is CredentialsProblem.MALFORMED:
        return Refuse(Refusal.MALFORMED_CREDENTIALS, required)
    assert isinstance(credentials, BasicCredentials)
    if credentials.username != charger.charge_point_id:
        return Refuse(Refusal.USERNAME_MISMATCH, required)
    if not charger.password_hashes:
        return Refuse(Refusal.NO_PASSWORD_SET, required)
    return CheckPassword(SecurityProfile.TLS_BASIC if channel.tls else SecurityProfile.BASIC)


def _names(
    certificate: ClientCertificate, charger: ChargerSecurity, certificate_name: CertificateName
) -> bool:
    if certificate.common_name is None:
        return False
    if certificate_name is CertificateName.SERIAL_NUMBER:
        return certificate.common_name in charger.serial_numbers
    return certificate.common_name == charger.charge_point_id


# ----------------------------------------------------------------- the key itself

MIN_KEY_BYTES, MAX_KEY_BYTES = 16, 20
_HEX_KEY = re.compile(r"^(?:[0-9A-Fa-f]{2}){16,20}$")


class InvalidKey(ValueError):
    """A password that is not 16-20 bytes, given as such or as 32-40 hex digits."""


def key_bytes(password: bytes) -> bytes:
    """The key a password stands for: 32-40 hex digits are decoded, else taken as is.

    The whitepaper sends ``AuthorizationKey`` hex-encoded; most chargers decode it
    and send the bytes as their Basic password, some send the hex digits. Both
    mean the same key, so both are accepted. A password that is neither a hex key
    nor 16-20 bytes long cannot be a key at all.
    """
    try:
        text = password.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if _HEX_KEY.match(text):
        return bytes.fromhex(text)
    return password


def new_key(password: str) -> bytes:
    """The key an operator gave: 32-40 hex digits, or 16-20 printable ASCII characters."""
    if _HEX_KEY.match(password):
        return bytes.fromhex(password)
    if not password.isascii() or not password.isprintable():
        raise InvalidKey("a password is 16-20 printable ASCII characters or 32-40 hex digits")
    if not MIN_KEY_BYTES <= len(password) <= MAX_KEY_BYTES:
        raise InvalidKey("a password is 16-20 printable ASCII characters or 32-40 hex digits")
    return password.encode("ascii")


# -------------------------------------------------------- security event notifications

#: The security whitepaper's critical security events (§8), as ``_normalised`` spells them.
_CRITICAL = frozenset(
    {
        "firmwareupdated",
        "settingsystemtime",
        "startupofthedevice",
        "resetorreboot",
        "securitylogwascleared",
        "memoryexhaustion",
        "tamperdetectionactivated",
    }
)


def _normalised(event_type: str) -> str:
    # Chargers vary the case and spelling of the names; letters alone decide.
    return re.sub(r"[^a-z]", "", event_type.lower())


def is_critical(event_type: str) -> bool:
    """Should the operator see this SecurityEventNotification type among the critical ones?"""
    return _normalised(event_type) in _CRITICAL

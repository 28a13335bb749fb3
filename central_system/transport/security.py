"""The handshake's security check, its throttle, and keeping secrets out of logs.

``HandshakeSecurity.check`` runs inside the WebSocket handshake, after the path,
the subprotocol and the charger's record were checked and before anything is
upgraded. It reads the channel (plain or TLS, and the client certificate that
OpenSSL verified), the HTTP Basic credentials, and lets
``domain.security.admission`` decide; a password is checked by
``ChargerCredentials`` (argon2, in a thread). A refused handshake is answered

* 401 with ``WWW-Authenticate: Basic`` for missing, malformed or wrong
  credentials, a username other than the id in the path, or a charger without a
  password;
* 403 when the connection is below the charger's profile (plain where TLS is
  required, no client certificate where profile 3 is) or the client certificate
  names another charger or organisation;
* 429 with ``Retry-After`` while the source address is throttled.

Every refusal is logged with its reason and recorded as an event, never with
what was sent. Failures are counted per source address in a sliding window;
once ``limit`` of them fell within ``window`` seconds, that address gets 429
until the oldest leaves the window (one ``authentication_throttled`` event per
episode, not one per attempt). A password that was checked successfully a
moment ago is still admitted while its source is throttled: a charger behind
the same router as a misconfigured one keeps reconnecting.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ocpp.messages import Call, CallResult
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

from central_system.charger_security import (
    AUTHORIZATION_KEY,
    ChargerCredentials,
    SecurityNotices,
)
from central_system.domain.security import (
    Admit,
    BasicCredentials,
    CertificateName,
    Channel,
    CheckPassword,
    CredentialsProblem,
    Refusal,
    Refuse,
    SecurityProfile,
    admission,
)
from central_system.transport.tls import CertificateAuthority, client_certificate

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"
_BASIC_CHALLENGE = ("WWW-Authenticate", 'Basic realm="OCPP", charset="UTF-8"')


class AuthThrottle:
    """Failed handshakes per source address, in a sliding window (in memory)."""

    def __init__(
        self,
        *,
        limit: int = 10,
        window: float = 60.0,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._max_sources = max_sources
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, source: str, now: float) -> deque[float] | None:
        failures = self._failures.get(source)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[source]
            return None
        return failures

    def retry_after(self, source: str) -> float | None:
        """Seconds until ``source`` may try again, or ``None`` if it may now."""
        now = self._clock()
        failures = self._recent(source, now)
        if failures is None or len(failures) < self._limit:
            return None
        return failures[-self._limit] + self._window - now

    def failed(self, source: str) -> bool:
        """Count a failure; True when it is the one that starts throttling."""
        now = self._clock()
        failures = self._recent(source, now)
        if failures is None:
            if len(self._failures) >= self._max_sources:
                self._forget_oldest(now)
            failures = self._failures[source] = deque(maxlen=self._limit)
        failures.append(now)
        return len(failures) == self._limit

    def _forget_oldest(self, now: float) -> None:
        for source in list(self._failures):
            self._recent(source, now)
        while len(self._failures) >= self._max_sources:
            del self._failures[min(self._failures, key=lambda s: self._failures[s][-1])]


def basic_credentials(headers: Headers) -> BasicCredentials | CredentialsProblem:
    """The ``Authorization: Basic`` credentials, or why there are none (RFC 7617)."""
    values = headers.get_all("Authorization")
    if not values:
        return CredentialsProblem.MISSING
    if len(values) > 1:
        return CredentialsProblem.MALFORMED
    scheme, _, encoded = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        return CredentialsProblem.MALFORMED
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return CredentialsProblem.MALFORMED
    username, colon, password = decoded.partition(b":")
    if not colon:
        return CredentialsProblem.MALFORMED
    try:
        return BasicCredentials(username.decode("utf-8"), password)
    except UnicodeDecodeError:
        return CredentialsProblem.MALFORMED


@dataclass(frozen=True, slots=True)
class WhitepaperServices:
    """What a charger's session needs for the security whitepaper's messages."""

    notices: SecurityNotices
    credentials: ChargerCredentials
    #: Signs chargers' CSRs; without it SignCertificate is answered Rejected.
    authority: CertificateAuthority | None = None


@dataclass(frozen=True, slots=True)
class HandshakeRefusal:
    reason: str
    detail: str
    status: HTTPStatus
    body: str
    headers: list[tuple[str, str]] = field(default_factory=list)


def _source(connection: ServerConnection) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


class HandshakeSecurity:
    """Decides, per handshake, whether the charger proved who it is well enough."""

    def __init__(
        self,
        *,
        credentials: ChargerCredentials,
        throttle: AuthThrottle,
        certificate_name: CertificateName = CertificateName.CHARGE_POINT_ID,
        organization: str | None = None,
    ) -> None:
        self._credentials = credentials
        self._throttle = throttle
        self._certificate_name = certificate_name
        self._organization = organization

    async def check(
        self, connection: ServerConnection, headers: Headers, charge_point_id: str, *, tls: bool
    ) -> HandshakeRefusal | None:
        listener = "tls" if tls else "plain"
        source = _source(connection)
        charger = await self._credentials.security(charge_point_id)
        if charger is None:  # deleted since it was admitted a moment ago
            return HandshakeRefusal(
                "unknown_charger",
                f"unknown charge point {charge_point_id!r}",
                HTTPStatus.NOT_FOUND,
                "Unknown charge point\n",
            )
        certificate = (
            client_certificate(connection.transport.get_extra_info("ssl_object")) if tls else None
        )
        presented = basic_credentials(headers)
        decision = admission(
            charger,
            Channel(tls=tls, certificate=certificate),
            presented,
            certificate_name=self._certificate_name,
            organization=self._organization,
        )
        retry_after = self._throttle.retry_after(source)
        if isinstance(decision, CheckPassword):
            assert isinstance(presented, BasicCredentials)
            if retry_after is not None and not self._credentials.remembers(
                charger, presented.password
            ):
                return self._throttled(retry_after)
            if await self._credentials.check_password(charger, presented.password):
                decision = Admit(decision.profile)
            else:
                decision = Refuse(Refusal.WRONG_PASSWORD, charger.required_profile)
        if isinstance(decision, Refuse):
            if retry_after is not None:
                return self._throttled(retry_after)
            return await self._refused(charge_point_id, decision, source, listener)
        await self._credentials.connected(charger, decision.profile)
        logger.info(
            "authenticated at security profile %d (%s listener)", decision.profile, listener
        )
        return None

    def _throttled(self, retry_after: float) -> HandshakeRefusal:
        seconds = max(1, math.ceil(retry_after))
        return HandshakeRefusal(
            Refusal.THROTTLED.value,
            f"too many failed attempts from this address; retry in {seconds} s",
            HTTPStatus.TOO_MANY_REQUESTS,
            "Too many failed attempts\n",
            [("Retry-After", str(seconds))],
        )

    async def _refused(
        self, charge_point_id: str, decision: Refuse, source: str, listener: str
    ) -> HandshakeRefusal:
        reason = decision.reason
        starts_throttling = self._throttle.failed(source)
        await self._credentials.refused(
            charge_point_id, reason, source=source, listener=listener, required=decision.required
        )
        if starts_throttling:
            logger.warning("throttling handshakes from %s after repeated failures", source)
            await self._credentials.refused(
                charge_point_id,
                Refusal.THROTTLED,
                source=source,
                listener=listener,
                required=decision.required,
            )
        detail = (
            f"{reason.value} from {source} on the {listener} listener, "
            f"charger requires profile {int(decision.required)}"
        )
        if reason.is_credentials_problem:
            return HandshakeRefusal(
                reason.value,
                detail,
                HTTPStatus.UNAUTHORIZED,
                "Authentication required\n",
                [_BASIC_CHALLENGE],
            )
        body = (
            "This charge point must connect with a higher security profile\n"
            if reason in (Refusal.TLS_REQUIRED, Refusal.CLIENT_CERTIFICATE_REQUIRED)
            else "The client certificate does not name this charge point\n"
        )
        return HandshakeRefusal(reason.value, detail, HTTPStatus.FORBIDDEN, body)


# ---------------------------------------------------------------- keeping secrets out


def _is_key(entry: Any) -> bool:
    return isinstance(entry, dict) and str(entry.get("key", "")).lower() == "authorizationkey"


def redact_payload(action: str | None, payload: Any, *, reply: bool) -> Any:
    """The payload with any ``AuthorizationKey`` value replaced; the original is untouched."""
    if not isinstance(payload, dict):
        return payload
    if not reply and action == "ChangeConfiguration" and _is_key(payload):
        return {**payload, "value": REDACTED}
    if reply and action == "GetConfiguration":
        keys = payload.get("configurationKey")
        if isinstance(keys, list) and any(_is_key(k) and "value" in k for k in keys):
            redacted = copy.deepcopy(payload)
            for entry in redacted["configurationKey"]:
                if _is_key(entry) and "value" in entry:
                    entry["value"] = REDACTED
            return redacted
    return payload


def redact_frame(frame: object, text: str) -> str:
    """The text to keep in the message log for a frame: never an ``AuthorizationKey``."""
    if isinstance(frame, Call):
        redacted = redact_payload(frame.action, frame.payload, reply=False)
        if redacted is not frame.payload:
            return json.dumps([2, frame.unique_id, frame.action, redacted], separators=(",", ":"))
    elif isinstance(frame, CallResult):
        redacted = redact_payload(getattr(frame, "action", None), frame.payload, reply=True)
        if redacted is not frame.payload:
            return json.dumps([3, frame.unique_id, redacted], separators=(",", ":"))
    return text


class SecretsFilter(logging.Filter):
    """Masks credentials in the WebSocket library's debug log.

    At DEBUG, ``websockets`` logs every request header (``Authorization``
    included) and the start of every frame (a ChangeConfiguration with the new
    ``AuthorizationKey`` included).
    """

    _HEADERS = frozenset({"authorization", "proxy-authorization"})

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() in self._HEADERS:
            record.args = (args[0], REDACTED)
        elif AUTHORIZATION_KEY.lower() in record.getMessage().lower():
            record.msg = "%s"
            record.args = (f"frame with {AUTHORIZATION_KEY} ({REDACTED})",)
        return True


def keep_secrets_out_of(target: logging.Logger) -> None:
    if not any(isinstance(f, SecretsFilter) for f in target.filters):
        target.addFilter(SecretsFilter())


__all__ = [
    "AuthThrottle",
    "HandshakeRefusal",
    "HandshakeSecurity",
    "SecretsFilter",
    "SecurityProfile",
    "WhitepaperServices",
    "basic_credentials",
    "keep_secrets_out_of",
    "redact_frame",
    "redact_payload",
]

"""Charger credentials and security notifications: the use cases of docs/security.md.

``ChargerCredentials`` keeps each charger's security profile and password (its
``AuthorizationKey``): set, generated, removed, checked at a handshake, and
rotated over OCPP. ``SecurityNotices`` stores what chargers report under the
security whitepaper. Passwords are kept only as salted argon2id hashes and never
leave this module except as the hex key sent in ChangeConfiguration; no secret
is logged or put in an event.

Checking a password costs an argon2 verification (about 20 ms of CPU and 19 MiB
of memory with the parameters below), so it runs in a worker thread, at most
``concurrency`` at a time, and a successful check is remembered for a short
while: a charger that reconnects with the same password against the same stored
hash is admitted from memory. The memory holds a keyed digest of the password,
never the password, and any change of the stored hash (a new password, a
rotation) makes it miss.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from central_system.domain.errors import (
    CentralSystemError,
    ChargerNotConnected,
    CommandFailed,
    CommandQueueFull,
    CommandRejected,
    UnknownChargePoint,
)
from central_system.domain.model import Event, EventKind
from central_system.domain.security import (
    MAX_KEY_BYTES,
    MIN_KEY_BYTES,
    CertificateName,
    ChargerSecurity,
    Refusal,
    SecurityProfile,
    is_critical,
    key_bytes,
    new_key,
)
from central_system.ports import (
    ChargerCommands,
    ChargerSecurityRepository,
    Clock,
    Page,
    UnitOfWorkFactory,
)

logger = logging.getLogger(__name__)

AUTHORIZATION_KEY = "AuthorizationKey"

#: Every event kind about charger security, for the operator's security view.
SECURITY_EVENT_KINDS = frozenset(
    {
        EventKind.AUTHENTICATION_FAILED,
        EventKind.AUTHENTICATION_THROTTLED,
        EventKind.SECURITY_PROFILE_RAISED,
        EventKind.CREDENTIALS_CHANGED,
        EventKind.AUTHORIZATION_KEY_ROTATED,
        EventKind.AUTHORIZATION_KEY_NOT_ROTATED,
        EventKind.SECURITY_EVENT,
        EventKind.CRITICAL_SECURITY_EVENT,
        EventKind.CERTIFICATE_SIGNED,
        EventKind.CERTIFICATE_NOT_SIGNED,
    }
)


class SecurityConflict(CentralSystemError):
    """A change that would contradict the charger's other security settings."""


class KeyHasher:
    """argon2id hashing and checking off the event loop, a bounded number at a time.

    The defaults are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): the
    keys are 16-20 random bytes, so the hash guards a copied database, not a
    guessable password. Each hash carries its own parameters, so changing them
    later keeps old hashes valid.
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost: int = 19_456,
        parallelism: int = 1,
        concurrency: int = 2,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, key: bytes) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, key)

    async def matching(self, hashes: Sequence[str], key: bytes) -> str | None:
        """The first hash the key matches, or ``None``."""
        for candidate in hashes:
            async with self._slots:
                if await asyncio.to_thread(self._verify, candidate, key):
                    return candidate
        return None

    def _verify(self, password_hash: str, key: bytes) -> bool:
        try:
            return self._hasher.verify(password_hash, key)
        except (VerificationError, InvalidHashError):
            return False


@dataclass(slots=True)
class _Remembered:
    password_hash: str
    digest: bytes
    until: float


class _RecentChecks:
    """Successful checks, remembered per charger for ``seconds``."""

    def __init__(
        self, seconds: float, *, limit: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds = seconds
        self._limit = limit
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._by_id: dict[str, _Remembered] = {}

    def _digest(self, charge_point_id: str, key: bytes) -> bytes:
        return hmac.new(
            self._secret, charge_point_id.encode() + b"\0" + key, hashlib.sha256
        ).digest()

    def matches(self, charger: ChargerSecurity, key: bytes) -> bool:
        remembered = self._by_id.get(charger.charge_point_id)
        if remembered is None:
            return False
        if remembered.until < self._clock() or remembered.password_hash not in (
            charger.password_hashes
        ):
            del self._by_id[charger.charge_point_id]
            return False
        return hmac.compare_digest(remembered.digest, self._digest(charger.charge_point_id, key))

    def remember(self, charge_point_id: str, password_hash: str, key: bytes) -> None:
        if self._seconds <= 0:
            return
        now = self._clock()
        if len(self._by_id) >= self._limit:
            self._by_id = {k: v for k, v in self._by_id.items() if v.until >= now}
            while len(self._by_id) >= self._limit:
                del self._by_id[next(iter(self._by_id))]
        self._by_id[charge_point_id] = _Remembered(
            password_hash, self._digest(charge_point_id, key), now + self._seconds
        )

    def forget(self, charge_point_id: str) -> None:
        self._by_id.pop(charge_point_id, None)


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    #: The charger's ChangeConfiguration status: Accepted, Rejected, RebootRequired, NotSupported.
    status: str
    #: The new key is now the only one accepted.
    key_changed: bool
    #: Old and new key are both accepted until the charger next authenticates.
    pending: bool = False


class ChargerCredentials:
    """Security profiles and passwords of chargers, and checking them at a handshake."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        commands: ChargerCommands,
        hasher: KeyHasher | None = None,
        remember_seconds: float = 300.0,
        raise_profile_on_connect: bool = True,
        lookup: Callable[[str], Awaitable[ChargerSecurity | None]] | None = None,
    ) -> None:
        self._uow = uow
        #: How a handshake reads the charger's security (``ChargerSessions.security``
        #: in the running system: on SQLite, the writer thread's cheap read).
        self._lookup = lookup
        self._clock = clock
        self._commands = commands
        self._hasher = hasher or KeyHasher()
        self._recent = _RecentChecks(remember_seconds)
        self._raise_profile_on_connect = raise_profile_on_connect
        self._rotations: dict[str, asyncio.Lock] = {}
        self._rotating: set[str] = set()

    # ------------------------------------------------------------- at a handshake

    async def security(self, charge_point_id: str) -> ChargerSecurity | None:
        if self._lookup is not None:
            return await self._lookup(charge_point_id)
        async with self._uow(read_only=True) as uow:
            return await uow.security.get(charge_point_id)

    def remembers(self, charger: ChargerSecurity, password: bytes) -> bool:
        """Was this very password checked successfully a moment ago (no argon2 run)?"""
        return self._recent.matches(charger, key_bytes(password))

    async def check_password(self, charger: ChargerSecurity, password: bytes) -> bool:
        """Does the password match the charger's current (or pending) key?"""
        key = key_bytes(password)
        if self._recent.matches(charger, key):
            return True
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            return False  # no key we ever store: not worth an argon2 run
        matched = await self._hasher.matching(charger.password_hashes, key)
        if matched is None:
            return False
        self._recent.remember(charger.charge_point_id, matched, key)
        if matched == charger.pending_password_hash and (
            charger.charge_point_id not in self._rotating
        ):
            await self._promote(charger.charge_point_id, matched)
        return True

    async def _promote(self, charge_point_id: str, pending: str) -> None:
        """A rotation without a clear answer ends when the charger uses the new key."""
        now = self._clock.now()
        async with self._uow() as uow:
            if await uow.security.promote_pending(charge_point_id, pending, now):
                await uow.events.add(
                    Event(
                        EventKind.AUTHORIZATION_KEY_ROTATED,
                        now,
                        charge_point_id,
                        {"why": "the charger authenticated with the new key"},
                    )
                )
            await uow.commit()

    async def connected(self, charger: ChargerSecurity, profile: SecurityProfile) -> None:
        """After a charger got in at ``profile``: never accept it lower again (A05.FR.09)."""
        if not self._raise_profile_on_connect or profile <= charger.profile:
            return
        async with self._uow() as uow:
            await uow.security.set_profile(charger.charge_point_id, profile)
            await uow.events.add(
                Event(
                    EventKind.SECURITY_PROFILE_RAISED,
                    self._clock.now(),
                    charger.charge_point_id,
                    {
                        "from": int(charger.profile),
                        "to": int(profile),
                        "why": "connected at a higher security profile; lower ones are refused",
                    },
                )
            )
            await uow.commit()
        logger.info("security profile raised from %d to %d", charger.profile, profile)

    async def refused(
        self,
        charge_point_id: str,
        reason: Refusal,
        *,
        source: str,
        listener: str,
        required: SecurityProfile,
    ) -> None:
        """Record a refused handshake: the reason and where from, never what was sent."""
        kind = (
            EventKind.AUTHENTICATION_THROTTLED
            if reason is Refusal.THROTTLED
            else EventKind.AUTHENTICATION_FAILED
        )
        await self._event(
            kind,
            charge_point_id,
            {
                "reason": reason.value,
                "source": source,
                "listener": listener,
                "required_profile": int(required),
            },
        )

    # ---------------------------------------------------------------- the operator

    async def set_profile(self, charge_point_id: str, profile: SecurityProfile) -> ChargerSecurity:
        async with self._uow() as uow:
            charger = await self._get(uow.security, charge_point_id)
            if profile is SecurityProfile.NONE and charger.password_hash is not None:
                raise SecurityConflict(
                    f"{charge_point_id!r} has a password, so it needs profile 1 or higher; "
                    "remove the password first"
                )
            await uow.security.set_profile(charge_point_id, profile)
            await uow.events.add(
                self._change(charge_point_id, "security profile set", profile=int(profile))
            )
            await uow.commit()
        return await self._must(charge_point_id)

    async def set_password(
        self, charge_point_id: str, password: str | None
    ) -> tuple[ChargerSecurity, str | None]:
        """Set the given password, or generate one; returns the generated one (hex) once.

        Raises ``InvalidKey`` for a password that is not 16-20 printable ASCII
        characters or 32-40 hex digits.
        """
        generated = secrets.token_bytes(MAX_KEY_BYTES) if password is None else None
        key = generated if generated is not None else new_key(password or "")
        password_hash = await self._hasher.hash(key)
        async with self._uow() as uow:
            charger = await self._get(uow.security, charge_point_id)
            await uow.security.set_password(charge_point_id, password_hash, self._clock.now())
            if charger.profile is SecurityProfile.NONE:
                await uow.security.set_profile(charge_point_id, SecurityProfile.BASIC)
            await uow.events.add(
                self._change(
                    charge_point_id,
                    "password generated" if generated is not None else "password set",
                    profile=int(max(charger.profile, SecurityProfile.BASIC)),
                )
            )
            await uow.commit()
        self._recent.forget(charge_point_id)
        return await self._must(charge_point_id), None if generated is None else generated.hex()

    async def remove_password(self, charge_point_id: str) -> ChargerSecurity:
        """No password any more; a profile 1 charger goes back to profile 0."""
        async with self._uow() as uow:
            charger = await self._get(uow.security, charge_point_id)
            await uow.security.set_password(charge_point_id, None, self._clock.now())
            profile = charger.profile
            if profile is SecurityProfile.BASIC:
                profile = SecurityProfile.NONE
                await uow.security.set_profile(charge_point_id, profile)
            await uow.events.add(
                self._change(charge_point_id, "password removed", profile=int(profile))
            )
            await uow.commit()
        self._recent.forget(charge_point_id)
        return await self._must(charge_point_id)

    async def rotate_key(
        self, charge_point_id: str, password: str | None = None
    ) -> RotationOutcome:
        """Send a new ``AuthorizationKey`` and make it the password if the charger accepts.

        Accepted: the new key replaces the old before this returns, and the old one
        is refused from then on. Rejected, NotSupported or a CALLERROR: the old key
        stays the only one. RebootRequired, no answer in time, or a connection lost
        while waiting: the charger may use the new key now or later, so both are
        accepted until it authenticates with the new one, which then replaces the
        old (or until the operator sets a password or rotates again).
        """
        key = secrets.token_bytes(MAX_KEY_BYTES) if password is None else new_key(password)
        # One rotation per charger at a time: the pending hash is the one being sent.
        async with self._rotations.setdefault(charge_point_id, asyncio.Lock()):
            return await self._rotate(charge_point_id, key)

    async def _rotate(self, charge_point_id: str, key: bytes) -> RotationOutcome:
        if not self._commands.is_connected(charge_point_id):
            raise ChargerNotConnected(charge_point_id)
        new_hash = await self._hasher.hash(key)
        async with self._uow() as uow:
            await self._get(uow.security, charge_point_id)
            await uow.security.set_pending(charge_point_id, new_hash)
            await uow.commit()
        self._rotating.add(charge_point_id)
        try:
            answer = await self._commands.send(
                charge_point_id,
                "ChangeConfiguration",
                {"key": AUTHORIZATION_KEY, "value": key.hex()},
            )
        except (ChargerNotConnected, CommandQueueFull, CommandRejected) as error:
            # Never delivered, or refused with a CALLERROR: the charger kept its key.
            await self._not_rotated(charge_point_id, new_hash, type(error).__name__, keep=False)
            raise
        except CommandFailed as error:
            await self._not_rotated(charge_point_id, new_hash, type(error).__name__, keep=True)
            raise
        finally:
            self._rotating.discard(charge_point_id)
        status = str(answer.get("status"))
        if status != "Accepted":
            keep = status == "RebootRequired"
            await self._not_rotated(charge_point_id, new_hash, status, keep=keep)
            return RotationOutcome(status, key_changed=False, pending=keep)
        now = self._clock.now()
        async with self._uow() as uow:
            charger = await self._get(uow.security, charge_point_id)
            promoted = await uow.security.promote_pending(charge_point_id, new_hash, now)
            if promoted and charger.profile is SecurityProfile.NONE:
                await uow.security.set_profile(charge_point_id, SecurityProfile.BASIC)
            await uow.events.add(
                Event(
                    EventKind.AUTHORIZATION_KEY_ROTATED,
                    now,
                    charge_point_id,
                    {"status": status, "why": "the charger accepted the new AuthorizationKey"},
                )
            )
            await uow.commit()
        self._recent.forget(charge_point_id)
        return RotationOutcome(status, key_changed=promoted)

    async def _not_rotated(
        self, charge_point_id: str, new_hash: str, outcome: str, *, keep: bool
    ) -> None:
        async with self._uow() as uow:
            charger = await uow.security.get(charge_point_id)
            if not keep and charger is not None and charger.pending_password_hash == new_hash:
                await uow.security.set_pending(charge_point_id, None)
            await uow.events.add(
                Event(
                    EventKind.AUTHORIZATION_KEY_NOT_ROTATED,
                    self._clock.now(),
                    charge_point_id,
                    {
                        "outcome": outcome,
                        "why": "old and new key are accepted until the charger next authenticates"
                        if keep
                        else "the charger keeps its old key",
                    },
                )
            )
            await uow.commit()

    async def certificate_names(
        self, charge_point_id: str, certificate_name: CertificateName
    ) -> frozenset[str]:
        """The names a certificate for this charger may carry as its CN."""
        if certificate_name is CertificateName.CHARGE_POINT_ID:
            return frozenset({charge_point_id})
        charger = await self.security(charge_point_id)
        return frozenset() if charger is None else charger.serial_numbers

    async def events(
        self, page: Page, charge_point_id: str | None = None, *, critical_only: bool = False
    ) -> Sequence[Event]:
        kinds = {EventKind.CRITICAL_SECURITY_EVENT} if critical_only else SECURITY_EVENT_KINDS
        async with self._uow(read_only=True) as uow:
            return await uow.events.list_kinds(page, kinds, charge_point_id)

    # ---------------------------------------------------------------------- helpers

    async def _get(
        self, repository: ChargerSecurityRepository, charge_point_id: str
    ) -> ChargerSecurity:
        charger = await repository.get(charge_point_id)
        if charger is None:
            raise UnknownChargePoint(charge_point_id)
        return charger

    async def _must(self, charge_point_id: str) -> ChargerSecurity:
        charger = await self.security(charge_point_id)
        if charger is None:
            raise UnknownChargePoint(charge_point_id)
        return charger

    def _change(self, charge_point_id: str, what: str, *, profile: int) -> Event:
        return Event(
            EventKind.CREDENTIALS_CHANGED,
            self._clock.now(),
            charge_point_id,
            {"change": what, "security_profile": profile, "by": "operator"},
        )

    async def _event(
        self, kind: EventKind, charge_point_id: str, detail: dict[str, object]
    ) -> None:
        async with self._uow() as uow:
            await uow.events.add(Event(kind, self._clock.now(), charge_point_id, detail))
            await uow.commit()


class SecurityNotices:
    """What chargers report under the security whitepaper; every report is stored."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def security_event(
        self, charge_point_id: str, event_type: str, timestamp: str, tech_info: str | None
    ) -> bool:
        """Store a SecurityEventNotification; True when it is a critical one."""
        critical = is_critical(event_type)
        kind = EventKind.CRITICAL_SECURITY_EVENT if critical else EventKind.SECURITY_EVENT
        if critical:
            logger.warning("critical security event from the charger: %s", event_type)
        await self._add(
            kind,
            charge_point_id,
            {"type": event_type, "timestamp": timestamp, "tech_info": tech_info},
        )
        return critical

    async def log_status(self, charge_point_id: str, status: str, request_id: int | None) -> None:
        await self._add(
            EventKind.LOG_STATUS, charge_point_id, {"status": status, "request_id": request_id}
        )

    async def signed_firmware_status(
        self, charge_point_id: str, status: str, request_id: int | None
    ) -> None:
        async with self._uow() as uow:
            await uow.charge_points.set_firmware_status(charge_point_id, status)
            await uow.events.add(
                Event(
                    EventKind.SIGNED_FIRMWARE_STATUS,
                    self._clock.now(),
                    charge_point_id,
                    {"status": status, "request_id": request_id},
                )
            )
            await uow.commit()

    async def certificate(
        self, charge_point_id: str, *, signed: bool, detail: dict[str, object]
    ) -> None:
        kind = EventKind.CERTIFICATE_SIGNED if signed else EventKind.CERTIFICATE_NOT_SIGNED
        await self._add(kind, charge_point_id, detail)

    async def _add(self, kind: EventKind, charge_point_id: str, detail: dict[str, object]) -> None:
        async with self._uow() as uow:
            await uow.events.add(Event(kind, self._clock.now(), charge_point_id, detail))
            await uow.commit()


__all__ = [
    "AUTHORIZATION_KEY",
    "SECURITY_EVENT_KINDS",
    "ChargerCredentials",
    "KeyHasher",
    "RotationOutcome",
    "SecurityConflict",
    "SecurityNotices",
]

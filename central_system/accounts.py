"""Owner accounts: logins with argon2 password hashes, and expiring bearer tokens.

A token is 256 random bits (``secrets.token_urlsafe``) handed to the owner once;
only its SHA-256 digest is stored, so a copy of the database holds no usable
token. A token expires after ``token_lifetime`` and is revoked by logout, by a
new password, and with its owner.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from central_system.domain.accounts import OwnerAccount, normalise_login
from central_system.domain.errors import NotFound
from central_system.ports import Clock, UnitOfWorkFactory

#: Never matches: verifying against it makes an unknown login cost what a known one does.
_UNUSABLE_PASSWORD = secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    owner_id: int
    expires_at: datetime


def token_digest(token: str) -> str:
    """Tokens are random, so a plain SHA-256 suffices (no salt, no stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


class OwnerAccounts:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        token_lifetime: timedelta,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._token_lifetime = token_lifetime
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None

    async def set_login(self, owner_id: int, login: str, password: str) -> None:
        """Give the owner a login and password; ends every session the owner had."""
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        async with self._uow() as uow:
            if await uow.owners.get(owner_id) is None:
                raise NotFound("owner", owner_id)
            await uow.accounts.put(owner_id, normalise_login(login), password_hash)
            await uow.accounts.revoke_tokens(owner_id, self._clock.now())
            await uow.commit()

    async def account(self, owner_id: int) -> OwnerAccount | None:
        async with self._uow(read_only=True) as uow:
            return await uow.accounts.get(owner_id)

    async def login(self, login: str, password: str) -> IssuedToken | None:
        """A new token for the right password; ``None`` for a wrong login or password."""
        async with self._uow(read_only=True) as uow:
            account = await uow.accounts.by_login(normalise_login(login))
        if account is None:
            await asyncio.to_thread(self._verify, await self._decoy_hash(), password)
            return None
        if not await asyncio.to_thread(self._verify, account.password_hash, password):
            return None
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = now + self._token_lifetime
        rehashed = (
            await asyncio.to_thread(self._hasher.hash, password)
            if self._hasher.check_needs_rehash(account.password_hash)
            else None
        )
        async with self._uow() as uow:
            await uow.accounts.add_token(token_digest(token), account.owner_id, expires_at)
            if rehashed is not None:
                await uow.accounts.put(account.owner_id, account.login, rehashed)
            # Housekeeping on the way: expired tokens are of no use to anyone.
            await uow.accounts.delete_tokens_expired_before(now - timedelta(days=1))
            await uow.commit()
        return IssuedToken(token, account.owner_id, expires_at)

    async def owner_of(self, token: str) -> int | None:
        """The owner a token speaks for, if it is known, unexpired and not revoked."""
        async with self._uow(read_only=True) as uow:
            stored = await uow.accounts.token(token_digest(token))
        if stored is None or not stored.valid(self._clock.now()):
            return None
        return stored.owner_id

    async def logout(self, token: str) -> bool:
        async with self._uow() as uow:
            revoked = await uow.accounts.revoke_token(token_digest(token), self._clock.now())
            await uow.commit()
        return revoked

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await asyncio.to_thread(self._hasher.hash, _UNUSABLE_PASSWORD)
        return self._decoy

"""Owner accounts: how an owner proves who they are to the owner API.

A login name and a password hash (the hashing itself happens outside the
domain), and bearer tokens that expire and can be revoked. Only a digest of a
token is ever stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from central_system.domain.errors import CentralSystemError


class Duplicate(CentralSystemError):
    """A unique name is taken already: a login, a space label, a charger connector."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} is taken already")
        self.what = what
        self.key = key


class InUse(CentralSystemError):
    """Something that live reservations still need cannot be deleted or moved."""

    def __init__(self, what: str, key: object, why: str) -> None:
        super().__init__(f"{what} {key!r} {why}")
        self.what = what
        self.key = key


def normalise_login(login: str) -> str:
    """Logins are e-mail addresses or names: compared without case or outer spaces."""
    return login.strip().casefold()


@dataclass(frozen=True, slots=True)
class OwnerAccount:
    owner_id: int
    login: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class OwnerToken:
    owner_id: int
    expires_at: datetime
    revoked_at: datetime | None = None

    def valid(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

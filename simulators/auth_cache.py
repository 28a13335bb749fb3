"""The Authorization Cache (OCPP 1.6 §3.5.1) and the charger's local authorisation rule.

The cache remembers the last ``IdTagInfo`` the central system gave for each idTag,
from Authorize.conf, StartTransaction.conf and StopTransaction.conf, whatever its
status: a tag refused once is refused from the cache while offline. An Accepted
entry whose ``expiryDate`` has passed turns ``Expired``. When full, the oldest
entry that is no longer valid goes first, then the least recently used one.

``decide`` is the rule a charger applies when a tag is presented:

* online, ``LocalPreAuthorize`` and a valid Accepted entry: start at once;
* online otherwise: ask the central system (Authorize.req);
* offline, ``LocalAuthorizeOffline`` and a cached entry: its status decides;
* offline and unknown: ``AllowOfflineTxForUnknownId`` decides.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from simulators.clock import parse_time


class TagStatus(StrEnum):
    """``AuthorizationStatus`` of OCPP 1.6 §7.2."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    status: str
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> IdTagInfo:
        """From an ``idTagInfo`` object, camelCase or snake_case."""
        expiry = payload.get("expiry_date", payload.get("expiryDate"))
        return cls(
            status=str(payload.get("status", TagStatus.INVALID)),
            expiry_date=parse_time(expiry) if isinstance(expiry, str) else None,
            parent_id_tag=payload.get("parent_id_tag", payload.get("parentIdTag")),
        )

    def valid_at(self, now: datetime) -> bool:
        return self.status == TagStatus.ACCEPTED and (
            self.expiry_date is None or self.expiry_date > now
        )


class AuthorizationCache:
    def __init__(self, capacity: int = 100) -> None:
        if capacity < 1:
            raise ValueError("the cache holds at least one entry")
        self._capacity = capacity
        self._entries: OrderedDict[str, IdTagInfo] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, id_tag: object) -> bool:
        return id_tag in self._entries

    def update(self, id_tag: str, info: IdTagInfo, now: datetime) -> None:
        if id_tag in self._entries:
            self._entries.move_to_end(id_tag)
        elif len(self._entries) >= self._capacity:
            self._evict(now)
        self._entries[id_tag] = info

    def lookup(self, id_tag: str, now: datetime) -> IdTagInfo | None:
        info = self._entries.get(id_tag)
        if info is None:
            return None
        if info.status == TagStatus.ACCEPTED and not info.valid_at(now):
            info = replace(info, status=TagStatus.EXPIRED)
            self._entries[id_tag] = info
        self._entries.move_to_end(id_tag)
        return info

    def clear(self) -> None:
        self._entries.clear()

    def entries(self) -> dict[str, IdTagInfo]:
        return dict(self._entries)

    def _evict(self, now: datetime) -> None:
        for id_tag, info in self._entries.items():
            if not info.valid_at(now):
                del self._entries[id_tag]
                return
        self._entries.popitem(last=False)


class Source(StrEnum):
    """Who decided on a presented tag."""

    CENTRAL_SYSTEM = "central system"
    CACHE = "cache"
    OFFLINE_UNKNOWN = "offline, unknown id"
    OFFLINE_REFUSED = "offline"
    REMOTE = "remote start"
    RESERVATION = "reservation"


@dataclass(frozen=True, slots=True)
class AskCentralSystem:
    """Send Authorize.req and wait for the answer."""


@dataclass(frozen=True, slots=True)
class LocalVerdict:
    info: IdTagInfo
    source: Source

    @property
    def accepted(self) -> bool:
        return self.info.status == TagStatus.ACCEPTED


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """The configuration keys the rule reads."""

    cache_enabled: bool = True
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    allow_offline_tx_for_unknown_id: bool = False


def decide(
    id_tag: str,
    *,
    online: bool,
    settings: AuthSettings,
    cache: AuthorizationCache,
    now: datetime,
) -> AskCentralSystem | LocalVerdict:
    cached = cache.lookup(id_tag, now) if settings.cache_enabled else None
    if online:
        if settings.local_pre_authorize and cached is not None and cached.valid_at(now):
            return LocalVerdict(cached, Source.CACHE)
        return AskCentralSystem()
    if settings.local_authorize_offline and cached is not None:
        return LocalVerdict(cached, Source.CACHE)
    if settings.allow_offline_tx_for_unknown_id and cached is None:
        return LocalVerdict(IdTagInfo(TagStatus.ACCEPTED), Source.OFFLINE_UNKNOWN)
    return LocalVerdict(IdTagInfo(TagStatus.INVALID), Source.OFFLINE_REFUSED)

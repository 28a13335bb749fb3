"""The Authorization Cache and the local authorisation rule (OCPP 1.6 §3.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.auth_cache import (
    AskCentralSystem,
    AuthorizationCache,
    AuthSettings,
    IdTagInfo,
    LocalVerdict,
    Source,
    decide,
)

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
ACCEPTED = IdTagInfo("Accepted")
BLOCKED = IdTagInfo("Blocked")


def test_lookup_returns_what_the_central_system_said_last() -> None:
    cache = AuthorizationCache()
    cache.update("A", ACCEPTED, NOW)
    cache.update("A", BLOCKED, NOW)
    assert cache.lookup("A", NOW) == BLOCKED
    assert cache.lookup("B", NOW) is None


def test_an_accepted_entry_past_its_expiry_turns_expired() -> None:
    cache = AuthorizationCache()
    cache.update("A", IdTagInfo("Accepted", expiry_date=NOW + timedelta(hours=1)), NOW)
    assert cache.lookup("A", NOW).status == "Accepted"  # type: ignore[union-attr]
    later = cache.lookup("A", NOW + timedelta(hours=2))
    assert later is not None
    assert later.status == "Expired"
    # The entry itself changed: going back in time does not revive it.
    assert cache.lookup("A", NOW).status == "Expired"  # type: ignore[union-attr]


def test_when_full_an_invalid_entry_goes_before_valid_ones() -> None:
    cache = AuthorizationCache(capacity=3)
    cache.update("old-valid", ACCEPTED, NOW)
    cache.update("blocked", BLOCKED, NOW)
    cache.update("new-valid", ACCEPTED, NOW)
    cache.update("newest", ACCEPTED, NOW)
    assert sorted(cache.entries()) == ["new-valid", "newest", "old-valid"]


def test_when_full_of_valid_entries_the_least_recently_used_goes() -> None:
    cache = AuthorizationCache(capacity=2)
    cache.update("A", ACCEPTED, NOW)
    cache.update("B", ACCEPTED, NOW)
    cache.lookup("A", NOW)
    cache.update("C", ACCEPTED, NOW)
    assert sorted(cache.entries()) == ["A", "C"]


def test_clear_empties_the_cache() -> None:
    cache = AuthorizationCache()
    cache.update("A", ACCEPTED, NOW)
    cache.clear()
    assert len(cache) == 0


def test_id_tag_info_reads_both_spellings() -> None:
    expected = IdTagInfo("Accepted", datetime(2027, 1, 1, tzinfo=UTC), "HOUSE")
    camel = {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z", "parentIdTag": "HOUSE"}
    snake = {"status": "Accepted", "expiry_date": "2027-01-01T00:00:00Z", "parent_id_tag": "HOUSE"}
    assert IdTagInfo.from_payload(camel) == IdTagInfo.from_payload(snake) == expected


ON = AuthSettings()
PRE = AuthSettings(local_pre_authorize=True)
NO_OFFLINE = AuthSettings(local_authorize_offline=False)
UNKNOWN_OK = AuthSettings(allow_offline_tx_for_unknown_id=True)
NO_CACHE = AuthSettings(cache_enabled=False, local_pre_authorize=True)


@pytest.mark.parametrize(
    ("online", "settings", "cached", "expected"),
    [
        # online: the central system decides, unless pre-authorising from the cache
        (True, ON, ACCEPTED, AskCentralSystem()),
        (True, ON, None, AskCentralSystem()),
        (True, PRE, ACCEPTED, LocalVerdict(ACCEPTED, Source.CACHE)),
        (True, PRE, BLOCKED, AskCentralSystem()),
        (True, PRE, None, AskCentralSystem()),
        (True, NO_CACHE, ACCEPTED, AskCentralSystem()),
        # offline: the cache decides, unknown tags by AllowOfflineTxForUnknownId
        (False, ON, ACCEPTED, LocalVerdict(ACCEPTED, Source.CACHE)),
        (False, ON, BLOCKED, LocalVerdict(BLOCKED, Source.CACHE)),
        (False, ON, None, LocalVerdict(IdTagInfo("Invalid"), Source.OFFLINE_REFUSED)),
        (False, NO_OFFLINE, ACCEPTED, LocalVerdict(IdTagInfo("Invalid"), Source.OFFLINE_REFUSED)),
        (False, UNKNOWN_OK, None, LocalVerdict(ACCEPTED, Source.OFFLINE_UNKNOWN)),
        (False, UNKNOWN_OK, BLOCKED, LocalVerdict(BLOCKED, Source.CACHE)),
        (False, NO_CACHE, ACCEPTED, LocalVerdict(IdTagInfo("Invalid"), Source.OFFLINE_REFUSED)),
    ],
)
def test_decide(
    online: bool,
    settings: AuthSettings,
    cached: IdTagInfo | None,
    expected: AskCentralSystem | LocalVerdict,
) -> None:
    cache = AuthorizationCache()
    if cached is not None:
        cache.update("TAG", cached, NOW)
    assert decide("TAG", online=online, settings=settings, cache=cache, now=NOW) == expected

"""Request budgets, kept in this process's memory.

One process serves a garage, so counting here is enough; several API nodes
behind a balancer would each count on their own (a shared store, e.g. Redis,
would be the next step). Times come from a monotonic clock, which tests replace.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Monotonic = Callable[[], float]
#: Keys forgotten beyond this many, oldest first, so a flood of addresses cannot grow memory.
MAX_KEYS = 10_000


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """A token bucket per key: ``burst`` requests at once, ``rate`` per second after."""

    def __init__(self, *, rate: float, burst: int, clock: Monotonic = time.monotonic) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one request; 0 when allowed, else the seconds until one is."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(float(self._burst), now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[key] = bucket  # most recently used last
        if len(self._buckets) > MAX_KEYS:
            del self._buckets[next(iter(self._buckets))]
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate


@dataclass(slots=True)
class _Window:
    times: deque[float] = field(default_factory=deque)


class SlidingWindows:
    """At most ``limit`` events per key within ``window`` seconds."""

    def __init__(self, *, limit: int, window: float, clock: Monotonic = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._keys: dict[str, _Window] = {}

    def wait(self, key: str) -> float:
        """0 while under the limit, else the seconds until the oldest event leaves the window."""
        entry = self._prune(key)
        if entry is None or len(entry.times) < self._limit:
            return 0.0
        return entry.times[0] + self._window - self._clock()

    def add(self, key: str) -> None:
        entry = self._prune(key) or _Window()
        entry.times.append(self._clock())
        self._keys[key] = entry
        if len(self._keys) > MAX_KEYS:
            del self._keys[next(iter(self._keys))]

    def clear(self, key: str) -> None:
        self._keys.pop(key, None)

    def _prune(self, key: str) -> _Window | None:
        entry = self._keys.pop(key, None)
        if entry is None:
            return None
        horizon = self._clock() - self._window
        while entry.times and entry.times[0] <= horizon:
            entry.times.popleft()
        if entry.times:
            self._keys[key] = entry
            return entry
        return None


class LoginThrottle:
    """Login attempts per source address, and failed logins per login name.

    The address budget slows one machine trying many names; the name budget
    slows many machines trying one name. A success clears the name's failures.
    """

    def __init__(
        self,
        *,
        failures_per_login: int,
        attempts_per_address: int,
        window: float,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self._by_login = SlidingWindows(limit=failures_per_login, window=window, clock=clock)
        self._by_address = SlidingWindows(limit=attempts_per_address, window=window, clock=clock)

    def attempt(self, address: str, login: str) -> float:
        """Count an attempt; 0 when it may go ahead, else the seconds to wait."""
        wait = max(self._by_address.wait(address), self._by_login.wait(login))
        if wait > 0:
            return wait
        self._by_address.add(address)
        return 0.0

    def failed(self, login: str) -> None:
        self._by_login.add(login)

    def succeeded(self, login: str) -> None:
        self._by_login.clear(login)

"""What a simulated charger saw and did, in order, and a way to wait for it.

Scenarios and tests wait for observations instead of sleeping: ``wait_for``
returns the first observation since a given index that matches, as soon as it
is recorded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Observation:
    index: int
    kind: str
    data: Mapping[str, Any]

    def __str__(self) -> str:
        details = " ".join(f"{k}={v}" for k, v in self.data.items() if v is not None)
        return f"{self.kind} {details}".strip()


Predicate = Callable[[Observation], bool]
Listener = Callable[[Observation], None]


@dataclass(slots=True)
class _Waiter:
    predicate: Predicate
    future: asyncio.Future[Observation]


class Recorder:
    def __init__(self, *, keep: int | None = 10_000) -> None:
        self._items: deque[Observation] = deque(maxlen=keep)
        self._next = 0
        self._waiters: list[_Waiter] = []
        self._listeners: list[Listener] = []

    @property
    def mark(self) -> int:
        """The index the next observation gets: pass it as ``since``."""
        return self._next

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add(self, kind: str, data: Mapping[str, Any] | None = None) -> Observation:
        observation = Observation(self._next, kind, dict(data or {}))
        self._next += 1
        self._items.append(observation)
        for waiter in self._waiters:
            if not waiter.future.done() and waiter.predicate(observation):
                waiter.future.set_result(observation)
        for listener in self._listeners:
            listener(observation)
        return observation

    def since(self, index: int, kind: str | None = None) -> list[Observation]:
        return [o for o in self._items if o.index >= index and (kind is None or o.kind == kind)]

    def last(self, kind: str, predicate: Predicate | None = None) -> Observation | None:
        for observation in reversed(self._items):
            if observation.kind == kind and (predicate is None or predicate(observation)):
                return observation
        return None

    async def wait_for(self, predicate: Predicate, *, since: int) -> Observation:
        """The first matching observation from ``since`` on (bound it with ``asyncio.timeout``)."""
        for observation in self._items:
            if observation.index >= since and predicate(observation):
                return observation
        waiter = _Waiter(predicate, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await waiter.future
        finally:
            self._waiters.remove(waiter)

"""Everything the charger has to say, in order (OCPP 1.6 §3.7 and §4.7).

Two kinds of messages wait here:

* transaction messages (StartTransaction, StopTransaction and the MeterValues of a
  transaction) are kept until the central system answered them, across
  disconnections, and delivered in the order they happened. A transaction started
  offline has no transaction id yet: its messages carry the charger's own
  reference, and the id is filled in when the StartTransaction is answered.
  A message the central system refuses (CALLERROR or no answer) is tried
  ``TransactionMessageAttempts`` times, waiting ``TransactionMessageRetryInterval``
  times the number of attempts so far in between, then dropped;
* everything else (StatusNotification, Authorize, Heartbeat...) makes sense only
  now: it is dropped when the connection goes.

Storage is bounded like a charger's flash: over ``limit`` transaction messages,
the oldest MeterValues go first; starts and stops are never dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})


@dataclass(slots=True)
class Outgoing:
    action: str
    payload: dict[str, Any]
    #: The charger's reference of the transaction this message belongs to.
    transaction_ref: int | None = None
    #: Kept across disconnections and retried (a transaction message).
    durable: bool = False
    attempts: int = 0
    #: Monotonic time before which a retry is not sent.
    not_before: float = 0.0
    sequence: int = field(default=0, compare=False)


class OfflineQueue:
    def __init__(self, *, limit: int = 1000) -> None:
        self._items: deque[Outgoing] = deque()
        self._transaction_ids: dict[int, int] = {}
        self._limit = limit
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Outgoing]:
        return iter(list(self._items))

    @property
    def durable_count(self) -> int:
        return sum(1 for item in self._items if item.durable)

    def push(self, item: Outgoing) -> Outgoing | None:
        """Append; returns a MeterValues dropped to make room, if any."""
        self._sequence += 1
        item.sequence = self._sequence
        self._items.append(item)
        if item.durable and self.durable_count > self._limit:
            for old in self._items:
                if old.durable and old.action == "MeterValues" and old is not item:
                    self._items.remove(old)
                    return old
        return None

    def head(self) -> Outgoing | None:
        return self._items[0] if self._items else None

    def pop(self, item: Outgoing) -> None:
        """Remove a message once answered (or given up)."""
        if self._items and self._items[0] is item:
            self._items.popleft()
        elif item in self._items:
            self._items.remove(item)

    def resolve(self, transaction_ref: int, transaction_id: int) -> None:
        self._transaction_ids[transaction_ref] = transaction_id

    def transaction_id(self, transaction_ref: int) -> int | None:
        return self._transaction_ids.get(transaction_ref)

    def payload_of(self, item: Outgoing) -> dict[str, Any] | None:
        """The payload to send, with the transaction id filled in; ``None`` if unknown yet."""
        if item.transaction_ref is None or item.action == "StartTransaction":
            return item.payload
        transaction_id = self._transaction_ids.get(item.transaction_ref)
        if transaction_id is None:
            return None
        return {**item.payload, "transaction_id": transaction_id}

    def failed(
        self, item: Outgoing, now: float, *, max_attempts: int, retry_interval: float
    ) -> bool:
        """A delivery failed; ``True`` when the message is given up (and removed)."""
        item.attempts += 1
        if not item.durable or item.attempts >= max(1, max_attempts):
            self.pop(item)
            return True
        item.not_before = now + retry_interval * item.attempts
        return False

    def drop_transient(self) -> list[Outgoing]:
        """The connection went: forget what only made sense on it."""
        dropped = [item for item in self._items if not item.durable]
        self._items = deque(item for item in self._items if item.durable)
        return dropped

    def forget(self, transaction_ref: int) -> None:
        """The transaction is over and answered: its id is no longer needed."""
        self._transaction_ids.pop(transaction_ref, None)

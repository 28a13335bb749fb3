"""The charger's message queue: order, transaction ids, retries, bounds (OCPP 1.6 §3.7)."""

from __future__ import annotations

from simulators.offline_queue import OfflineQueue, Outgoing


def start(ref: int) -> Outgoing:
    return Outgoing("StartTransaction", {"connector_id": 1}, transaction_ref=ref, durable=True)


def meter(ref: int, n: int = 0) -> Outgoing:
    return Outgoing("MeterValues", {"n": n}, transaction_ref=ref, durable=True)


def stop(ref: int) -> Outgoing:
    return Outgoing("StopTransaction", {"meter_stop": 9}, transaction_ref=ref, durable=True)


def drain(queue: OfflineQueue) -> list[str]:
    sent = []
    while (item := queue.head()) is not None:
        sent.append(item.action)
        queue.pop(item)
    return sent


def test_messages_leave_in_the_order_they_were_queued() -> None:
    queue = OfflineQueue()
    for item in (start(1), meter(1), Outgoing("StatusNotification", {}), stop(1)):
        queue.push(item)
    assert drain(queue) == [
        "StartTransaction",
        "MeterValues",
        "StatusNotification",
        "StopTransaction",
    ]


def test_the_transaction_id_is_filled_in_once_the_start_is_answered() -> None:
    queue = OfflineQueue()
    queue.push(start(7))
    queue.push(stop(7))
    head = queue.head()
    assert head is not None
    assert queue.payload_of(head) == {"connector_id": 1}
    queue.pop(head)
    stopping = queue.head()
    assert stopping is not None
    assert queue.payload_of(stopping) is None  # the id is not known yet
    queue.resolve(7, 4242)
    assert queue.payload_of(stopping) == {"meter_stop": 9, "transaction_id": 4242}


def test_losing_the_connection_keeps_transaction_messages_only() -> None:
    queue = OfflineQueue()
    queue.push(Outgoing("Authorize", {"id_tag": "A"}))
    queue.push(start(1))
    queue.push(Outgoing("StatusNotification", {}))
    dropped = queue.drop_transient()
    assert [item.action for item in dropped] == ["Authorize", "StatusNotification"]
    assert drain(queue) == ["StartTransaction"]


def test_a_refused_transaction_message_is_retried_with_growing_waits_then_given_up() -> None:
    queue = OfflineQueue()
    item = start(1)
    queue.push(item)
    assert not queue.failed(item, 100.0, max_attempts=3, retry_interval=10)
    assert item.not_before == 110.0
    assert not queue.failed(item, 110.0, max_attempts=3, retry_interval=10)
    assert item.not_before == 130.0
    assert queue.head() is item
    assert queue.failed(item, 130.0, max_attempts=3, retry_interval=10)
    assert queue.head() is None


def test_a_transient_message_is_not_retried() -> None:
    queue = OfflineQueue()
    item = Outgoing("Heartbeat", {})
    queue.push(item)
    assert queue.failed(item, 0.0, max_attempts=3, retry_interval=10)
    assert len(queue) == 0


def test_a_full_queue_drops_the_oldest_meter_values_never_starts_or_stops() -> None:
    queue = OfflineQueue(limit=3)
    assert queue.push(start(1)) is None
    assert queue.push(meter(1, 1)) is None
    assert queue.push(meter(1, 2)) is None
    dropped = queue.push(stop(1))
    assert dropped is not None
    assert dropped.payload == {"n": 1}
    assert queue.push(start(2)) is not None  # the other meter value goes
    assert queue.push(stop(2)) is None  # nothing left to drop: kept anyway
    assert drain(queue) == [
        "StartTransaction",
        "StopTransaction",
        "StartTransaction",
        "StopTransaction",
    ]

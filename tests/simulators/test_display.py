"""What a DataTransfer shows on the charger."""

from __future__ import annotations

import json

import pytest

from simulators.display import COSTMSG_VENDOR, DataTransferStatus, DisplayVerdict, interpret

A = DataTransferStatus.ACCEPTED


@pytest.mark.parametrize(
    ("vendor", "message", "data", "expected"),
    [
        (
            COSTMSG_VENDOR,
            "SetUserPrice",
            json.dumps({"idToken": "T", "priceText": "This space is reserved"}),
            DisplayVerdict(A, "This space is reserved"),
        ),
        (
            COSTMSG_VENDOR,
            "FinalCost",
            json.dumps({"transactionId": 1, "cost": 3.5}),
            DisplayVerdict(A, "Total cost: 3.5"),
        ),
        (
            COSTMSG_VENDOR,
            "RunningCost",
            json.dumps({"transactionId": 1, "cost": 1.25}),
            DisplayVerdict(A, "Cost so far: 1.25"),
        ),
        (COSTMSG_VENDOR, "SetUserPrice", "not json", DisplayVerdict(DataTransferStatus.REJECTED)),
        (
            COSTMSG_VENDOR,
            "SetUserPrice",
            json.dumps({"idToken": "T"}),
            DisplayVerdict(DataTransferStatus.REJECTED),
        ),
        (COSTMSG_VENDOR, "Tariff", "{}", DisplayVerdict(DataTransferStatus.UNKNOWN_MESSAGE_ID)),
        (COSTMSG_VENDOR, None, "{}", DisplayVerdict(DataTransferStatus.UNKNOWN_MESSAGE_ID)),
        ("com.acme.display", "Show", json.dumps({"text": "Hello"}), DisplayVerdict(A, "Hello")),
        ("com.acme.display", None, "Plain words", DisplayVerdict(A, "Plain words")),
        ("com.acme.display", None, None, DisplayVerdict(DataTransferStatus.REJECTED)),
        ("com.other", "Show", "x", DisplayVerdict(DataTransferStatus.UNKNOWN_VENDOR_ID)),
    ],
)
def test_interpret(
    vendor: str, message: str | None, data: str | None, expected: DisplayVerdict
) -> None:
    assert interpret(vendor, message, data, ("com.acme.display",)) == expected


def test_a_model_without_california_pricing_does_not_know_the_costmsg_vendor() -> None:
    verdict = interpret(
        COSTMSG_VENDOR, "SetUserPrice", json.dumps({"priceText": "x"}), costmsg=False
    )
    assert verdict == DisplayVerdict(DataTransferStatus.UNKNOWN_VENDOR_ID)

"""What a DataTransfer puts on the charger's display. Pure.

OCPP 1.6 has no display command. Chargers that show text take it by DataTransfer:

* ``org.openchargealliance.costmsg`` (OCA "OCPP & California Pricing"), when the
  model implements it (``CustomDisplayCostAndPrice``): message
  ``SetUserPrice``, ``RunningCost`` or ``FinalCost``, ``data`` a JSON object whose
  ``priceText`` is shown (``cost`` when there is no text);
* a vendor id configured for the charger model (``--display-vendor``): any message,
  ``data`` a JSON object with ``text``, ``message`` or ``priceText``, or plain text.

Other vendor ids are ``UnknownVendorId``; other costmsg messages ``UnknownMessageId``;
a costmsg whose ``data`` is not a JSON object ``Rejected``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

COSTMSG_VENDOR = "org.openchargealliance.costmsg"
COSTMSG_MESSAGES = frozenset({"SetUserPrice", "RunningCost", "FinalCost"})
_TEXT_FIELDS = ("priceText", "text", "message")


class DataTransferStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    UNKNOWN_MESSAGE_ID = "UnknownMessageId"
    UNKNOWN_VENDOR_ID = "UnknownVendorId"


@dataclass(frozen=True, slots=True)
class DisplayVerdict:
    status: DataTransferStatus
    text: str | None = None


def _json_object(data: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        decoded = json.loads(data)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _text_of(fields: dict[str, Any]) -> str | None:
    for name in _TEXT_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def interpret(
    vendor_id: str,
    message_id: str | None,
    data: str | None,
    display_vendors: Collection[str] = (),
    *,
    costmsg: bool = True,
) -> DisplayVerdict:
    """``costmsg``: the model implements California Pricing (``CustomDisplayCostAndPrice``)."""
    if vendor_id == COSTMSG_VENDOR and costmsg:
        if message_id not in COSTMSG_MESSAGES:
            return DisplayVerdict(DataTransferStatus.UNKNOWN_MESSAGE_ID)
        fields = _json_object(data)
        if fields is None:
            return DisplayVerdict(DataTransferStatus.REJECTED)
        text = _text_of(fields)
        if text is None and "cost" in fields:
            label = "Total cost" if message_id == "FinalCost" else "Cost so far"
            text = f"{label}: {fields['cost']}"
        if text is None:
            return DisplayVerdict(DataTransferStatus.REJECTED)
        return DisplayVerdict(DataTransferStatus.ACCEPTED, text)
    if vendor_id in display_vendors:
        fields = _json_object(data)
        text = _text_of(fields) if fields is not None else data
        if not text:
            return DisplayVerdict(DataTransferStatus.REJECTED)
        return DisplayVerdict(DataTransferStatus.ACCEPTED, text)
    return DisplayVerdict(DataTransferStatus.UNKNOWN_VENDOR_ID)

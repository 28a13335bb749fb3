"""The "space reserved" reminder a refusing charger shows, over DataTransfer.

OCPP 1.6 has no display command. The default follows the OCA California Pricing
whitepaper for 1.6: ``DataTransfer`` with vendorId
``org.openchargealliance.costmsg`` and messageId ``SetUserPrice``, whose data
carries ``idToken`` and ``priceText`` (plus ``priceTextExtra`` in the other
languages). Vendor id, message id, language, or "off" can be set per charger
model. A charger that answers anything but ``Accepted`` is recorded, not retried.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from central_system.domain.charging_rule import Refusal, Reminder
from central_system.domain.errors import CentralSystemError
from central_system.domain.model import Event, EventKind
from central_system.ports import Clock

logger = logging.getLogger(__name__)

COSTMSG_VENDOR = "org.openchargealliance.costmsg"
SET_USER_PRICE = "SetUserPrice"

TEXTS: dict[str, dict[Refusal, str]] = {
    "en": {
        Refusal.SPACE_RESERVED: "This space is reserved. Please park at a free space.",
        Refusal.RESERVATION_REQUIRED: "Please reserve this space in the app to charge here.",
        Refusal.TAG_NOT_ACCEPTED: "This space is reserved. Your card is not valid here.",
    },
    "zh-Hans": {
        Refusal.SPACE_RESERVED: "此车位已被预约，请停在空闲车位。",
        Refusal.RESERVATION_REQUIRED: "请先在应用中预约此车位再充电。",
        Refusal.TAG_NOT_ACCEPTED: "此车位已被预约，您的卡在此无效。",
    },
}
LANGUAGES = tuple(TEXTS)


@dataclass(frozen=True, slots=True)
class DisplayStyle:
    """How one charger model is asked to show a text."""

    enabled: bool = True
    vendor_id: str = COSTMSG_VENDOR
    message_id: str | None = SET_USER_PRICE
    language: str = "en"
    extra_languages: tuple[str, ...] = field(default=("zh-Hans",))


def text_for(reminder: Reminder, language: str) -> str:
    text = TEXTS.get(language, TEXTS["en"])[reminder.reason]
    if reminder.space_label and reminder.reason is Refusal.SPACE_RESERVED:
        prefix = {
            "en": f"Space {reminder.space_label}: ",
            "zh-Hans": f"车位 {reminder.space_label}：",
        }
        text = prefix.get(language, "") + text
    return text


def reminder_payload(reminder: Reminder, style: DisplayStyle) -> dict[str, Any]:
    """The DataTransfer.req payload for this reminder."""
    data: dict[str, Any] = {"priceText": text_for(reminder, style.language)}
    if reminder.id_tag:
        data["idToken"] = reminder.id_tag
    extras = [
        {"format": "UTF8", "language": language, "content": text_for(reminder, language)}
        for language in style.extra_languages
        if language != style.language and language in TEXTS
    ]
    if extras:
        data["priceTextExtra"] = extras
    payload: dict[str, Any] = {
        "vendorId": style.vendor_id,
        "data": json.dumps(data, ensure_ascii=False),
    }
    if style.message_id:
        payload["messageId"] = style.message_id
    return payload


class Sender(Protocol):
    async def send_command(self, action: str, payload: dict[str, Any]) -> dict[str, Any]: ...


class EventSink(Protocol):
    async def record_event(self, event: Event) -> None: ...


class Reminders:
    def __init__(
        self,
        *,
        default: DisplayStyle,
        by_model: dict[str, DisplayStyle],
        events: EventSink,
        clock: Clock,
    ) -> None:
        self._default = default
        self._by_model = by_model
        self._events = events
        self._clock = clock

    def style_for(self, model: str | None, can_display: bool | None) -> DisplayStyle | None:
        """The model's own style if configured; else the whitepaper's, unless the charger
        said it cannot show it (``CustomDisplayCostAndPrice=false``): then none."""
        custom = self._by_model.get(model or "")
        if custom is not None:
            return custom if custom.enabled else None
        return None if can_display is False else self._default

    async def remind(
        self, charger: Sender, model: str | None, can_display: bool | None, reminder: Reminder
    ) -> None:
        style = self.style_for(model, can_display)
        detail: dict[str, object] = {
            "connector_id": reminder.connector_id,
            "reason": reminder.reason.value,
            "space": reminder.space_label,
        }
        if style is None:
            detail["why"] = "this charger cannot display messages (no style for its model)"
            await self._events.record_event(
                Event(
                    EventKind.REMINDER_NOT_SHOWN,
                    self._clock.now(),
                    reminder.charge_point_id,
                    detail,
                )
            )
            return
        payload = reminder_payload(reminder, style)
        detail["text"] = text_for(reminder, style.language)
        try:
            answer = await charger.send_command("DataTransfer", payload)
        except CentralSystemError as error:
            detail["why"] = str(error)
            kind = EventKind.REMINDER_FAILED
        else:
            status = answer.get("status")
            detail["status"] = status
            kind = EventKind.REMINDER_SENT if status == "Accepted" else EventKind.REMINDER_FAILED
            if kind is EventKind.REMINDER_FAILED:
                detail["why"] = f"the charger answered {status}; not retried"
        await self._events.record_event(
            Event(kind, self._clock.now(), reminder.charge_point_id, detail)
        )

"""Where and how a simulated charger connects: URL, Basic auth, TLS, backoff.

A charger is configured with the central system's URL and appends its identity
(``ws://host:9000/ocpp`` + ``/GARAGE-CP-01``). Security Profile 1 sends HTTP Basic
credentials (user = charge point id); Profile 2 adds TLS (``wss://``), checked
against a CA file when one is given.
"""

from __future__ import annotations

import base64
import random
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

SUBPROTOCOL = "ocpp1.6"


class EndpointError(ValueError):
    """The URL or TLS settings cannot work."""


def basic_authorization(user: str, password: bytes) -> str:
    """The ``Authorization`` header value of HTTP Basic (RFC 7617)."""
    return "Basic " + base64.b64encode(user.encode() + b":" + password).decode("ascii")


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    charge_point_id: str
    password: bytes | None = None
    ca_file: Path | None = None
    open_timeout: float = 10.0

    def __post_init__(self) -> None:
        scheme = urlsplit(self.url).scheme
        if scheme not in ("ws", "wss"):
            raise EndpointError(f"{self.url!r}: the URL must start with ws:// or wss://")
        if self.ca_file is not None and scheme != "wss":
            raise EndpointError("a CA file only makes sense with a wss:// URL")

    @property
    def address(self) -> str:
        return self.url.rstrip("/") + "/" + quote(self.charge_point_id, safe="")

    @property
    def security_profile(self) -> int:
        if urlsplit(self.url).scheme == "wss":
            return 2 if self.password is not None else 0
        return 1 if self.password is not None else 0

    def headers(self, password: bytes | None = None) -> list[tuple[str, str]]:
        secret = password if password is not None else self.password
        if secret is None:
            return []
        return [("Authorization", basic_authorization(self.charge_point_id, secret))]

    def ssl_context(self) -> ssl.SSLContext | None:
        if urlsplit(self.url).scheme != "wss":
            return None
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before reconnect attempt ``attempt`` (0 = the first retry).

    Exponential with "equal jitter": half the ceiling plus a random share of the
    other half, so a garage whose chargers all lost the server at once does not
    come back in one burst, yet no charger retries at once.
    """
    ceiling: float = min(cap, base * 2.0 ** min(attempt, 32))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)

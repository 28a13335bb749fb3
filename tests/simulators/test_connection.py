"""Where a charger connects, its credentials, and how it backs off."""

from __future__ import annotations

import base64
import random
import ssl
from pathlib import Path

import pytest

from simulators.connection import Endpoint, EndpointError, backoff_delay, basic_authorization


@pytest.mark.parametrize(
    ("url", "charge_point_id", "address"),
    [
        ("ws://h:9000/ocpp", "CP-1", "ws://h:9000/ocpp/CP-1"),
        ("ws://h:9000/ocpp/", "CP-1", "ws://h:9000/ocpp/CP-1"),
        ("wss://h/ocpp", "garage 1/a", "wss://h/ocpp/garage%201%2Fa"),
    ],
)
def test_the_identity_is_appended_to_the_url(url: str, charge_point_id: str, address: str) -> None:
    assert Endpoint(url, charge_point_id).address == address


def test_basic_auth_is_the_id_and_the_password() -> None:
    header = basic_authorization("CP-1", b"s3cret-password!")
    assert header.startswith("Basic ")
    assert base64.b64decode(header.removeprefix("Basic ")) == b"CP-1:s3cret-password!"
    assert Endpoint("ws://h/ocpp", "CP-1", password=b"pw").headers() == [
        ("Authorization", "Basic " + base64.b64encode(b"CP-1:pw").decode())
    ]
    assert Endpoint("ws://h/ocpp", "CP-1").headers() == []


@pytest.mark.parametrize(
    ("url", "password", "profile"),
    [("ws://h", None, 0), ("ws://h", b"p", 1), ("wss://h", b"p", 2), ("wss://h", None, 0)],
)
def test_security_profile(url: str, password: bytes | None, profile: int) -> None:
    assert Endpoint(url, "CP", password=password).security_profile == profile


def test_tls_only_for_wss(tmp_path: Path) -> None:
    assert Endpoint("ws://h", "CP").ssl_context() is None
    context = Endpoint("wss://h", "CP").ssl_context()
    assert context is not None
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    with pytest.raises(EndpointError, match="wss://"):
        Endpoint("ws://h", "CP", ca_file=tmp_path / "ca.pem")
    with pytest.raises(EndpointError, match="ws:// or wss://"):
        Endpoint("http://h", "CP")


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(0, 0.5, 1), (1, 1, 2), (3, 4, 8), (10, 30, 60), (99, 30, 60)]
)
def test_backoff_grows_to_its_cap_with_jitter(attempt: int, low: float, high: float) -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, base=1, cap=60, rng=rng) for _ in range(200)]
    assert low <= min(delays)
    assert max(delays) <= high
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not one value

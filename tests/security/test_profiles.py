"""Security Profiles 1-3 against the real plain and TLS listeners on 127.0.0.1.

Certificates come from ``tests/security/pki.py``, made for this run.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from central_system.domain.model import EventKind
from central_system.domain.security import SecurityProfile
from central_system.system import CentralSystem
from tests.conftest import DatabaseConfig
from tests.security.conftest import (
    PASSWORD,
    PASSWORD_HEX,
    basic,
    charger_connection,
    events_of,
    heartbeat,
    plain_url,
    refusal,
    register,
    secure_system,
    tls_url,
)
from tests.security.pki import Pki

#: A TLS handshake refused by the server shows up on the client as one of these.
TLS_REFUSED = (ssl.SSLError, ConnectionError, InvalidHandshake, OSError, TimeoutError)


async def _with_password(
    system: CentralSystem, charge_point_id: str, profile: SecurityProfile | None = None
) -> None:
    await register(system, charge_point_id)
    await system.charger_credentials.set_password(charge_point_id, PASSWORD)
    if profile is not None:
        await system.charger_credentials.set_profile(charge_point_id, profile)


async def _tls_handshake_fails(url: str, **kwargs: Any) -> None:
    """The TLS handshake itself fails: no HTTP answer (not even a refusal) comes back."""
    with pytest.raises(TLS_REFUSED) as failed:
        await _admitted(url, **kwargs)
    assert not isinstance(failed.value, InvalidStatus), failed.value


async def _admitted(url: str, **kwargs: Any) -> None:
    async with charger_connection(url, **kwargs) as connection:
        answer = await heartbeat(connection)
    assert answer[:2] == [3, "hb"]


# ------------------------------------------------------------------- profile 0


async def test_a_charger_without_password_or_profile_needs_nothing(
    system: CentralSystem,
) -> None:
    await register(system, "CP-0")
    await _admitted(plain_url(system, "CP-0"))
    security = await system.charger_credentials.security("CP-0")
    assert security is not None
    assert security.profile is SecurityProfile.NONE
    assert await events_of(system, EventKind.AUTHENTICATION_FAILED) == []


# ------------------------------------------------------------------- profile 1


@pytest.mark.parametrize(
    "password", [pytest.param(PASSWORD, id="as-typed"), pytest.param(PASSWORD_HEX, id="hex")]
)
async def test_profile_1_admits_the_right_password_over_plain_ws(
    system: CentralSystem, password: str
) -> None:
    await _with_password(system, "CP-1")
    async with charger_connection(
        plain_url(system, "CP-1"), headers=basic("CP-1", password)
    ) as connection:
        assert (await heartbeat(connection))[:2] == [3, "hb"]
        assert system.registry.get("CP-1") is not None
    assert await events_of(system, EventKind.AUTHENTICATION_FAILED) == []


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({}, "no_credentials", id="no-header"),
        pytest.param(basic("CP-1", "wrong-password-000"), "wrong_password", id="wrong-password"),
        pytest.param(basic("CP-2", PASSWORD), "username_mismatch", id="other-username"),
        pytest.param({"Authorization": "Basic not*base64"}, "malformed_credentials", id="garbled"),
    ],
)
async def test_profile_1_refuses_wrong_credentials_with_401(
    system: CentralSystem, headers: dict[str, str], reason: str
) -> None:
    await _with_password(system, "CP-1")
    response = await refusal(plain_url(system, "CP-1"), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert system.registry.get("CP-1") is None
    failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
    assert [event.detail["reason"] for event in failures] == [reason]
    assert failures[0].detail["source"] == "127.0.0.1"
    assert failures[0].detail["listener"] == "plain"
    assert PASSWORD not in repr(failures[0].detail)


async def test_a_charger_whose_profile_needs_a_password_it_never_got_is_refused(
    system: CentralSystem,
) -> None:
    await register(system, "CP-NOPW")
    await system.charger_credentials.set_profile("CP-NOPW", SecurityProfile.BASIC)
    response = await refusal(plain_url(system, "CP-NOPW"), headers=basic("CP-NOPW", PASSWORD))
    assert response.status_code == 401
    failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
    assert [event.detail["reason"] for event in failures] == ["no_password_set"]


# ------------------------------------------------------------------- profile 2


async def test_profile_2_admits_basic_auth_over_tls_only(system: CentralSystem, pki: Pki) -> None:
    await _with_password(system, "CP-2", SecurityProfile.TLS_BASIC)
    await _admitted(
        tls_url(system, "CP-2"), headers=basic("CP-2", PASSWORD), ssl_context=pki.client_context()
    )
    # The right password over plain ws:// is a downgrade: refused before it is checked.
    response = await refusal(plain_url(system, "CP-2"), headers=basic("CP-2", PASSWORD))
    assert response.status_code == 403
    failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
    assert [(e.detail["reason"], e.detail["listener"]) for e in failures] == [
        ("tls_required", "plain")
    ]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param(basic("CP-2", "wrong-password-000"), id="wrong-password"),
        pytest.param(basic("CP-9", PASSWORD), id="other-username"),
    ],
)
async def test_profile_2_refuses_wrong_credentials_with_401(
    system: CentralSystem, pki: Pki, headers: dict[str, str]
) -> None:
    await _with_password(system, "CP-2", SecurityProfile.TLS_BASIC)
    response = await refusal(
        tls_url(system, "CP-2"), headers=headers, ssl_context=pki.client_context()
    )
    assert response.status_code == 401
    failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
    assert [event.detail["listener"] for event in failures] == ["tls"]


async def test_a_profile_1_charger_that_used_tls_is_refused_plain_from_then_on(
    system: CentralSystem, pki: Pki
) -> None:
    await _with_password(system, "CP-UP")
    await _admitted(plain_url(system, "CP-UP"), headers=basic("CP-UP", PASSWORD))
    await _admitted(
        tls_url(system, "CP-UP"), headers=basic("CP-UP", PASSWORD), ssl_context=pki.client_context()
    )
    security = await system.charger_credentials.security("CP-UP")
    assert security is not None
    assert security.profile is SecurityProfile.TLS_BASIC
    raised = await events_of(system, EventKind.SECURITY_PROFILE_RAISED)
    assert [(e.detail["from"], e.detail["to"]) for e in raised] == [(1, 2)]
    response = await refusal(plain_url(system, "CP-UP"), headers=basic("CP-UP", PASSWORD))
    assert response.status_code == 403


async def test_without_the_ratchet_a_charger_keeps_the_profile_the_operator_set(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(sqlite_config, pki, raise_security_profile_on_connect=False) as system:
        await _with_password(system, "CP-UP")
        await _admitted(
            tls_url(system, "CP-UP"),
            headers=basic("CP-UP", PASSWORD),
            ssl_context=pki.client_context(),
        )
        await _admitted(plain_url(system, "CP-UP"), headers=basic("CP-UP", PASSWORD))


# ------------------------------------------------------------------- profile 3


async def test_profile_3_admits_a_client_certificate_that_names_the_charger(
    system: CentralSystem, pki: Pki
) -> None:
    await register(system, "CP-3")
    await system.charger_credentials.set_profile("CP-3", SecurityProfile.TLS_CLIENT_CERTIFICATE)
    client = pki.chargers.issue("cp3", "CP-3")
    await _admitted(tls_url(system, "CP-3"), ssl_context=pki.client_context(client))


@pytest.mark.parametrize(
    ("common_name", "use_basic"),
    [
        pytest.param(None, True, id="no-certificate-but-a-password"),
        pytest.param("CP-OTHER", False, id="certificate-of-another-charger"),
    ],
)
async def test_profile_3_refuses_without_a_certificate_naming_the_charger(
    system: CentralSystem, pki: Pki, common_name: str | None, use_basic: bool
) -> None:
    await _with_password(system, "CP-3", SecurityProfile.TLS_CLIENT_CERTIFICATE)
    client = None if common_name is None else pki.chargers.issue(common_name, common_name)
    response = await refusal(
        tls_url(system, "CP-3"),
        headers=basic("CP-3", PASSWORD) if use_basic else None,
        ssl_context=pki.client_context(client),
    )
    assert response.status_code == 403
    failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
    expected = "client_certificate_required" if common_name is None else "certificate_names_another"
    assert [event.detail["reason"] for event in failures] == [expected]


async def test_profile_3_refuses_plain_ws(system: CentralSystem) -> None:
    await _with_password(system, "CP-3", SecurityProfile.TLS_CLIENT_CERTIFICATE)
    response = await refusal(plain_url(system, "CP-3"), headers=basic("CP-3", PASSWORD))
    assert response.status_code == 403


async def test_a_certificate_from_another_ca_fails_the_tls_handshake(
    system: CentralSystem, pki: Pki
) -> None:
    await register(system, "CP-3")
    await system.charger_credentials.set_profile("CP-3", SecurityProfile.TLS_CLIENT_CERTIFICATE)
    forged = pki.stranger.issue("cp3", "CP-3")
    await _tls_handshake_fails(tls_url(system, "CP-3"), ssl_context=pki.client_context(forged))
    assert system.registry.get("CP-3") is None
    # The same name from the garage's CA is let in: the CA made the difference.
    genuine = pki.chargers.issue("cp3-genuine", "CP-3")
    await _admitted(tls_url(system, "CP-3"), ssl_context=pki.client_context(genuine))


async def test_certificates_can_be_required_to_carry_the_serial_number_and_organisation(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(
        sqlite_config,
        pki,
        tls_client_certificate_name="serial_number",
        tls_client_organization="Garage Community CPO",
    ) as system:
        await _with_password(system, "CP-SN")
        # A boot at profile 1 records the serial number the certificate must carry.
        async with charger_connection(
            plain_url(system, "CP-SN"), headers=basic("CP-SN", PASSWORD)
        ) as connection:
            await connection.send(
                '[2,"b","BootNotification",{"chargePointVendor":"Acme",'
                '"chargePointModel":"W1","chargePointSerialNumber":"SN-0001"}]'
            )
            async with asyncio.timeout(5):
                assert '"Accepted"' in str(await connection.recv())
        by_serial = pki.chargers.issue("sn", "SN-0001")
        await _admitted(tls_url(system, "CP-SN"), ssl_context=pki.client_context(by_serial))
        by_id = pki.chargers.issue("snid", "CP-SN")
        assert (
            await refusal(tls_url(system, "CP-SN"), ssl_context=pki.client_context(by_id))
        ).status_code == 403
        foreign_org = pki.chargers.issue("snorg", "SN-0001", organization="Other CPO")
        assert (
            await refusal(tls_url(system, "CP-SN"), ssl_context=pki.client_context(foreign_org))
        ).status_code == 403
        failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
        assert [event.detail["reason"] for event in failures] == [
            "certificate_names_another",
            "certificate_organization",
        ]


async def test_a_listener_that_requires_client_certificates_refuses_tls_without_one(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(sqlite_config, pki, tls_require_client_certificate=True) as system:
        await _with_password(system, "CP-2", SecurityProfile.TLS_BASIC)
        await _tls_handshake_fails(
            tls_url(system, "CP-2"),
            headers=basic("CP-2", PASSWORD),
            ssl_context=pki.client_context(),
        )
        client = pki.chargers.issue("cp2", "CP-2")
        await _admitted(tls_url(system, "CP-2"), ssl_context=pki.client_context(client))


# --------------------------------------------------------------------------- TLS itself


def _tls11_only(pki: Pki) -> ssl.SSLContext:
    context = pki.client_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    # OpenSSL's default security level forbids TLS 1.1 to the client itself; level 0
    # lets it offer TLS 1.1, so the refusal below can only come from the server.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


async def test_tls_1_1_is_refused_by_the_server(system: CentralSystem, pki: Pki) -> None:
    await register(system, "CP-0")
    await _tls_handshake_fails(tls_url(system, "CP-0"), ssl_context=_tls11_only(pki))
    # The same client, allowed TLS 1.2 as well, gets in: the version made the difference.
    context = _tls11_only(pki)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    await _admitted(tls_url(system, "CP-0"), ssl_context=context)


@pytest.mark.parametrize(
    ("cipher", "accepted"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", True),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", False),
        ("ECDHE-ECDSA-AES128-SHA256", False),
    ],
)
async def test_tls_1_2_offers_only_the_whitepaper_suites(
    system: CentralSystem, pki: Pki, cipher: str, accepted: bool
) -> None:
    await register(system, "CP-0")
    context = pki.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    if not accepted:
        await _tls_handshake_fails(tls_url(system, "CP-0"), ssl_context=context)
        return
    async with charger_connection(tls_url(system, "CP-0"), ssl_context=context) as connection:
        ssl_object = connection.transport.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.2"
        assert ssl_object.cipher()[0] == cipher
        assert ssl_object.compression() is None
        assert (await heartbeat(connection))[:2] == [3, "hb"]


# --------------------------------------------------------------- duplicate identity


async def test_a_failed_attempt_evicts_nothing_and_an_authenticated_one_replaces(
    system: CentralSystem,
) -> None:
    await _with_password(system, "CP-1")
    url = plain_url(system, "CP-1")
    async with charger_connection(url, headers=basic("CP-1", PASSWORD)) as live:
        assert (await heartbeat(live, "hb-1"))[:2] == [3, "hb-1"]
        session = system.registry.get("CP-1")
        assert session is not None
        for headers in ({}, basic("CP-1", "wrong-password-000"), basic("CP-9", PASSWORD)):
            assert (await refusal(url, headers=headers)).status_code == 401
        assert system.registry.get("CP-1") is session
        assert (await heartbeat(live, "hb-2"))[:2] == [3, "hb-2"]
        assert live.close_code is None
        # The charger itself, authenticated, does replace the old connection.
        async with charger_connection(url, headers=basic("CP-1", PASSWORD)) as newer:
            assert (await heartbeat(newer, "hb-3"))[:2] == [3, "hb-3"]
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(5):
                    await live.recv()
            assert live.close_reason == "replaced by a newer connection"
            assert system.registry.get("CP-1") is not session


# ------------------------------------------------------------------------- throttle


async def test_repeated_failures_from_one_address_are_throttled(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(sqlite_config, pki, charger_auth_failures=3) as system:
        await _with_password(system, "CP-1")
        url = plain_url(system, "CP-1")
        # A charger that authenticated a moment ago is remembered ...
        await _admitted(url, headers=basic("CP-1", PASSWORD))
        statuses = [
            (await refusal(url, headers=basic("CP-1", f"wrong-password-{n:03}"))).status_code
            for n in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        throttled = await refusal(url, headers=basic("CP-1", "wrong-password-999"))
        assert int(throttled.headers["Retry-After"]) >= 1
        # ... and still gets in from the throttled address: no argon2 run is needed for it.
        await _admitted(url, headers=basic("CP-1", PASSWORD))
        failures = await events_of(system, EventKind.AUTHENTICATION_FAILED)
        assert len(failures) == 3  # the throttled attempts are not written one by one
        episodes = await events_of(system, EventKind.AUTHENTICATION_THROTTLED)
        assert [event.detail["source"] for event in episodes] == ["127.0.0.1"]


async def test_a_throttled_address_cannot_try_a_password_it_never_used(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(sqlite_config, pki, charger_auth_failures=2) as system:
        await _with_password(system, "CP-1")
        url = plain_url(system, "CP-1")
        for _ in range(2):
            await refusal(url, headers=basic("CP-1", "wrong-password-000"))
        # Even the right password waits: a guess that happens to be right is still a guess.
        assert (await refusal(url, headers=basic("CP-1", PASSWORD))).status_code == 429


# --------------------------------------------------------------- listeners side by side


async def test_the_plain_listener_can_be_switched_off(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(sqlite_config, pki, ocpp_plain_enabled=False) as system:
        assert not system.ocpp.listening
        await register(system, "CP-0")
        await _admitted(tls_url(system, "CP-0"), ssl_context=pki.client_context())


async def test_unknown_chargers_are_still_refused_with_404_on_the_tls_listener(
    system: CentralSystem, pki: Pki
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await _admitted(tls_url(system, "CP-NOPE"), ssl_context=pki.client_context())
    assert refused.value.response.status_code == 404
    assert await events_of(system, EventKind.AUTHENTICATION_FAILED) == []

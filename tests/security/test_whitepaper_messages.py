"""The security whitepaper's messages: from chargers, and the operator's commands to them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central_system.domain.model import EventKind
from central_system.domain.security import SecurityProfile
from central_system.system import CentralSystem
from tests.chargers import RawCharger
from tests.conftest import DatabaseConfig
from tests.security.conftest import (
    OP,
    charger_connection,
    events_of,
    heartbeat,
    operator_api,
    plain_url,
    register,
    secure_system,
    tls_url,
)
from tests.security.pki import Issued, Pki, csr


@pytest.fixture
async def charger(system: CentralSystem) -> Any:
    await register(system, "CP-1")
    async with charger_connection(plain_url(system, "CP-1")) as connection:
        yield RawCharger(connection)


async def test_security_events_are_stored_confirmed_and_critical_ones_shown_apart(
    system: CentralSystem, charger: RawCharger
) -> None:
    sent = [
        ("e1", "StartupOfTheDevice", None),
        ("e2", "FailedToAuthenticateAtCentralSystem", "wrong AuthorizationKey"),
        ("e3", "TamperDetectionActivated", "door open"),
        ("e4", "VendorSpecificOddity", None),
    ]
    for unique_id, event_type, tech_info in sent:
        payload: dict[str, Any] = {"type": event_type, "timestamp": "2026-11-24T10:00:00Z"}
        if tech_info is not None:
            payload["techInfo"] = tech_info
        answer = await charger.call(unique_id, "SecurityEventNotification", payload)
        assert answer == [3, unique_id, {}]
    async with operator_api(system) as api:
        everything = (await api.get(f"{OP}/security-events")).json()
        critical = (await api.get(f"{OP}/security-events", params={"critical": True})).json()
        general = (await api.get(f"{OP}/events")).json()
    assert [e["detail"]["type"] for e in reversed(everything)] == [s[1] for s in sent]
    assert [e["detail"]["type"] for e in reversed(critical)] == [
        "StartupOfTheDevice",
        "TamperDetectionActivated",
    ]
    assert {e["kind"] for e in critical} == {"critical_security_event"}
    assert critical[0]["detail"]["tech_info"] == "door open"
    assert critical[0]["charge_point_id"] == "CP-1"
    # The security view leaves out what is not about security.
    assert len(general) >= len(everything)


async def test_a_malformed_security_event_gets_the_schema_error(charger: RawCharger) -> None:
    answer = await charger.call(
        "bad", "SecurityEventNotification", {"type": "x" * 51, "timestamp": "2026-11-24T10:00Z"}
    )
    assert answer[:3] == [4, "bad", "PropertyConstraintViolation"]


async def test_log_and_signed_firmware_status_notifications_are_recorded(
    system: CentralSystem, charger: RawCharger
) -> None:
    log = await charger.call("l1", "LogStatusNotification", {"status": "Uploaded", "requestId": 7})
    firmware = await charger.call(
        "f1", "SignedFirmwareStatusNotification", {"status": "InvalidSignature", "requestId": 8}
    )
    assert log == [3, "l1", {}]
    assert firmware == [3, "f1", {}]
    [log_event] = await events_of(system, EventKind.LOG_STATUS)
    assert log_event.detail == {"status": "Uploaded", "request_id": 7}
    [firmware_event] = await events_of(system, EventKind.SIGNED_FIRMWARE_STATUS)
    assert firmware_event.detail == {"status": "InvalidSignature", "request_id": 8}
    view = await system.operations.charge_point("CP-1")
    assert view.charge_point.firmware_status == "InvalidSignature"


async def test_sign_certificate_is_rejected_without_a_signing_ca(
    sqlite_config: DatabaseConfig, pki: Pki
) -> None:
    async with secure_system(
        sqlite_config, pki, signing_ca_cert_file=None, signing_ca_key_file=None
    ) as system:
        await register(system, "CP-1")
        async with charger_connection(plain_url(system, "CP-1")) as connection:
            answer = await RawCharger(connection).call(
                "s1", "SignCertificate", {"csr": csr("CP-1")[0]}
            )
    assert answer == [3, "s1", {"status": "Rejected"}]


async def _certificate_signed(charger: RawCharger) -> tuple[str, str]:
    """Wait for the CertificateSigned call, accept it; its unique id and chain."""
    frame = await charger.receive()
    assert frame[0] == 2
    assert frame[2] == "CertificateSigned"
    await charger.send([3, frame[1], {"status": "Accepted"}])
    return frame[1], frame[3]["certificateChain"]


async def test_a_csr_is_signed_by_the_signing_ca_and_the_certificate_opens_profile_3(
    system: CentralSystem, charger: RawCharger, pki: Pki, tmp_path: Any
) -> None:
    request, key = csr("CP-1")
    answer = await charger.call("s1", "SignCertificate", {"csr": request})
    assert answer == [3, "s1", {"status": "Accepted"}]
    _, chain = await _certificate_signed(charger)
    certificates = x509.load_pem_x509_certificates(chain.encode())
    leaf, issuer = certificates
    assert issuer == pki.chargers.certificate
    # Signed by the signing CA's key: it verifies with that CA, not with the TLS listener's.
    leaf.verify_directly_issued_by(pki.chargers.certificate)
    hash_algorithm = leaf.signature_hash_algorithm
    assert hash_algorithm is not None
    with pytest.raises(InvalidSignature):
        pki.server.key.public_key().verify(
            leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(hash_algorithm)
        )
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP-1"
    assert leaf.public_key() == key.public_key()
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    session = system.registry.get("CP-1")
    assert session is not None
    await session.settled()  # the outcome is stored after the charger's answer
    signed = await events_of(system, EventKind.CERTIFICATE_SIGNED)
    assert [event.detail["status"] for event in signed] == ["Accepted"]
    assert signed[0].detail["serial_number"] == format(leaf.serial_number, "x")

    # The charger moves to profile 3 with the certificate it was given.
    await system.charger_credentials.set_profile("CP-1", SecurityProfile.TLS_CLIENT_CERTIFICATE)
    certificate_file = tmp_path / "cp1.pem"
    key_file = tmp_path / "cp1.key"
    certificate_file.write_text(chain)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    issued = Issued(leaf, key, certificate_file, key_file)
    async with charger_connection(
        tls_url(system, "CP-1"), ssl_context=pki.client_context(issued)
    ) as connection:
        assert (await heartbeat(connection))[:2] == [3, "hb"]


@pytest.mark.parametrize(
    ("make_csr", "why"),
    [
        pytest.param(lambda: csr("CP-OTHER")[0], "CN", id="another-charger"),
        pytest.param(lambda: "not a csr", "PEM", id="garbage"),
        pytest.param(lambda: _weak_rsa_csr("CP-1"), "2048", id="weak-key"),
    ],
)
async def test_a_csr_the_central_system_will_not_sign_is_rejected(
    system: CentralSystem, charger: RawCharger, make_csr: Any, why: str
) -> None:
    answer = await charger.call("s1", "SignCertificate", {"csr": make_csr()})
    assert answer == [3, "s1", {"status": "Rejected"}]
    [refused] = await events_of(system, EventKind.CERTIFICATE_NOT_SIGNED)
    assert why in str(refused.detail["why"])
    # No CertificateSigned follows: the next frame is the answer to our heartbeat.
    assert (await charger.call("hb", "Heartbeat", {}))[:2] == [3, "hb"]


def _weak_rsa_csr(common_name: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


WHITEPAPER_COMMANDS = [
    (
        "extended-trigger-message",
        {"requestedMessage": "SignChargePointCertificate"},
        {"status": "Accepted"},
    ),
    (
        "certificate-signed",
        {"certificateChain": "-----BEGIN CERTIFICATE-----"},
        {"status": "Accepted"},
    ),
    (
        "install-certificate",
        {"certificateType": "CentralSystemRootCertificate", "certificate": "-----BEGIN..."},
        {"status": "Accepted"},
    ),
    (
        "get-installed-certificate-ids",
        {"certificateType": "ManufacturerRootCertificate"},
        {"status": "NotFound"},
    ),
    (
        "delete-certificate",
        {
            "certificateHashData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a" * 64,
                "issuerKeyHash": "b" * 64,
                "serialNumber": "01",
            }
        },
        {"status": "NotFound"},
    ),
    (
        "signed-update-firmware",
        {
            "requestId": 1,
            "firmware": {
                "location": "https://firmware.example/1.2.bin",
                "retrieveDateTime": "2026-11-24T10:00:00Z",
                "signingCertificate": "-----BEGIN CERTIFICATE-----",
                "signature": "c2lnbmF0dXJl",
            },
        },
        {"status": "Accepted"},
    ),
    (
        "get-log",
        {"logType": "SecurityLog", "requestId": 2, "log": {"remoteLocation": "ftp://logs/"}},
        {"status": "Accepted", "filename": "security.log"},
    ),
]


@pytest.mark.parametrize(
    ("action", "payload", "reply"),
    WHITEPAPER_COMMANDS,
    ids=[command[0] for command in WHITEPAPER_COMMANDS],
)
async def test_the_operator_sends_the_whitepaper_commands(
    system: CentralSystem,
    charger: RawCharger,
    action: str,
    payload: dict[str, Any],
    reply: dict[str, Any],
) -> None:
    async def answer_one() -> list[Any]:
        frame = await charger.receive()
        await charger.send([3, frame[1], reply])
        return frame

    answering = asyncio.create_task(answer_one())
    async with operator_api(system) as api:
        response = await api.post(f"{OP}/charge-points/CP-1/commands/{action}", json=payload)
    frame = await answering
    assert response.status_code == 200, response.text
    assert response.json() == reply
    assert frame[2] == "".join(part.capitalize() for part in action.split("-"))
    assert frame[3] == json.loads(json.dumps(payload))

"""The admission rule, the key's two spellings, the throttle and the redaction: no sockets."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from ocpp.messages import Call, CallResult
from websockets.datastructures import Headers

from central_system.domain.security import (
    Admit,
    BasicCredentials,
    CertificateName,
    Channel,
    ChargerSecurity,
    CheckPassword,
    ClientCertificate,
    CredentialsProblem,
    InvalidKey,
    Refusal,
    Refuse,
    SecurityProfile,
    admission,
    is_critical,
    key_bytes,
    new_key,
)
from central_system.transport.security import (
    REDACTED,
    AuthThrottle,
    SecretsFilter,
    basic_credentials,
    redact_frame,
    redact_payload,
)

P = SecurityProfile
PLAIN, TLS = Channel(tls=False), Channel(tls=True)
GOOD = BasicCredentials("CP-1", b"0123456789abcdef")
OTHER_USER = BasicCredentials("CP-2", b"0123456789abcdef")
MISSING, MALFORMED = CredentialsProblem.MISSING, CredentialsProblem.MALFORMED


def cert(cn: str | None, organization: str | None = "CPO") -> Channel:
    return Channel(tls=True, certificate=ClientCertificate(cn, organization))


def charger(
    profile: P, *, password: bool = True, serials: frozenset[str] = frozenset()
) -> ChargerSecurity:
    return ChargerSecurity(
        "CP-1", profile, "$argon2id$..." if password else None, serial_numbers=serials
    )


@pytest.mark.parametrize(
    ("security", "channel", "credentials", "expected"),
    [
        # Profile 0: nobody is asked for anything, on either listener.
        (charger(P.NONE, password=False), PLAIN, MISSING, Admit(P.NONE)),
        (charger(P.NONE, password=False), TLS, MISSING, Admit(P.NONE)),
        (charger(P.NONE, password=False), PLAIN, OTHER_USER, Admit(P.NONE)),
        # A password makes Basic auth necessary even where the profile says 0.
        (charger(P.NONE), PLAIN, MISSING, Refuse(Refusal.NO_CREDENTIALS, P.BASIC)),
        (charger(P.NONE), PLAIN, GOOD, CheckPassword(P.BASIC)),
        # Profile 1: Basic over ws://, or better.
        (charger(P.BASIC), PLAIN, GOOD, CheckPassword(P.BASIC)),
        (charger(P.BASIC), TLS, GOOD, CheckPassword(P.TLS_BASIC)),
        (charger(P.BASIC), PLAIN, MISSING, Refuse(Refusal.NO_CREDENTIALS, P.BASIC)),
        (charger(P.BASIC), PLAIN, MALFORMED, Refuse(Refusal.MALFORMED_CREDENTIALS, P.BASIC)),
        (charger(P.BASIC), PLAIN, OTHER_USER, Refuse(Refusal.USERNAME_MISMATCH, P.BASIC)),
        (
            charger(P.BASIC, password=False),
            PLAIN,
            GOOD,
            Refuse(Refusal.NO_PASSWORD_SET, P.BASIC),
        ),
        # Profile 2: never over ws://, whatever the credentials.
        (charger(P.TLS_BASIC), PLAIN, GOOD, Refuse(Refusal.TLS_REQUIRED, P.TLS_BASIC)),
        (charger(P.TLS_BASIC), TLS, GOOD, CheckPassword(P.TLS_BASIC)),
        (charger(P.TLS_BASIC), TLS, MISSING, Refuse(Refusal.NO_CREDENTIALS, P.TLS_BASIC)),
        # Profile 3: a client certificate that names the charger, and nothing else.
        (
            charger(P.TLS_CLIENT_CERTIFICATE),
            TLS,
            GOOD,
            Refuse(Refusal.CLIENT_CERTIFICATE_REQUIRED, P.TLS_CLIENT_CERTIFICATE),
        ),
        (
            charger(P.TLS_CLIENT_CERTIFICATE),
            PLAIN,
            GOOD,
            Refuse(Refusal.TLS_REQUIRED, P.TLS_CLIENT_CERTIFICATE),
        ),
        (charger(P.TLS_CLIENT_CERTIFICATE), cert("CP-1"), MISSING, Admit(P.TLS_CLIENT_CERTIFICATE)),
        (
            charger(P.TLS_CLIENT_CERTIFICATE),
            cert("CP-2"),
            GOOD,
            Refuse(Refusal.CERTIFICATE_NAMES_ANOTHER, P.TLS_CLIENT_CERTIFICATE),
        ),
        (
            charger(P.TLS_CLIENT_CERTIFICATE),
            cert(None),
            MISSING,
            Refuse(Refusal.CERTIFICATE_NAMES_ANOTHER, P.TLS_CLIENT_CERTIFICATE),
        ),
        # A certificate naming the charger is profile 3, above any lower requirement ...
        (charger(P.BASIC), cert("CP-1"), MISSING, Admit(P.TLS_CLIENT_CERTIFICATE)),
        # ... and one naming another charger is refused even where no profile is set.
        (
            charger(P.NONE, password=False),
            cert("CP-2"),
            MISSING,
            Refuse(Refusal.CERTIFICATE_NAMES_ANOTHER, P.NONE),
        ),
    ],
)
def test_admission(
    security: ChargerSecurity,
    channel: Channel,
    credentials: BasicCredentials | CredentialsProblem,
    expected: object,
) -> None:
    assert admission(security, channel, credentials) == expected


def test_a_certificate_may_have_to_name_the_serial_number_and_the_organisation() -> None:
    by_serial = charger(P.TLS_CLIENT_CERTIFICATE, serials=frozenset({"SN-77"}))
    serial = CertificateName.SERIAL_NUMBER
    assert admission(by_serial, cert("SN-77"), MISSING, certificate_name=serial) == Admit(
        P.TLS_CLIENT_CERTIFICATE
    )
    assert admission(by_serial, cert("CP-1"), MISSING, certificate_name=serial) == Refuse(
        Refusal.CERTIFICATE_NAMES_ANOTHER, P.TLS_CLIENT_CERTIFICATE
    )
    assert admission(by_serial, cert("CP-1"), MISSING, organization="CPO") == Admit(
        P.TLS_CLIENT_CERTIFICATE
    )
    assert admission(by_serial, cert("CP-1", "Other"), MISSING, organization="CPO") == Refuse(
        Refusal.CERTIFICATE_ORGANIZATION, P.TLS_CLIENT_CERTIFICATE
    )


def test_a_pending_key_is_accepted_beside_the_current_one() -> None:
    rotating = ChargerSecurity("CP-1", P.BASIC, "$current", "$pending")
    assert rotating.password_hashes == ("$current", "$pending")
    assert ChargerSecurity("CP-1").password_hashes == ()


@pytest.mark.parametrize(
    ("sent", "key"),
    [
        pytest.param(b"garage-secret-0042", b"garage-secret-0042", id="the-bytes"),
        pytest.param(b"67617261676521736563726574", b"67617261676521736563726574", id="short-hex"),
        pytest.param(b"garage-secret-0042".hex().encode(), b"garage-secret-0042", id="hex"),
        pytest.param(
            b"garage-secret-0042".hex().upper().encode(), b"garage-secret-0042", id="upper-hex"
        ),
        pytest.param(bytes(range(16)), bytes(range(16)), id="binary"),
    ],
)
def test_a_password_sent_as_hex_or_as_bytes_is_the_same_key(sent: bytes, key: bytes) -> None:
    assert key_bytes(sent) == key


def test_the_operator_gives_16_to_20_characters_or_32_to_40_hex_digits() -> None:
    assert new_key("garage-secret-0042") == b"garage-secret-0042"
    assert new_key("ab" * 20) == bytes.fromhex("ab" * 20)
    for wrong in ("short", "x" * 21, "ab" * 21, "garage-secret-ä042", "garage\nsecret-0042"):
        with pytest.raises(InvalidKey) as invalid:
            new_key(wrong)
        assert wrong not in str(invalid.value)


@pytest.mark.parametrize(
    ("event_type", "critical"),
    [
        ("StartupOfTheDevice", True),
        ("TamperDetectionActivated", True),
        ("tamper_detection_activated", True),
        ("FirmwareUpdated", True),
        ("FailedToAuthenticateAtCentralSystem", False),
        ("InvalidMessages", False),
    ],
)
def test_critical_security_events(event_type: str, critical: bool) -> None:
    assert is_critical(event_type) is critical


def _basic(raw: bytes) -> Headers:
    return Headers([("Authorization", "Basic " + base64.b64encode(raw).decode())])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (Headers(), CredentialsProblem.MISSING),
        (_basic(b"CP-1:secret:with:colons"), BasicCredentials("CP-1", b"secret:with:colons")),
        (_basic(b"CP-1:" + bytes([0, 255])), BasicCredentials("CP-1", bytes([0, 255]))),
        (_basic(b"no-colon"), CredentialsProblem.MALFORMED),
        (_basic(b"\xff\xfe:x"), CredentialsProblem.MALFORMED),
        (Headers([("Authorization", "Basic !!!")]), CredentialsProblem.MALFORMED),
        (Headers([("Authorization", "Bearer abc")]), CredentialsProblem.MALFORMED),
        (
            Headers([("Authorization", "Basic Q1AtMTp4"), ("Authorization", "Basic Q1AtMTp4")]),
            CredentialsProblem.MALFORMED,
        ),
    ],
)
def test_basic_credentials(headers: Headers, expected: object) -> None:
    assert basic_credentials(headers) == expected


def test_credentials_never_show_the_password_in_their_repr() -> None:
    assert "secret" not in repr(BasicCredentials("CP-1", b"secret"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_is_a_sliding_window_per_source() -> None:
    clock = Clock()
    throttle = AuthThrottle(limit=3, window=60, clock=clock)
    assert [throttle.failed("10.0.0.1") for _ in range(3)] == [False, False, True]
    assert throttle.retry_after("10.0.0.1") == pytest.approx(60)
    assert throttle.retry_after("10.0.0.2") is None  # another address is not affected
    clock.now += 30
    assert throttle.retry_after("10.0.0.1") == pytest.approx(30)
    clock.now += 30
    assert throttle.retry_after("10.0.0.1") is None  # the window slid past them all
    assert throttle.failed("10.0.0.1") is False


def test_the_throttle_forgets_the_oldest_sources_first() -> None:
    clock = Clock()
    throttle = AuthThrottle(limit=1, window=60, max_sources=2, clock=clock)
    for source in ("a", "b", "c"):
        throttle.failed(source)
        clock.now += 1
    assert throttle.retry_after("a") is None
    assert throttle.retry_after("b") is not None
    assert throttle.retry_after("c") is not None


def test_an_authorization_key_never_reaches_the_message_log() -> None:
    call = Call("1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "ab" * 20})
    logged = json.loads(redact_frame(call, call.to_json()))
    assert logged == [2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": REDACTED}]
    assert call.payload["value"] == "ab" * 20  # what is sent is untouched

    other = Call("2", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
    assert redact_frame(other, other.to_json()) == other.to_json()

    answer = CallResult(
        "3",
        {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "cd" * 16}]},
        "GetConfiguration",
    )
    assert "cd" * 16 not in redact_frame(answer, answer.to_json())
    assert redact_payload("GetConfiguration", answer.payload, reply=True)["configurationKey"] == [
        {"key": "AuthorizationKey", "readonly": False, "value": REDACTED}
    ]


def test_the_websocket_debug_log_shows_no_credentials() -> None:
    secrets_filter = SecretsFilter()
    header = logging.LogRecord(
        "ws", logging.DEBUG, __file__, 1, "< %s: %s", ("Authorization", "Basic c2VjcmV0"), None
    )
    frame = logging.LogRecord(
        "ws",
        logging.DEBUG,
        __file__,
        1,
        "> %s",
        ('TEXT \'[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"abab...',),
        None,
    )
    other = logging.LogRecord("ws", logging.DEBUG, __file__, 1, "< %s: %s", ("Host", "x"), None)
    for record in (header, frame, other):
        assert secrets_filter.filter(record) is True
    assert "c2VjcmV0" not in header.getMessage()
    assert "abab" not in frame.getMessage()
    assert other.getMessage() == "< Host: x"

"""TLS for Security Profiles 2 and 3, and the CA that signs chargers' certificates.

``server_context`` builds the TLS listener's context as the OCPP 1.6 security
whitepaper asks (A00.FR.312-320): TLS 1.2 or newer only, its cipher suites for
TLS 1.2 (TLS 1.3 keeps OpenSSL's, all AEAD), no compression, no renegotiation.
With a client CA the listener asks every client for a certificate and OpenSSL
verifies any it gets against that CA (``CERT_OPTIONAL``): one listener serves
Security Profile 2 (no client certificate, HTTP Basic) and 3 (a client
certificate) side by side, and a certificate from another CA fails the TLS
handshake before any HTTP is read. ``require_client_certificate`` turns the
listener into a profile 3 only one (``CERT_REQUIRED``).

``CertificateAuthority`` answers SignCertificate: it signs a charger's CSR with
a CA of its own (never with the listener's key), naming the charger as the
profile 3 check expects, and returns the chain for CertificateSigned.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from central_system.domain.security import (
    WHITEPAPER_CIPHERS,
    CertificateName,
    ClientCertificate,
)


def server_context(
    *,
    certificate_file: Path,
    key_file: Path,
    key_password: str | None = None,
    client_ca_file: Path | None = None,
    require_client_certificate: bool = False,
    ciphers: str = WHITEPAPER_CIPHERS,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(certificate_file, key_file, password=key_password)
    if client_ca_file is not None:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_OPTIONAL
    elif require_client_certificate:
        raise ValueError("a listener that requires client certificates needs a client CA")
    return context


def _names(subject: Any, field: str) -> set[str]:
    return {value for rdn in subject for key, value in rdn if key == field}


def client_certificate(
    ssl_object: ssl.SSLObject | ssl.SSLSocket | None,
) -> ClientCertificate | None:
    """The client's certificate, if it sent one (OpenSSL has verified its chain by now)."""
    if ssl_object is None:
        return None
    peer = ssl_object.getpeercert()
    if not peer:
        return None
    subject = peer.get("subject", ())
    common_names = _names(subject, "commonName")
    organizations = _names(subject, "organizationName")
    # Two different names in one field name nobody for sure.
    return ClientCertificate(
        common_name=common_names.pop() if len(common_names) == 1 else None,
        organization=organizations.pop() if len(organizations) == 1 else None,
    )


class CsrRefused(ValueError):
    """A CSR the central system will not sign; the message says why (no secret in it)."""


@dataclass(frozen=True, slots=True)
class SigningRequest:
    """A checked CSR and the name the certificate will carry."""

    csr: x509.CertificateSigningRequest
    common_name: str


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    chain: str
    serial_number: str
    common_name: str
    not_after: dt.datetime


class CertificateAuthority:
    """Signs chargers' CSRs with a CA kept for that, for ``days`` days."""

    def __init__(
        self,
        certificate: x509.Certificate,
        key: Any,
        *,
        days: int = 365,
        organization: str | None = None,
        certificate_name: CertificateName = CertificateName.CHARGE_POINT_ID,
    ) -> None:
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("the signing CA's key must be RSA or EC")
        self._certificate = certificate
        self._key = key
        self._days = days
        self._organization = organization
        self.certificate_name = certificate_name
        self._chain_tail = certificate.public_bytes(serialization.Encoding.PEM).decode()

    @classmethod
    def from_files(
        cls,
        certificate_file: Path,
        key_file: Path,
        *,
        key_password: str | None = None,
        days: int = 365,
        organization: str | None = None,
        certificate_name: CertificateName = CertificateName.CHARGE_POINT_ID,
    ) -> CertificateAuthority:
        certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
        key = serialization.load_pem_private_key(
            key_file.read_bytes(), None if key_password is None else key_password.encode()
        )
        return cls(
            certificate,
            key,
            days=days,
            organization=organization,
            certificate_name=certificate_name,
        )

    def check(self, csr_pem: str, expected_names: frozenset[str]) -> SigningRequest:
        """Parse and check a CSR; its CN must be one of ``expected_names``."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise CsrRefused("not a PEM certificate signing request") from None
        if not csr.is_signature_valid:
            raise CsrRefused("the CSR's signature does not verify")
        key = csr.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < 2048:
                raise CsrRefused("RSA keys need 2048 bits or more")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.key_size < 224:
                raise CsrRefused("EC keys need 224 bits or more")
        else:
            raise CsrRefused("only RSA and EC keys are signed")
        common_names = {
            str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        }
        if len(common_names) != 1 or not common_names <= expected_names:
            raise CsrRefused(f"the CSR's CN must be the charger's {self.certificate_name.value}")
        return SigningRequest(csr, common_names.pop())

    async def sign(self, request: SigningRequest, now: dt.datetime) -> IssuedCertificate:
        """The charger's certificate, and the PEM chain (it, then this CA) to send it."""
        return await asyncio.to_thread(self._sign, request, now)

    def _sign(self, request: SigningRequest, now: dt.datetime) -> IssuedCertificate:
        names = [x509.NameAttribute(NameOID.COMMON_NAME, request.common_name)]
        organization = self._organization or next(
            (
                str(a.value)
                for a in request.csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            ),
            None,
        )
        if organization:
            names.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        public_key = request.csr.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        issuer_key = self._certificate.public_key()
        assert isinstance(issuer_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(names))
            .issuer_name(self._certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self._days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        return IssuedCertificate(
            chain=certificate.public_bytes(serialization.Encoding.PEM).decode() + self._chain_tail,
            serial_number=format(certificate.serial_number, "x"),
            common_name=request.common_name,
            not_after=certificate.not_valid_after_utc,
        )

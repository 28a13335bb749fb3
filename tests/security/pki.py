"""Certificates made for the test run (EC P-256: quick to generate, accepted by OpenSSL).

``Pki`` is a garage's little public key infrastructure: a CA for chargers'
client certificates (also the signing CA of SignCertificate), the server
certificate of the wss:// listener from a CA of its own, and a stranger CA
whose certificates must be refused.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "Garage Community CPO"


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    certificate_file: Path
    key_file: Path


class Authority:
    def __init__(self, directory: Path, label: str, common_name: str) -> None:
        self.directory = directory
        self.label = label
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = _name(common_name, ORGANIZATION)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_file = directory / f"{label}-ca.pem"
        self.key_file = directory / f"{label}-ca.key"
        self.certificate_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(_pem_key(self.key))

    def issue(
        self,
        file_label: str,
        common_name: str,
        *,
        organization: str | None = ORGANIZATION,
        server: bool = False,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        certificate_file = self.directory / f"{self.label}-{file_label}.pem"
        key_file = self.directory / f"{self.label}-{file_label}.key"
        certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        return Issued(certificate, key, certificate_file, key_file)


class Pki:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server_ca = Authority(directory, "server", "Garage Server CA")
        self.server = self.server_ca.issue("listener", "localhost", server=True)
        self.chargers = Authority(directory, "chargers", "Garage Charger CA")
        self.stranger = Authority(directory, "stranger", "Stranger CA")

    def client_context(
        self, client: Issued | None = None, *, certificate_file: Path | None = None
    ) -> ssl.SSLContext:
        """What a charger uses: trusts the server CA; presents ``client`` if given."""
        context = ssl.create_default_context(cafile=self.server_ca.certificate_file)
        if client is not None:
            context.load_cert_chain(certificate_file or client.certificate_file, client.key_file)
        return context


def csr(
    common_name: str, key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A PEM certificate signing request for ``common_name`` and its key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(common_name, ORGANIZATION))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode(), key

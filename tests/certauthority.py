"""A certificate authority made in the test, the way a real one issues: a root, an
intermediate under it, and document-signing certificates for an institution, handed over
as PKCS#12 or as a PEM key and chain; and an NSS database that trusts the root, for pdfsig.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# The default institution's English name, split as a CA puts it: unit and organization.
UNIT = "Vice-Chancellery for Research and Technology"
ORGANIZATION = "Tabriz University of Medical Sciences"
COMMON_NAME = "Tabriz University of Medical Sciences Diplomas"

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Trust Services"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def institution_subject() -> x509.Name:
    """The subject a CA gives the institution: its full name, each part where it belongs."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, UNIT),
            x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME),
        ]
    )


@dataclass(frozen=True)
class MadeCA:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate

    def issue(
        self,
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
        now: datetime,
        *,
        subject: x509.Name | None = None,
        key_usage: x509.KeyUsage | None = None,
        extended: list[ObjectIdentifier] | None = None,
        lifetime: timedelta = timedelta(days=365),
        start: timedelta = timedelta(hours=-1),
        by_root: bool = False,
    ) -> x509.Certificate:
        """A document-signing certificate (from the intermediate unless `by_root`)."""
        issuer, issuer_key = (
            (self.root, self.root_key) if by_root else (self.intermediate, self.intermediate_key)
        )
        begin = now + start
        return (
            x509.CertificateBuilder()
            .subject_name(subject or institution_subject())
            .issuer_name(issuer.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(begin)
            .not_valid_after(begin + lifetime)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage or _usage(signing=True), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    extended or [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
            .sign(issuer_key, hashes.SHA256())
        )


def ca_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    path_length: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def make_ca(now: datetime, name: str = "Test Trust Services") -> MadeCA:
    root_key = ec.generate_private_key(ec.SECP256R1())
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    root_name, intermediate_name = _name(f"{name} Root CA"), _name(f"{name} Signing CA")
    root = ca_certificate(root_name, root_key, root_name, root_key, now, 1)
    intermediate = ca_certificate(intermediate_name, intermediate_key, root_name, root_key, now, 0)
    return MadeCA(root_key, root, intermediate_key, intermediate)


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def key_pem(key: Key, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def pkcs12_file(
    key: Key, certificate: x509.Certificate, chain: list[x509.Certificate], password: bytes
) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"document signing",
        key,
        certificate,
        chain,
        serialization.BestAvailableEncryption(password),
    )


def nss_database(directory: Path, root: x509.Certificate) -> str:
    """An NSS database (certutil) in which `root` is a trusted CA: the `-nssdir` to give
    pdfsig. Trust "C,C," marks it a CA for TLS and for email, the use NSS checks a
    document signer's certificate against."""
    directory.mkdir(parents=True, exist_ok=True)
    database = f"sql:{directory}"
    subprocess.run(
        ["certutil", "-N", "-d", database, "--empty-password"], check=True, capture_output=True
    )
    root_file = directory / "root.pem"
    root_file.write_bytes(pem(root))
    subprocess.run(
        ["certutil", "-A", "-d", database, "-n", "test root", "-t", "C,C,", "-i", str(root_file)],
        check=True,
        capture_output=True,
    )
    return database

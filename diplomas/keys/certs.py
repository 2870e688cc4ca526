"""The institution's X.509 hierarchy: a root CA and the certificate that signs PDFs.

Both use ECDSA P-256. The root is self-signed, may issue only end-entity certificates
(path length 0) and lives 20 years; the document-signing certificate lives 5 years (never
past the root) and is marked for digital signature and non-repudiation, with the
document-signing and email-protection extended key usages that PDF readers look for.
The names put the institution's name in the attributes meant for it (see `subject_name`),
all as UTF8String, and never cut a name.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from ..core.model import Institution

ROOT_VALIDITY = timedelta(days=20 * 365 + 5)
DOCUMENT_SIGNING_VALIDITY = timedelta(days=5 * 365 + 1)
# Certificates start a little in the past, so that verifiers whose clocks run slightly
# behind do not see a certificate that is "not yet valid" right after `diplomas init`.
BACKDATE = timedelta(hours=1)

ID_KP_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
MAX_NAME = 64
"""ub-common-name, ub-organization-name and ub-organizational-unit-name (RFC 5280)."""


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def split_name(english: str) -> tuple[str, str]:
    """(organization, unit) for an English name: a name that is too long for one attribute
    and reads "<unit>, <organization>" ("Vice-Chancellery for Research and Technology,
    Tabriz University of Medical Sciences") is split at a ", " into its two parts, the
    latest split that fits both. Any other name stays whole in the organization, even past
    64 characters: readers show a long O whole, while a cut one names somebody else."""
    english = " ".join(english.split())
    if len(english) <= MAX_NAME:
        return english, ""
    parts = english.split(", ")
    for cut in range(len(parts) - 1, 0, -1):
        unit, organization = ", ".join(parts[:cut]), ", ".join(parts[cut:])
        if len(unit) <= MAX_NAME and len(organization) <= MAX_NAME:
            return organization, unit
    return english, ""


def common_name(institution: Institution, role: str) -> str:
    """ "<name> <role>" within the 64 characters a CN may have (cryptography refuses more):
    the whole name if it fits, else the organization part of it; as a last resort whole
    words of it, never part of a word. The full name is in O and OU anyway."""
    english = " ".join(display_name(institution).split())
    organization, _ = split_name(english)
    for base in (english, organization):
        if len(f"{base} {role}") <= MAX_NAME:
            return f"{base} {role}"
    words: list[str] = []
    for word in organization.split():
        if len(" ".join([*words, word])) > MAX_NAME:
            break
        words.append(word)
    return " ".join(words) or organization[:MAX_NAME]


def subject_name(institution: Institution, role: str) -> x509.Name:
    """O=<English organization>, [OU=<English unit>], [O=<Persian name>], CN=<name and role>:
    most general first, every value whole."""
    organization, unit = split_name(display_name(institution))
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    persian = " ".join(institution.name.split())
    if persian and persian != organization and persian != display_name(institution):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, persian))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name(institution, role)))
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attributes])


def display_name(institution: Institution) -> str:
    return institution.name_en.strip() or institution.name.strip() or institution.slug


def build_root_certificate(
    institution: Institution, key: ec.EllipticCurvePrivateKey, now: datetime
) -> x509.Certificate:
    """A self-signed CA certificate for the institution, valid 20 years from `now`."""
    subject = subject_name(institution, "Root CA")
    start = now.replace(microsecond=0) - BACKDATE
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def build_document_signing_certificate(
    institution: Institution,
    key: ec.EllipticCurvePublicKey,
    root: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    """The end-entity certificate that signs PDFs, issued by `root`, valid 5 years."""
    start = now.replace(microsecond=0) - BACKDATE
    end = min(start + DOCUMENT_SIGNING_VALIDITY, root.not_valid_after_utc)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject_name(institution, "Document Signing"))
        .issuer_name(root.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ID_KP_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )

"""A document-signing certificate that an institution brings from a CA, checked before use.

The CLI reads the files; this module takes their bytes (a PKCS#12 file, or a PEM key and
a PEM chain) and either returns a `CheckedCertificate` or refuses with an
`InvalidInput` that says in plain words what is wrong:

* the key is one the PDF signer supports (RSA of 2048 bits or more, ECDSA P-256 or P-384)
  and belongs to the certificate;
* the certificate is an end-entity certificate whose key usage allows digital signatures
  and whose extended key usage, if any, allows signing documents;
* it is valid now, and so is every CA certificate above it;
* it chains, signature by signature, through CA certificates to a self-signed root that
  came with it (in the file, or given on its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..core.errors import FieldProblem, InvalidInput
from .certs import ID_KP_DOCUMENT_SIGNING

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

MIN_RSA_BITS = 2048
_CURVES = (ec.SECP256R1, ec.SECP384R1)
# Extended key usages under which PDF readers accept a document signature: document
# signing (RFC 9336), email protection (what NSS, and so poppler, checks), any.
_SIGNING_USAGES = (
    ID_KP_DOCUMENT_SIGNING,
    ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
)
_MAX_CHAIN = 8


@dataclass(frozen=True)
class CheckedCertificate:
    """A key, its document-signing certificate and the chain to its CA root, all checked."""

    key: SigningKey
    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    """Nearest first; empty when the root issued the certificate itself."""
    root: x509.Certificate


def _refuse(field: str, message: str) -> InvalidInput:
    return InvalidInput(FieldProblem(field, message))


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or "(an empty name)"


def read_pkcs12(data: bytes, password: bytes | None) -> tuple[SigningKey, list[x509.Certificate]]:
    """The key and the certificates of a PKCS#12 file (its own certificate first)."""
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise _refuse(
            "p12", "the PKCS#12 file cannot be opened: the password is wrong or it is not PKCS#12"
        ) from None
    if key is None:
        raise _refuse("p12", "the PKCS#12 file holds no private key")
    if certificate is None:
        raise _refuse("p12", "the PKCS#12 file holds no certificate for its key")
    return _supported(key), [certificate, *others]


def read_pem(
    key_pem: bytes, chain_pem: bytes, password: bytes | None
) -> tuple[SigningKey, list[x509.Certificate]]:
    """The key (encrypted or not) and the certificates of a PEM chain, in file order."""
    try:
        key = serialization.load_pem_private_key(key_pem, password)
    except TypeError:
        message = (
            "the key file is encrypted: give its password with --password-stdin or "
            "DIPLOMAS_P12_PASSWORD"
            if password is None
            else "the key file is not encrypted, but a password was given"
        )
        raise _refuse("key", message) from None
    except ValueError:
        raise _refuse(
            "key", "the key file cannot be read: the password is wrong or it is not a PEM key"
        ) from None
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise _refuse("chain", "the chain file holds no PEM certificate") from None
    return _supported(key), certificates


def read_root(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _refuse("root", "the root file is not a PEM certificate") from None


def _supported(key: object) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise _refuse(
                "key", f"the key is RSA of {key.key_size} bits; at least {MIN_RSA_BITS} are needed"
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, _CURVES):
            raise _refuse(
                "key", f"the key is ECDSA on {key.curve.name}; P-256 or P-384 are supported"
            )
        return key
    raise _refuse(
        "key",
        f"the key is {type(key).__name__.removeprefix('_')}; "
        "RSA (2048 bits or more) and ECDSA P-256 or P-384 keys are supported",
    )


def check_certificate(
    key: SigningKey,
    certificates: Sequence[x509.Certificate],
    root: x509.Certificate | None,
    now: datetime,
) -> CheckedCertificate:
    """Check what `read_pkcs12` or `read_pem` returned (and a root given on its own) at
    `now`; the first certificate is the document-signing one."""
    if not certificates:
        raise _refuse("chain", "no certificate was given")
    certificate, others = certificates[0], [*certificates[1:], *([root] if root else [])]
    if certificate.public_key() != key.public_key():
        raise _refuse("key", "the private key does not belong to the certificate")
    _check_end_entity(certificate)
    _check_time(certificate, "the certificate", now)
    path = _build_path(certificate, others)
    for ca in path:
        _check_time(ca, f"the CA certificate {_subject(ca)}", now)
    return CheckedCertificate(key, certificate, tuple(path[:-1]), path[-1])


def _extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> object | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_end_entity(certificate: x509.Certificate) -> None:
    constraints = _extension(certificate, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        raise _refuse("certificate", "the certificate is a CA certificate, not one for signing")
    usage = _extension(certificate, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.digital_signature:
        raise _refuse(
            "certificate", "the certificate's key usage does not allow digital signatures"
        )
    extended = _extension(certificate, x509.ExtendedKeyUsage)
    if isinstance(extended, x509.ExtendedKeyUsage) and not any(
        oid in extended for oid in _SIGNING_USAGES
    ):
        raise _refuse(
            "certificate",
            "the certificate's extended key usage does not allow signing documents "
            "(it needs document signing or email protection)",
        )


def _check_time(certificate: x509.Certificate, what: str, now: datetime) -> None:
    if now < certificate.not_valid_before_utc:
        raise _refuse(
            "certificate", f"{what} is not valid yet (from {certificate.not_valid_before_utc})"
        )
    if now > certificate.not_valid_after_utc:
        raise _refuse("certificate", f"{what} expired on {certificate.not_valid_after_utc}")


def _issued(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_ca(certificate: x509.Certificate, below: int) -> None:
    """`certificate` may issue the chain below it (`below` CA certificates under it)."""
    constraints = _extension(certificate, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        raise _refuse(
            "chain", f"{_subject(certificate)} issued a certificate but is not a CA certificate"
        )
    if constraints.path_length is not None and below > constraints.path_length:
        raise _refuse(
            "chain", f"{_subject(certificate)} may not have {below} CA certificate(s) below it"
        )
    usage = _extension(certificate, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        raise _refuse(
            "chain", f"{_subject(certificate)} is not allowed to sign certificates (key usage)"
        )


def _build_path(
    certificate: x509.Certificate, others: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The CA certificates from the one that issued `certificate` up to a self-signed root,
    each found by name and checked by signature, whatever order they were given in."""
    path: list[x509.Certificate] = []
    current = certificate
    while len(path) < _MAX_CHAIN:
        issuer = next((c for c in others if c not in path and _issued(current, c)), None)
        if issuer is None:
            raise _refuse(
                "chain",
                f"the chain does not reach a CA root: nothing given issued "
                f"{_subject(current)} (its issuer is {current.issuer.rfc4514_string()}); "
                f"add the CA's certificates to the chain, or give its root with --root",
            )
        _check_ca(issuer, below=len(path))
        path.append(issuer)
        if _issued(issuer, issuer):
            return path
        current = issuer
    raise _refuse("chain", f"the chain is longer than {_MAX_CHAIN} certificates")

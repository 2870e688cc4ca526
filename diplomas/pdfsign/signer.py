"""PAdES signing with pyHanko, prepared once and reused for every PDF: B-B, or B-T and
B-LT when a timestamp authority is configured (`Timestamping`).

`PadesSigner.sign` embeds the signed record as `diploma-credential.json` and adds one
invisible PAdES signature, in a single incremental update. Everything that does not
depend on the document is prepared in the constructor: the certificates in asn1crypto
form, the CMS signer, the signing-certificate-v2 attribute and a fixed size for the
signature placeholder. What is left per call is parsing the PDF, writing the update,
one SHA-256 over the file and one ECDSA (or RSA) signature.

Where the time goes (the rendered 46 KB diploma, one core of this 2-core machine, idle):
pyHanko with its defaults takes ~20 ms per signature: ~9 ms is a dry-run signature that
only sizes the placeholder, most of the rest asn1crypto rebuilding the constant
signing-certificate-v2 attribute. With both avoided, a signature takes ~2.0 ms, all of it
pyHanko and asn1crypto in pure Python: ~0.2 ms parsing the PDF's cross-reference table
and catalog; ~0.3 ms creating the signature field (reading the page to add the widget);
~0.7 ms writing the update (0.3 ms of it re-reading the Info dictionary to set /ModDate
and deriving the XMP stream that the PDF 2.0 output version, from ISO 32002 for ECDSA,
requires); ~0.5 ms assembling the CMS object; ~0.1 ms for the event loop; 0.03 ms for
ECDSA. Two further savings are taken here: the coroutine runs on a loop kept per thread
(`_sync.run_coroutine`) rather than pyHanko's `asyncio.run` per call (~0.3 ms), and the
signed attributes and SignerInfo are handed back parsed from their own DER, so asn1crypto
copies bytes rather than trees when it nests them (~0.2 ms). Everything else is pyHanko's
own parser and writer, which its public API does not let us skip.

With a timestamp authority (PAdES B-T) the signature value is sent to it and its RFC 3161
token is added as an unsigned attribute; with validation data (B-LT) the certificates,
OCSP responses and CRLs of the signer's and the authority's chains are fetched and written
to the document security store (DSS) in a second incremental update. Both go through
pyHanko's supported API (`HTTPTimeStamper`, `PdfSignatureMetadata(embed_validation_info=
True, validation_context=...)`); the network round trips dwarf the savings above, so that
path lets pyHanko size the placeholder itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from io import BytesIO
from typing import Any, Protocol

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import SigningError, as_signing_certificate_v2
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..core.errors import ConfigurationError, DiplomaError, DocumentError
from ._sync import run_coroutine

RECORD_FILE_NAME = "diploma-credential.json"
RECORD_MIME_TYPE = "application/vc+ld+json"
RECORD_DESCRIPTION = "Signed diploma record (W3C Verifiable Credential, Open Badges 3.0)"
FIELD_NAME = "DiplomaSignature"

# Orders of the P-256 and P-384 groups. ECDSA signatures are normalised to s <= n/2
# ("low S", as in Bitcoin's BIP 62), so that nobody can turn a valid signature into a
# second valid one by replacing s with n - s; the validator insists on it.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P384_ORDER = int(
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
    16,
)
MIN_RSA_BITS = 2048

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class ExternalKey(Protocol):
    """A private key that signs where it lives (a PKCS#11 token, say) and never comes here."""

    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey: ...

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        """`data`, hashed with `algorithm`, signed: PKCS#1 v1.5 for RSA, DER (r, s) for
        ECDSA, as `cryptography`'s own keys return them (the signer makes s low)."""
        ...


@dataclass(frozen=True)
class Mechanism:
    """How a key of one kind signs: the one combination the signer writes for it, and so
    the only one the validator accepts from a certificate with such a key."""

    digest: str
    """The message digest (asn1crypto's name): SHA-256, or SHA-384 with P-384 as ISO 32002
    pairs them."""
    algorithm: asn1_algos.SignedDigestAlgorithm
    ec_order: int | None
    """The group order for ECDSA (signatures have low s); None for RSA PKCS#1 v1.5, whose
    signatures are deterministic and as long as the modulus."""
    form: str
    """The signature value's form, in words."""

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return hashes.SHA384() if self.digest == "sha384" else hashes.SHA256()


_MECHANISMS = {
    "rsa": Mechanism(
        "sha256",
        # RFC 4055: the parameters of sha256WithRSAEncryption are an explicit NULL
        asn1_algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_rsa", "parameters": asn1_core.Null()}
        ),
        None,
        "an RSA signature as long as its key",
    ),
    "secp256r1": Mechanism(
        "sha256",
        asn1_algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
        P256_ORDER,
        "an ECDSA P-256 signature with low s",
    ),
    "secp384r1": Mechanism(
        "sha384",
        asn1_algos.SignedDigestAlgorithm({"algorithm": "sha384_ecdsa"}),
        P384_ORDER,
        "an ECDSA P-384 signature with low s",
    ),
}


def mechanism_for(certificate: asn1_x509.Certificate) -> Mechanism | None:
    """The mechanism for the certificate's key, or None if the signer supports no such key
    (RSA under 2048 bits, curves other than P-256 and P-384, anything else)."""
    public = certificate.public_key
    if public.algorithm == "rsa":
        return _MECHANISMS["rsa"] if public.bit_size >= MIN_RSA_BITS else None
    if public.algorithm == "ec" and public.curve[0] == "named":
        return _MECHANISMS.get(public.curve[1])
    return None


# The signature placeholder is sized once, from a real CMS object, plus this margin
# (ECDSA signatures vary by a few bytes; RSA ones do not).
_PLACEHOLDER_MARGIN = 64


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


class _FixedAttribute(CMSAttributeProvider):
    """A signed attribute whose value never changes, parsed once from its DER form."""

    def __init__(self, attribute: asn1_cms.CMSAttribute) -> None:
        self.attribute_type = attribute["type"].native
        self._attribute = asn1_cms.CMSAttribute.load(attribute.dump())

    async def build_attr_value(self, dry_run: bool = False) -> Any:
        return self._attribute["values"][0]

    async def get_attribute(self, dry_run: bool = False) -> asn1_cms.CMSAttribute:
        return self._attribute


class _PadesAttributes(SignedAttributeProviderSpec):
    """The PAdES B-B signed attributes besides content type and message digest: only
    signing-certificate-v2 (PAdES forbids the CMS signing-time attribute; the time goes
    in the signature dictionary's /M)."""

    def __init__(self, signing_cert: asn1_x509.Certificate, digest: str) -> None:
        value = as_signing_certificate_v2(signing_cert, digest)
        attribute = asn1_cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]})
        self._providers = (_FixedAttribute(attribute),)

    def signed_attr_providers(
        self, data_digest: bytes, digest_algorithm: str
    ) -> Iterable[CMSAttributeProvider]:
        return self._providers


class _CmsSigner(signers.Signer):
    """pyHanko CMS signer over an RSA or ECDSA key, loaded in memory or held elsewhere."""

    def __init__(
        self,
        key: SigningKey | ExternalKey,
        mechanism: Mechanism,
        signing_cert: asn1_x509.Certificate,
        others: Sequence[asn1_x509.Certificate],
    ) -> None:
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        for certificate in others:
            registry.register(certificate)
        super().__init__(
            signing_cert=signing_cert,
            cert_registry=registry,
            signature_mechanism=mechanism.algorithm,
            embed_roots=False,  # verifiers bring their own roots
        )
        self._key = key
        self._mechanism = mechanism
        self._hash = mechanism.hash_algorithm()
        self.signed_attr_prov_spec = _PadesAttributes(signing_cert, mechanism.digest)

    # pyHanko builds the signed attributes and the SignerInfo as trees of asn1crypto
    # values, and asn1crypto deep-copies such a tree each time it is placed under a
    # tagged field (SignerInfo's [0] signedAttrs, ContentInfo's [0] content): ~0.2 ms
    # a signature. Handing the same value back parsed from its own DER makes those
    # copies cheap (a parsed value copies its bytes, not a tree); the DER is unchanged.

    async def signed_attrs(self, *args: Any, **kwargs: Any) -> asn1_cms.CMSAttributes:
        built = await super().signed_attrs(*args, **kwargs)
        return asn1_cms.CMSAttributes.load(built.dump())

    def signer_info(
        self, digest_algorithm: str, signed_attrs: Any, signature: bytes
    ) -> asn1_cms.SignerInfo:
        built = super().signer_info(digest_algorithm, signed_attrs, signature)
        return asn1_cms.SignerInfo.load(built.dump())

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        digest = self._mechanism.digest
        if digest_algorithm != digest:
            raise SigningError(f"this signer uses {digest}, not {digest_algorithm}")
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), self._hash)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            der = self._key.sign(data, ec.ECDSA(self._hash))
        else:
            der = self._key.sign(data, self._hash)
        order = self._mechanism.ec_order
        if order is None:  # RSA held elsewhere
            return der
        r, s = decode_dss_signature(der)
        return encode_dss_signature(r, min(s, order - s))


@dataclass(frozen=True)
class Timestamping:
    """Where signatures get an RFC 3161 timestamp (PAdES B-T), and whether the validation
    data for long-term checking is embedded with them (B-LT)."""

    url: str
    """The timestamp authority's address (HTTP POST of RFC 3161 requests)."""
    roots: tuple[x509.Certificate, ...] = ()
    """The roots the authority's certificate must chain to. Needed for B-LT: validation
    data is gathered only along paths to roots that are trusted, never to whatever root
    the authority's answer happens to name."""
    username: str = ""
    password: str = field(default="", repr=False)
    """HTTP basic credentials, if the authority asks for them; never shown or logged."""
    embed_validation_info: bool = True
    timeout: float = 10.0
    """Seconds to wait for the authority (and, for B-LT, each OCSP responder or CRL)."""

    def timestamper(self) -> HTTPTimeStamper:
        auth = (self.username, self.password) if self.username else None
        return HTTPTimeStamper(self.url, timeout=self.timeout, auth=auth)


class PadesSigner:
    """Signs diploma PDFs with the institution's document-signing key (PAdES B-B, or B-T
    and B-LT with `timestamping`): RSA
    (PKCS#1 v1.5 with SHA-256), ECDSA P-256 with SHA-256 or ECDSA P-384 with SHA-384.

    `chain` holds the issuer certificates (the root, and intermediates if any); only the
    non-self-signed ones are embedded in signatures, since verifiers supply the root.
    Safe to share between threads, and callable from inside an event loop too (each
    thread runs pyHanko's coroutines on a loop of its own; see `_sync`).
    """

    def __init__(
        self,
        signing_key: SigningKey | ExternalKey,
        signing_cert: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        signer_name: str = "",
        reason: str = "",
        location: str = "",
        field_name: str = FIELD_NAME,
        timestamping: Timestamping | None = None,
    ) -> None:
        if signing_cert.public_key() != signing_key.public_key():
            raise ValueError("the signing certificate does not belong to the signing key")
        certificate = to_asn1(signing_cert)
        mechanism = mechanism_for(certificate)
        if mechanism is None:
            raise ValueError(
                "the document-signing key must be RSA (2048 bits or more) or ECDSA P-256 or P-384"
            )
        self.certificate = signing_cert
        self._mechanism = mechanism
        self._field_name = field_name
        self._signer_name, self._reason, self._location = signer_name, reason, location
        others = [to_asn1(c) for c in chain if c != signing_cert]
        self._cms_signer = _CmsSigner(signing_key, mechanism, certificate, others)
        self.timestamping = timestamping
        self._long_term: _LongTerm | None = None
        if timestamping is None:
            self._pdf_signer = self._pdf_signer_for(field_name)
            self._bytes_reserved: int | None = self._placeholder_size()
        else:
            roots = [c for c in chain if c.issuer == c.subject] or list(chain[-1:])
            self._long_term = _LongTerm(timestamping, roots, others)
            self._bytes_reserved = None  # pyHanko sizes it, with the authority's token

    def _pdf_signer_for(
        self, field_name: str, context: ValidationContext | None = None
    ) -> signers.PdfSigner:
        metadata = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm=self._mechanism.digest,
            subfilter=fields.SigSeedSubFilter.PADES,
            name=self._signer_name or None,
            reason=self._reason or None,
            location=self._location or None,
        )
        if self._long_term is None:
            return signers.PdfSigner(metadata, signer=self._cms_signer)
        if context is not None:
            metadata = replace(
                metadata,
                embed_validation_info=True,
                validation_context=context,
                # the key usage the import requires (pyHanko's default is non-repudiation)
                signer_key_usage={"digital_signature"},
            )
        return signers.PdfSigner(
            metadata, signer=self._cms_signer, timestamper=self._long_term.timestamper
        )

    def _placeholder_size(self) -> int:
        """Hex digits to reserve for the CMS object: measured once on a real signature."""
        digest = self._mechanism.digest
        size = self._mechanism.hash_algorithm().digest_size
        probe = run_coroutine(
            lambda: self._cms_signer.async_sign(bytes(size), digest, use_pades=True)
        )
        return 2 * (len(probe.dump()) + _PLACEHOLDER_MARGIN)

    def sign(self, pdf: bytes, record: bytes) -> bytes:
        """Embed `record` as `diploma-credential.json` and sign, in one incremental update."""
        writer = _open(pdf)
        embed_record(writer, record)
        if self._long_term is not None:
            return self._write_timestamped(writer, self._field_name)
        return self._write_signed(writer, self._pdf_signer)

    def sign_additional(self, pdf: bytes) -> bytes:
        """Add a further signature (a co-issuer's, say) as a new incremental update,
        leaving earlier signatures valid."""
        writer = _open(pdf)
        taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
        number = 2
        while f"{self._field_name}{number}" in taken:
            number += 1
        name = f"{self._field_name}{number}"
        if self._long_term is not None:
            return self._write_timestamped(writer, name)
        return self._write_signed(writer, self._pdf_signer_for(name))

    def _write_timestamped(self, writer: IncrementalPdfFileWriter, field_name: str) -> bytes:
        """Sign with the authority's timestamp, and for B-LT the validation data in a DSS.

        When the authority (or, for B-LT, a revocation responder) cannot be reached, this
        raises rather than signing without: the instance promised timestamped diplomas,
        and a B-B one made quietly in their place would look the same to the office but
        lose, for good, the proof of when it was signed, which is what lets it outlive
        the certificate. The diploma's record is kept; its PDF is made on the next request
        once the authority answers (the service re-signs a PDF it does not hold).
        """
        long_term = self._long_term
        assert long_term is not None
        context = long_term.validation_context()
        pdf_signer = self._pdf_signer_for(field_name, context)
        try:
            output = run_coroutine(lambda: pdf_signer.async_sign_pdf(writer))
        except (PdfError, SigningError, TimestampRequestError) as exc:
            raise _timestamped_failure(exc, long_term.settings.url) from None
        finally:
            if context is not None:
                run_coroutine(context.aclose)
        result: bytes = output.getvalue()
        return result

    def _write_signed(
        self, writer: IncrementalPdfFileWriter, pdf_signer: signers.PdfSigner
    ) -> bytes:
        try:
            # pyHanko's `sign_pdf` is `asyncio.run(async_sign_pdf(...))`: the same
            # coroutine, without a new event loop per call.
            output = run_coroutine(
                lambda: pdf_signer.async_sign_pdf(writer, bytes_reserved=self._bytes_reserved)
            )
        except (PdfError, SigningError) as exc:
            raise DocumentError(f"the PDF cannot be signed: {exc}") from exc
        result: bytes = output.getvalue()
        return result


class _LongTerm:
    """What the timestamped signing path keeps: the authority's client (which caches
    the one answer pyHanko measures the placeholder with) and the trust for B-LT."""

    def __init__(
        self,
        settings: Timestamping,
        signer_roots: Sequence[x509.Certificate],
        others: Sequence[asn1_x509.Certificate],
    ) -> None:
        self.settings = settings
        self.timestamper = settings.timestamper()
        self._roots = [to_asn1(c) for c in (*signer_roots, *settings.roots)]
        self._others = list(others)

    def validation_context(self) -> ValidationContext | None:
        """A fresh context per signature (it caches what it fetched, which must be new
        for each signature), fetching OCSP responses and CRLs; None for B-T only."""
        if not self.settings.embed_validation_info:
            return None
        return ValidationContext(
            trust_roots=self._roots,
            other_certs=self._others,
            allow_fetching=True,
            # every certificate that names a responder or a CRL must have its answer
            # embedded: a B-LT signature without them could not be checked later
            revocation_mode="hard-fail",
        )


def _timestamped_failure(exc: BaseException, url: str) -> DiplomaError:
    """The error to raise when a timestamped signature could not be made, in words."""
    chain = [exc]
    while (inner := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 20:
        chain.append(inner)
    if any(isinstance(e, TimestampRequestError) for e in chain):
        return ConfigurationError(
            f"the timestamp authority at {url} did not answer ({_cause(exc)}); nothing was "
            f"signed. The diploma's record is kept and its PDF is made once the authority "
            f"answers: send the request again with the same external id then (without one, "
            f"a retry issues another diploma); check that the authority is up and that "
            f"DIPLOMAS_TIMESTAMP_URL is right"
        )
    if any(isinstance(e, PathBuildingError | PathValidationError | ValidationError) for e in chain):
        return ConfigurationError(
            f"the document-signing certificate could not be checked for a long-term "
            f"signature: {_cause(exc)}. Nothing was signed; check that the certificate is "
            f"not revoked, that its CA's OCSP responder or CRL answers, and that "
            f"DIPLOMAS_TIMESTAMP_ROOTS holds the timestamp authority's root"
        )
    return DocumentError(f"the PDF cannot be signed: {_cause(exc)}")


def _cause(exc: BaseException) -> str:
    """The innermost reason, in one short line (a connection refused, a timeout)."""
    for _ in range(20):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return text.rstrip(".") or type(exc).__name__


def _open(pdf: bytes) -> IncrementalPdfFileWriter:
    try:
        return IncrementalPdfFileWriter(BytesIO(pdf))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise DocumentError(f"the PDF to sign cannot be read: {exc}") from exc


def embed_record(writer: IncrementalPdfFileWriter, record: bytes) -> None:
    """Attach `record` to the document as `diploma-credential.json`."""
    data = embed.EmbeddedFileObject.from_file_data(
        writer,
        data=record,
        mime_type=RECORD_MIME_TYPE,
        params=embed.EmbeddedFileParams(embed_size=True, embed_checksum=False),
    )
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=RECORD_FILE_NAME,
            file_name=RECORD_FILE_NAME,
            embedded_data=data,
            description=RECORD_DESCRIPTION,
        ),
    )

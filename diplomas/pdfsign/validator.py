"""What an uploaded PDF proves: its PAdES signatures, checked strictly, and the signed record.

pyHanko does the cryptography (digest, signature, certificate path to the institution's
roots, no network). On top of that every signature must pass checks that only make sense
because this service made the PDF itself:

* the /ByteRange is [0 a b c] and leaves out exactly the /Contents string, which must be
  written the way our signer writes it: `<`, upper-case hex, zero padding, `>`. Hex
  strings are case-insensitive and DER parsers ignore trailing bytes, so without this a
  changed byte in the unsigned gap would go unnoticed;
* the CMS envelope, which the signature does not cover, holds exactly what the signer
  writes: strict DER (no length stretched over the padding), one signer identified by
  the very bytes of its certificate's issuer name, the one algorithm our signer uses for
  the certificate's key (RSA PKCS#1 v1.5 or ECDSA P-256 with SHA-256, ECDSA P-384 with
  SHA-384), a low-s ECDSA signature value (so it cannot be swapped for its mirror image)
  or an RSA one as long as the modulus, no CRLs or unsigned attributes,
  and only certificates that are on the validated path;
* the last signature covers the whole file; an earlier one may be followed only by
  further good signatures.

The embedded `diploma-credential.json` is read from the revision that was signed, and
the attachments must be the same in the final document. Signatures are checked at the
signing time they claim (diplomas outlive the 5-year document-signing certificate), and
a claimed time in the future is refused.

A certificate the institution distrusted from a moment (`diplomas keys
distrust-certificate`: its key may be in other hands) is the exception: there the claimed
time is worth nothing, since whoever holds the key writes any time they like. Its
signatures pass only with a trusted RFC 3161 timestamp from before that moment
(`distrust_reason`).

Timestamps and long-term validation data (PAdES B-T and B-LT, see `signer.Timestamping`):
a signature may carry one RFC 3161 signature timestamp as its only unsigned attribute.
When the token is intact and its authority chains to a trusted timestamp root, its time
is the signature's `proven_time`, and the signature is checked at that time rather than
at the one the PDF claims. A document security store (DSS) added after the last signature
is accepted when the updates that add it hold nothing else (pyHanko's difference analysis
and our own, stricter, comparison of the objects they rewrite agree); its OCSP responses
and CRLs are then used, and a certificate that names a responder or a
CRL must have its answer there (no soft-failing). A signing certificate that the embedded
data shows revoked fails, whatever time the PDF claims, unless a trusted timestamp proves
the signature was made before the revocation.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import collect_timing_info
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
)
from pyhanko.sign.validation.status import PdfSignatureStatus, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleTrustManager

from ..core.ports import PdfReport, PdfSignatureCheck
from ..keys.distrust import DistrustedCertificate, signature_digest
from ._sync import run_coroutine
from .signer import RECORD_FILE_NAME, Mechanism, mechanism_for, to_asn1

log = logging.getLogger(__name__)

# What pyHanko and asn1crypto raise on malformed input. Caught only around calls that
# parse the untrusted file, and turned into a sentence.
_MALFORMED: tuple[type[BaseException], ...] = (
    PdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    LookupError,
    NotImplementedError,
    ArithmeticError,
    RecursionError,
    struct.error,
    zlib.error,
)

MAX_RECORD_SIZE = 1024 * 1024
MAX_OBJECTS = 50_000
"""Cross-reference entries a PDF may declare: a diploma has a few dozen; a gigantic xref
would take seconds to parse."""
MAX_SIGNATURES = 16
"""A diploma carries one signature per issuing institution."""
_XREF_ROW = re.compile(rb"\d{10} \d{5} [nf]")
_SIZE = re.compile(rb"/Size\s+(\d{1,12})")
_PADES = "/ETSI.CAdES.detached"
_XREF_ROW_LENGTH = 18
_CLOCK_SKEW = timedelta(minutes=5)

NOT_A_PDF = "the file is not a PDF"
UNREADABLE = "the PDF is damaged and cannot be read"
UNSIGNED = "the PDF carries no digital signature"
NO_RECORD = f"the PDF's signed content holds no diploma record ({RECORD_FILE_NAME})"
TOO_MANY_OBJECTS = f"the PDF declares more than {MAX_OBJECTS} objects; a diploma has a few dozen"
MODIFIED = "the document was modified after signing: its bytes no longer match the signature"


@dataclass
class _Checked:
    """One signature while the report is being put together."""

    embedded: EmbeddedPdfSignature
    signer: str
    reasons: list[str]
    status: PdfSignatureStatus | None
    covers_file: bool
    issuers: frozenset[str] = frozenset()
    proven_time: datetime | None = None
    covers_document: bool = True


class PadesValidator:
    """Inspects PDFs against the institutions' root certificates (offline).

    `issuers` maps each institution's DIDs (its current one and any former one) to its
    roots (all trusted, besides `trust_roots`), so that each signature is attributed to
    the institution it speaks for: a co-issued diploma needs one good signature from
    each of its issuers, not just any two.

    `ca_issued` maps an institution's DIDs to (CA root, document-signing certificate) pairs:
    certificates that a CA issued to that institution (`diplomas keys import-certificate`).
    A CA issues certificates to many others, so under a root named in such a pair only the
    paired certificates sign for that institution; under an institution's self-made root,
    any certificate it issued does. The pairs are kept per institution: two institutions
    with certificates from one national CA each speak only through their own.

    `distrusted` maps an institution's DIDs to the certificates it distrusts from a moment
    on (`diplomas keys distrust-certificate`): their signatures that speak for it are
    refused unless a trusted timestamp shows them earlier (see `distrust_reason`). Kept per
    institution like `ca_issued`: one institution's bundle cannot distrust, and so silence,
    another's certificates.
    """

    def __init__(
        self,
        trust_roots: Sequence[x509.Certificate] = (),
        *,
        issuers: Mapping[str, Sequence[x509.Certificate]] | None = None,
        ca_issued: Mapping[str, Sequence[tuple[x509.Certificate, x509.Certificate]]] | None = None,
        distrusted: Mapping[str, Sequence[DistrustedCertificate]] | None = None,
        now: Callable[[], datetime] | None = None,
        timestamp_roots: Sequence[x509.Certificate] = (),
    ) -> None:
        owned = [(did, to_asn1(root)) for did, roots in (issuers or {}).items() for root in roots]
        owners: dict[bytes, set[str]] = {}
        for did, root in owned:
            owners.setdefault(root.dump(), set()).add(did)
        self._owners = {root: frozenset(dids) for root, dids in owners.items()}
        unique = {r.dump(): r for r in [*(to_asn1(root) for root in trust_roots)]}
        unique.update((root.dump(), root) for _, root in owned)
        self._roots = list(unique.values())
        self._registered: dict[tuple[str, bytes], set[bytes]] = {}
        for did, pairs in (ca_issued or {}).items():
            for root, certificate in pairs:
                self._registered.setdefault((did, to_asn1(root).dump()), set()).add(
                    to_asn1(certificate).dump()
                )
        # Built once: the anchors are immutable. Each check still gets a ValidationContext
        # (and so a certificate registry) of its own, since the certificates a signature
        # carries are registered in it and must not outlive that check.
        self._trust = SimpleTrustManager.build(trust_roots=self._roots)
        # Timestamp authorities are trusted apart: a TSA's root vouches for times only,
        # never for a signer, and an institution's root never for a time.
        self._timestamp_trust = SimpleTrustManager.build(
            trust_roots=[to_asn1(root) for root in timestamp_roots]
        )
        self._now = now or (lambda: datetime.now(UTC))
        self._distrusted = {
            did: index
            for did, items in (distrusted or {}).items()
            if (index := distrust_index(items))
        }

    def inspect(self, pdf: bytes) -> PdfReport:
        if b"%PDF-" not in pdf[:1024]:
            return PdfReport((), None, (NOT_A_PDF,))
        declared = max((int(m) for m in _SIZE.findall(pdf)), default=0)
        if declared > MAX_OBJECTS or _too_many_xref_rows(pdf):
            return PdfReport((), None, (TOO_MANY_OBJECTS,))
        try:
            reader = PdfFileReader(BytesIO(pdf), strict=True)
            if reader.encrypted:
                return PdfReport((), None, ("the PDF is encrypted; diploma PDFs never are",))
            found: list[EmbeddedPdfSignature] = list(reader.embedded_signatures)
        except _MALFORMED as exc:
            log.debug("unreadable PDF", exc_info=True)
            return PdfReport((), None, (_with_detail(UNREADABLE, exc),))
        if not found:
            return PdfReport((), None, (UNSIGNED,))
        if len(found) > MAX_SIGNATURES:
            return PdfReport(
                (),
                None,
                (
                    f"the PDF carries {len(found)} signatures; a diploma "
                    f"has at most {MAX_SIGNATURES}",
                ),
            )

        now = self._now()
        embedded_data, data_problem = _validation_data(reader)
        if data_problem:
            return PdfReport((), None, (data_problem,))
        checked = [self._check(pdf, embedded, now, embedded_data) for embedded in found]
        self._judge_coverage(pdf, reader, checked)
        record, problems = _signed_record(reader, checked)
        signatures = tuple(
            PdfSignatureCheck(
                c.signer, tuple(c.reasons), c.issuers, c.proven_time, c.covers_document
            )
            for c in checked
        )
        return PdfReport(signatures, record, tuple(problems))

    def _speaks_for(self, embedded: EmbeddedPdfSignature, on_path: set[bytes]) -> frozenset[str]:
        """The DIDs the signature speaks for: the owners of the root its validated path
        ends at that either made the certificate under their own root or registered it
        as issued to them by that CA."""
        root = next((d for d in on_path if d in self._owners), None)
        if root is None:
            return frozenset()
        signer = embedded.signer_cert.dump()
        return frozenset(
            did
            for did in self._owners[root]
            if (registered := self._registered.get((did, root))) is None or signer in registered
        )

    # -- one signature ------------------------------------------------------------------

    def _check(
        self,
        pdf: bytes,
        embedded: EmbeddedPdfSignature,
        now: datetime,
        embedded_data: _ValidationData | None = None,
    ) -> _Checked:
        signer = _signer_name(embedded)
        reasons: list[str] = []
        checked = _Checked(embedded, signer, reasons, None, covers_file=False)
        try:
            if embedded.sig_object_type != "/Sig":
                reasons.append("it is a document time stamp, which this service does not use")
                return checked
            subfilter = embedded.sig_object.get("/SubFilter")
            if subfilter != _PADES:
                reasons.append(f"it is not a PAdES signature (its SubFilter is {subfilter})")
            covered_end, der = _byte_range_reasons(pdf, embedded, reasons)
            checked.covers_file = covered_end == len(pdf)
            reasons.extend(_cms_reasons(embedded, der))

            timestamp = self._timestamp(embedded, embedded_data, reasons)
            checked.proven_time = _proven_time(timestamp)
            claimed = embedded.self_reported_timestamp
            moment = now
            if checked.proven_time is not None:
                moment = checked.proven_time
            elif claimed is None:
                reasons.append("the signature does not say when it was made")
            elif claimed > now + _CLOCK_SKEW:
                reasons.append(
                    f"the signature claims to have been made in the future ({claimed.isoformat()})"
                )
            else:
                moment = claimed
            context = self._context(self._trust, moment, embedded_data)
            # a second context only for a signature that carries a timestamp: building
            # one costs a tenth of a millisecond, and B-B signatures need none
            timestamp_context = (
                None
                if timestamp is None
                else self._context(self._timestamp_trust, now, embedded_data)
            )
            status = run_coroutine(lambda: _validate(embedded, context, timestamp_context))
        except _MALFORMED as exc:
            log.debug("signature cannot be checked", exc_info=True)
            reasons.append(_with_detail("the signature is damaged and cannot be checked", exc))
            return checked
        checked.status = status
        try:
            carried = _carried(embedded)
        except _MALFORMED as exc:
            reasons.append(_with_detail("the signature's certificates cannot be read", exc))
            carried = []
        reasons.extend(_status_reasons(status, signer, carried))
        if embedded_data is not None:
            reasons.extend(_revocation_reasons(embedded, embedded_data, checked.proven_time))
        on_path = _path_certificates(status)
        checked.issuers = self._speaks_for(embedded, on_path)
        if not checked.issuers and any(d in self._owners for d in on_path):
            reasons.append(
                f"signed by a certificate that the institution's CA issued, but not one that "
                f"the institution registered (signer: {signer})"
            )
        if self._distrusted:
            reasons.extend(self._distrust_reasons(embedded, status, checked.issuers))
        return checked

    def _distrust_reasons(
        self,
        embedded: EmbeddedPdfSignature,
        status: PdfSignatureStatus,
        speaks_for: frozenset[str],
    ) -> list[str]:
        """The refusal of a distrusted certificate's signature, by the institutions it
        speaks for (one sentence, even when several of its DIDs list the distrust)."""
        for did in sorted(speaks_for):
            index = self._distrusted.get(did)
            refusal = None if index is None else distrust_reason(embedded, status, index)
            if refusal is not None:
                return [refusal]
        return []

    # -- timestamps and long-term validation data (PAdES B-T, B-LT) ---------------------

    def _context(
        self,
        trust: SimpleTrustManager,
        moment: datetime,
        embedded_data: _ValidationData | None,
    ) -> ValidationContext:
        """A validation context that never fetches. With validation data embedded, every
        certificate that names an OCSP responder or a CRL needs its answer from the DSS
        ("hard-fail"); without any (PAdES B-B, as diplomas were signed before timestamps)
        revocation cannot be known offline and is not checked ("soft-fail")."""
        if embedded_data is None:
            return ValidationContext(
                trust_manager=trust,
                allow_fetching=False,
                moment=moment,
                revocation_mode="soft-fail",
            )
        return ValidationContext(
            trust_manager=trust,
            allow_fetching=False,
            moment=moment,
            other_certs=embedded_data.certificates,
            ocsps=embedded_data.ocsps,
            crls=embedded_data.crls,
            revocation_mode="hard-fail",
            # A B-LT signer gathers the OCSP answers and CRLs while and after it signs,
            # so they are a little younger than the signature: an answer that the
            # certificate is good at a later time holds for the earlier one too (a
            # revocation is never undone), and revocations are judged on their own, at
            # any time, by `_revocation_reasons`.
            retroactive_revinfo=True,
        )

    def _timestamp(
        self,
        embedded: EmbeddedPdfSignature,
        embedded_data: _ValidationData | None,
        reasons: list[str],
    ) -> TimestampSignatureStatus | None:
        """The signature's RFC 3161 timestamp, checked against the timestamp roots (None
        if it carries none). A token that does not match the signature is a reason; one
        from an authority not trusted here proves nothing, and takes nothing away."""
        if embedded.signer_info["unsigned_attrs"].native is None:
            return None
        context = self._context(self._timestamp_trust, self._now(), embedded_data)

        async def timing() -> dict[str, Any]:
            try:
                info: dict[str, Any] = await collect_timing_info(
                    embedded.signer_info, context, raw_digest=embedded.compute_digest
                )
                return info
            finally:
                await context.aclose()  # type: ignore[no-untyped-call]

        status = run_coroutine(timing).get("timestamp_validity")
        if status is None:
            return None
        if not (status.intact and status.valid):
            reasons.append(
                "the signature's timestamp does not match the signature or its authority's "
                "certificate (it was altered)"
            )
        return status if isinstance(status, TimestampSignatureStatus) else None

    def _judge_coverage(
        self, pdf: bytes, reader: PdfFileReader, checked: Sequence[_Checked]
    ) -> None:
        """Every byte must be vouched for: by the last signature directly, and for earlier
        ones by the later signatures, if the updates in between only added signatures.
        Judged from the last signature back, so that each one sees its successors' verdicts."""
        for index in reversed(range(len(checked))):
            item = checked[index]
            if item.covers_file or item.status is None:
                continue
            later = checked[index + 1 :]
            if not later and _only_validation_data_follows(pdf, reader, item):
                continue  # B-LT: the DSS written after the signature, and nothing else
            only_signatures = bool(later) and _only_signatures_follow(item.status)
            if only_signatures and all(not c.reasons for c in later):
                continue
            untrusted = [c for c in later if c.reasons and _intact(c)]
            item.covers_document = False
            if only_signatures and untrusted and all(not c.reasons or _intact(c) for c in later):
                # Not a changed document: a further signature (a co-issuer's, say) that
                # this verifier has no trust for. Say so, rather than suggest tampering.
                names = ", ".join(dict.fromkeys(c.signer for c in untrusted))
                item.reasons.append(
                    f"it is followed by a further signature ({names}) that is intact but not "
                    f"trusted here, so the update it signed is not vouched for (for a jointly "
                    f"awarded diploma, give each institution's trust bundle)"
                )
            elif later or _later_revisions(reader, item.embedded):
                item.reasons.append(
                    "the document was changed after it was signed: a later incremental "
                    "update is not covered by a valid signature"
                )
            else:
                end = _covered_end(item.embedded)
                added = len(pdf) - end if end is not None else None
                item.reasons.append(
                    f"{added} {'byte was' if added == 1 else 'bytes were'} added to the "
                    f"file after it was signed"
                    if added and added > 0
                    else "the signature does not cover the whole file"
                )


# -- distrusted certificates --------------------------------------------------------------


def distrust_index(
    distrusted: Sequence[DistrustedCertificate],
) -> dict[int, tuple[DistrustedCertificate, ...]]:
    """The distrusted certificates by serial number: a signature whose serial is not there
    (nearly all) costs one dictionary lookup."""
    index: dict[int, tuple[DistrustedCertificate, ...]] = {}
    for item in distrusted:
        index[item.serial] = (*index.get(item.serial, ()), item)
    return index


def distrust_reason(
    embedded: EmbeddedPdfSignature,
    status: PdfSignatureStatus,
    index: Mapping[int, Sequence[DistrustedCertificate]],
) -> str | None:
    """Why a signature by a distrusted certificate is refused, or None if its certificate
    is not distrusted, a trusted timestamp shows it was made before the distrust, or the
    institution vouched for this very signature (one of the diplomas it stored).

    Only a timestamp counts: a valid token from a time-stamping authority whose
    certificate chains to a trusted root. The signing time the PDF states (the CMS
    signing-time attribute, /M) is written by whoever holds the key, so it proves
    nothing here."""
    candidates = index.get(embedded.signer_cert.serial_number)
    if not candidates:
        return None
    certificate = x509.load_der_x509_certificate(embedded.signer_cert.dump())
    entry = next((c for c in candidates if c.names(certificate)), None)
    if entry is None:
        return None
    stamp = status.timestamp_validity
    if stamp is not None and stamp.trusted and stamp.timestamp < entry.since:
        return None
    if entry.vouched and signature_digest(embedded.signer_info["signature"].native) in (
        entry.vouched
    ):
        return None  # one of the institution's own diplomas, listed when it distrusted
    why = f" ({entry.reason})" if entry.reason else ""
    if stamp is None:
        proof = "it carries no timestamp to show it was made before then"
    elif not stamp.trusted:
        proof = "its timestamp is not from a trusted time-stamping authority"
    else:
        proof = f"its trusted timestamp ({stamp.timestamp.isoformat()}) is not earlier"
    return (
        f"signed with a certificate the institution distrusts since "
        f"{entry.since.isoformat()}{why} (serial {entry.serial:x}): {proof}, and the "
        f"time the PDF itself claims does not count, since whoever holds the key can "
        f"write any time"
    )


def _intact(checked: _Checked) -> bool:
    """A signature whose one fault is its signer: its bytes and value are good, but its
    certificate leads to no root trusted here."""
    status = checked.status
    return (
        status is not None
        and status.intact
        and status.valid
        and status.validation_path is None
        and len(checked.reasons) <= 1
    )


def _too_many_xref_rows(pdf: bytes) -> bool:
    """More than MAX_OBJECTS cross-reference rows. Rows are 18 bytes and never overlap,
    so a file too short to hold that many needs no scan."""
    if len(pdf) <= MAX_OBJECTS * _XREF_ROW_LENGTH:
        return False
    return len(_XREF_ROW.findall(pdf)) > MAX_OBJECTS


async def _validate(
    embedded: EmbeddedPdfSignature,
    context: ValidationContext,
    timestamp_context: ValidationContext | None,
) -> PdfSignatureStatus:
    """pyHanko's `validate_pdf_signature`, run on the thread's lasting event loop
    (`run_coroutine`) rather than on a new one per call (`asyncio.run`, ~0.3 ms)."""
    try:
        status: PdfSignatureStatus = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=context,
            ts_validation_context=timestamp_context,
        )
        return status
    finally:
        await context.aclose()  # type: ignore[no-untyped-call]
        if timestamp_context is not None:
            await timestamp_context.aclose()  # type: ignore[no-untyped-call]


def _with_detail(sentence: str, exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return f"{sentence} ({detail})"


def _signer_name(embedded: EmbeddedPdfSignature) -> str:
    """The signing certificate's subject in words: its common name, then its units and
    organisations (a long institution name is often split between the two)."""
    try:
        certificate = x509.load_der_x509_certificate(embedded.signer_cert.dump())
        name = certificate.subject
        parts: list[str] = []
        for oid in (
            NameOID.COMMON_NAME,
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            NameOID.ORGANIZATION_NAME,
        ):
            for attribute in name.get_attributes_for_oid(oid):
                if str(attribute.value) not in parts:
                    parts.append(str(attribute.value))
        return ", ".join(parts) if parts else name.rfc4514_string() or "unnamed signer"
    except _MALFORMED:
        return "unknown signer"


def _covered_end(embedded: EmbeddedPdfSignature) -> int | None:
    try:
        values = [int(v) for v in embedded.byte_range]
    except _MALFORMED:
        return None
    return values[2] + values[3] if len(values) == 4 else None


def _byte_range_reasons(
    pdf: bytes, embedded: EmbeddedPdfSignature, reasons: list[str]
) -> tuple[int | None, bytes | None]:
    """Check the /ByteRange and the unsigned gap; return the end of the covered bytes and
    the CMS object's DER without its padding."""
    raw = embedded.byte_range
    if len(raw) != 4 or not all(isinstance(v, generic.NumberObject) for v in raw):
        reasons.append("the signature's byte range is malformed")
        return None, None
    start, first_length, second_start, second_length = (int(v) for v in raw)
    end = second_start + second_length
    if start != 0 or first_length <= 0 or second_start <= first_length or second_length < 0:
        reasons.append("the signature's byte range is malformed")
        return None, None
    if end > len(pdf):
        reasons.append("the signature's byte range reaches past the end of the file")
        return None, None
    contents: bytes = embedded.pkcs7_content
    canonical = b"<" + binascii.hexlify(contents).upper() + b">"
    if pdf[first_length:second_start] != canonical:
        reasons.append(
            "the unsigned gap in the file is not exactly the signature value as the "
            "signer writes it (it was tampered with)"
        )
    der_length = _der_length(contents)
    if der_length is None:
        reasons.append("the signature value is not a well-formed DER object")
        return end, None
    if any(contents[der_length:]):
        reasons.append("the signature value carries extra data after its end")
    return end, contents[:der_length]


def _der_length(data: bytes) -> int | None:
    """Length of the DER SEQUENCE at the start of `data`, header included."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    length = int.from_bytes(data[2 : 2 + count], "big")
    if length < 0x80 or data[2] == 0:  # DER always uses the shortest length form
        return None
    total = 2 + count + length
    return total if total <= len(data) else None


def _digest_forms(digest: str) -> tuple[bytes, bytes]:
    """The digest algorithm without parameters and with an explicit NULL, both allowed."""
    return (
        asn1_algos.DigestAlgorithm({"algorithm": digest}).dump(),
        asn1_algos.DigestAlgorithm({"algorithm": digest, "parameters": asn1_core.Null()}).dump(),
    )


_ALTERED_CONTAINER = (
    "the signature container holds data that this service's signer never writes (it was altered)"
)


def _cms_reasons(embedded: EmbeddedPdfSignature, der: bytes | None) -> list[str]:
    """The CMS envelope around the signed attributes is not itself signed: insist that it
    holds exactly what our signer writes, in canonical DER, with nothing that merely means
    the same (a differently spelt issuer name, a longer length swallowing the padding)."""
    reasons: list[str] = []
    if der is not None and not _strict_der(der):
        reasons.append("the signature container is not in canonical DER form (it was altered)")
    signed_data = embedded.signed_data
    signer_info = embedded.signer_info
    digests = signed_data["digest_algorithms"]
    encapsulated = signed_data["encap_content_info"]
    sid = signer_info["sid"]
    certificate = embedded.signer_cert
    mechanism = mechanism_for(certificate)
    if mechanism is None:
        reasons.append(
            "the signing certificate's key is not one this service signs with (RSA of 2048 "
            "bits or more, ECDSA P-256 or P-384)"
        )
        return reasons
    expected = (
        signed_data["version"].native == "v1"
        and len(signed_data["signer_infos"]) == 1
        and len(digests) == 1
        and digests[0].dump() == signer_info["digest_algorithm"].dump()
        and signer_info["digest_algorithm"].dump() in _digest_forms(mechanism.digest)
        and signer_info["signature_algorithm"].dump() == mechanism.algorithm.dump()
        and encapsulated["content_type"].native == "data"
        and encapsulated["content"].native is None
        and signed_data["crls"].native is None
        and signer_info["version"].native == "v1"
        and _only_a_timestamp(signer_info["unsigned_attrs"])
        and sid.name == "issuer_and_serial_number"
        and sid.chosen["issuer"].dump() == certificate.issuer.dump()
        and sid.chosen["serial_number"].native == certificate.serial_number
    )
    if not expected:
        reasons.append(_ALTERED_CONTAINER)
    elif not _canonical_signature(signer_info["signature"].native, certificate, mechanism):
        reasons.append(
            f"the signature value is not in the form this service's signer writes "
            f"({mechanism.form})"
        )
    return reasons


def _strict_der(der: bytes) -> bool:
    """Whether `der` is exactly one DER element whose constructed parts are exactly filled
    by their children: no end-of-contents markers, no indefinite or non-minimal lengths,
    no bytes left over inside any element (asn1crypto tolerates those)."""

    def element(position: int, end: int, depth: int) -> int | None:
        if depth > 40 or position + 2 > end:
            return None
        tag = der[position]
        if tag == 0 or tag & 0x1F == 0x1F:  # end-of-contents, or a tag CMS never uses
            return None
        first = der[position + 1]
        position += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or position + count > end or der[position] == 0:
                return None
            length = int.from_bytes(der[position : position + count], "big")
            position += count
            if length < 0x80:
                return None
        stop = position + length
        if stop > end:
            return None
        if tag & 0x20:  # constructed: the children must fill it exactly
            child: int | None = position
            while child is not None and child < stop:
                child = element(child, stop, depth + 1)
            if child != stop:
                return None
        return stop

    return element(0, len(der), 0) == len(der)


def _canonical_signature(
    signature: bytes, certificate: asn1_x509.Certificate, mechanism: Mechanism
) -> bool:
    """Whether the signature value has the one form our signer writes: for ECDSA, DER with
    s <= n/2 (its mirror n - s verifies too); for RSA, exactly as many bytes as the modulus
    (verifiers also accept it with its leading zero bytes left off)."""
    if mechanism.ec_order is None:
        modulus_bytes: int = certificate.public_key.byte_size
        return len(signature) == modulus_bytes
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    return encode_dss_signature(r, s) == signature and 0 < s <= mechanism.ec_order // 2


def _path_certificates(status: PdfSignatureStatus) -> set[bytes]:
    path = status.validation_path
    if path is None:
        return set()
    return {cert.dump() for cert in path.iter_certs(include_root=True)}


_EXPIRED = "the signing certificate had expired when the signature was made"
_OUT_OF_BOUNDS = "the signing certificate was not valid when the signature was made"
_NOT_YET_VALID = "the signing certificate was not yet valid when the signature was made"
_REVOKED = "the signing certificate is revoked"
_CHAIN_RULES = "the signing certificate's chain breaks the rules for certificate use"
_ALGORITHM = "the signature or its certificates use an algorithm that is not allowed"
_TRUST_SENTENCES: dict[AdESSubIndic, str] = {
    AdESIndeterminate.EXPIRED: _EXPIRED,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: _OUT_OF_BOUNDS,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: _OUT_OF_BOUNDS,
    AdESIndeterminate.NOT_YET_VALID: _NOT_YET_VALID,
    AdESFailure.NOT_YET_VALID: _NOT_YET_VALID,
    AdESFailure.REVOKED: _REVOKED,
    AdESIndeterminate.REVOKED_NO_POE: _REVOKED,
    AdESIndeterminate.REVOKED_CA_NO_POE: "a certificate in the signer's chain is revoked",
    AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE: _CHAIN_RULES,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE: _ALGORITHM,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: _ALGORITHM,
}


def _status_reasons(status: PdfSignatureStatus, signer: str, carried: Sequence[bytes]) -> list[str]:
    reasons: list[str] = []
    if not status.intact:
        reasons.append(MODIFIED)
    elif not status.valid:
        reasons.append(
            "the signature value does not verify: it was altered or made with another key"
        )
    indication = status.trust_problem_indic
    if indication is not None or (status.validation_path is None and reasons == []):
        sentence = _TRUST_SENTENCES.get(indication) if indication is not None else None
        reasons.append(
            sentence
            or (
                f"signed by a certificate that does not chain to the institution's root "
                f"(unknown signer: {signer})"
            )
        )
    if status.validation_path is not None:
        on_path = _path_certificates(status)
        if any(cert not in on_path for cert in carried):
            reasons.append(
                "the signature carries certificates that are not part of its "
                "chain of trust (they were altered or added)"
            )
    return reasons


def _carried(embedded: EmbeddedPdfSignature) -> list[bytes]:
    """DER of every certificate carried in the signature's CMS object."""
    certificates = embedded.signed_data["certificates"]
    out: list[bytes] = []
    for choice in certificates:
        if choice.name != "certificate":
            out.append(b"")  # attribute certificates and the like: never on a path
        else:
            value: asn1_x509.Certificate = choice.chosen
            out.append(value.dump())
    return out


def _later_revisions(reader: PdfFileReader, embedded: EmbeddedPdfSignature) -> bool:
    revision: int = embedded.signed_revision
    total: int = reader.xrefs.total_revisions
    return total - 1 > revision


def _only_validation_data_follows(pdf: bytes, reader: PdfFileReader, item: _Checked) -> bool:
    """Whether the updates after the signed revision add validation data (a DSS: the B-LT
    signer's, or revocation answers added later) and nothing else, and the file ends where
    the last one does (no bytes after its %%EOF).

    pyHanko's difference analysis calls such updates LTA_UPDATES, but it lets them change
    the document information and XMP metadata as well; our own reading allows in them only
    the catalog gaining /DSS, /ModDate in the information dictionary and the modification
    time in the XMP stream (which every PDF writer refreshes), and new objects."""
    status = item.status
    if status is None:
        return False
    revisions: int = reader.xrefs.total_revisions
    signed: int = item.embedded.signed_revision
    try:
        only_dss = _only_dss_added(reader, signed)
    except _MALFORMED:
        log.debug("the updates after the signature cannot be compared", exc_info=True)
        return False
    return bool(
        status.docmdp_ok
        and status.modification_level == ModificationLevel.LTA_UPDATES
        and revisions > signed + 1
        and only_dss
        and _ENDS_AFTER_STARTXREF.fullmatch(pdf[pdf.rfind(b"startxref") :])
    )


_XMP_TIMES = re.compile(rb'xmp:(?:ModifyDate|MetadataDate)="[^"]*"')


def _only_dss_added(reader: PdfFileReader, signed_revision: int) -> bool:
    before = reader.get_historical_resolver(signed_revision)
    trailer, trailer_before = reader.trailer_view, before.trailer_view
    if any(_raw(trailer, k) != _raw(trailer_before, k) for k in ("/Root", "/Info")):
        return False
    if "/DSS" not in reader.root:
        return False  # the updates must be what adds (or adds to) the DSS
    xrefs = reader.xrefs
    allowed: dict[tuple[int, int], Callable[[Any, Any], bool]] = {}
    root = trailer.raw_get("/Root")
    allowed[(root.idnum, root.generation)] = _same_but_dss
    # A DSS that the signed revision had already (an earlier co-issuer's B-LT signature)
    # may grow: it and its lists hold validation data only.
    existing = _raw(before.root, "/DSS")
    if isinstance(existing, generic.IndirectObject):
        allowed[(existing.idnum, existing.generation)] = _any_change
    if "/DSS" in before.root:
        dss_before = before.root["/DSS"]
        for key in ("/Certs", "/OCSPs", "/CRLs", "/VRI"):
            part = _raw(dss_before, key)
            if isinstance(part, generic.IndirectObject):
                allowed[(part.idnum, part.generation)] = _any_change
    info = _raw(trailer, "/Info")
    if isinstance(info, generic.IndirectObject):
        allowed[(info.idnum, info.generation)] = _same_but_modification_date
    metadata = _raw(reader.root, "/Metadata")
    if isinstance(metadata, generic.IndirectObject):
        allowed[(metadata.idnum, metadata.generation)] = _same_xmp_but_times
    for revision in range(signed_revision + 1, xrefs.total_revisions):
        if xrefs.refs_freed_in_revision(revision):
            return False
        for ref in xrefs.explicit_refs_in_revision(revision):
            if xrefs.get_introducing_revision(ref) > signed_revision:
                continue  # a new object: reachable only through what the checks allow
            check = allowed.get((ref.idnum, ref.generation))
            earlier, now = before.get_object(ref), reader.get_object(ref)  # type: ignore[no-untyped-call]
            if check is None or not check(earlier, now):
                return False
    return True


def _raw(dictionary: generic.DictionaryObject, key: str) -> Any:
    """The entry as written (an indirect reference stays one), or None."""
    return dictionary.raw_get(key) if key in dictionary else None


def _same_but_dss(before: Any, after: Any) -> bool:
    keys = set(after) - {"/DSS"}
    return (
        "/DSS" in after
        and keys == set(before) - {"/DSS"}
        and all(before.raw_get(k) == after.raw_get(k) for k in keys)
    )


def _any_change(before: Any, after: Any) -> bool:
    return True


def _same_but_modification_date(before: Any, after: Any) -> bool:
    keys = set(after) - {"/ModDate"}
    return keys == set(before) - {"/ModDate"} and all(
        before.raw_get(k) == after.raw_get(k) for k in keys
    )


def _same_xmp_but_times(before: Any, after: Any) -> bool:
    if not isinstance(before, generic.StreamObject) or not isinstance(after, generic.StreamObject):
        return False
    return bool(
        _XMP_TIMES.sub(b"", before.data) == _XMP_TIMES.sub(b"", after.data)
        and before.get("/Type") == after.get("/Type")
        and before.get("/Subtype") == after.get("/Subtype")
    )


_ENDS_AFTER_STARTXREF = re.compile(rb"startxref\r?\n\d{1,12}\r?\n%%EOF\r?\n?")


def _only_signatures_follow(status: PdfSignatureStatus) -> bool:
    level = status.modification_level
    return bool(
        status.docmdp_ok
        and level is not None
        and level.value <= ModificationLevel.FORM_FILLING.value
    )


# -- timestamps and long-term validation data ------------------------------------------


@dataclass(frozen=True)
class _ValidationData:
    """What the document security store holds: certificates, OCSP responses, CRLs."""

    certificates: list[asn1_x509.Certificate]
    ocsps: list[asn1_ocsp.OCSPResponse]
    crls: list[asn1_crl.CertificateList]


MAX_VALIDATION_ITEMS = 256
"""Certificates, OCSP responses and CRLs a DSS may hold: a diploma's has a handful."""


def _validation_data(reader: PdfFileReader) -> tuple[_ValidationData | None, str]:
    """The DSS's contents (None when there is no DSS), or a problem in words."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return None, ""
    except _MALFORMED as exc:
        return None, _with_detail("the PDF's validation data (DSS) cannot be read", exc)
    if len(dss.certs) + len(dss.ocsps) + len(dss.crls) > MAX_VALIDATION_ITEMS:
        return None, (
            f"the PDF's validation data (DSS) holds more than {MAX_VALIDATION_ITEMS} items; "
            f"a diploma's holds a handful"
        )
    try:
        certificates = list(dss.load_certs())
        ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps]
        crls = [asn1_crl.CertificateList.load(ref.get_object().data) for ref in dss.crls]
        for item in (*certificates, *ocsps, *crls):
            item.native  # noqa: B018 - parse it all now, not inside the validator
    except _MALFORMED as exc:
        return None, _with_detail("the PDF's validation data (DSS) cannot be read", exc)
    return _ValidationData(certificates, ocsps, crls), ""


def _only_a_timestamp(unsigned: Any) -> bool:
    """No unsigned attributes, or exactly one: a signature timestamp with one token."""
    if unsigned.native is None:
        return True
    return (
        len(unsigned) == 1
        and unsigned[0]["type"].native == "signature_time_stamp_token"
        and len(unsigned[0]["values"]) == 1
    )


def _proven_time(timestamp: TimestampSignatureStatus | None) -> datetime | None:
    """The timestamp's time, if the token is sound and its authority trusted here."""
    if timestamp is None or not (timestamp.intact and timestamp.valid and timestamp.trusted):
        return None
    return timestamp.timestamp


def _revocation_reasons(
    embedded: EmbeddedPdfSignature, data: _ValidationData, proven_time: datetime | None
) -> list[str]:
    """The signing certificate revoked according to the embedded OCSP responses or CRLs.

    pyHanko judges revocation at the moment it is given, and without a timestamp that is
    the time the PDF claims: a signature made with a certificate after its revocation, by
    a clock set back, would pass. So any revocation found counts, unless a trusted
    timestamp proves that the signature existed before it.
    """
    certificate = embedded.signer_cert
    revoked = [
        *_ocsp_revocations(certificate, data.ocsps),
        *_crl_revocations(certificate, data.crls),
    ]
    if not revoked:
        return []
    since = min(revoked)
    if proven_time is not None and proven_time < since:
        return []
    return [
        f"the signing certificate was revoked on {since.isoformat()} and nothing proves "
        f"that the signature was made before (it carries no trusted timestamp from "
        f"before then)"
        if proven_time is None
        else f"the signing certificate was revoked on {since.isoformat()}, before the "
        f"signature's timestamp ({proven_time.isoformat()})"
    ]


def _ocsp_revocations(
    certificate: asn1_x509.Certificate, ocsps: Sequence[asn1_ocsp.OCSPResponse]
) -> list[datetime]:
    found: list[datetime] = []
    for response in ocsps:
        try:
            if response["response_status"].native != "successful":
                continue
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                status = single["cert_status"]
                cert_id = single["cert_id"]
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                name_hash = hashlib.new(algorithm, certificate.issuer.dump()).digest()
                if (
                    status.name == "revoked"
                    and cert_id["serial_number"].native == certificate.serial_number
                    and cert_id["issuer_name_hash"].native == name_hash
                ):
                    found.append(status.chosen["revocation_time"].native)
        except _MALFORMED:
            continue
    return found


def _crl_revocations(
    certificate: asn1_x509.Certificate, crls: Sequence[asn1_crl.CertificateList]
) -> list[datetime]:
    found: list[datetime] = []
    for crl in crls:
        try:
            tbs = crl["tbs_cert_list"]
            if tbs["issuer"].dump() != certificate.issuer.dump():
                continue
            for entry in tbs["revoked_certificates"]:
                if entry["user_certificate"].native == certificate.serial_number:
                    found.append(entry["revocation_date"].native)
        except _MALFORMED:
            continue
    return found


# -- the embedded record ------------------------------------------------------------------


def _get(dictionary: Any, key: str) -> Any:
    """`dictionary[key]` with indirect references followed, or None."""
    dictionary = dictionary.get_object()
    return dictionary[key].get_object() if key in dictionary else None


def _name_tree(node: Any, out: dict[str, Any], depth: int = 0) -> None:
    if depth > 8 or len(out) > 1000:
        raise ValueError("the attachment list is nested too deeply")
    names = _get(node, "/Names")
    if names is not None:
        for i in range(0, len(names) - 1, 2):
            out[str(names[i].get_object())] = names[i + 1].get_object()
    for kid in _get(node, "/Kids") or ():
        _name_tree(kid, out, depth + 1)


def _attachments(root: Any) -> dict[str, bytes]:
    """Every embedded file of the document catalog `root`: name to content."""
    names = _get(root, "/Names")
    tree = None if names is None else _get(names, "/EmbeddedFiles")
    if tree is None:
        return {}
    specs: dict[str, Any] = {}
    _name_tree(tree, specs)
    files: dict[str, bytes] = {}
    for name, spec in specs.items():
        streams = _get(spec, "/EF")
        stream = None if streams is None else (_get(streams, "/F") or _get(streams, "/UF"))
        if stream is None:
            continue
        files[name] = _bounded_data(stream, name)
    return files


def _bounded_data(stream: Any, name: str) -> bytes:
    """An attachment's content, decompressed no further than MAX_RECORD_SIZE (a flate bomb
    must not be expanded to find out that it is too large)."""
    too_large = ValueError(f"the attachment {name} is larger than {MAX_RECORD_SIZE} bytes")
    filters = stream.get("/Filter")
    encoded: bytes = stream.encoded_data
    if filters is None:
        data = encoded
    elif filters in ("/FlateDecode", ["/FlateDecode"]) and "/DecodeParms" not in stream:
        inflater = zlib.decompressobj()
        data = inflater.decompress(encoded, MAX_RECORD_SIZE + 1)
    else:
        raise ValueError(f"the attachment {name} is encoded in a way diplomas never are")
    if len(data) > MAX_RECORD_SIZE:
        raise too_large
    return data


def _signed_record(
    reader: PdfFileReader, checked: Sequence[_Checked]
) -> tuple[bytes | None, list[str]]:
    """The record as it was in the first signed revision that holds one, and what is wrong
    with the attachments since then."""
    try:
        final = _attachments(reader.root)
        for item in checked:
            revision = item.embedded.signed_revision
            signed = _attachments(reader.get_historical_resolver(revision).root)
            if RECORD_FILE_NAME in signed:
                problems = []
                if signed != final:
                    problems.append("the PDF's attachments were changed after it was signed")
                return signed[RECORD_FILE_NAME], problems
    except _MALFORMED as exc:
        log.debug("attachments unreadable", exc_info=True)
        return None, [_with_detail("the PDF's attachments cannot be read", exc)]
    return None, [NO_RECORD]

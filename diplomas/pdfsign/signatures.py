"""The signatures in a PDF, named by certificate and signature value: what the institution
vouches for when it distrusts a document-signing certificate (`keys.distrust`).

Read from the PDFs the institution's own server stored, never from an upload."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from ..keys.distrust import signature_digest


@dataclass(frozen=True)
class MadeSignature:
    certificate: x509.Certificate
    digest: str
    """SHA-256 (hex) of the signature value."""


def signatures_in(pdf: bytes) -> list[MadeSignature]:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    return [
        MadeSignature(
            x509.load_der_x509_certificate(embedded.signer_cert.dump()),
            signature_digest(embedded.signer_info["signature"].native),
        )
        for embedded in reader.embedded_signatures
    ]


def stored_signatures(directory: Path) -> Iterator[MadeSignature | Path]:
    """Every signature of every `*.pdf` in `directory`; the path of a file that cannot be
    read, so the caller can say so."""
    for path in sorted(directory.glob("*.pdf")):
        try:
            found = signatures_in(path.read_bytes())
        except (OSError, PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            yield path
            continue
        yield from found

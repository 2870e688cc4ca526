from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from reportlab.pdfgen import canvas

from diplomas.core.model import Institution
from diplomas.core.ports import PdfReport
from diplomas.keys import MemoryKeyStore
from diplomas.pdfsign import PadesValidator

# pyHanko stamps signatures with the real clock, so the keys are made "now" as well
NOW = datetime.now(UTC)
RECORD = (
    '{"@context":["https://www.w3.org/ns/credentials/v2"],'
    '"credentialSubject":{"name":"سارا احمدی"},"id":"urn:uuid:1"}'
).encode()

INSTITUTION = Institution(
    slug="acme",
    name="مؤسسه آموزش کارآفرینی",
    name_en="Acme Entrepreneurship Institute",
    public_url="https://diplomas.example.org",
    serial_prefix="AC",
)


def make_unsigned_pdf(text: str = "Entrepreneurship Diploma") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(842, 595))
    page.setFont("Helvetica", 28)
    page.drawString(72, 400, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


def failed(report: PdfReport) -> bool:
    """True when the report gives at least one reason not to trust the PDF."""
    return (
        bool(report.problems)
        or not report.signatures
        or any(not check.ok for check in report.signatures)
    )


@pytest.fixture(scope="session")
def keys() -> MemoryKeyStore:
    return MemoryKeyStore(INSTITUTION, NOW)


@pytest.fixture(scope="session")
def unsigned_pdf() -> bytes:
    return make_unsigned_pdf()


@pytest.fixture(scope="session")
def signed_pdf(keys: MemoryKeyStore, unsigned_pdf: bytes) -> bytes:
    return keys.pdf_signer().sign(unsigned_pdf, RECORD)


@pytest.fixture(scope="session")
def validator(keys: MemoryKeyStore) -> PadesValidator:
    return PadesValidator(keys.trust_roots())

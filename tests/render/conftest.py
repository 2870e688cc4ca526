"""Claims for the diplomas the render tests draw, and the renderer over the real templates."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date

import pytest

from diplomas.core.credential import IssuerClaims, PublicClaims
from diplomas.core.model import MAX_LENGTH, Signatory
from diplomas.render import BUILTIN_DESIGNS, TemplateRenderer

TEMPLATES = BUILTIN_DESIGNS

TBZMED = IssuerClaims(
    did="did:web:diplomas.tbzmed.ac.ir",
    name="معاونت تحقیقات و فناوری دانشگاه علوم پزشکی تبریز",
    name_en="Vice-Chancellery for Research and Technology, Tabriz University of Medical Sciences",
    url="https://diplomas.tbzmed.ac.ir",
)
SMT = IssuerClaims(
    did="did:web:diplomas.eazarsmt.ir",
    name="سازمان صنعت، معدن و تجارت استان آذربایجان شرقی",
    name_en="East Azerbaijan Organization of Industry, Mine and Trade",
    url="https://diplomas.eazarsmt.ir",
)
SHAHABI = Signatory(
    "دکتر پرویز شهابی",
    "معاون تحقیقات و فناوری",
    "Dr Parviz Shahabi",
    "Vice-Chancellor for Research and Technology",
)
PARNIAN = Signatory(
    "مهندس صابر پرنیان",
    "رئیس سازمان صنعت، معدن و تجارت",
    "Eng. Saber Parnian",
    "Head of the Industry, Mine and Trade Organization",
)
DIPLOMA_ID = "8Zq3mXn2Wd7Lk5Pr9Tb4Hc"
# Any 64 bytes in base64url: the renderer draws the QR signature, it does not check it.
QR_SIGNATURE = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()


def make_claims(**changes: object) -> PublicClaims:
    values: dict[str, object] = {
        "id": DIPLOMA_ID,
        "serial": "TBZMED-1405-000123",
        "verify_url": f"https://diplomas.tbzmed.ac.ir/v/{DIPLOMA_ID}",
        "name": "زهرا محمدی‌نژاد",
        "name_en": "Zahra Mohammadinejad",
        "award": "دیپلم کارآفرینی",
        "award_en": "Entrepreneurship Diploma",
        "citation": "به پاس تلاش‌های ارزشمند در تأسیس و توسعهٔ شرکت دانش‌بنیان «زیست‌فن آذر» "
        "و ایجاد ۱۲ فرصت شغلی در سال ۱۴۰۴",
        "field": "فناوری‌های پزشکی",
        "issued_on": date(2026, 11, 26),
        "issuers": (TBZMED, SMT),
        "signatories": (SHAHABI, PARNIAN),
        "qr_signature": QR_SIGNATURE,
    }
    values.update(changes)
    return PublicClaims(**values)  # type: ignore[arg-type]


def fill(pattern: str, field: str) -> str:
    """`pattern` repeated to exactly the longest length the core accepts for `field`,
    never ending in a space (the core strips it)."""
    text = (pattern * (MAX_LENGTH[field] // len(pattern) + 1))[: MAX_LENGTH[field]]
    return text[:-1] + pattern[0] if text.endswith(" ") else text


def longest_claims() -> PublicClaims:
    """Realistic wording at every maximum length, co-issued, two signatories."""
    return make_claims(
        name=fill("غلامرضا عبدالحسین‌زاده ", "name"),
        name_en=fill("Gholamreza Abdolhosseinzadeh ", "name_en"),
        award=fill("دیپلم برگزیدهٔ کارآفرینی فناورانه ", "award"),
        award_en=fill("Outstanding Technological Entrepreneurship ", "award_en"),
        citation=fill(
            "به پاس تلاش‌های ارزشمند در تأسیس و توسعهٔ شرکت دانش‌بنیان و ایجاد "
            "۱۲ فرصت شغلی پایدار در استان ",
            "citation",
        ),
        field=fill("مهندسی پزشکی و تجهیزات آزمایشگاهی ", "field"),
    )


@pytest.fixture(scope="session")
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


@pytest.fixture(scope="session")
def claims() -> PublicClaims:
    """A co-issued diploma with the example people and institutions (frozen: shared)."""
    return make_claims()


@pytest.fixture
def claims_with() -> Callable[..., PublicClaims]:
    """`claims_with(name=...)`: the example claims with some values changed."""
    return make_claims


@pytest.fixture(scope="session")
def longest() -> PublicClaims:
    return longest_claims()

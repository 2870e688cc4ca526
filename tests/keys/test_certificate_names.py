"""Certificate subjects put the institution's name in the attributes meant for it, whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from diplomas.config import DEFAULT_INSTITUTION, institution_from
from diplomas.core.model import Institution
from diplomas.keys import init_key_store
from diplomas.keys.certs import MAX_NAME, common_name, split_name

from .conftest import NOW, PASSPHRASE

TABRIZ = institution_from(dict(DEFAULT_INSTITUTION))


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def test_the_default_long_name_is_split_into_unit_and_organization(tmp_path: Path) -> None:
    assert len(TABRIZ.name_en) > MAX_NAME  # the name that used to be cut ("…of Tabri")
    store = init_key_store(tmp_path / "keys", PASSPHRASE, TABRIZ, NOW)
    [root] = store.trust_roots()
    for certificate, role in ((root, "Root CA"), (store.document_signing_certificate(), None)):
        subject = certificate.subject
        assert _values(subject, NameOID.ORGANIZATION_NAME) == [
            "Tabriz University of Medical Sciences",
            TABRIZ.name,  # the Persian name, whole, as a second O
        ]
        assert _values(subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == [
            "Vice-Chancellery for Research and Technology"
        ]
        [common] = _values(subject, NameOID.COMMON_NAME)
        assert common == f"Tabriz University of Medical Sciences {role or 'Document Signing'}"
        # unit and organization give back the full English name, word for word
        unit_and_org = ", ".join(
            _values(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
            + _values(subject, NameOID.ORGANIZATION_NAME)[:1]
        )
        assert unit_and_org == TABRIZ.name_en


@pytest.mark.parametrize(
    ("english", "organization", "unit"),
    [
        ("Acme Entrepreneurship Institute", "Acme Entrepreneurship Institute", ""),
        # a short name with a comma stays whole: it fits
        ("Faculty of Arts, Acme University", "Faculty of Arts, Acme University", ""),
        # split at the last ", " at which both halves fit
        (
            "School of Advanced Studies, Graduate Division, Northern Provincial University "
            "of Technology",
            "Northern Provincial University of Technology",
            "School of Advanced Studies, Graduate Division",
        ),
        # an earlier ", " when the unit would not fit with the later one
        (
            "School of Advanced Studies and Research, Northern Provincial University, "
            "Kingdom of Examples",
            "Northern Provincial University, Kingdom of Examples",
            "School of Advanced Studies and Research",
        ),
        # no ", " to split at: whole in O rather than cut
        (
            "Provincial Organization of Industry Mine and Trade of East Azerbaijan Province",
            None,
            "",
        ),
    ],
)
def test_split_name(english: str, organization: str | None, unit: str) -> None:
    assert split_name(english) == (organization or english, unit)


def test_common_name_keeps_whole_words_within_64_characters() -> None:
    long_name = "Provincial Organization of Industry Mine and Trade of East Azerbaijan Province"
    institution = Institution(
        slug="imt",
        name="سازمان",
        name_en=long_name,
        public_url="https://x.example",
        serial_prefix="IM",
    )
    common = common_name(institution, "Document Signing")
    assert len(common) <= MAX_NAME
    assert long_name.startswith(common) and long_name[len(common)] == " "  # cut between words
    assert common_name(TABRIZ, "Root CA") == "Tabriz University of Medical Sciences Root CA"

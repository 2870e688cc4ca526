"""The bundled JSON-LD contexts: a real JSON-LD processor reads our credential with them alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pyld import jsonld

from diplomas.core.contexts import (
    CREDENTIALS_V2,
    OPEN_BADGES_V3,
    bundled_urls,
    document_loader,
    load_context,
)
from diplomas.core.credential import CONTEXTS, build_credential, claims_for
from diplomas.core.errors import DocumentError
from diplomas.core.model import Institution, Signatory, parse_request
from diplomas.core.statuslist import StatusSlot, status_entries

UNI = Institution(
    "tbzmed",
    "معاونت تحقیقات و فناوری دانشگاه علوم پزشکی تبریز",
    "Vice-Chancellery for Research and Technology, TBZMED",
    "https://diplomas.tbzmed.ac.ir",
    "TBZMED",
    (Signatory("دکتر پرویز شهابی", "معاون تحقیقات و فناوری", "Dr Parviz Shahabi", "VC"),),
)
ISSUER_DEPENDENT = "https://www.w3.org/ns/credentials/issuer-dependent#"
OB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"


def credential() -> dict[str, Any]:
    request = parse_request(
        {
            "name": "زهرا محمدی‌نژاد",
            "name_en": "Zahra Mohammadinejad",
            "citation": "بنیان‌گذار شرکت دانش‌بنیان تجهیزات پزشکی هوشمند",
            "field": "فناوری سلامت",
            "issued_on": "1405/09/05",
        },
        today=date(2026, 11, 26),
    )
    slot = StatusSlot(list_number=1, index=90_210)
    status = status_entries(UNI.public_url, slot)
    return build_credential(claims_for(UNI, request, "A" * 26, "TBZMED-1405-000001", status=status))


def expand(document: dict[str, Any]) -> list[Any]:
    result: list[Any] = jsonld.expand(document, {"documentLoader": document_loader})
    return result


def iris(node: Any) -> Iterator[str]:
    """Every property IRI and type IRI in an expanded document."""
    if isinstance(node, list):
        for item in node:
            yield from iris(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "@type":
                yield from value if isinstance(value, list) else [value]
            elif not key.startswith("@"):
                yield key
            yield from iris(value)


def test_every_context_the_credential_names_is_bundled() -> None:
    assert set(CONTEXTS) <= bundled_urls()
    assert load_context(CREDENTIALS_V2)["@context"]["@protected"] is True
    assert "OpenBadgeCredential" in load_context(OPEN_BADGES_V3)["@context"]


def test_other_urls_are_refused_not_fetched(no_network: None) -> None:
    with pytest.raises(DocumentError, match="not bundled"):
        load_context("https://example.org/context.json")


def test_the_credential_expands_offline_with_open_badges_terms(no_network: None) -> None:
    expanded = expand(credential())
    found = set(iris(expanded))
    assert OB + "OpenBadgeCredential" in found
    assert OB + "AchievementSubject" in found
    assert OB + "achievementType" in found
    assert "https://www.w3.org/2018/credentials#validFrom" in found
    assert "https://www.w3.org/ns/credentials/status#BitstringStatusListEntry" in found
    # Nothing is dropped or left to the issuer-dependent vocabulary but our own block,
    # which travels whole as a JSON literal.
    dependent = {i for i in found if i.startswith(ISSUER_DEPENDENT)}
    assert dependent == {ISSUER_DEPENDENT + "diploma"}
    block = expanded[0][ISSUER_DEPENDENT + "diploma"][0]
    assert block["@type"] == "@json"
    assert block["@value"]["serial"] == "TBZMED-1405-000001"


def test_no_term_is_dropped(no_network: None) -> None:
    """Every key of the credential survives expansion (pyld drops undefined terms)."""
    document = credential()
    compacted = jsonld.compact(
        expand(document), document["@context"], {"documentLoader": document_loader}
    )
    compacted.pop("@context")
    document.pop("@context")
    assert unwrap(compacted) == unwrap(document)


def unwrap(value: Any) -> Any:
    """Compaction writes one-element arrays as their element; so does this."""
    if isinstance(value, list):
        items = [unwrap(v) for v in value]
        return items[0] if len(items) == 1 else items
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def test_persian_values_keep_language_and_direction(no_network: None) -> None:
    expanded = expand(credential())
    subject = expanded[0]["https://www.w3.org/2018/credentials#credentialSubject"][0]
    names = subject["https://schema.org/name"]
    assert {"@value": "زهرا محمدی‌نژاد", "@language": "fa", "@direction": "rtl"} in names
    assert {"@value": "Zahra Mohammadinejad", "@language": "en"} in names


def test_a_stored_credential_round_trips_through_json_ld(no_network: None) -> None:
    """Expanding then compacting with the same contexts gives the credential back."""
    document = credential()
    document["validFrom"] = datetime(2026, 11, 26, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    compacted = jsonld.compact(
        expand(document), document["@context"], {"documentLoader": document_loader}
    )
    assert compacted["credentialSubject"]["achievement"]["achievementType"] == "Diploma"
    assert compacted["type"] == ["VerifiableCredential", "OpenBadgeCredential"]

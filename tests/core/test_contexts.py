"""The bundled JSON-LD contexts: a real JSON-LD processor reads our credential with them alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pyld import jsonld

from diplomas.core.contexts import (
    CREDENTIALS_V2,
    OPEN_BADGES_V3,
    UNDEFINED_TERMS_V2,
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
SAMT = Institution(
    "samt",
    "سازمان صنعت، معدن و تجارت استان آذربایجان شرقی",
    "East Azerbaijan Organization of Industry, Mine and Trade",
    "https://samt.example.ir",
    "SAMT",
    (Signatory("مهندس صابر پرنیان", "رئیس سازمان", "Saber Parnian", "Head"),),
)
UNDEFINED_TERM = "https://www.w3.org/ns/credentials/undefined-term#"
OB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"
OUR_TERMS = (
    "diploma",
    "schemaVersion",
    "diplomaId",
    "serial",
    "qrSignature",
    "signatories",
    "jobTitle",
    "coIssuers",
)


def credential() -> dict[str, Any]:
    """A co-issued credential with status entries and a QR signature: every term we write."""
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
    claims = claims_for(UNI, request, "A" * 26, "TBZMED-1405-000001", (SAMT,), status)
    return build_credential(replace(claims, qr_signature="Q" * 86))


def expand(document: dict[str, Any]) -> list[Any]:
    """Expand in the manner of JSON-LD's safe mode: a dropped property fails the test."""

    def dropped(prop: str) -> None:
        raise AssertionError(f"JSON-LD expansion dropped {prop!r}")

    # No base IRI (pyld's default is http://example.org/base/), so a relative node id stays
    # relative, as safe mode sees it.
    options: Any = {"documentLoader": document_loader, "base": None}
    result: list[Any] = jsonld.expand(document, options, on_property_dropped=dropped)
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


def node_ids(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from node_ids(item)
    elif isinstance(node, dict):
        if isinstance(node.get("@id"), str):
            yield node["@id"]
        for value in node.values():
            yield from node_ids(value)


def test_every_context_the_credential_names_is_bundled() -> None:
    assert set(CONTEXTS) <= bundled_urls()
    # Registered URLs only: verifiers compare a proof's @context with the document's
    # element by element, and an inline object never compares equal to its copy there.
    assert credential()["@context"] == [CREDENTIALS_V2, OPEN_BADGES_V3, UNDEFINED_TERMS_V2]
    assert load_context(UNDEFINED_TERMS_V2)["@context"]["@vocab"] == UNDEFINED_TERM
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
    assert OB + "awardedDate" in found
    assert "https://www.w3.org/2018/credentials#validFrom" in found
    assert "https://www.w3.org/ns/credentials/status#BitstringStatusListEntry" in found
    # Only our own terms fall to the undefined-terms vocabulary; every standard one
    # (name, url, Profile, ...) keeps its Open Badges or VC IRI, nested ones included.
    undefined = {i for i in found if i.startswith(UNDEFINED_TERM)}
    assert undefined == {UNDEFINED_TERM + t for t in OUR_TERMS}
    block = expanded[0][UNDEFINED_TERM + "diploma"][0]
    assert block[UNDEFINED_TERM + "serial"] == [{"@value": "TBZMED-1405-000001"}]
    assert block[UNDEFINED_TERM + "schemaVersion"] == [{"@value": 2}]
    co_issuer = block[UNDEFINED_TERM + "coIssuers"][0]
    assert co_issuer["@id"] == SAMT.did and co_issuer["@type"] == [OB + "Profile"]


def test_expansion_is_safe_mode_clean(no_network: None) -> None:
    """What JSON-LD's safe mode refuses: dropped properties (`expand` above fails on any)
    and node ids that are not absolute IRIs, such as a nested `id` read as relative."""
    ids = list(node_ids(expand(credential())))
    assert ids and all(":" in i.split("/")[0] for i in ids), ids
    nested_id = credential()
    nested_id["diploma"]["id"] = "A" * 26
    assert "A" * 26 in node_ids(expand(nested_id))


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
    block = expanded[0][UNDEFINED_TERM + "diploma"][0]
    signatory = block[UNDEFINED_TERM + "signatories"][0]
    assert {"@value": "Dr Parviz Shahabi", "@language": "en"} in signatory[
        "https://schema.org/name"
    ]
    assert {"@value": "VC", "@language": "en"} in signatory[UNDEFINED_TERM + "jobTitle"]


def test_a_stored_credential_round_trips_through_json_ld(no_network: None) -> None:
    """Expanding then compacting with the same contexts gives the credential back."""
    document = credential()
    document["validFrom"] = datetime(2026, 11, 26, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    compacted = jsonld.compact(
        expand(document), document["@context"], {"documentLoader": document_loader}
    )
    assert compacted["credentialSubject"]["achievement"]["achievementType"] == "Diploma"
    assert compacted["type"] == ["VerifiableCredential", "OpenBadgeCredential"]

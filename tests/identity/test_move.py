"""The institution's identity follows its settings: the public URL set before anything was
issued just works, and a move after diplomas exist keeps every one of them valid, by id,
by upload, offline with a trust bundle exported after the move, and by the QR code alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMT, Instance, make_instance
from fastapi.testclient import TestClient

from diplomas.api import create_app
from diplomas.bootstrap import (
    build_service,
    offline_keyring,
    open_key_stores,
    verify_offline,
)
from diplomas.config import Settings
from diplomas.core.credential import claims_from_credential
from diplomas.core.qrproof import check_qr
from diplomas.core.verification import VerdictStatus, parse_record
from diplomas.keys.identity import read_identity
from diplomas.service import DiplomaService

OLD = "http://127.0.0.1:8000"
NEW = "https://diplomas.tbzmed.ac.ir"
OLD_DID = "did:web:127.0.0.1%3A8000"
NEW_DID = "did:web:diplomas.tbzmed.ac.ir"
ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad", "issued_on": "1405/09/05"}


def edit_settings_file(settings: Settings, old: str, new: str) -> None:
    """What the README tells the office to do: open var/institution.toml, change a line."""
    path = settings.institution_file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def bundles(settings: Settings) -> list[bytes]:
    """Every institution's trust bundle, as `diplomas keys export` writes it now."""
    return [json.dumps(s.export_bundle()).encode() for s in open_key_stores(settings).values()]


def did_document(service: DiplomaService, settings: Settings, host: str = "") -> dict[str, object]:
    headers = {"host": host} if host else {}
    with TestClient(create_app(service, settings)) as client:
        r = client.get("/.well-known/did.json", headers=headers)
    assert r.status_code == 200
    document: dict[str, object] = r.json()
    return document


def test_public_url_set_before_anything_is_issued_just_works(tmp_path: Path) -> None:
    inst = make_instance(tmp_path)
    edit_settings_file(inst.settings, f'public_url = "{OLD}"', f'public_url = "{NEW}"')

    service = build_service(inst.settings)
    outcome = service.issue(ZAHRA)

    assert outcome.diploma.verify_url.startswith(f"{NEW}/v/")
    assert service.verify_id(outcome.diploma.id).status is VerdictStatus.VALID
    assert service.verify_pdf(outcome.pdf).status is VerdictStatus.VALID
    assert verify_offline(outcome.pdf, *bundles(inst.settings)).status is VerdictStatus.VALID
    document = did_document(service, inst.settings)
    assert document["id"] == NEW_DID
    assert document["assertionMethod"], "the DID document lists the signing key"
    assert "alsoKnownAs" not in document  # nothing was ever published under the old one
    identity = read_identity(inst.settings.keys_dir)
    assert identity is not None and identity.current.public_url == NEW
    assert identity.former == ()


@pytest.fixture
def moved(tmp_path: Path, backend: str) -> tuple[Instance, DiplomaService, dict[str, object]]:
    """An instance that issued diplomas (one co-issued) at the old address, then moved."""
    inst = make_instance(tmp_path, backend, co_issuers=[SAMT])
    before = {
        "plain": inst.service.issue({**ZAHRA, "external_id": "a"}),
        "joint": inst.service.issue({**ZAHRA, "external_id": "b", "co_issuers": ["samt"]}),
    }
    inst.service.status_list("revocation-1")  # published under the old DID
    edit_settings_file(inst.settings, f'public_url = "{OLD}"', f'public_url = "{NEW}"')
    return inst, build_service(inst.settings), before


def test_every_earlier_diploma_keeps_verifying_after_a_move(
    moved: tuple[Instance, DiplomaService, dict[str, object]],
) -> None:
    inst, service, before = moved
    assert service.institution.did == NEW_DID
    assert service.institution.former_dids == (OLD_DID,)
    samt = service.institutions[1]
    assert samt.public_url == f"{NEW}/i/samt"  # it follows the issuer's site
    assert samt.former_dids == (f"{OLD_DID}:i:samt",)

    exported = bundles(inst.settings)  # exported after the move
    for outcome in before.values():
        d = outcome.diploma  # type: ignore[attr-defined]
        pdf = outcome.pdf  # type: ignore[attr-defined]
        assert service.verify_id(d.id).status is VerdictStatus.VALID, service.verify_id(d.id)
        assert service.verify_pdf(pdf).status is VerdictStatus.VALID, service.verify_pdf(pdf)
        offline = verify_offline(pdf, *exported)
        assert offline.status is VerdictStatus.VALID, offline.reasons
        claims = claims_from_credential(parse_record(d.record))
        assert claims.issuer.did == OLD_DID  # the record is what it always was
        qr = check_qr(claims.qr_text, offline_keyring(*exported))
        assert qr.genuine, qr.reasons

    new = service.issue({**ZAHRA, "external_id": "c", "co_issuers": ["samt"]})
    assert new.diploma.verify_url.startswith(f"{NEW}/v/")
    new_claims = claims_from_credential(parse_record(new.diploma.record))
    assert [i.did for i in new_claims.issuers] == [NEW_DID, f"{NEW_DID}:i:samt"]
    assert service.verify_pdf(new.pdf).status is VerdictStatus.VALID
    assert verify_offline(new.pdf, *exported).status is VerdictStatus.VALID


def test_the_did_documents_explain_both_addresses(
    moved: tuple[Instance, DiplomaService, dict[str, object]],
) -> None:
    inst, service, before = moved
    document = did_document(service, inst.settings)
    assert document["id"] == NEW_DID
    assert document["alsoKnownAs"] == [OLD_DID]
    methods = {m["id"] for m in document["verificationMethod"]}  # type: ignore[attr-defined]
    signed_with = json.loads(before["plain"].diploma.record)["proof"]["verificationMethod"]  # type: ignore[attr-defined]
    assert signed_with.startswith(OLD_DID + "#")
    assert signed_with in methods  # the old diplomas' key, as they name it
    assert signed_with.replace(OLD_DID, NEW_DID) in document["assertionMethod"]  # type: ignore[operator]

    with TestClient(create_app(service, inst.settings)) as client:
        jwks = client.get("/.well-known/jwks.json").json()["keys"]
    assert len({k["kid"] for k in jwks}) == len(jwks)  # each key once
    assert {k["controller"] for k in jwks} == {NEW_DID, f"{NEW_DID}:i:samt"}

    # Asked for at the old address (still pointing at this server), the old document.
    old = did_document(service, inst.settings, host="127.0.0.1:8000")
    assert old["id"] == OLD_DID
    assert old["alsoKnownAs"] == [NEW_DID]
    assert signed_with in old["assertionMethod"]  # type: ignore[operator]


def test_the_move_is_an_audit_entry_and_status_lists_follow(
    moved: tuple[Instance, DiplomaService, dict[str, object]],
) -> None:
    inst, service, _ = moved
    assert service.audit is not None
    entries = service.audit.entries(action="institution.moved")
    by_institution = {e.details["institution"]: e.details for e in entries}
    assert by_institution["tbzmed"]["from_did"] == OLD_DID
    assert by_institution["tbzmed"]["to_did"] == NEW_DID
    assert by_institution["tbzmed"]["former_kept"] is True
    assert service.audit.verify().intact

    signed = json.loads(service.status_list("revocation-1").document)
    assert signed["issuer"] == NEW_DID
    assert signed["proof"]["verificationMethod"].startswith(NEW_DID + "#")

    # Seen once: building the service again records nothing more.
    build_service(inst.settings)
    assert len(service.audit.entries(action="institution.moved")) == len(entries)


def test_moving_back_makes_the_old_address_current_again(
    moved: tuple[Instance, DiplomaService, dict[str, object]],
) -> None:
    inst, _, before = moved
    build_service(inst.settings).issue({**ZAHRA, "external_id": "at-new"})
    edit_settings_file(inst.settings, f'public_url = "{NEW}"', f'public_url = "{OLD}"')
    service = build_service(inst.settings)
    assert service.institution.did == OLD_DID
    assert service.institution.former_dids == (NEW_DID,)
    for outcome in before.values():
        assert service.verify_id(outcome.diploma.id).status is VerdictStatus.VALID  # type: ignore[attr-defined]


def test_a_key_store_of_an_earlier_version_is_mended(tmp_path: Path) -> None:
    # Before identity files, a key named the DID of the URL at `init` time, and editing
    # the URL made every later diploma invalid. Such a store, with diplomas of both kinds:
    inst = make_instance(tmp_path)
    first = inst.service.issue({**ZAHRA, "external_id": "before-the-edit"})
    (inst.settings.keys_dir / "identity.json").unlink()
    edit_settings_file(inst.settings, f'public_url = "{OLD}"', f'public_url = "{NEW}"')

    service = build_service(inst.settings)
    assert service.institution.former_dids == (OLD_DID,)
    assert service.verify_id(first.diploma.id).status is VerdictStatus.VALID
    later = service.issue({**ZAHRA, "external_id": "after-the-edit"})
    assert service.verify_pdf(later.pdf).status is VerdictStatus.VALID


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    inst = make_instance(tmp_path)
    settings = inst.settings.model_copy(update={"public_url": NEW, "serial_prefix": "TBZ"})
    service = build_service(settings)
    outcome = service.issue(ZAHRA)
    assert outcome.diploma.verify_url.startswith(f"{NEW}/v/")
    assert outcome.diploma.serial.startswith("TBZ-")
    assert service.verify_pdf(outcome.pdf).status is VerdictStatus.VALID
    assert f'public_url = "{OLD}"' in inst.settings.institution_file.read_text()  # untouched


def test_a_diploma_naming_an_institution_the_settings_dropped_is_a_503(tmp_path: Path) -> None:
    # Nothing answers 500: the instance, not the request, is at fault, and says so.
    inst = make_instance(tmp_path, co_issuers=[SAMT])
    joint = inst.service.issue({**ZAHRA, "co_issuers": ["samt"]})
    path = inst.settings.institution_file
    text = path.read_text(encoding="utf-8")
    second = text.index("[[institutions]]", text.index("[[institutions]]") + 1)
    path.write_text(text[:second], encoding="utf-8")
    service = build_service(inst.settings)
    with TestClient(create_app(service, inst.settings), raise_server_exceptions=False) as client:
        for route in (f"/v/{joint.diploma.id}", f"/api/v1/verify/{joint.diploma.id}"):
            r = client.get(route)
            assert r.status_code == 503, (route, r.status_code, r.text)
            assert r.headers["Retry-After"]
            assert str(path) not in r.text


def test_a_bundle_from_before_the_move_says_why_it_fails_on_new_diplomas(
    moved: tuple[Instance, DiplomaService, dict[str, object]], tmp_path: Path
) -> None:
    inst, service, _ = moved
    # A bundle as `diplomas keys export` wrote it before the move: the old DID only.
    old_bundle = json.loads(bundles(inst.settings)[0])
    old_bundle["institution"]["did"] = OLD_DID
    old_bundle["institution"].pop("also_known_as")
    for key in old_bundle["record_keys"]:
        key["id"] = key["id"].replace(NEW_DID, OLD_DID)
        key["controller"] = OLD_DID
    new = service.issue({**ZAHRA, "external_id": "after"})
    verdict = verify_offline(new.pdf, json.dumps(old_bundle).encode())
    assert verdict.status is VerdictStatus.INVALID
    said = " ".join(verdict.reasons)
    assert "the institution may have moved to did:web:diplomas.tbzmed.ac.ir" in said
    assert "use a trust bundle exported after the move" in said

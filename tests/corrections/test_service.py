"""Correcting an issued diploma through the service, on SQLite and PostgreSQL: a new version
under the same id, serial, status slot and QR link; the replaced version is reported as
superseded wherever it is shown, online and offline."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SAMT, Instance, make_instance
from pdftools import decode_qr, first_page_image, pdfsig, pdftotext

from diplomas.bootstrap import open_key_stores, superseded_for_bundle, verify_offline
from diplomas.core.audit import AuditAction
from diplomas.core.credential import claims_from_credential
from diplomas.core.errors import Conflict, InvalidInput, NotFound
from diplomas.core.verification import (
    SupersededRecord,
    VerdictStatus,
    check_record,
    parse_record,
    record_digest,
)
from diplomas.render import BUILTIN_DESIGNS, TemplateRenderer

ZAHRA = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohamadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان تجهیزات پزشکی هوشمند",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
    "email": "zahra@example.com",
    "national_id": "0499370899",
    "external_id": "student-42",
}


def bundle(instance: Instance, *, with_corrections: bool = True) -> bytes:
    """The trust bundle as `diplomas keys export` writes it now."""
    settings = instance.settings
    store = next(iter(open_key_stores(settings).values()))
    superseded = (
        superseded_for_bundle(settings, store.institution.slug) if with_corrections else None
    )
    return json.dumps(store.export_bundle(superseded)).encode()


def test_a_corrected_name_keeps_the_id_serial_and_link(instance: Instance) -> None:
    service = instance.service
    issued = service.issue(ZAHRA)
    old_pdf = issued.pdf
    d = issued.diploma

    outcome = service.correct(d.serial, {"name_en": "Zahra Mohammadinejad"}, actor="cli:office")

    new = outcome.diploma
    assert (new.id, new.serial, new.status_slot) == (d.id, d.serial, d.status_slot)
    assert new.request.name_en == "Zahra Mohammadinejad"
    assert new.request.name == ZAHRA["name"] and new.request.external_id == "student-42"
    assert outcome.version == 2 and outcome.plan.fields == ("name_en",)
    assert outcome.pdf is not None and outcome.pdf != old_pdf

    # The new record: signed, version 2, naming the digest of the one it replaces, with
    # the same status entries, link and QR claims (the Persian name did not change).
    check = check_record(new.record, service.keyring())
    assert check.ok, check.reasons
    claims = check.claims
    old_claims = claims_from_credential(parse_record(d.record))
    assert claims is not None and claims.version == 2
    assert claims.supersedes == record_digest(d.record)
    assert claims.status == old_claims.status and claims.verify_url == old_claims.verify_url
    assert claims.name_en == "Zahra Mohammadinejad"

    # The new PDF is stored, verifies, prints the new spelling, and its QR code still
    # links to the same page.
    assert service.pdf(d.id) == outcome.pdf
    assert new.pdf_sha256 == hashlib.sha256(outcome.pdf).hexdigest()
    assert "Signature is Valid" in pdfsig(outcome.pdf)
    assert "Zahra Mohammadinejad" in pdftotext(outcome.pdf)
    [qr] = decode_qr(first_page_image(outcome.pdf))
    assert qr.partition("#")[0] == d.verify_url
    verdict = service.verify_pdf(outcome.pdf)
    assert verdict.status is VerdictStatus.VALID, verdict.reasons

    # The id's verdict shows the current version's claims.
    by_id = service.verify_id(d.id)
    assert by_id.status is VerdictStatus.VALID
    assert by_id.claims is not None and by_id.claims.name_en == "Zahra Mohammadinejad"

    # The old PDF, uploaded: superseded, with its date; not genuine, not revoked.
    old = service.verify_pdf(old_pdf)
    assert old.status is VerdictStatus.SUPERSEDED, old.reasons
    assert not old.genuine and old.superseded_at is not None
    day = old.superseded_at.date().isoformat()
    assert any(f"superseded by a corrected version on {day}" in r for r in old.reasons)

    # Versions: the first (replaced) and the current.
    versions = service.versions(d.id)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].record_sha256 == record_digest(d.record)
    assert versions[0].superseded_by == "cli:office" and versions[0].superseded_at is not None
    assert versions[0].pdf_sha256 == d.pdf_sha256 or versions[0].pdf_sha256
    assert versions[1].superseded_at is None and versions[1].issued_at == versions[0].superseded_at

    # The audit log names the fields, and never the national id's value.
    assert service.audit is not None
    [entry] = service.audit.entries(10, action=AuditAction.DIPLOMA_CORRECTED, subject=d.id)
    assert entry.actor == "cli:office"
    assert entry.details["fields"] == ["name_en"] and entry.details["version"] == 2


def test_offline_the_old_pdf_is_superseded_with_a_fresh_bundle(instance: Instance) -> None:
    service = instance.service
    issued = service.issue(ZAHRA)
    before = bundle(instance)
    outcome = service.correct(issued.diploma.id, {"name_en": "Zahra Mohammadinejad"})
    after = bundle(instance)
    assert outcome.pdf is not None

    fresh = verify_offline(issued.pdf, after)
    assert fresh.status is VerdictStatus.SUPERSEDED, fresh.reasons
    assert fresh.superseded_at is not None
    # The current version is genuine offline as ever.
    assert verify_offline(outcome.pdf, after).status is VerdictStatus.VALID

    # A bundle exported before the correction knows nothing of it: the old copy can only
    # be judged on its signatures, which hold, and the verdict says a later correction
    # would not show.
    stale = verify_offline(issued.pdf, before)
    assert stale.status is VerdictStatus.VALID
    assert any("export a fresh one" in r for r in stale.reasons)
    # So does a bundle exported by the key store alone (no database): no list at all.
    no_list = bundle(instance, with_corrections=False)
    assert "superseded_records" not in json.loads(no_list)
    assert verify_offline(issued.pdf, no_list).status is VerdictStatus.VALID  # still loads

    # What the bundle says: digests, ids and dates, nothing personal.
    listed = json.loads(after)["superseded_records"]
    assert listed == [
        {
            "diploma_id": issued.diploma.id,
            "record_sha256": record_digest(issued.diploma.record),
            "superseded_at": listed[0]["superseded_at"],
        }
    ]
    assert ZAHRA["name_en"] not in after.decode()


def test_revoked_takes_precedence_over_superseded(instance: Instance) -> None:
    """The id is revoked whichever version is shown: the old copy says revoked (and that
    it was superseded, among the reasons)."""
    service = instance.service
    issued = service.issue(ZAHRA)
    service.correct(issued.diploma.id, {"name_en": "Zahra Mohammadinejad"})
    service.revoke(issued.diploma.id, "اشتباه")
    old = service.verify_pdf(issued.pdf)
    assert old.status is VerdictStatus.REVOKED
    assert any("superseded by a corrected version" in r for r in old.reasons)
    assert "the record in the PDF differs from the one the issuer stored" not in old.reasons


def test_a_revoked_diploma_cannot_be_corrected(instance: Instance) -> None:
    service = instance.service
    d = service.issue(ZAHRA).diploma
    service.revoke(d.id, "اشتباه")
    with pytest.raises(Conflict, match="revoked"):
        service.correct(d.id, {"name_en": "Zahra Mohammadinejad"})
    assert service.repository.versions(d.id) == []


def test_a_suspended_diploma_stays_suspended(instance: Instance) -> None:
    service = instance.service
    issued = service.issue(ZAHRA)
    service.suspend(issued.diploma.id, "بررسی")
    outcome = service.correct(issued.diploma.id, {"citation": "بنیان‌گذار شرکت"})
    assert outcome.diploma.status.value == "suspended"
    assert service.verify_id(issued.diploma.id).status is VerdictStatus.SUSPENDED
    old = service.verify_pdf(issued.pdf)
    # Suspension (the id's status) outranks the version; the reasons say both.
    assert old.status is VerdictStatus.SUSPENDED and old.superseded_at is not None
    assert any("superseded" in r for r in old.reasons)


def test_nothing_to_correct_is_refused(instance: Instance) -> None:
    service = instance.service
    d = service.issue(ZAHRA).diploma
    with pytest.raises(InvalidInput, match="nothing to correct"):
        service.correct(d.id, {"name_en": ZAHRA["name_en"]})
    with pytest.raises(InvalidInput, match="nothing to correct"):
        service.correct(d.id, {})
    with pytest.raises(InvalidInput, match="nothing to correct"):
        service.correct(d.id, {"national_id": ZAHRA["national_id"]})


def test_bad_values_name_their_fields_and_change_nothing(instance: Instance) -> None:
    service = instance.service
    d = service.issue(ZAHRA).diploma
    with pytest.raises(InvalidInput) as caught:
        service.check_correction(
            d.id,
            {
                "name_en": "زهرا",
                "email": "not-an-email",
                "serial": "X",
                "co_issuers": "samt",
                "colour": "red",
                "citation": "x" * 300,
            },
        )
    fields = [p.field for p in caught.value.problems]
    # Every problem at once, the fields that cannot change first.
    assert fields[:3] == ["serial", "co_issuers", "colour"]
    assert set(fields[3:]) == {"email", "citation", "name_en"}
    with pytest.raises(InvalidInput, match="Solar Hijri year"):
        service.correct(d.id, {"issued_on": "1404/09/05"})
    stored = service.get(d.id)
    assert stored.record == d.record and stored.request == d.request
    assert service.repository.versions(d.id) == []


def test_the_plan_shows_old_and_new_and_hides_the_national_id(instance: Instance) -> None:
    service = instance.service
    d = service.issue(ZAHRA).diploma
    plan = service.check_correction(
        d.serial,
        {"name_en": "Zahra Mohammadinejad", "national_id": "0013542419", "email": ""},
    )
    changes = {c.field: (c.old, c.new) for c in plan.changes}
    assert changes == {
        "name_en": ("Zahra Mohamadinejad", "Zahra Mohammadinejad"),
        "email": ("zahra@example.com", ""),
        "national_id": ("", "…19"),
    }
    assert plan.signs and plan.prints
    assert plan.requested["name_en"] == "Zahra Mohammadinejad"
    assert plan.base_record == d.record
    # Nothing was stored by checking.
    assert service.get(d.id).request.name_en == ZAHRA["name_en"]
    outcome = service.apply_correction(plan, actor="cli:approver")
    assert service.repository.same_national_id(d.id, "0013542419")
    assert outcome.diploma.request.email == ""
    assert service.audit is not None
    [entry] = service.audit.entries(10, action=AuditAction.DIPLOMA_CORRECTED, subject=d.id)
    assert entry.details["fields"] == ["name_en", "email", "national_id"]
    assert "0013542419" not in json.dumps(dict(entry.details))
    # A plan checked before another correction is refused when applied.
    with pytest.raises(Conflict, match="changed while"):
        service.apply_correction(plan)


def test_private_fields_change_without_a_new_version(instance: Instance) -> None:
    service = instance.service
    issued = service.issue(ZAHRA)
    outcome = service.correct(issued.diploma.id, {"email": "z.m@example.com"})
    assert outcome.version == 1 and outcome.pdf is None
    assert outcome.diploma.record == issued.diploma.record
    assert service.repository.versions(issued.diploma.id) == []
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.VALID


def test_a_second_correction_chains_the_versions(instance: Instance) -> None:
    service = instance.service
    issued = service.issue(ZAHRA)
    second = service.correct(issued.diploma.id, {"name_en": "Zahra Mohammadinejad"})
    third = service.correct(issued.diploma.id, {"field": "مهندسی پزشکی"})
    assert third.version == 3
    claims = claims_from_credential(parse_record(third.diploma.record))
    assert claims.supersedes == record_digest(second.diploma.record)
    assert [v.version for v in service.versions(issued.diploma.id)] == [1, 2, 3]
    assert second.pdf is not None
    for pdf in (issued.pdf, second.pdf):
        assert service.verify_pdf(pdf).status is VerdictStatus.SUPERSEDED
    assert verify_offline(second.pdf, bundle(instance)).status is VerdictStatus.SUPERSEDED


def test_the_verdict_cache_is_refreshed(instance: Instance) -> None:
    service = instance.service
    assert service.verdicts is not None
    d = service.issue(ZAHRA).diploma
    first = service.verdict(d.id)
    assert service.verdict(d.id) is first  # kept
    service.correct(d.id, {"name_en": "Zahra Mohammadinejad"})
    now = service.verdict(d.id)
    assert now is not first
    assert now.verdict.claims is not None
    assert now.verdict.claims.name_en == "Zahra Mohammadinejad"


def test_another_process_drops_its_kept_verdict(instance: Instance) -> None:
    """A second service on the same database (another server process) learns of the
    correction through the audit log."""
    from diplomas.bootstrap import build_service

    other = build_service(instance.settings)
    d = instance.service.issue(ZAHRA).diploma
    kept = other.verdict(d.id)
    assert kept.verdict.claims is not None and kept.verdict.claims.name_en == ZAHRA["name_en"]
    instance.service.correct(d.id, {"name_en": "Zahra Mohammadinejad"})
    fresh = other.verdict(d.id)
    assert fresh.verdict.claims is not None
    assert fresh.verdict.claims.name_en == "Zahra Mohammadinejad"


def test_a_lost_pdf_write_is_printed_again(instance: Instance) -> None:
    """A correction committed whose new PDF did not reach the store (a crash between the
    two) is not answered with the old PDF: `pdf()` sees the digest differs."""
    service = instance.service
    issued = service.issue(ZAHRA)
    outcome = service.correct(issued.diploma.id, {"name_en": "Zahra Mohammadinejad"})
    service.pdf_store.put(issued.diploma.id, issued.pdf)  # as if the new one were lost
    again = service.pdf(issued.diploma.id)
    assert again != issued.pdf
    assert service.verify_pdf(again).status is VerdictStatus.VALID
    assert outcome.pdf is not None


def test_a_template_correction_prints_again_without_a_new_version(
    instance: Instance, tmp_path: Path
) -> None:
    own = tmp_path / "designs"
    shutil.copytree(BUILTIN_DESIGNS / "classic", own / "plain")
    service = copy.copy(instance.service)
    service.renderer = service.templates = TemplateRenderer(own)
    issued = service.issue(ZAHRA)
    with pytest.raises(NotFound, match="template"):
        service.correct(issued.diploma.id, {"template": "no-such-design"})

    outcome = service.correct(issued.diploma.id, {"template": "plain"})
    assert outcome.version == 1 and outcome.pdf is not None
    assert outcome.diploma.record == issued.diploma.record  # the record stays
    assert outcome.diploma.request.template == "plain"
    assert outcome.diploma.pdf_sha256 == hashlib.sha256(outcome.pdf).hexdigest()
    assert service.pdf(issued.diploma.id) == outcome.pdf
    assert service.repository.versions(issued.diploma.id) == []
    # The same record in either design: both copies are genuine.
    assert service.verify_pdf(outcome.pdf).status is VerdictStatus.VALID
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.VALID


def test_a_jointly_awarded_diploma_is_signed_again_by_both(tmp_path: Path) -> None:
    inst = make_instance(tmp_path, co_issuers=[SAMT])
    service = inst.service
    issued = service.issue({**ZAHRA, "co_issuers": ["samt"]})
    outcome = service.correct(issued.diploma.id, {"name_en": "Zahra Mohammadinejad"})
    assert outcome.pdf is not None
    credential = json.loads(outcome.diploma.record)
    assert len(credential["proof"]) == 2
    assert pdfsig(outcome.pdf).count("Signature is Valid") == 2
    assert service.verify_pdf(outcome.pdf).status is VerdictStatus.VALID
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.SUPERSEDED
    # Offline with both institutions' bundles, exported now: the issuer's lists it.
    stores = open_key_stores(inst.settings)
    bundles = [
        json.dumps(s.export_bundle(superseded_for_bundle(inst.settings, slug))).encode()
        for slug, s in stores.items()
    ]
    assert verify_offline(issued.pdf, *bundles).status is VerdictStatus.SUPERSEDED
    assert verify_offline(outcome.pdf, *bundles).status is VerdictStatus.VALID


def test_a_bundle_cannot_mark_another_institutions_diploma(tmp_path: Path) -> None:
    """A trust bundle speaks for its own institution's diplomas only: an entry naming
    another institution's record is not taken."""
    inst = make_instance(tmp_path, co_issuers=[SAMT])
    service = inst.service
    issued = service.issue(ZAHRA)
    stores = open_key_stores(inst.settings)
    ours = stores["tbzmed"].export_bundle([])
    theirs = stores["samt"].export_bundle(
        [
            SupersededRecord(
                issued.diploma.id, record_digest(issued.diploma.record), datetime.now(UTC)
            )
        ]
    )
    verdict = verify_offline(issued.pdf, json.dumps(ours).encode(), json.dumps(theirs).encode())
    assert verdict.status is VerdictStatus.VALID


def test_a_plan_is_stale_once_the_diploma_is_revoked(instance: Instance) -> None:
    """Between the check and the signing (an approval, say), a revocation wins."""
    service = instance.service
    d = service.issue(ZAHRA).diploma
    plan = service.check_correction(d.id, {"name_en": "Zahra Mohammadinejad"})
    service.revoke(d.id, "اشتباه")
    with pytest.raises(Conflict, match="revoked"):
        service.apply_correction(plan)
    assert service.get(d.id).record == d.record
    assert service.repository.versions(d.id) == []


def test_a_corrected_name_is_what_search_finds(instance: Instance) -> None:
    service = instance.service
    issued = service.issue({"name": "زهرا محمدی", "name_en": "Zahra Mohamadi"}).diploma
    service.correct(issued.id, {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad"})
    assert [d.id for d in service.search("محمدی نژاد", 0, 10)[0]] == [issued.id]
    assert [d.id for d in service.search("mohammadinejad", 0, 10)[0]] == [issued.id]
    assert service.search("Mohamadi", 0, 10)[1] == 0

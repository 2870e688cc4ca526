"""Managing what was issued, in the console over HTTP: the Persian-aware search and its
filters, revoking many at once with a public reason and a private note (asked first), and
a correction that keeps the link, direct or through the two-person rule."""

from __future__ import annotations

import re

from conftest import LiveServer

from diplomas.core.verification import VerdictStatus

from .support import PEOPLE, signed_in

APPROVER, ISSUER = PEOPLE["approver"][0], PEOPLE["issuer"][0]


def test_search_finds_a_name_however_it_is_written_and_filters(console: LiveServer) -> None:
    service = console.instance.service
    zahra = service.issue({"name": "زهرا محمدی‌نژاد", "issued_on": "1405/02/10"}).diploma
    service.issue({"name": "علی رضایی", "issued_on": "1405/08/01"})
    with signed_in(console.base_url, PEOPLE["viewer"][0]) as viewer:
        for text in ("محمدی نژاد", "محمدينژاد", zahra.serial.replace("1405", "۱۴۰۵").lower()):
            found = viewer.client.get("/admin/diplomas", params={"q": text}).text
            assert zahra.serial in found and "علی رضایی" not in found, text
        spring = viewer.client.get(
            "/admin/diplomas", params={"from": "1405/01/01", "to": "1405/03/31"}
        ).text
        assert zahra.serial in spring and "علی رضایی" not in spring
        bad = viewer.client.get("/admin/diplomas", params={"from": "yesterday"})
        assert bad.status_code == 200 and "expected a date like 1405/09/05" in bad.text
        # A viewer may not revoke: no boxes to tick, no bulk form.
        assert 'name="ids"' not in spring


def test_many_are_revoked_at_once_after_a_confirmation(console: LiveServer) -> None:
    service = console.instance.service
    batch = [service.issue({"name": f"نفر {n}", "external_id": f"x{n}"}).diploma for n in range(3)]
    service.revoke(batch[2].id, "issued_in_error")
    with signed_in(console.base_url, APPROVER) as approver:
        listed = approver.client.get("/admin/diplomas").text
        assert listed.count('name="ids"') >= 3
        asked = approver.post(
            "/admin/diplomas/bulk", {"action": "revoke", "ids": [d.id for d in batch]}
        )
        assert asked.status_code == 200 and all(d.serial in asked.text for d in batch)
        assert all(service.get(d.id).status.value == "issued" for d in batch[:2])
        # Without a reason from the list (and no note): refused, nothing revoked.
        bare = approver.post(
            "/admin/diplomas/bulk/revoke", {"ids": [d.id for d in batch], "confirmed": "yes"}
        )
        assert bare.status_code == 422
        assert all(service.get(d.id).status.value == "issued" for d in batch[:2])
        done = approver.post(
            "/admin/diplomas/bulk/revoke",
            {
                "ids": [d.id for d in batch],
                "reason": "false_information",
                "note": "letter 1405-77 from the committee",
                "confirmed": "yes",
            },
        )
        assert done.status_code == 200
        assert done.text.count("✓") == 2 and "already revoked" in done.text
    for d in batch[:2]:
        stored = service.get(d.id)
        assert stored.revocation_reason == "false_information"
        assert stored.revocation_note == "letter 1405-77 from the committee"
        public = service.verify_id(d.id)
        assert "Issued on false information" in public.reasons[0]
        assert "committee" not in " ".join(public.reasons)


def test_a_correction_keeps_the_link_and_supersedes_the_old_pdf(console: LiveServer) -> None:
    service = console.instance.service
    issued = service.issue({"name": "زهرا محمدی", "name_en": "Zahra Mohamadi"})
    d = issued.diploma
    with signed_in(console.base_url, ISSUER) as issuer:
        form = issuer.client.get(f"/admin/diplomas/{d.serial}/correct").text
        values = dict(re.findall(r'<input id="c-[^"]+" name="([^"]+)" value="([^"]*)"', form))
        values["template"] = "classic"
        shown = issuer.post(
            f"/admin/diplomas/{d.id}/correct", {**values, "name_en": "Zahra Mohammadi"}
        )
        assert shown.status_code == 200
        assert "Zahra Mohamadi" in shown.text and "Zahra Mohammadi" in shown.text
        assert service.get(d.id).request.name_en == "Zahra Mohamadi"  # only shown so far
        done = issuer.post(
            f"/admin/diplomas/{d.id}/correct",
            {**values, "name_en": "Zahra Mohammadi", "confirmed": "yes"},
        )
        assert done.headers["location"] == f"/admin/diplomas/{d.id}"
        page = issuer.client.get(done.headers["location"]).text
        assert "نسخه‌ها" in page and "Zahra Mohammadi" in page
    corrected = service.get(d.id)
    assert (corrected.serial, corrected.request.name_en) == (d.serial, "Zahra Mohammadi")
    old = service.verify_pdf(issued.pdf)
    assert old.status is VerdictStatus.SUPERSEDED and old.superseded_at is not None


def test_under_the_rule_a_correction_is_signed_only_once_approved(console: LiveServer) -> None:
    service = console.instance.service
    issued = service.issue({"name": "علی رضایی", "name_en": "Ali Rezai"})
    d = issued.diploma
    service.production = True
    with signed_in(console.base_url, ISSUER) as issuer:
        answer = issuer.post(
            f"/admin/diplomas/{d.id}/correct",
            {
                "name": "علی رضایی",
                "name_en": "Ali Rezaei",
                "template": "classic",
                "confirmed": "yes",
            },
        )
        assert answer.headers["location"].startswith("/admin/proposals/")
        proposal = answer.headers["location"]
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.VALID  # nothing signed yet
    with signed_in(console.base_url, APPROVER) as approver:
        assert approver.post(proposal + "/approve", {"comment": "typo"}).status_code == 303
    assert service.get(d.id).request.name_en == "Ali Rezaei"
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.SUPERSEDED

"""The diploma page shows the mail state and resends (issue permission, CSRF); a batch's
page resends to every holder after a confirmation."""

from __future__ import annotations

import csv
from pathlib import Path

from conftest import LiveServer

from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches
from diplomas.core.audit import AuditAction

from .support import PEOPLE, signed_in

ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohamadinejad", "email": "z@example.com"}


def test_the_diploma_page_shows_the_mail_state_and_resends(console: LiveServer) -> None:
    service = console.instance.service
    diploma = service.issue(ZAHRA).diploma
    with signed_in(console.base_url, PEOPLE["issuer"][0]) as issuer:
        shown = issuer.client.get(f"/admin/diplomas/{diploma.id}")
        assert shown.status_code == 200
        assert 'data-testid="mail-state">در صف<' in shown.text
        assert f'action="/admin/diplomas/{diploma.id}/mail"' in shown.text
        english = issuer.client.get(f"/admin/diplomas/{diploma.id}?lang=en").text
        assert "Mail to the holder" in english or "نامه به دارنده" in english

        no_csrf = issuer.client.post(f"/admin/diplomas/{diploma.id}/mail")
        assert no_csrf.status_code == 403
        assert issuer.post(f"/admin/diplomas/{diploma.id}/mail").status_code == 303
    [entry] = service.audit_trail(action=AuditAction.MAIL_RESENT)
    assert entry.actor.endswith(PEOPLE["issuer"][0]) or PEOPLE["issuer"][0] in entry.actor
    latest = service.mail_state(diploma.id)
    assert latest is not None and latest.purpose == "resend:1"

    with signed_in(console.base_url, PEOPLE["viewer"][0]) as viewer:
        page = viewer.client.get(f"/admin/diplomas/{diploma.id}").text
        assert f'action="/admin/diplomas/{diploma.id}/mail"' not in page
        assert viewer.post(f"/admin/diplomas/{diploma.id}/mail").status_code == 403
    assert len(service.audit_trail(action=AuditAction.MAIL_RESENT)) == 1


def test_a_batch_is_resent_after_a_confirmation(console: LiveServer, tmp_path: Path) -> None:
    service = console.instance.service
    roster = tmp_path / "cohort.csv"
    with roster.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "name_en", "email"])
        writer.writerow(["مریم احمدی", "Maryam Ahmadi", "m@example.com"])
        writer.writerow(["رضا کریمی", "Reza Karimi", ""])
    report = build_batches(service, console.instance.settings).run(
        roster, BatchOptions(out_dir=tmp_path / "out", workers=1)
    )
    batch_id = report.batch.id
    with signed_in(console.base_url, PEOPLE["issuer"][0]) as issuer:
        page = issuer.client.get(f"/admin/batches/{batch_id}").text
        assert f'href="/admin/batches/{batch_id}/mail"' in page
        ask = issuer.client.get(f"/admin/batches/{batch_id}/mail")
        assert ask.status_code == 200 and "csrf" in ask.text
        done = issuer.post(f"/admin/batches/{batch_id}/mail")
        assert done.status_code == 303
        assert "mail=queued" in done.headers["location"]
    [entry] = service.audit_trail(action=AuditAction.MAIL_RESENT)
    assert entry.subject == batch_id and len(entry.details["diplomas"]) == 1

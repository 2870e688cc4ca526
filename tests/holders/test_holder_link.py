"""The holder's private link over HTTP: her page, her PDF and credential, LinkedIn, the
public link; one answer for every link that opens nothing; and the mail merge export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from pdftools import pdfsig

from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches
from diplomas.core.holder import TOKEN_CHARS, holder_token, link_key
from tests.console.conftest import add_people
from tests.console.support import PEOPLE, signed_in

SARA = {
    "name": "سارا محمدی‌نژاد",
    "name_en": "Sara Mohammadinejad",
    "email": "sara@example.org",
    "issued_on": "2026-11-20",
    "national_id": "0499370899",
}


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[LiveServer]:
    port = free_port()
    inst = make_instance(
        tmp_path_factory.mktemp("holder"),
        backend,
        public_url=f"http://127.0.0.1:{port}",
        co_issuers=[SAMT],
    )
    add_people(inst)
    with serving(inst, port) as server:
        yield server


def _issue(site: LiveServer, **changes: str) -> tuple[str, str]:
    """(id, private link) of a newly issued diploma."""
    outcome = site.instance.service.issue({**SARA, **changes})
    return outcome.diploma.id, site.instance.service.holder_url(outcome.diploma.id)


def test_the_private_page_gives_her_everything_to_keep_and_share(site: LiveServer) -> None:
    diploma_id, link = _issue(site)
    service = site.instance.service
    diploma = service.get(diploma_id)
    assert link.startswith(f"{site.base_url}/h/{diploma_id}/")
    assert len(link.rsplit("/", 1)[1]) == TOKEN_CHARS

    page = httpx.get(link)
    assert page.status_code == 200
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert 'lang="fa" dir="rtl"' in html
    assert "<bdi>سارا محمدی‌نژاد</bdi>" in html
    assert "معتبر" in html
    assert diploma.serial in html
    assert f'value="{diploma.verify_url}"' in html  # the public link, to copy
    assert "sara@example.org" not in html and "0499370899" not in html

    english = httpx.get(link, params={"lang": "en"})
    assert 'lang="en" dir="ltr"' in english.text
    assert "<bdi>Sara Mohammadinejad</bdi>" in english.text
    assert "Genuine and in force" in english.text

    pdf = httpx.get(f"{link}/diploma.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert f'filename="{diploma.serial}.pdf"' in pdf.headers["content-disposition"]
    assert pdf.content == service.pdf(diploma_id)
    assert "Signature is Valid" in pdfsig(pdf.content)

    credential = httpx.get(f"{link}/credential.json")
    assert credential.status_code == 200
    assert credential.content == diploma.record
    document = json.loads(credential.content)
    assert "OpenBadgeCredential" in document["type"]
    assert document["credentialSubject"]["achievement"]["name"]
    proofs = document["proof"] if isinstance(document["proof"], list) else [document["proof"]]
    assert [p["cryptosuite"] for p in proofs] == ["eddsa-jcs-2022"]


def test_the_linkedin_link_is_filled_with_the_award(site: LiveServer) -> None:
    diploma_id, link = _issue(site)
    diploma = site.instance.service.get(diploma_id)
    html = httpx.get(link, params={"lang": "en"}).text
    start = html.index("https://www.linkedin.com/profile/add?")
    href = html[start : html.index('"', start)].replace("&amp;", "&")
    query = parse_qs(urlsplit(href).query)
    institution = site.instance.service.institution
    assert query == {
        "startTask": ["CERTIFICATION_NAME"],
        "name": [diploma.request.award_en],
        "organizationName": [institution.name_en],
        "issueYear": ["2026"],
        "issueMonth": ["11"],
        "certUrl": [diploma.verify_url],
        "certId": [diploma.serial],
    }
    persian = httpx.get(link).text
    start = persian.index("https://www.linkedin.com/profile/add?")
    href = persian[start : persian.index('"', start)].replace("&amp;", "&")
    assert parse_qs(urlsplit(href).query)["name"] == [diploma.request.award]


def test_a_link_that_opens_nothing_gets_one_answer(site: LiveServer) -> None:
    diploma_id, link = _issue(site)
    token = link.rsplit("/", 1)[1]
    _, other_link = _issue(site, name="علی رضایی", name_en="Ali Rezaei")
    wrong = [
        f"/h/{diploma_id}/{'A' * TOKEN_CHARS}",  # a wrong token
        f"/h/{diploma_id}/{token[:-1]}",  # cut short
        f"/h/{diploma_id}/{other_link.rsplit('/', 1)[1]}",  # another diploma's token
        f"/h/{'x' * 22}/{token}",  # an unknown id
        f"/h/not-an-id/{token}",  # a malformed id
    ]
    bodies = set()
    for path in wrong:
        page = httpx.get(site.base_url + path)
        assert page.status_code == 404, path
        assert page.headers["x-robots-tag"].startswith("noindex")
        bodies.add(page.text.replace(path, ""))
        for leaf in ("diploma.pdf", "credential.json"):
            assert httpx.get(f"{site.base_url}{path}/{leaf}").status_code == 404
    assert len(bodies) == 1
    assert "سارا" not in bodies.pop()


def test_the_token_is_a_mac_of_the_id_and_the_generation() -> None:
    key = link_key(b"k" * 32)
    first = holder_token(key, "abc", 0)
    assert first == holder_token(key, "abc", 0)
    assert first != holder_token(key, "abc", 1)
    assert first != holder_token(key, "abd", 0)
    assert first != holder_token(link_key(b"j" * 32), "abc", 0)
    with pytest.raises(ValueError):
        link_key(b"short")


def test_the_mail_merge_export_carries_what_a_mail_merge_needs(site: LiveServer) -> None:
    first_id, first_link = _issue(site)
    second_id, _ = _issue(site, name="علی رضایی", name_en="Mallory", email="=cmd@example.org")
    with signed_in(site.base_url, PEOPLE["issuer"][0]) as issuer:
        page = issuer.client.get("/admin/diplomas")
        assert "/admin/diplomas/export.csv" in page.text
        answer = issuer.client.get("/admin/diplomas/export.csv", params={"sort": "oldest"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets show Persian
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == [first_id, second_id]
    assert rows[0]["name"] == SARA["name"]
    assert rows[0]["email"] == SARA["email"]
    assert rows[0]["holder_url"] == first_link
    assert rows[0]["verify_url"] == site.instance.service.get(first_id).verify_url
    assert rows[0]["serial"] == site.instance.service.get(first_id).serial
    assert rows[1]["email"] == "'=cmd@example.org"  # inert in a spreadsheet
    assert httpx.get(rows[1]["holder_url"]).status_code == 200

    with signed_in(site.base_url, PEOPLE["issuer"][0]) as issuer:
        found = issuer.client.get("/admin/diplomas/export.csv", params={"q": "Mallory"})
    assert [r["id"] for r in csv.DictReader(io.StringIO(found.text.lstrip("\ufeff")))] == [
        second_id
    ]
    for who in ("viewer", "partner"):
        with signed_in(site.base_url, PEOPLE[who][0]) as other:
            refused = other.client.get("/admin/diplomas/export.csv")
            assert refused.status_code == 403, who
            assert first_link not in refused.text


def test_the_manifest_carries_the_mail_merge_columns(site: LiveServer, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "name,name_en,email,issued_on\n"
        "سارا محمدی‌نژاد,Sara Mohammadinejad,sara@example.org,2026-11-20\n"
        "علی رضایی,Ali Rezaei,,2026-11-20\n",
        encoding="utf-8",
    )
    runner = build_batches(site.instance.service, site.instance.settings)
    report = runner.run(roster, BatchOptions(out_dir=tmp_path / "out", workers=1))
    assert report.manifest_csv is not None
    with open(report.manifest_csv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["سارا محمدی‌نژاد", "علی رضایی"]
    assert [r["email"] for r in rows] == ["sara@example.org", ""]
    for row in rows:
        assert row["holder_url"] == site.instance.service.holder_url(row["id"])
        assert httpx.get(row["holder_url"]).status_code == 200
    entries = json.loads(report.manifest_json.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert entries[0]["holder_url"] == rows[0]["holder_url"]


def test_renewing_the_link_ends_every_earlier_copy(site: LiveServer) -> None:
    """Through the API (the new link answered), the CLI's service call, and the audit log."""
    diploma_id, first = _issue(site)
    service = site.instance.service
    answer = httpx.post(
        f"{site.base_url}/api/v1/diplomas/{diploma_id}/holder-link",
        headers=site.instance.auth("issue"),
    )
    assert answer.status_code == 200, answer.text
    second = answer.json()["holder_url"]
    assert second != first and second == service.holder_url(diploma_id)
    assert httpx.get(first).status_code == 404
    assert httpx.get(f"{first}/diploma.pdf").status_code == 404
    assert httpx.get(second).status_code == 200
    third = service.renew_holder_link(service.get(diploma_id).serial, actor="cli:test")
    assert httpx.get(second).status_code == 404 and httpx.get(third).status_code == 200
    renewals = [e for e in service.audit_trail(limit=100) if e.action == "holder_link.renewed"]
    assert [e.details["generation"] for e in renewals] == [2, 1]
    assert all(e.subject == diploma_id for e in renewals)
    # The public page and its verdict are untouched.
    assert httpx.get(service.get(diploma_id).verify_url).status_code == 200
    refused = httpx.post(
        f"{site.base_url}/api/v1/diplomas/{diploma_id}/holder-link",
        headers=site.instance.auth("read"),
    )
    assert refused.status_code == 403
    assert httpx.get(third).status_code == 200


def test_the_console_shows_the_link_and_renews_it_after_asking(site: LiveServer) -> None:
    service = site.instance.service
    diploma_id, first = _issue(site, co_issuers=["samt"])  # type: ignore[arg-type]
    with signed_in(site.base_url, PEOPLE["issuer"][0]) as issuer:
        shown = issuer.client.get(f"/admin/diplomas/{diploma_id}")
        assert f'value="{first}"' in shown.text
        asked = issuer.client.get(f"/admin/diplomas/{diploma_id}/holder-link/renew")
        assert asked.status_code == 200
        assert "Are you sure?" in asked.text or "مطمئن هستید؟" in asked.text
        assert httpx.get(first).status_code == 200  # asking changes nothing
        done = issuer.post(f"/admin/diplomas/{diploma_id}/holder-link/renew")
        assert done.status_code == 303
        assert done.headers["location"].endswith(f"/admin/diplomas/{diploma_id}#holder-link")
        second = service.holder_url(diploma_id)
        assert second != first
        assert f'value="{second}"' in issuer.client.get(f"/admin/diplomas/{diploma_id}").text
        assert "holder_link.renewed" in str([e.what for e in service.history(diploma_id)])
    assert httpx.get(first).status_code == 404
    assert httpx.get(second).status_code == 200
    # Without the form's CSRF token nothing is renewed.
    with signed_in(site.base_url, PEOPLE["admin"][0]) as admin:
        forged = admin.client.post(
            f"/admin/diplomas/{diploma_id}/holder-link/renew", follow_redirects=False
        )
        assert forged.status_code == 403
    assert service.holder_url(diploma_id) == second
    # The co-issuer's people see the co-issued diploma, not its holder's link.
    with signed_in(site.base_url, PEOPLE["partner"][0]) as partner:
        page = partner.client.get(f"/admin/diplomas/{diploma_id}")
        assert page.status_code == 200
        assert "/h/" not in page.text and "holder-link/renew" not in page.text

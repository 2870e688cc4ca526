"""The office's journeys end to end in Debian's Chromium, with the instance as production
runs it (the two-person rule on; admins and approvers with a second factor): sign in with
TOTP, issue one with its preview, a roster through mapping and problems to a proposal a
second person approves and its archive, a co-issued diploma approved by the partner's
officer, a name corrected and the old PDF reported superseded, many revoked at once, a
token made and revoked, signing out."""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser
PASSWORD = "a long enough password"  # test data
ISSUER, APPROVER, ADMIN, PARTNER = (
    "sara@tbzmed.ac.ir",
    "reza@tbzmed.ac.ir",
    "zahra@tbzmed.ac.ir",
    "officer@samt.ir",
)


@dataclass
class Office:
    server: LiveServer
    secrets: dict[str, str] = field(default_factory=dict)
    """Each person's TOTP secret, once they enrolled."""
    used: dict[str, int] = field(default_factory=dict)
    """The last time step each person's code was used (a code is good once)."""

    @property
    def url(self) -> str:
        return self.server.base_url

    def code(self, email: str) -> str:
        """The next code this person's app shows that was not used yet."""
        totp = pyotp.TOTP(self.secrets[email])
        step = int(time.time()) // 30
        while step <= self.used.get(email, 0):
            time.sleep(1)
            step = int(time.time()) // 30
        self.used[email] = step
        return totp.at(step * 30)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    port = free_port()
    inst = make_instance(
        tmp_path_factory.mktemp("office"),
        public_url=f"http://127.0.0.1:{port}",
        co_issuers=[SAMT],
    )
    service = inst.service
    for email, slug, role in (
        (ISSUER, "tbzmed", "issuer"),
        (APPROVER, "tbzmed", "approver"),
        (ADMIN, "tbzmed", "admin"),
        (PARTNER, "samt", "approver"),
    ):
        service.add_user(email, slug, role, PASSWORD)
    service.production = True  # the two-person rule's default
    from diplomas.core.sessions import SessionPolicy

    service.session_policy = SessionPolicy(second_factor_required=True)
    with serving(inst, port) as server:
        yield Office(server)


def accessible(page: Page) -> None:
    """axe-core finds nothing serious or critical on the page as it stands (for the pages
    only a journey reaches: the code prompt, confirmations, results)."""
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], results.generate_report()
    size = page.viewport_size
    assert size is not None
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]


def sign_in(page: Page, office: Office, email: str) -> None:
    """Sign in as the browser would; enrol a second factor the first time it is asked."""
    page.goto(f"{office.url}/admin/sign-in")
    page.get_by_label("رایانامه").fill(email)
    page.get_by_label("گذرواژه").fill(PASSWORD)
    page.get_by_role("button", name="ورود").click()
    page.wait_for_load_state("networkidle")
    if "/second-factor/enrol" in page.url:
        secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
        office.secrets[email] = secret
        page.get_by_label("کد").fill(office.code(email))
        page.get_by_role("button", name="تأیید").click()
    elif "/second-factor" in page.url:
        accessible(page)
        page.get_by_label("کد").fill(office.code(email))
        page.get_by_role("button", name="تأیید").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("footer.who")).to_contain_text(email)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="خروج").click()
    expect(page).to_have_url(f"{page.url.split('/admin')[0]}/admin/sign-in")


def approve(page: Page, office: Office, email: str, proposal_url: str) -> None:
    sign_in(page, office, email)
    page.goto(proposal_url)
    page.get_by_label("توضیح (برای رد لازم است)").fill("بررسی شد")
    page.get_by_role("button", name="تأیید", exact=True).click()
    page.wait_for_load_state("networkidle")


def test_sign_in_with_totp_issue_one_with_its_preview_and_approve(
    browser: Browser, office: Office
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, office, ISSUER)  # an issuer: no second factor asked
    page.get_by_role("link", name="صدور").first.click()
    page.get_by_label("نام", exact=True).fill("مریم احمدی")
    page.get_by_label("نام به انگلیسی").fill("Maryam Ahmadi")
    preview = page.locator("#preview img.page")
    expect(preview).to_be_visible(timeout=20_000)
    assert preview.evaluate("i => i.naturalWidth") > 500
    page.get_by_role("button", name="صدور").click()
    expect(page).to_have_url(re.compile(r".*/admin/proposals/.*"))
    proposal_url = page.url
    expect(page.get_by_role("heading", level=1)).to_contain_text("در انتظار تأیید")
    accessible(page)
    sign_out(page)
    approve(page, office, APPROVER, proposal_url)  # enrols the approver's TOTP
    expect(page).to_have_url(re.compile(r".*/admin/diplomas/.*"))
    expect(page.locator("p.verdict-line")).to_contain_text("valid")
    expect(page.locator("img.page")).to_be_visible()
    sign_out(page)
    # The approver again: now the code is asked for, not enrolment.
    sign_in(page, office, APPROVER)
    context.close()


def test_a_roster_mapped_checked_proposed_approved_and_downloaded(
    browser: Browser, office: Office, tmp_path: Path
) -> None:
    roster = tmp_path / "cohort.csv"
    roster.write_text(
        "Recipient,نام لاتین,کد ملی\n"
        "زهرا محمدی‌نژاد,Zahra Mohammadinejad,\n"
        "علی کریمی,Ali Karimi,12345\n"
        "نرگس جعفری,Narges Jafari,\n",
        encoding="utf-8",
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, office, ISSUER)
    page.goto(f"{office.url}/admin/rosters/new")
    page.get_by_label("پروندهٔ فهرست").set_input_files(str(roster))
    page.get_by_role("button", name="بارگذاری").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ستون‌ها")
    expect(page.locator("tr.unknown")).to_have_count(1)  # "Recipient": shown, not dropped
    page.locator("#column-0").select_option("name")
    page.get_by_role("button", name="بررسی ردیف‌ها").click()
    problems = page.get_by_role("region", name="ایرادها")
    expect(problems).to_contain_text("کد ملی")
    expect(page.locator("img.page")).to_have_count(2)
    page.get_by_label("ردیف‌های بی‌ایراد صادر و بقیه کنار گذاشته شوند").check()
    page.get_by_role("button", name="صدور فهرست").click()
    expect(page).to_have_url(re.compile(r".*/admin/proposals/.*"))
    proposal_url = page.url
    expect(page.locator("main")).to_contain_text("Narges Jafari")
    sign_out(page)
    approve(page, office, ADMIN, proposal_url)  # the admin enrols, then approves
    expect(page).to_have_url(re.compile(r".*/admin/batches/.*"))
    download_link = page.get_by_role("link", name="دریافت بایگانی")
    expect(download_link).to_be_visible(timeout=60_000)  # htmx polls the progress
    with page.expect_download() as caught:
        download_link.click()
    archive = zipfile.ZipFile(io.BytesIO(Path(caught.value.path()).read_bytes()))
    assert sum(name.endswith(".pdf") for name in archive.namelist()) == 2
    context.close()


def test_the_partners_officer_approves_a_co_issued_diploma(
    browser: Browser, office: Office
) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, office, ISSUER)
    page.goto(f"{office.url}/admin/issue")
    page.get_by_label("نام", exact=True).fill("امیر قاسمی")
    page.get_by_label("سازمان صنعت، معدن و تجارت استان آذربایجان شرقی").check()
    page.get_by_role("button", name="صدور").click()
    proposal_url = page.url
    sign_out(page)
    approve(page, office, APPROVER, proposal_url)
    expect(page.locator("main")).to_contain_text("samt — در انتظار")
    sign_out(page)
    approve(page, office, PARTNER, proposal_url)
    expect(page).to_have_url(re.compile(r".*/admin/diplomas/.*"))
    expect(page.locator("main")).to_contain_text("سازمان صنعت")
    context.close()


def test_a_corrected_name_and_the_old_pdf_reported_superseded(
    browser: Browser, office: Office, tmp_path: Path
) -> None:
    service = office.server.instance.service
    service.production = False
    issued = service.issue({"name": "رضا کریمی", "name_en": "Reza Karimy"})
    service.production = True
    old_pdf = tmp_path / "old.pdf"
    old_pdf.write_bytes(issued.pdf)
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, office, ISSUER)
    page.goto(f"{office.url}/admin/diplomas/{issued.diploma.serial}")
    page.get_by_role("link", name="اصلاح").click()
    page.get_by_label("نام به انگلیسی").fill("Reza Karimi")
    page.get_by_role("button", name="بررسی تغییرها").click()
    expect(page.get_by_role("region", name="آنچه تغییر می‌کند")).to_contain_text("Reza Karimy")
    accessible(page)
    page.get_by_role("button", name="پیشنهاد اصلاح").click()
    proposal_url = page.url
    sign_out(page)
    approve(page, office, APPROVER, proposal_url)
    page.goto(f"{office.url}/")
    page.locator("input[type=file]").set_input_files(str(old_pdf))
    page.locator("form[action='/verify'] button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("جایگزین")
    context.close()


def test_many_revoked_at_once_then_a_token_made_and_revoked_then_sign_out(
    browser: Browser, office: Office
) -> None:
    service = office.server.instance.service
    service.production = False
    for n in range(3):
        service.issue({"name": "سارا حسینی", "external_id": f"bulk-{n}"})
    service.production = True
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, office, APPROVER)
    page.goto(f"{office.url}/admin/diplomas?q=%D8%B3%D8%A7%D8%B1%D8%A7")
    boxes = page.locator("input[name=ids]")
    expect(boxes).to_have_count(3)
    for n in range(3):
        boxes.nth(n).check()
    page.get_by_role("button", name="ادامه").click()
    accessible(page)
    page.get_by_label("صدور اشتباه").check()
    page.get_by_label("یادداشت داخلی (هرگز عمومی نمی‌شود)").fill("نامهٔ ۱۴۰۵-۹۹")
    page.get_by_role("button", name="بله، باطل شود").click()
    expect(page.locator("main")).to_contain_text("✓")
    accessible(page)
    assert service.search("سارا", 0, 10)[0][0].status.value == "revoked"
    page.get_by_role("link", name="توکن‌ها").click()
    page.get_by_label("نام توکن").fill("laptop")
    page.get_by_role("button", name="ساختن").click()
    token = page.get_by_test_id("new-token").inner_text()
    assert token.startswith("dpl_")
    page.get_by_role("link", name="ابطال laptop").click()
    page.get_by_role("button", name="بله، باطل شود").click()
    expect(page.locator("main")).to_contain_text("باطل‌شده")
    page.get_by_role("link", name="حساب من").click()
    page.get_by_role("button", name="خروج از همه‌جا").click()
    expect(page).to_have_url(f"{office.url}/admin/sign-in")
    page.goto(f"{office.url}/admin/diplomas")
    expect(page).to_have_url(re.compile(r".*/admin/sign\-in.*"))
    context.close()

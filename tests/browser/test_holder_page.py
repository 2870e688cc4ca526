"""The holder's private page in Debian's Chromium: in force, revoked, and a link that opens
nothing; Persian and English; phone and desktop; axe-core, direction, `<bdi>`, nothing
from another host, and her PDF and credential downloaded through the page's own links."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import LiveServer, free_port, make_instance, serving
from playwright.sync_api import BrowserContext, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from .conftest import RECIPIENT, watch

pytestmark = pytest.mark.browser
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
SERIOUS = ("serious", "critical")
HEADINGS = {
    ("in-force", "fa"): "دیپلم شما",
    ("in-force", "en"): "Your diploma",
    ("revoked", "fa"): "دیپلم شما",
    ("revoked", "en"): "Your diploma",
    ("no-link", "fa"): "پیوند پیدا نشد",
    ("no-link", "en"): "Link not found",
}


@dataclass(frozen=True)
class Holders:
    server: LiveServer
    links: dict[str, str]
    """Each state's private link."""


@pytest.fixture(scope="module")
def holders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holders]:
    port = free_port()
    inst = make_instance(tmp_path_factory.mktemp("holders"), public_url=f"http://127.0.0.1:{port}")
    service = inst.service
    kept = service.issue(RECIPIENT).diploma
    revoked = service.issue({**RECIPIENT, "name": "مریم احمدی", "name_en": "Maryam Ahmadi"})
    service.revoke(revoked.diploma.id, "issued_in_error", note="minutes 12/3")
    in_force = service.holder_url(kept.id)
    links = {
        "in-force": in_force,
        "revoked": service.holder_url(revoked.diploma.id),
        "no-link": in_force[:-4] + "AAAA",
    }
    with serving(inst, port) as server:
        yield Holders(server, links)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`DIPLOMAS_SCREENSHOTS=folder` keeps them there (see `make screenshots`)."""
    chosen = os.environ.get("DIPLOMAS_SCREENSHOTS")
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("holder-screenshots", numbered=False)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", ["fa", "en"])
@pytest.mark.parametrize("state", ["in-force", "revoked", "no-link"])
def test_the_private_page_in_each_state_language_and_size(
    new_context: CreateContextCallback,
    holders: Holders,
    screenshots: Path,
    state: str,
    lang: str,
    viewport: str,
) -> None:
    width, height = VIEWPORTS[viewport]
    context: BrowserContext = new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    seen = watch(context, page, holders.server.base_url)
    page.goto(holders.links[state] + ("?lang=en" if lang == "en" else ""))
    page.wait_for_load_state("networkidle")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", "rtl" if lang == "fa" else "ltr")
    assert page.evaluate("getComputedStyle(document.body).direction") == (
        "rtl" if lang == "fa" else "ltr"
    )
    expect(page.locator("h1")).to_have_text(HEADINGS[state, lang])
    expect(page.locator("[role=status]")).to_be_visible()
    if state != "no-link":
        name = RECIPIENT["name"] if lang == "fa" else RECIPIENT["name_en"]
        if state == "revoked":
            name = "مریم احمدی" if lang == "fa" else "Maryam Ahmadi"
        expect(page.locator("p.name bdi")).to_have_text(name)
        expect(page.locator("bdi.serial")).to_have_attribute("dir", "ltr")
        standing = {
            "in-force": ("معتبر", "Genuine and in force"),
            "revoked": ("باطل شده", "Revoked"),
        }
        expect(page.locator("[role=status] .state")).to_have_text(
            standing[state][0 if lang == "fa" else 1]
        )
        switch = page.locator("nav.switch a")
        expect(switch).to_have_attribute("hreflang", "en" if lang == "fa" else "fa")
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert serious == [], results.generate_report()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshots / f"holder-{state}-{lang}-{viewport}.png", full_page=True)
    assert seen.elsewhere() == []
    assert seen.violations(page) == []
    assert seen.errors == []


def test_she_downloads_her_pdf_and_credential_and_switches_language(
    page: Page, holders: Holders
) -> None:
    seen = watch(page.context, page, holders.server.base_url)
    page.goto(holders.links["in-force"])
    with page.expect_download() as pdf:
        page.get_by_role("link", name="دریافت فایل PDF دیپلم").click()
    assert pdf.value.suggested_filename.endswith(".pdf")
    assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF-")
    with page.expect_download() as credential:
        page.get_by_role("link", name="دریافت گواهی دیجیتال (Open Badges)").click()
    document = json.loads(Path(credential.value.path()).read_text(encoding="utf-8"))
    assert "OpenBadgeCredential" in document["type"]
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Public link to share")).to_have_value(
        holders.links["in-force"].split("/h/")[0] + "/v/" + holders.links["in-force"].split("/")[-2]
    )
    page.get_by_role("link", name="Open the public page").click()
    expect(page).to_have_url(
        holders.links["in-force"].split("/h/")[0]
        + "/v/"
        + holders.links["in-force"].split("/")[-2]
        + "?lang=en"
    )
    assert seen.elsewhere() == []

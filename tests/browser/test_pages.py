"""The public pages and /docs in a real browser: the docs work with nothing from another
host and within their Content-Security-Policy, the verification pages pass an axe-core
scan, and every page fits a phone's width (with screenshots kept for a person to look at)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from .conftest import Site, Watch, watch

pytestmark = pytest.mark.browser
PAGES = {"home": "/", "diploma": "/v/{id}", "docs": "/docs"}
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
SERIOUS = ("serious", "critical")


def url(site: Site, name: str) -> str:
    return site.base_url + PAGES[name].format(id=site.diploma_id)


def open_page(page: Page, site: Site, name: str) -> None:
    page.goto(url(site, name))
    page.wait_for_load_state("networkidle")
    if name == "docs":
        expect(page.locator(".opblock").first).to_be_visible()


def test_docs_list_every_operation(watched: Watch, page: Page, site: Site) -> None:
    """Offline as far as the page can tell: `watched` fails any request for another host."""
    document = httpx.get(f"{site.base_url}/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    open_page(page, site, "docs")
    issue = page.locator(".opblock-post").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/v1/diplomas"]')
    )
    expect(issue.locator(".opblock-summary-method")).to_have_text("POST")
    expect(issue.locator(".opblock-summary-path")).to_have_text("/api/v1/diplomas")
    expect(issue).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(operations)


@pytest.mark.parametrize("name", PAGES)
def test_nothing_from_elsewhere_and_no_policy_broken(
    watched: Watch, page: Page, site: Site, name: str
) -> None:
    open_page(page, site, name)
    assert watched.elsewhere() == []
    assert watched.violations(page) == []
    assert watched.errors == []
    if name == "docs":  # its scripts ran: they fetched the document, from here
        assert f"{site.base_url}/openapi.json" in watched.requests


@pytest.mark.parametrize("name", ["home", "diploma"])
def test_accessibility(watched: Watch, page: Page, site: Site, name: str) -> None:
    open_page(page, site, name)
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert serious == [], results.generate_report()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots", numbered=False)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_fits_the_width_and_screenshot(
    new_context: CreateContextCallback,
    site: Site,
    screenshots: Path,
    name: str,
    viewport: str,
) -> None:
    width, height = VIEWPORTS[viewport]
    context = new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    seen = watch(context, page, site.base_url)
    open_page(page, site, name)
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    path = screenshots / f"{name}-{viewport}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    assert seen.elsewhere() == []

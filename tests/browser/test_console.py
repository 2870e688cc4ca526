"""The console in Debian's Chromium: every page in Persian and English, at phone and
desktop sizes, passes axe-core with no serious or critical finding, keeps its direction,
fits the width, loads nothing from elsewhere and breaks no policy; screenshots are kept
(`make screenshots` writes them to a folder a person can look through)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from playwright.sync_api import BrowserContext, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from diplomas.batches import BatchOptions
from diplomas.bootstrap import build_batches
from diplomas.core.proposals import Actor
from diplomas.rosters import RosterDrafts

from .conftest import RECIPIENT, watch

pytestmark = pytest.mark.browser
PASSWORD = "a long enough password"  # test data
ADMIN = "zahra@tbzmed.ac.ir"
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
SERIOUS = ("serious", "critical")


@dataclass(frozen=True)
class Console:
    server: LiveServer
    diploma_id: str
    token_id: str
    user_id: str
    draft_id: str
    batch_id: str
    proposal_id: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    port = free_port()
    inst = make_instance(
        tmp_path_factory.mktemp("console-browser"),
        public_url=f"http://127.0.0.1:{port}",
        co_issuers=[SAMT],
    )
    service = inst.service
    admin = service.add_user(ADMIN, "tbzmed", "admin", PASSWORD)
    viewer = service.add_user("ali@tbzmed.ac.ir", "tbzmed", "viewer", PASSWORD)
    token, _ = service.create_token(["read"], "laptop", user=ADMIN)
    diploma = service.issue({**RECIPIENT, "external_id": "roster-7"}).diploma
    service.issue({"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadi-Nejad"})
    roster = tmp_path_factory.mktemp("roster") / "cohort.csv"
    roster.write_text(
        "نام و نام خانوادگی,نام لاتین,کد ملی,توضیحات\n"
        "مریم احمدی,Maryam Ahmadi,12345,سخنران\n"
        "رضا کریمی,Reza Karimi,,\n",
        encoding="utf-8",
    )
    drafts = RosterDrafts(service, inst.settings.home)
    draft = drafts.stage(
        admin, roster.name, [roster.read_bytes()], template="classic", max_bytes=1 << 20
    )
    drafts.map_columns(draft, {3: ""})
    service.production = True  # the two-person rule: a proposal to show
    proposal = service.submit_issue(
        {"name": "مریم احمدی", "name_en": "Maryam Ahmadi"}, Actor("cli:test")
    )
    service.production = False
    report = build_batches(service, inst.settings).run(
        roster, BatchOptions(out_dir=roster.parent / "out", workers=1, skip_invalid=True)
    )
    with serving(inst, port) as server:
        yield Console(
            server,
            diploma.id,
            token.token_id,
            viewer.id,
            draft.id,
            report.batch.id,
            proposal.id,  # type: ignore[union-attr]
        )


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`DIPLOMAS_SCREENSHOTS=folder` keeps them there (see `make screenshots`)."""
    chosen = os.environ.get("DIPLOMAS_SCREENSHOTS")
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("console-screenshots", numbered=False)


def sign_in(page: Page, base_url: str, email: str = ADMIN) -> None:
    page.goto(f"{base_url}/admin/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    page.wait_for_url(f"{base_url}/admin")


def choose(page: Page, base_url: str, lang: str) -> None:
    page.goto(f"{base_url}/admin/language?to={lang}&next=/admin")


PAGES = {
    "sign-in": "/admin/sign-in",
    "home": "/admin",
    "diplomas": "/admin/diplomas?q=%D8%B9%D9%84%DB%8C",
    "diploma": "/admin/diplomas/{diploma}",
    "revoke": "/admin/diplomas/{diploma}/revoke",
    "correct": "/admin/diplomas/{diploma}/correct",
    "holder-link-renew": "/admin/diplomas/{diploma}/holder-link/renew",
    # «محمدی نژاد», written with a space: finds «محمدی‌نژاد»
    "search": "/admin/diplomas?q=%D9%85%D8%AD%D9%85%D8%AF%DB%8C+%D9%86%DA%98%D8%A7%D8%AF"
    "&status=issued&sort=name",
    "issue": "/admin/issue",
    "tokens": "/admin/tokens",
    "token-revoke": "/admin/tokens/{token}/revoke",
    "users": "/admin/users",
    "user-password": "/admin/users/{user}/password",
    "account": "/admin/account",
    "enrol": "/admin/second-factor/enrol",
    "audit": "/admin/audit",
    "proposals": "/admin/proposals",
    "proposal": "/admin/proposals/{proposal}",
    "batches": "/admin/batches",
    "batch": "/admin/batches/{batch}",
    "batch-mail": "/admin/batches/{batch}/mail",
    "roster-upload": "/admin/rosters/new",
    "roster-columns": "/admin/rosters/{draft}/columns",
    "roster-check": "/admin/rosters/{draft}/check",
    "settings": "/admin/settings",
    "designs": "/admin/settings/designs",
    "keys": "/admin/settings/keys",
}


def path_of(console: Console, name: str) -> str:
    return PAGES[name].format(
        diploma=console.diploma_id,
        token=console.token_id,
        user=console.user_id,
        draft=console.draft_id,
        batch=console.batch_id,
        proposal=console.proposal_id,
    )


@pytest.fixture(params=["fa", "en"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", PAGES)
def test_each_page_is_accessible_and_fits_in_each_language(
    new_context: CreateContextCallback,
    console: Console,
    screenshots: Path,
    name: str,
    viewport: str,
    lang: str,
) -> None:
    width, height = VIEWPORTS[viewport]
    context: BrowserContext = new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    seen = watch(context, page, console.base_url)
    choose(page, console.base_url, lang)
    if name != "sign-in":
        sign_in(page, console.base_url)
    page.goto(console.base_url + path_of(console, name))
    page.wait_for_load_state("networkidle")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", "rtl" if lang == "fa" else "ltr")
    assert page.evaluate("getComputedStyle(document.body).direction") == (
        "rtl" if lang == "fa" else "ltr"
    )
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert serious == [], results.generate_report()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=screenshots / f"console-{name}-{lang}-{viewport}.png", full_page=True)
    assert seen.elsewhere() == []
    assert seen.violations(page) == []
    assert seen.errors == []


def test_names_and_ids_are_isolated(page: Page, console: Console) -> None:
    sign_in(page, console.base_url)
    page.goto(f"{console.base_url}/admin/diplomas/{console.diploma_id}")
    name = page.locator("dd bdi", has_text=RECIPIENT["name"]).first
    expect(name).to_be_visible()
    serial = page.locator("bdi.mono").first
    expect(serial).to_have_attribute("dir", "ltr")

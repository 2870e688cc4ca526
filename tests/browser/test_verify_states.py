"""The verification page in each state an employer may meet, in Persian and English, on a
phone and a desktop, in Debian's Chromium: axe-core finds nothing serious, the direction
is right, names and ids are isolated in `<bdi>`, the verdict leads in the `<h1>` and a
status region, nothing comes from another host and no policy is broken. With
`DIPLOMAS_SCREENSHOTS=folder` (`make screenshots`) each one is kept there as
`verify-<state>-<fa|en>-<phone|desktop>.png`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from playwright.sync_api import Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from diplomas.core.words import HEADLINES, LEVELS, Level

from .conftest import RECIPIENT, watch

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 900)}
LANGS = ("fa", "en")
SERIOUS = ("serious", "critical")
ZAHRA = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohammadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان فناوری سلامت",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
}


@dataclass(frozen=True)
class State:
    headline: str
    """The key of `words.HEADLINES` the page's h1 says."""
    level: Level
    diploma: str = ""
    """The id whose page to open; "" for an upload."""
    upload: bytes = b""
    name: str = ""
    name_en: str = ""
    serial: str = ""
    dids: tuple[str, ...] = ()


@dataclass(frozen=True)
class States:
    server: LiveServer
    states: dict[str, State]


NAMES = ("genuine", "superseded", "revoked", "suspended", "unknown", "invalid", "co-issued")


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[States]:
    """One instance with a co-issuing institution, holding a diploma in each state."""
    port = free_port()
    inst = make_instance(
        tmp_path_factory.mktemp("states"), public_url=f"http://127.0.0.1:{port}", co_issuers=[SAMT]
    )
    service = inst.service
    did = service.institution.did

    def shown(key: str, level: Level, diploma_id: str, person: dict[str, str]) -> State:
        d = service.get(diploma_id)
        dids = (did, *(i.did for i in d.co_issuers))
        return State(key, level, diploma_id, b"", person["name"], person["name_en"], d.serial, dids)

    genuine = service.issue(RECIPIENT).diploma
    replaced = service.issue(ZAHRA).diploma
    old_pdf = service.pdf(replaced.id)
    service.correct(replaced.id, {"name_en": "Zahra Mohammadi-Nejad"})
    revoked = service.issue({**RECIPIENT, "name": "مریم احمدی", "name_en": "Maryam Ahmadi"})
    service.revoke(revoked.diploma.id, "issued_in_error", note="private: minutes 12")
    suspended = service.issue({**RECIPIENT, "name": "رضا کریمی", "name_en": "Reza Karimi"})
    service.suspend(suspended.diploma.id, "under_review", note="private: complaint")
    co_issued = service.issue({**ZAHRA, "co_issuers": ["samt"]}).diploma
    # Bytes added after the last signature: the signature no longer covers the file.
    tampered = service.pdf(genuine.id) + b"\n% added after signing\n"

    maryam = {"name": "مریم احمدی", "name_en": "Maryam Ahmadi"}
    reza = {"name": "رضا کریمی", "name_en": "Reza Karimi"}
    found = {
        "genuine": shown("valid", Level.GENUINE, genuine.id, RECIPIENT),
        "superseded": State(
            "superseded",
            Level.WARNING,
            upload=old_pdf,
            name=ZAHRA["name"],
            name_en=ZAHRA["name_en"],
            serial=replaced.serial,
            dids=(did,),
        ),
        "revoked": shown("revoked", Level.NOT_VALID, revoked.diploma.id, maryam),
        "suspended": shown("suspended", Level.NOT_VALID, suspended.diploma.id, reza),
        "unknown": State("unknown", Level.NOT_VALID, "A" * 23),
        "invalid": State(
            "invalid",
            Level.NOT_VALID,
            upload=tampered,
            name=RECIPIENT["name"],
            name_en=RECIPIENT["name_en"],
            serial=genuine.serial,
            dids=(did,),
        ),
        "co-issued": shown("valid", Level.GENUINE, co_issued.id, ZAHRA),
    }
    with serving(inst, port) as server:
        yield States(server, found)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`DIPLOMAS_SCREENSHOTS=folder` keeps them there (see `make screenshots`)."""
    chosen = os.environ.get("DIPLOMAS_SCREENSHOTS")
    if chosen:
        folder = Path(chosen)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("verify-screenshots", numbered=False)


def open_state(page: Page, base_url: str, state: State, lang: str) -> None:
    query = "?lang=en" if lang == "en" else ""
    if state.diploma:
        page.goto(f"{base_url}/v/{state.diploma}{query}")
    else:  # through the page's own upload form, as an employer would
        page.goto(f"{base_url}/{query}")
        page.locator("#file").set_input_files(
            files=[{"name": "diploma.pdf", "mimeType": "application/pdf", "buffer": state.upload}]
        )
        with page.expect_navigation():
            page.locator(".upload button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")


def bdi_texts(page: Page) -> list[str]:
    texts: list[str] = page.locator("bdi").all_inner_texts()
    return [t.strip() for t in texts]


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", NAMES)
def test_each_state(
    new_context: CreateContextCallback,
    states: States,
    screenshots: Path,
    name: str,
    lang: str,
    viewport: str,
) -> None:
    state = states.states[name]
    width, height = VIEWPORTS[viewport]
    context = new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    seen = watch(context, page, states.server.base_url)
    open_state(page, states.server.base_url, state, lang)

    # The language and its direction, as written and as the browser computed it.
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", "rtl" if lang == "fa" else "ltr")
    direction = page.evaluate("getComputedStyle(document.body).direction")
    assert direction == ("rtl" if lang == "fa" else "ltr")

    # The verdict leads: in the h1, inside the status region, with a word, not colour only.
    status = page.locator("[role=status]")
    expect(status).to_have_count(1)
    expect(status.locator("h1")).to_have_text(HEADLINES[state.headline](lang))
    expect(status.locator(".level .word")).to_have_text(LEVELS[state.level](lang))
    expect(status.locator("time")).to_have_count(1)

    # Names, the serial and the DIDs are each isolated in a <bdi>.
    isolated = bdi_texts(page)
    for value in (state.name if lang == "fa" else state.name_en, state.serial, *state.dids):
        if value:
            assert value in isolated, (value, isolated)
    if state.diploma and state.name:
        assert state.diploma in isolated

    # The "how we verified" list is there, folded.
    if name != "unknown":
        expect(page.locator("details summary")).to_have_count(1)
    if name == "invalid":
        assert page.locator(".checks li.fail").count() >= 1
    if name == "co-issued":
        expect(page.locator(".issuer")).to_have_count(2)
    if name == "revoked":
        assert "private" not in page.content()

    # The site's own font, and nothing from anywhere else, within the policy.
    assert page.evaluate("document.fonts.check('16px Vazirmatn')")
    loaded = page.evaluate(
        "[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)"
    )
    assert any("Vazirmatn" in family for family in loaded)
    assert seen.elsewhere() == []
    assert seen.violations(page) == []
    assert seen.errors == []

    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert serious == [], results.generate_report()

    page.screenshot(path=screenshots / f"verify-{name}-{lang}-{viewport}.png", full_page=True)


def test_print_keeps_the_verdict_time_and_address(
    new_context: CreateContextCallback, states: States
) -> None:
    context = new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    state = states.states["genuine"]
    open_state(page, states.server.base_url, state, "fa")
    page.emulate_media(media="print")
    expect(page.locator("[role=status] h1")).to_be_visible()
    expect(page.locator(".address time")).to_be_visible()
    expect(page.locator(".address .url")).to_contain_text(f"/v/{state.diploma}")
    expect(page.locator(".upload")).to_be_hidden()
    expect(page.locator(".bar")).to_be_hidden()


def test_the_switch_is_a_link_to_the_other_language(
    new_context: CreateContextCallback, states: States
) -> None:
    page = new_context().new_page()
    state = states.states["genuine"]
    open_state(page, states.server.base_url, state, "fa")
    page.locator("a.switch").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/v/{state.diploma}?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("a.switch").click()
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "fa")

"""Debian's Chromium, driven by pytest-playwright, against the real app served by uvicorn
on a loopback port: one instance and one issued diploma per module, and pages watched for
every request they make and every Content-Security-Policy violation they meet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import LiveServer, free_port, make_instance, serving
from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's package (`make system-deps` installs it): `playwright install` downloads its
own builds from a host that this network may not reach."""

RECIPIENT = {
    "name": "علی رضایی",
    "name_en": "Ali Rezaei",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان انرژی‌های تجدیدپذیر",
    "field": "انرژی",
    "issued_on": "1405/09/05",
}

# In place before any script of the page's own runs, so it sees every violation. Playwright
# adds it through the DevTools protocol, which the page's policy does not govern.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`
  );
});
"""


@pytest.fixture(scope="session")
def base_url() -> None:
    """None: pages are opened by full URL, on the `site` fixture's port. (Also keeps
    pytest-playwright's own fallback for this fixture, which pytest 9 deprecates, away.)"""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        # No update checks, sync, metrics or first-run pages: the only requests the
        # browser makes are the pages' own.
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@dataclass(frozen=True)
class Site:
    server: LiveServer
    diploma_id: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app on a free port, over a SQLite instance holding one issued diploma."""
    port = free_port()
    inst = make_instance(tmp_path_factory.mktemp("browser"), public_url=f"http://127.0.0.1:{port}")
    diploma = inst.service.issue(RECIPIENT).diploma
    with serving(inst, port) as server:
        yield Site(server, diploma.id)


@dataclass
class Watch:
    """What the pages of one browser context asked for and what they met."""

    origin: str
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Uncaught exceptions in the pages' scripts."""

    def ours(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def elsewhere(self) -> list[str]:
        """Requests that would leave for another host (data: and blob: URLs leave for none)."""
        return [
            url
            for url in self.requests
            if not self.ours(url) and urlsplit(url).scheme not in ("data", "blob")
        ]

    def violations(self, page: Page) -> list[str]:
        """The page's `securitypolicyviolation` events and the console's CSP complaints."""
        events: list[str] = page.evaluate("window.__violations")
        said = [text for text in self.console if "Content Security Policy" in text]
        return events + said


def watch(context: BrowserContext, page: Page, base_url: str) -> Watch:
    seen = Watch(base_url)
    context.on("request", lambda request: seen.requests.append(request.url))

    # Anything for another host fails at once, as it would offline (and is recorded above).
    context.route(lambda url: not seen.ours(url), lambda route: route.abort())
    context.add_init_script(WATCH_VIOLATIONS)
    page.on("console", lambda message: seen.console.append(message.text))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    return seen


@pytest.fixture
def watched(context: BrowserContext, page: Page, site: Site) -> Watch:
    return watch(context, page, site.base_url)

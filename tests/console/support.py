"""Signing in to the console over HTTP as a browser would: the sign-in form's token, the
session cookie, and the CSRF token of the pages."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

PASSWORD = "a long enough password"  # test data
PEOPLE = {
    "admin": ("zahra@tbzmed.ac.ir", "tbzmed", "admin"),
    "approver": ("reza@tbzmed.ac.ir", "tbzmed", "approver"),
    "issuer": ("sara@tbzmed.ac.ir", "tbzmed", "issuer"),
    "viewer": ("ali@tbzmed.ac.ir", "tbzmed", "viewer"),
    "partner": ("officer@samt.ir", "samt", "approver"),
}


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    """Post the sign-in form (after opening it, for its token); the answer unfollowed."""
    page = client.get("/admin/sign-in")
    return client.post(
        "/admin/sign-in",
        data={"email": email, "password": password, "form_token": form_token(page.text)},
        follow_redirects=False,
    )


@dataclass
class Browser:
    """An httpx client signed in as one person, with that session's CSRF token."""

    client: httpx.Client
    email: str
    csrf: str = ""

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def post(self, path: str, data: dict[str, object] | None = None) -> httpx.Response:
        return self.client.post(
            path, data={"csrf": self.csrf, **(data or {})}, follow_redirects=False
        )


def signed_in(base_url: str, email: str) -> Browser:
    client = httpx.Client(base_url=base_url, timeout=30)
    answer = sign_in(client, email)
    assert answer.status_code == 303, answer.text
    home = client.get("/admin/account")
    assert home.status_code == 200, home.text
    return Browser(client, email, csrf_of(home.text))

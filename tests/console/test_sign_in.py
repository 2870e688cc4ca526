"""Signing in to the console over HTTP: one answer for every wrong password, throttling
per account and per address, cookies as the issue asks, sessions that end when they
should, CSRF on every state-changing request, and the TOTP second factor."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pyotp
import pytest
from conftest import LiveServer, make_instance
from fastapi.testclient import TestClient

from diplomas.api import create_app
from diplomas.core.audit import AuditAction
from diplomas.core.sessions import SessionPolicy

from .conftest import Clock, add_people
from .support import PASSWORD, PEOPLE, csrf_of, form_token, sign_in, signed_in

ADMIN = PEOPLE["admin"][0]
VIEWER = PEOPLE["viewer"][0]


def client(console: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=console.base_url, timeout=30)


def test_every_console_page_sends_the_signed_out_browser_to_sign_in(console: LiveServer) -> None:
    with client(console) as c:
        answer = c.get("/admin/diplomas?q=x", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/sign-in?next=/admin/diplomas%3Fq%3Dx"
        hx = c.get("/admin/diplomas", headers={"HX-Request": "true"}, follow_redirects=False)
        assert hx.headers["HX-Redirect"].startswith("/admin/sign-in")


def test_a_wrong_password_an_unknown_email_and_a_disabled_user_get_one_answer(
    console: LiveServer,
) -> None:
    console.instance.service.disable_user(VIEWER)
    answers = []
    with client(console) as c:
        for email, password in [(ADMIN, "not the password!"), ("nobody@x.ir", PASSWORD)]:
            answers.append(sign_in(c, email, password))
        answers.append(sign_in(c, VIEWER, PASSWORD))
    assert {a.status_code for a in answers} == {401}
    problems = {a.text.split('role="alert">')[1].split("<")[0] for a in answers}
    assert problems == {"رایانامه یا گذرواژه درست نیست"}
    assert all(
        "set-cookie" not in a.headers or "diplomas_session" not in a.headers["set-cookie"]
        for a in answers
    )


def test_the_session_cookie_is_httponly_and_strict_and_the_next_page_stays_here(
    console: LiveServer,
) -> None:
    with client(console) as c:
        page = c.get("/admin/sign-in")
        answer = c.post(
            "/admin/sign-in",
            data={
                "email": ADMIN,
                "password": PASSWORD,
                "form_token": form_token(page.text),
                "next": "//evil.example/admin",
            },
            follow_redirects=False,
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    cookie = next(
        v
        for k, v in answer.headers.multi_items()
        if k == "set-cookie" and v.startswith("diplomas_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie


def test_over_https_the_cookie_is_host_prefixed_and_secure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inst = make_instance(tmp_path)
    add_people(inst)
    with TestClient(create_app(inst.service, inst.settings), base_url="https://127.0.0.1") as c:
        page = c.get("/admin/sign-in")
        answer = c.post(
            "/admin/sign-in",
            data={"email": ADMIN, "password": PASSWORD, "form_token": form_token(page.text)},
            headers={"Origin": "https://127.0.0.1"},
            follow_redirects=False,
        )
    assert answer.status_code == 303, answer.text
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("__Host-")
    )
    assert cookie.startswith("__Host-diplomas=")
    for part in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert part in cookie
    assert "Domain" not in cookie


def test_sign_in_is_throttled_per_account_and_then_refuses_even_the_right_password(
    console: LiveServer,
) -> None:
    with client(console) as c:
        for _ in range(5):
            assert sign_in(c, ADMIN, "wrong password 123").status_code == 401
        blocked = sign_in(c, ADMIN, PASSWORD)
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        # Another account from the same address is not blocked yet.
        assert sign_in(c, VIEWER, PASSWORD).status_code == 303


def test_sign_in_is_throttled_per_address_across_accounts(console: LiveServer) -> None:
    with client(console) as c:
        for i in range(20):
            assert sign_in(c, f"guess{i}@tbzmed.ac.ir", "wrong password 123").status_code == 401
        assert sign_in(c, VIEWER, PASSWORD).status_code == 429


def test_the_sign_in_form_needs_its_own_token_and_this_origin(console: LiveServer) -> None:
    with client(console) as c:
        no_token = c.post("/admin/sign-in", data={"email": ADMIN, "password": PASSWORD})
        assert no_token.status_code == 403
        page = c.get("/admin/sign-in")
        elsewhere = c.post(
            "/admin/sign-in",
            data={"email": ADMIN, "password": PASSWORD, "form_token": form_token(page.text)},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert elsewhere.status_code == 403
        assert "diplomas_session" not in c.cookies


def test_a_state_change_without_the_csrf_token_is_refused_and_changes_nothing(
    console: LiveServer,
) -> None:
    service = console.instance.service
    diploma = service.issue({"name": "زهرا محمدی‌نژاد"}).diploma
    admin = signed_in(console.base_url, ADMIN)
    before = service.audit_trail(limit=1000)
    with admin:
        path = f"/admin/diplomas/{diploma.id}/revoke"
        no_token = admin.client.post(path, data={"reason": "issued_in_error"})
        wrong = admin.client.post(path, data={"reason": "issued_in_error", "csrf": "x" * 43})
        foreign = admin.client.post(
            path,
            data={"reason": "issued_in_error", "csrf": admin.csrf},
            headers={"Origin": "https://evil.example"},
        )
        cross = admin.client.post(
            path,
            data={"reason": "issued_in_error", "csrf": admin.csrf},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert [a.status_code for a in (no_token, wrong, foreign, cross)] == [403] * 4
        assert service.get(diploma.id).status.value == "issued"
        assert service.audit_trail(limit=1000) == before
        # With the token (as a form field or htmx's header) it goes through.
        done = admin.client.post(
            path, data={"reason": "issued_in_error"}, headers={"X-CSRF-Token": admin.csrf}
        )
        assert done.status_code == 303
        assert service.get(diploma.id).status.value == "revoked"


def test_sign_out_ends_the_session_and_sign_out_everywhere_ends_them_all(
    console: LiveServer,
) -> None:
    first = signed_in(console.base_url, ADMIN)
    second = signed_in(console.base_url, ADMIN)
    with first, second:
        assert first.post("/admin/sign-out").status_code == 303
        assert first.client.get("/admin", follow_redirects=False).status_code == 303
        assert second.client.get("/admin", follow_redirects=False).status_code == 200
        third = signed_in(console.base_url, ADMIN)
        with third:
            assert second.post("/admin/sign-out-everywhere").status_code == 303
            for browser in (second, third):
                assert browser.client.get("/admin", follow_redirects=False).status_code == 303
    actions = [e.action for e in console.instance.service.audit_trail(limit=50)]
    assert AuditAction.USER_SIGNED_OUT_EVERYWHERE in actions


@pytest.mark.parametrize(
    ("after", "ends"),
    [(timedelta(minutes=29), False), (timedelta(minutes=31), True)],
)
def test_an_idle_session_ends(console: LiveServer, after: timedelta, ends: bool) -> None:
    service = console.instance.service
    admin = signed_in(console.base_url, ADMIN)
    with admin:
        service.clock = Clock(service.clock.now() + after)
        answer = admin.client.get("/admin", follow_redirects=False)
        assert answer.status_code == (303 if ends else 200)


def test_a_session_in_use_still_ends_after_twelve_hours(console: LiveServer) -> None:
    service = console.instance.service
    start = service.clock.now()
    admin = signed_in(console.base_url, ADMIN)
    with admin:
        for step in range(1, 36):  # every 20 minutes up to 11:40
            service.clock = Clock(start + timedelta(minutes=20 * step))
            assert admin.client.get("/admin", follow_redirects=False).status_code == 200
        service.clock = Clock(start + timedelta(hours=12, minutes=1))
        assert admin.client.get("/admin", follow_redirects=False).status_code == 303


def test_disabling_a_user_or_resetting_the_password_ends_their_sessions(
    console: LiveServer,
) -> None:
    service = console.instance.service
    viewer = signed_in(console.base_url, VIEWER)
    admin = signed_in(console.base_url, ADMIN)
    with viewer, admin:
        service.reset_password(ADMIN, "another long password")
        assert admin.client.get("/admin", follow_redirects=False).status_code == 303
        service.disable_user(VIEWER)
        assert viewer.client.get("/admin", follow_redirects=False).status_code == 303


def test_production_makes_admins_enrol_a_second_factor_then_asks_for_it(
    console: LiveServer,
) -> None:
    service = console.instance.service
    service.session_policy = SessionPolicy(second_factor_required=True)
    with client(console) as c:
        answer = sign_in(c, ADMIN)
        assert answer.headers["location"].startswith("/admin/second-factor/enrol")
        # Until enrolled, every other page sends the admin back to enrolment.
        assert c.get("/admin/users", follow_redirects=False).headers["location"] == (
            "/admin/second-factor/enrol"
        )
        enrol = c.get("/admin/second-factor/enrol")
        secret = enrol.text.split('name="secret" value="')[1].split('"')[0]
        totp = pyotp.TOTP(secret)
        now = service.clock.now()
        wrong = c.post(
            "/admin/second-factor/enrol",
            data={"csrf": csrf_of(enrol.text), "secret": secret, "code": "000000"},
        )
        assert wrong.status_code == 422
        done = c.post(
            "/admin/second-factor/enrol",
            data={"csrf": csrf_of(enrol.text), "secret": secret, "code": totp.at(now)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert c.get("/admin/users").status_code == 200
    # Next time: password, then a code; a code is good once.
    with client(console) as c:
        assert sign_in(c, ADMIN).headers["location"].startswith("/admin/second-factor")
        form = c.get("/admin/second-factor")
        replay = c.post(
            "/admin/second-factor",
            data={"csrf": csrf_of(form.text), "code": totp.at(now)},
            follow_redirects=False,
        )
        assert replay.status_code == 422
        service.clock = Clock(now + timedelta(seconds=30))
        ok = c.post(
            "/admin/second-factor",
            data={"csrf": csrf_of(form.text), "code": totp.at(now + timedelta(seconds=30))},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        assert c.get("/admin/users").status_code == 200
    # A viewer needs no second factor, even in production.
    with client(console) as c:
        assert sign_in(c, VIEWER).headers["location"] == "/admin"
    signed = [e for e in service.audit_trail(limit=100) if e.action == AuditAction.USER_SIGNED_IN]
    assert {e.details["email"] for e in signed} >= {ADMIN, VIEWER}

"""Single sign-on over OpenID Connect against a provider running in the test: the whole
code flow with PKCE over HTTP, and every way it must fail (unknown person, unverified
email, a state that does not match, a code used twice, a token for another client)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import Instance, free_port, make_instance, uvicorn_thread
from oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, Person
from pydantic import SecretStr

from diplomas.api import create_app
from diplomas.core.audit import AuditAction

from .conftest import add_people
from .support import PEOPLE


@dataclass
class Sso:
    instance: Instance
    provider: OidcProvider
    base_url: str


@pytest.fixture
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    provider_port, port = free_port(), free_port()
    provider = OidcProvider(f"http://127.0.0.1:{provider_port}")
    inst = make_instance(tmp_path_factory.mktemp("sso"), public_url=f"http://127.0.0.1:{port}")
    add_people(inst)
    settings = inst.settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            "oidc_name": "دانشگاه",
        }
    )
    app = create_app(inst.service, settings)
    with uvicorn_thread(provider.app(), provider_port), uvicorn_thread(app, port):
        yield Sso(inst, provider, f"http://127.0.0.1:{port}")


def sign_in(sso: Sso, client: httpx.Client) -> httpx.Response:
    """Follow the redirects from the console to the provider and back."""
    answer = client.get(f"{sso.base_url}/admin/sign-in/oidc?next=/admin/diplomas")
    for _ in range(4):
        if answer.status_code not in (302, 303):
            break
        answer = client.get(answer.url.join(answer.headers["location"]))
    return answer


def test_the_sign_in_page_offers_the_provider(sso: Sso) -> None:
    page = httpx.get(f"{sso.base_url}/admin/sign-in")
    assert 'href="/admin/sign-in/oidc?next=/admin"' in page.text
    assert "دانشگاه" in page.text


def test_a_person_the_provider_signs_in_gets_a_session_as_their_user_here(sso: Sso) -> None:
    with httpx.Client(timeout=30) as client:
        answer = sign_in(sso, client)
        assert answer.status_code == 200 and str(answer.url) == f"{sso.base_url}/admin/diplomas"
        assert "zahra@tbzmed.ac.ir" in answer.text
    signed = [
        e
        for e in sso.instance.service.audit_trail(limit=20)
        if e.action == AuditAction.USER_SIGNED_IN
    ]
    assert signed and signed[0].details["email"] == "zahra@tbzmed.ac.ir"


@pytest.mark.parametrize(
    ("person", "words"),
    [
        (Person("stranger@tbzmed.ac.ir"), "has no account in this console"),
        (Person(PEOPLE["viewer"][0], email_verified=False), "has not verified"),
    ],
)
def test_someone_without_an_account_or_a_verified_email_is_refused(
    sso: Sso, person: Person, words: str
) -> None:
    sso.provider.person = person
    with httpx.Client(timeout=30) as client:
        answer = sign_in(sso, client)
        assert answer.status_code == 401 and words in answer.text
        assert client.get(f"{sso.base_url}/admin", follow_redirects=False).status_code == 303


def test_a_token_for_another_client_is_refused(sso: Sso) -> None:
    sso.provider.audience = "someone-else"
    with httpx.Client(timeout=30) as client:
        answer = sign_in(sso, client)
        assert answer.status_code == 401 and "not for this sign-in" in answer.text


def test_a_callback_with_another_state_or_a_used_code_opens_nothing(sso: Sso) -> None:
    with httpx.Client(timeout=30) as client:
        start = client.get(f"{sso.base_url}/admin/sign-in/oidc")
        back = client.get(start.headers["location"])  # the provider's redirect back
        callback = back.headers["location"]
        forged = callback.split("state=")[0] + "state=forged"
        assert client.get(forged).status_code == 401
    with httpx.Client(timeout=30) as client:
        start = client.get(f"{sso.base_url}/admin/sign-in/oidc")
        callback = client.get(start.headers["location"]).headers["location"]
        assert client.get(callback).status_code == 303
    with httpx.Client(timeout=30) as client:
        # Another browser (no cookie from the start) replaying the same callback.
        assert client.get(callback).status_code == 401
        assert client.get(f"{sso.base_url}/admin", follow_redirects=False).status_code == 303

"""The console's authorization matrix: every route, as nobody, as each role, and as a user
of the co-issuing institution, gets the answer this table expects, and a refused request
changes nothing. A route added without a row here fails `test_every_route_is_in_the_table`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from starlette.routing import Route

from diplomas.api.app import declared_routes

from .conftest import add_people
from .support import PEOPLE, Browser, signed_in

NOBODY = "nobody"
ROLES = ("viewer", "issuer", "approver", "admin", "partner")
EVERYONE = frozenset(ROLES)
OWN = frozenset({"viewer", "issuer", "approver", "admin"})
"""The issuing institution's own users (the partner is the co-issuer's approver)."""

# route (method, path template) -> who may use it; everyone else gets 403, nobody a
# redirect to sign in. Public routes answer nobody too.
PUBLIC = "public"
TABLE: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/admin/sign-in"): PUBLIC,
    ("POST", "/admin/sign-in"): PUBLIC,
    ("GET", "/admin/language"): PUBLIC,
    ("GET", "/admin/sign-in/oidc"): PUBLIC,
    ("GET", "/admin/sign-in/oidc/callback"): PUBLIC,
    ("GET", "/admin/second-factor"): EVERYONE,
    ("POST", "/admin/second-factor"): EVERYONE,
    ("GET", "/admin/second-factor/enrol"): EVERYONE,
    ("POST", "/admin/second-factor/enrol"): EVERYONE,
    ("POST", "/admin/sign-out"): EVERYONE,
    ("POST", "/admin/sign-out-everywhere"): EVERYONE,
    ("GET", "/admin"): EVERYONE,
    ("GET", "/admin/diplomas"): EVERYONE,
    ("GET", "/admin/diplomas/export.csv"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/diplomas/{reference}"): EVERYONE,
    ("GET", "/admin/diplomas/{reference}/page.png"): EVERYONE,
    ("GET", "/admin/diplomas/{reference}/holder-link/renew"): frozenset(
        {"issuer", "approver", "admin"}
    ),
    ("POST", "/admin/diplomas/{reference}/holder-link/renew"): frozenset(
        {"issuer", "approver", "admin"}
    ),
    ("GET", "/admin/diplomas/{reference}/diploma.pdf"): EVERYONE,
    ("POST", "/admin/diplomas/bulk"): frozenset({"approver", "admin"}),
    ("POST", "/admin/diplomas/bulk/{action}"): frozenset({"approver", "admin"}),
    ("GET", "/admin/diplomas/{reference}/correct"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/diplomas/{reference}/correct"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/diplomas/{reference}/mail"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/diplomas/{reference}/{action}"): frozenset({"approver", "admin"}),
    ("POST", "/admin/diplomas/{reference}/{action}"): frozenset({"approver", "admin"}),
    ("GET", "/admin/issue"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/issue/preview"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/issue"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/rosters/new"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/rosters"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/rosters/{draft_id}/columns"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/rosters/{draft_id}/columns"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/rosters/{draft_id}/check"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/rosters/{draft_id}/problems.csv"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/rosters/{draft_id}/issue"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/batches"): OWN,
    ("GET", "/admin/batches/{batch_id}"): OWN,
    ("GET", "/admin/batches/{batch_id}/archive"): OWN,
    ("GET", "/admin/batches/{batch_id}/mail"): frozenset({"issuer", "approver", "admin"}),
    ("POST", "/admin/batches/{batch_id}/mail"): frozenset({"issuer", "approver", "admin"}),
    ("GET", "/admin/proposals"): EVERYONE,
    ("GET", "/admin/proposals/{proposal_id}"): EVERYONE,
    ("POST", "/admin/proposals/{proposal_id}/{decision}"): frozenset(
        {"approver", "admin", "partner"}
    ),
    ("GET", "/admin/tokens"): EVERYONE,
    ("POST", "/admin/tokens"): EVERYONE,
    ("GET", "/admin/tokens/{token_id}/revoke"): EVERYONE,
    ("POST", "/admin/tokens/{token_id}/revoke"): EVERYONE,
    ("GET", "/admin/users"): frozenset({"admin"}),
    ("POST", "/admin/users"): frozenset({"admin"}),
    ("GET", "/admin/users/{user_id}/{action}"): frozenset({"admin"}),
    ("POST", "/admin/users/{user_id}/{action}"): frozenset({"admin"}),
    ("GET", "/admin/settings"): frozenset({"admin"}),
    ("POST", "/admin/settings"): frozenset({"admin"}),
    ("GET", "/admin/settings/designs"): frozenset({"admin"}),
    ("GET", "/admin/settings/keys"): frozenset({"admin"}),
    ("POST", "/admin/settings/keys/rotate"): frozenset({"admin"}),
    ("POST", "/admin/settings/keys/{key_id}/compromised"): frozenset({"admin"}),
    ("GET", "/admin/settings/keys/trust.json"): frozenset({"admin"}),
    ("GET", "/admin/account"): EVERYONE,
    ("POST", "/admin/account/second-factor/remove"): EVERYONE,
    ("GET", "/admin/audit"): OWN,
    ("GET", "/admin/audit.csv"): OWN,
}
DESTRUCTIVE = {
    "/admin/diplomas/{reference}/{action}": {"action": "revoke"},
    "/admin/users/{user_id}/{action}": {"action": "disable"},
    "/admin/diplomas/bulk/{action}": {"action": "revoke"},
}


@dataclass
class World:
    server: LiveServer
    diploma_id: str
    token_id: str
    user_id: str
    browsers: dict[str, Browser]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    port = free_port()
    inst = make_instance(
        tmp_path_factory.mktemp("matrix"),
        public_url=f"http://127.0.0.1:{port}",
        co_issuers=[SAMT],
    )
    add_people(inst)
    service = inst.service
    diploma = service.issue({"name": "زهرا محمدی‌نژاد"}).diploma
    token, _ = service.create_token(["read"], "laptop", user=PEOPLE["viewer"][0])
    target = service.add_user("target@tbzmed.ac.ir", "tbzmed", "viewer", "a long enough password")
    with serving(inst, port) as server:
        browsers = {role: signed_in(server.base_url, PEOPLE[role][0]) for role in ROLES}
        yield World(server, diploma.id, token.token_id, target.id, browsers)
        for browser in browsers.values():
            browser.client.close()


def console_routes(world: World) -> list[tuple[str, str]]:
    app = world.server.app
    return sorted(
        (method, route.path)
        for route in declared_routes(app)
        if isinstance(route, Route) and route.path.startswith("/admin")
        for method in (route.methods or ()) - {"HEAD"}
    )


def test_every_route_is_in_the_table(world: World) -> None:
    assert set(console_routes(world)) == set(TABLE)


def fill(world: World, path: str) -> str:
    values = {
        "reference": world.diploma_id,
        "token_id": world.token_id,
        "user_id": world.user_id,
        "draft_id": "no-such-draft",
        "key_id": "rk-no-such-key",
        "proposal_id": "no-such-proposal",
        "decision": "approve",
        "batch_id": "no-such-batch",
        **DESTRUCTIVE.get(path, {}),
    }
    return path.format(**{k: v for k, v in values.items() if "{" + k + "}" in path})


def state(world: World) -> tuple[object, ...]:
    service = world.server.instance.service
    diploma = service.get(world.diploma_id)
    return (
        diploma.status,
        [(u.email, u.active, u.role) for u in service.list_users()],
        [(t.token_id, t.revoked_at) for t in service.list_tokens()],
        service.search("", 0, 1)[1],
        [e.seq for e in service.audit_trail(limit=10_000) if e.action != "user.signed_in"],
    )


def send(client: httpx.Client, method: str, path: str, csrf: str) -> httpx.Response:
    if method == "GET":
        return client.get(path, follow_redirects=False)
    return client.post(path, data={"csrf": csrf}, follow_redirects=False)


@pytest.mark.parametrize("who", [NOBODY, *ROLES])
def test_each_route_answers_each_person_as_the_table_says(world: World, who: str) -> None:
    for method, template in console_routes(world):
        allowed = TABLE[method, template]
        path = fill(world, template)
        before = state(world)
        if who == NOBODY:
            with httpx.Client(base_url=world.server.base_url) as anonymous:
                answer = send(anonymous, method, path, "")
            if allowed == PUBLIC:
                assert answer.status_code in (200, 303, 403, 404), (method, path)
            else:
                assert answer.status_code == 303, (method, path)
                assert answer.headers["location"].startswith("/admin/sign-in"), (method, path)
                assert state(world) == before, (method, path)
            continue
        if allowed == PUBLIC or template in ("/admin/sign-out", "/admin/sign-out-everywhere"):
            continue  # signing out would end the session the other routes are tried with
        browser = world.browsers[who]
        answer = send(browser.client, method, path, browser.csrf)
        assert isinstance(allowed, frozenset)
        if who in allowed:
            assert answer.status_code not in (401, 403), (who, method, path, answer.text[:300])
            assert not answer.headers.get("location", "").startswith("/admin/sign-in")
        else:
            assert answer.status_code == 403, (who, method, path, answer.status_code)
            assert state(world) == before, (who, method, path)


def test_a_partner_sees_only_what_its_institution_co_issued(world: World) -> None:
    service = world.server.instance.service
    joint = service.issue({"name": "علی رضایی", "co_issuers": ["samt"]}).diploma
    partner = world.browsers["partner"]
    assert partner.client.get(f"/admin/diplomas/{joint.id}").status_code == 200
    assert partner.client.get(f"/admin/diplomas/{world.diploma_id}").status_code == 404
    listed = partner.client.get("/admin/diplomas").text
    assert joint.serial in listed and service.get(world.diploma_id).serial not in listed


def test_someone_elses_token_is_not_found_for_a_viewer_and_revocable_by_an_admin(
    world: World,
) -> None:
    service = world.server.instance.service
    token, _ = service.create_token(["read"], "phone", user=PEOPLE["approver"][0])
    issuer = world.browsers["issuer"]
    assert issuer.post(f"/admin/tokens/{token.token_id}/revoke").status_code == 404
    assert next(t for t in service.list_tokens() if t.token_id == token.token_id).revoked_at is None
    admin = world.browsers["admin"]
    assert admin.post(f"/admin/tokens/{token.token_id}/revoke").status_code == 303
    assert next(t for t in service.list_tokens() if t.token_id == token.token_id).revoked_at

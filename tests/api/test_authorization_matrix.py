"""The API's authorization matrix (issue 12): every /api/v1 route, with no token, with a
token of each role, of the co-issuing institution's approver, of nobody (a legacy token),
and with a revoked, expired, disabled owner's, forged or malformed token, gets the answer
this table expects, and a refused request changes nothing. A route added without a row
here fails `test_every_api_route_is_in_the_table`. The console's half is
tests/console/test_authorization.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from batch.rosters import person, write_roster
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from starlette.routing import Route

from diplomas.api.app import declared_routes
from diplomas.core.proposals import Actor
from diplomas.core.users import ROLE_SCOPES, Role
from diplomas.service import DiplomaService

PASSWORD = "a long enough password"
PEOPLE = {
    "viewer": ("ali@tbzmed.ac.ir", "tbzmed", Role.VIEWER),
    "issuer": ("sara@tbzmed.ac.ir", "tbzmed", Role.ISSUER),
    "approver": ("reza@tbzmed.ac.ir", "tbzmed", Role.APPROVER),
    "admin": ("zahra@tbzmed.ac.ir", "tbzmed", Role.ADMIN),
    "partner": ("officer@samt.ir", "samt", Role.APPROVER),
}
"""Users of each role of the issuing institution, and the co-issuer's approver."""
LEGACY = "legacy"
"""A token of nobody (made before users existed): every scope it may carry."""
LEGACY_SCOPES = frozenset({"read", "issue", "revoke"})
LIVE = (*PEOPLE, LEGACY)
NOBODY = "nobody"
DEAD = ("revoked", "expired", "disabled", "forged", "malformed")
"""Tokens that are no longer (or never were) valid: each gets the same 401."""
IDENTITIES = (NOBODY, *LIVE, *DEAD)

PUBLIC = "public"
# route (method, path template) -> the scope its token needs, or PUBLIC: no token needed.
TABLE: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/verify/{diploma_id}"): PUBLIC,
    ("POST", "/api/v1/verify"): PUBLIC,
    ("GET", "/api/v1/diplomas/{diploma_id}/credential"): PUBLIC,
    ("POST", "/api/v1/diplomas"): "issue",
    ("GET", "/api/v1/diplomas"): "read",
    ("GET", "/api/v1/diplomas/{diploma_id}"): "read",
    ("GET", "/api/v1/diplomas/{diploma_id}/pdf"): "read",
    ("POST", "/api/v1/diplomas/{diploma_id}/holder-link"): "issue",
    ("POST", "/api/v1/diplomas/{diploma_id}/revoke"): "revoke",
    ("POST", "/api/v1/diplomas/{diploma_id}/suspend"): "revoke",
    ("POST", "/api/v1/diplomas/{diploma_id}/unsuspend"): "revoke",
    ("POST", "/api/v1/diplomas/{diploma_id}/corrections"): "issue",
    ("GET", "/api/v1/diplomas/{diploma_id}/versions"): "read",
    ("POST", "/api/v1/diplomas/{diploma_id}/mail"): "issue",
    ("POST", "/api/v1/batches"): "issue",
    ("GET", "/api/v1/batches/{batch_id}"): "read",
    ("POST", "/api/v1/batches/{batch_id}/mail"): "issue",
    ("GET", "/api/v1/batches/{batch_id}/archive"): "read",
    ("GET", "/api/v1/proposals"): "read",
    ("GET", "/api/v1/proposals/{proposal_id}"): "read",
    ("POST", "/api/v1/proposals/{proposal_id}/approve"): "approve",
    ("POST", "/api/v1/proposals/{proposal_id}/reject"): "approve",
}
REFUSED_DESPITE_THE_SCOPE: dict[tuple[str, str], frozenset[str]] = {
    # Only tbzmed's own people issue, correct or revoke in its name: the co-issuer's
    # approver, whose token carries these scopes, is refused by the service.
    ("POST", "/api/v1/diplomas"): frozenset({"partner"}),
    ("POST", "/api/v1/batches"): frozenset({"partner"}),
    ("POST", "/api/v1/diplomas/{diploma_id}/holder-link"): frozenset({"partner"}),
    ("POST", "/api/v1/diplomas/{diploma_id}/revoke"): frozenset({"partner"}),
    ("POST", "/api/v1/diplomas/{diploma_id}/suspend"): frozenset({"partner"}),
    ("POST", "/api/v1/diplomas/{diploma_id}/unsuspend"): frozenset({"partner"}),
}
NOT_FOUND_FOR: dict[tuple[str, str], frozenset[str]] = {
    # The fixture's diploma, batch and proposal are tbzmed's alone: to the co-issuer's
    # people they do not exist (the proposal needs only tbzmed's approval).
    ("GET", "/api/v1/diplomas/{diploma_id}"): frozenset({"partner"}),
    ("GET", "/api/v1/diplomas/{diploma_id}/pdf"): frozenset({"partner"}),
    ("GET", "/api/v1/diplomas/{diploma_id}/versions"): frozenset({"partner"}),
    ("POST", "/api/v1/diplomas/{diploma_id}/corrections"): frozenset({"partner"}),
    ("POST", "/api/v1/diplomas/{diploma_id}/mail"): frozenset({"partner"}),
    ("GET", "/api/v1/batches/{batch_id}"): frozenset({"partner"}),
    ("POST", "/api/v1/batches/{batch_id}/mail"): frozenset({"partner"}),
    ("GET", "/api/v1/batches/{batch_id}/archive"): frozenset({"partner"}),
    ("GET", "/api/v1/proposals/{proposal_id}"): frozenset({"partner"}),
    ("POST", "/api/v1/proposals/{proposal_id}/approve"): frozenset({"partner"}),
    ("POST", "/api/v1/proposals/{proposal_id}/reject"): frozenset({"partner"}),
}
JSON_BODIES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/v1/diplomas"): {"name": "مریم احمدی"},
    ("POST", "/api/v1/diplomas/{diploma_id}/revoke"): {
        "reason": "issued_in_error",
        "note": "the matrix",
    },
    ("POST", "/api/v1/diplomas/{diploma_id}/suspend"): {"reason": "under_review"},
    ("POST", "/api/v1/diplomas/{diploma_id}/corrections"): {"name_en": "Zahra M. Nejad"},
    ("POST", "/api/v1/proposals/{proposal_id}/approve"): {"comment": ""},
    ("POST", "/api/v1/proposals/{proposal_id}/reject"): {"comment": "not this one"},
}


@dataclass
class World:
    server: LiveServer
    tokens: dict[str, str]
    """The token of each identity but `NOBODY`."""
    scopes: dict[str, frozenset[str]]
    """The scopes of each live identity's token."""
    diploma_id: str
    """tbzmed's own diploma (no co-issuer), with an email and a private note."""
    batch_id: str
    proposal_id: str
    """A diploma proposed by tbzmed's issuer, needing tbzmed's approval only."""
    pdf: bytes
    rows: Iterator[int]
    """Fresh roster rows for each upload (an external id per upload)."""

    @property
    def service(self) -> DiplomaService:
        return self.server.instance.service

    def headers(self, who: str) -> dict[str, str]:
        return {} if who == NOBODY else {"Authorization": f"Bearer {self.tokens[who]}"}

    def actor(self, who: str) -> Actor:
        """`who` acting with their token, as the API sees them."""
        record = self.service.authenticate(self.tokens[who], "read")
        return self.service.actor_for_token(record)


class Past:
    """A clock stopped at a moment."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("apimatrix")
    port = free_port()
    inst = make_instance(tmp, public_url=f"http://127.0.0.1:{port}", co_issuers=[SAMT])
    # Hundreds of wrong tokens from one address: the throttle (tests/api/test_auth_first)
    # would answer 429 after ten.
    inst.settings = inst.settings.model_copy(update={"auth_failures_per_minute": 0})
    service = inst.service
    tokens: dict[str, str] = {}
    scopes: dict[str, frozenset[str]] = {}
    for who, (email, institution, role) in PEOPLE.items():
        service.add_user(email, institution, role.value, PASSWORD)
        scopes[who] = ROLE_SCOPES[role]
        tokens[who] = service.create_token(sorted(scopes[who]), "laptop", user=email)[1]
    scopes[LEGACY] = LEGACY_SCOPES
    tokens[LEGACY] = service.create_token(sorted(LEGACY_SCOPES), "legacy script")[1]
    admin_email, everything = PEOPLE["admin"][0], sorted(ROLE_SCOPES[Role.ADMIN])
    revoked, tokens["revoked"] = service.create_token(everything, "lost", user=admin_email)
    service.revoke_token(revoked.token_id)
    clock = service.clock
    service.clock = Past(clock.now() - timedelta(days=2))
    try:
        tokens["expired"] = service.create_token(
            everything, "old", user=admin_email, expires_in=timedelta(days=1)
        )[1]
    finally:
        service.clock = clock
    service.add_user("gone@tbzmed.ac.ir", "tbzmed", "admin", PASSWORD)
    tokens["disabled"] = service.create_token(everything, "left", user="gone@tbzmed.ac.ir")[1]
    service.disable_user("gone@tbzmed.ac.ir")
    prefix, token_id, _ = tokens["admin"].split("_", 2)
    tokens["forged"] = f"{prefix}_{token_id}_{'x' * 43}"
    tokens["malformed"] = "not-a-token"
    diploma = service.issue(
        {"name": "زهرا محمدی‌نژاد", "email": "zahra@example.com", "external_id": "M-1"}
    ).diploma
    with serving(inst, port) as server:
        pdf, rows = service.pdf(diploma.id), iter(range(1, 1000))
        world = World(server, tokens, scopes, diploma.id, "", "", pdf, rows)
        world.proposal_id = service.propose_issue({"name": "علی رضایی"}, world.actor("issuer")).id
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            world.batch_id = upload(world, http, LEGACY).json()["id"]
        wait_for_batch(world, world.batch_id)
        yield world


def upload(world: World, http: httpx.Client, who: str) -> httpx.Response:
    roster = write_roster(
        world.server.instance.settings.home / f"roster-{who}.csv", [person(next(world.rows))]
    )
    return http.post(
        "/api/v1/batches",
        headers=world.headers(who),
        files={"file": ("roster.csv", roster.read_bytes(), "text/csv")},
    )


def wait_for_batch(world: World, batch_id: str) -> None:
    """Until the batch has run: it runs in the server's background, and a change it makes
    later would be blamed on the next request."""
    deadline = time.monotonic() + 30
    while not world.service.batch(batch_id).status.finished:
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)


def api_routes(world: World) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in declared_routes(world.server.app)
        if isinstance(route, Route) and route.path.startswith("/api/v1")
        for method in (route.methods or ()) - {"HEAD"}
    )


def fill(world: World, template: str) -> str:
    values = {
        "diploma_id": world.diploma_id,
        "batch_id": world.batch_id,
        "proposal_id": world.proposal_id,
    }
    return template.format(**{k: v for k, v in values.items() if "{" + k + "}" in template})


def send(world: World, http: httpx.Client, who: str, method: str, template: str) -> httpx.Response:
    path, headers = fill(world, template), world.headers(who)
    if (method, template) == ("POST", "/api/v1/batches"):
        return upload(world, http, who)
    if (method, template) == ("POST", "/api/v1/verify"):
        files = {"file": ("d.pdf", world.pdf, "application/pdf")}
        return http.post(path, headers=headers, files=files)
    if method == "GET":
        return http.get(path, headers=headers)
    return http.post(path, headers=headers, json=JSON_BODIES.get((method, template), {}))


def state(world: World) -> tuple[object, ...]:
    """What a request could change: diplomas (status, current PDF), users, tokens,
    proposals, batches, and the audit log (the record of a token's use apart)."""
    service = world.service
    diplomas, _ = service.search("", 0, 10_000)
    return (
        sorted((d.id, d.status, d.pdf_sha256, d.holder_link_generation) for d in diplomas),
        sorted((u.email, u.active, u.role) for u in service.list_users()),
        [(t.token_id, t.revoked_at) for t in service.list_tokens()],
        [(p.id, p.state, len(p.approvals), p.rejection) for p in service.proposals()],
        service.batch(world.batch_id).status,
        [e.seq for e in service.audit_trail(limit=10_000) if e.action != "token.used"],
    )


def test_every_api_route_is_in_the_table(world: World) -> None:
    assert set(api_routes(world)) == set(TABLE)


@pytest.mark.parametrize("who", IDENTITIES)
def test_each_api_route_answers_each_identity_as_the_table_says(world: World, who: str) -> None:
    refusals: set[str] = set()
    with httpx.Client(base_url=world.server.base_url, timeout=30) as http:
        for method, template in api_routes(world):
            scope = TABLE[method, template]
            before = state(world)
            answer = send(world, http, who, method, template)
            where = (who, method, template, answer.status_code, answer.text[:300])
            if scope == PUBLIC:
                assert answer.status_code not in (401, 403), where
                continue
            if who == NOBODY or who in DEAD:
                assert answer.status_code == 401, where
                assert answer.headers["www-authenticate"] == "Bearer", where
                refusals.add(answer.text)
            elif who in NOT_FOUND_FOR.get((method, template), ()):
                assert answer.status_code == 404, where
            elif scope not in world.scopes[who] or who in REFUSED_DESPITE_THE_SCOPE.get(
                (method, template), ()
            ):
                assert answer.status_code == 403, where
            else:
                assert answer.status_code not in (401, 403), where
                if (method, template) == ("POST", "/api/v1/batches"):
                    assert answer.status_code == 202, where
                    wait_for_batch(world, answer.json()["id"])
                continue
            assert state(world) == before, where
    if refusals:
        # The same words whatever was wrong: missing, forged, revoked, expired, disabled.
        assert refusals == {'{"detail":"a valid bearer token is required"}'}


def test_the_proposers_own_token_may_not_approve_under_the_two_person_rule(
    world: World,
) -> None:
    service = world.service
    service.production = True  # the rule's default in production, for both institutions
    try:
        with httpx.Client(base_url=world.server.base_url, timeout=30) as http:
            proposed = http.post(
                "/api/v1/diplomas", headers=world.headers("approver"), json={"name": "رضا کریمی"}
            )
            assert proposed.status_code == 202, proposed.text
            proposal_id = proposed.json()["id"]
            assert service.proposal(proposal_id).required == ("tbzmed",)
            # another token of the same person is the same person
            second = service.create_token(["approve"], "phone", user=PEOPLE["approver"][0])[1]
            refused = {
                "approver": world.headers("approver"),
                "approver's second token": {"Authorization": f"Bearer {second}"},
                "issuer": world.headers("issuer"),
                "viewer": world.headers("viewer"),
                "legacy": world.headers(LEGACY),
                "partner": world.headers("partner"),
            }
            for decision, body in (("approve", {}), ("reject", {"comment": "no"})):
                for who, headers in refused.items():
                    before = state(world)
                    answer = http.post(
                        f"/api/v1/proposals/{proposal_id}/{decision}", headers=headers, json=body
                    )
                    # The co-issuer's people do not see a proposal that needs only tbzmed.
                    expected = 404 if who == "partner" else 403
                    assert answer.status_code == expected, (decision, who, answer.text)
                    assert state(world) == before, (decision, who)
            assert service.proposal(proposal_id).state.value == "pending"
            approved = http.post(
                f"/api/v1/proposals/{proposal_id}/approve", headers=world.headers("admin"), json={}
            )
            assert approved.status_code == 200, approved.text
            assert approved.json()["state"] == "issued"
    finally:
        service.production = False


def test_a_co_issued_proposal_takes_the_partners_approval_for_its_institution(
    world: World,
) -> None:
    service = world.service
    service.production = True
    try:
        proposal = service.propose_issue(
            {"name": "سارا حسینی", "co_issuers": ["samt"]}, world.actor("issuer")
        )
        assert set(proposal.required) == {"tbzmed", "samt"}
        with httpx.Client(base_url=world.server.base_url, timeout=30) as http:
            answer = http.post(
                f"/api/v1/proposals/{proposal.id}/approve",
                headers=world.headers("partner"),
                json={},
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "pending"
        [given] = service.proposal(proposal.id).approvals
        assert given.institution == "samt"
    finally:
        service.production = False


def test_a_partners_token_reaches_only_what_its_institution_co_issued(world: World) -> None:
    """The API scopes a token by its owner's institution, as the console does (one rule,
    in the service: `DiplomaService.as_user`). The co-issuer's approver finds only what
    samt co-issued; tbzmed's own diplomas, batches and proposals are not found, and
    nothing is issued, corrected or revoked in tbzmed's name with its token."""
    service = world.service
    own = service.issue({"name": "حسین موسوی", "email": "hossein@example.com"}).diploma
    joint = service.issue({"name": "امیر قاسمی", "co_issuers": ["samt"]}).diploma
    assert own.co_issuers == ()
    partner = world.headers("partner")
    with httpx.Client(base_url=world.server.base_url, timeout=30) as http:
        assert http.get(f"/api/v1/diplomas/{own.id}", headers=partner).status_code == 404
        shown = http.get(f"/api/v1/diplomas/{joint.id}", headers=partner)
        assert shown.status_code == 200
        # The holder's private link opens her files: the issuer's people only.
        assert shown.json()["holder_url"] is None
        listed = http.get("/api/v1/diplomas", headers=partner, params={"limit": 100}).json()
        ids = {d["id"] for d in listed["items"]}
        assert own.id not in ids and joint.id in ids
        assert all(d["holder_url"] is None for d in listed["items"])
        issuers = http.get(f"/api/v1/diplomas/{joint.id}", headers=world.headers("viewer"))
        assert issuers.json()["holder_url"] == service.holder_url(joint.id)
        assert http.get(f"/api/v1/diplomas/{own.id}/pdf", headers=partner).status_code == 404
        assert http.get(f"/api/v1/batches/{world.batch_id}", headers=partner).status_code == 404
        before = service.search("", 0, 1000)[1]
        issued = http.post("/api/v1/diplomas", headers=partner, json={"name": "امیر قاسمی"})
        assert issued.status_code == 403, issued.text
        assert service.search("", 0, 1000)[1] == before
        for action in ("revoke", "suspend"):
            refused = http.post(
                f"/api/v1/diplomas/{joint.id}/{action}",
                headers=partner,
                json={"reason": "other", "note": "by the co-issuer"},
            )
            assert refused.status_code == 403, refused.text
        assert service.get(own.id).status.value == "issued"
        assert service.get(joint.id).status.value == "issued"

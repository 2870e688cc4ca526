"""Authentication at the edge: tokens checked before any byte of the body is read, wrong
tokens throttled per address, and what a token may learn (issue 11)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Instance, free_port, make_instance, uvicorn_thread
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from diplomas.api import create_app
from diplomas.api.app import declared_routes
from diplomas.api.deps import AuthFirstRoute, IssueToken, check_auth_first, required_scope
from diplomas.api.ratelimit import RateLimiter
from diplomas.core.audit import AuditAction

FORTY_MB = 40 * 1024 * 1024
BOUNDARY = "diplomas-test-boundary"


@pytest.fixture
def inst(tmp_path: Path) -> Instance:
    return make_instance(tmp_path)


@pytest.fixture
def port(inst: Instance) -> Iterator[int]:
    """The app over `inst`, served by uvicorn on a free loopback port."""
    app = create_app(inst.service, inst.settings)
    chosen = free_port()
    with uvicorn_thread(app, chosen):
        yield chosen


def stalled_request(
    port: int, path: str, headers: dict[str, str], wait: float, length: int = FORTY_MB
) -> bytes:
    """Send a request's head announcing `length` bytes of body, then none of them: what
    the server answers within `wait` seconds (b"" if nothing)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    return answer


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"Content-Type": "application/json"}
JSON_LENGTH = 512 * 1024
"""Under the 1 MB that a JSON body may have (a larger one gets 413 from its head alone)."""


@pytest.mark.parametrize(
    ("path", "content", "length", "token", "status"),
    [
        ("/api/v1/batches", MULTIPART, FORTY_MB, None, 401),
        ("/api/v1/batches", MULTIPART, FORTY_MB, "dpl_0123456789abcdef_wrong", 401),
        ("/api/v1/batches", MULTIPART, FORTY_MB, "read", 403),
        ("/api/v1/diplomas", JSON, JSON_LENGTH, None, 401),
        ("/api/v1/diplomas", JSON, JSON_LENGTH, "revoke", 403),
        ("/api/v1/diplomas/x/revoke", JSON, JSON_LENGTH, "issue", 403),
    ],
)
def test_a_large_body_is_refused_before_a_byte_of_it_is_sent(
    inst: Instance,
    port: int,
    path: str,
    content: dict[str, str],
    length: int,
    token: str | None,
    status: int,
) -> None:
    """The client sends the head of a large upload (40 MB of roster) and stalls: the
    refusal comes anyway, at once, so the server never waited for (or read) the body."""
    headers = dict(content)
    if token is not None:
        secret = inst.tokens.get(token, token)
        headers["Authorization"] = f"Bearer {secret}"
    started = time.monotonic()
    answer = stalled_request(port, path, headers, wait=5, length=length)
    took = time.monotonic() - started
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert took < 2, f"answered after {took:.2f} s"


def test_with_the_right_token_the_server_does_wait_for_the_body(inst: Instance, port: int) -> None:
    """The control: the same stalled upload with a valid `issue` token gets no answer,
    since the server now reads the body (so the test above can tell the difference)."""
    headers = {**MULTIPART, "Authorization": f"Bearer {inst.tokens['issue']}"}
    assert stalled_request(port, "/api/v1/batches", headers, wait=1.5) == b""
    headers = {**JSON, "Authorization": f"Bearer {inst.tokens['issue']}"}
    assert stalled_request(port, "/api/v1/diplomas", headers, wait=1.5, length=JSON_LENGTH) == b""


def test_malformed_json_gets_401_without_a_token_and_422_only_with_one(
    inst: Instance,
) -> None:
    with TestClient(create_app(inst.service, inst.settings)) as client:
        for headers, status in (
            ({}, 401),
            ({"Authorization": "Bearer not-a-token"}, 401),
            ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
            (inst.auth("read"), 403),
            (inst.auth("issue"), 422),
        ):
            answer = client.post(
                "/api/v1/diplomas", content=b'{"name": ', headers={**JSON, **headers}
            )
            assert answer.status_code == status, (headers, answer.text)
        refused = client.post("/api/v1/diplomas", content=b"{", headers=JSON)
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {"detail": "a valid bearer token is required"}


def test_a_token_checked_first_is_checked_once(inst: Instance) -> None:
    """The dependency that declares the scope takes the record the route checked before
    the body: one audit entry of the token's use per request, naming the route."""
    assert inst.service.audit is not None
    before = len(inst.service.audit.entries(action=AuditAction.TOKEN_USED))
    with TestClient(create_app(inst.service, inst.settings)) as client:
        body = {"name": "علی رضایی"}
        assert client.post("/api/v1/diplomas", json=body, headers=inst.auth("issue")).is_success
    used = inst.service.audit.entries(action=AuditAction.TOKEN_USED)
    assert len(used) == before + 1
    assert used[0].details["route"] == "POST /api/v1/diplomas"


def test_every_route_that_needs_a_token_checks_it_first(inst: Instance) -> None:
    app = create_app(inst.service, inst.settings)
    needing = {
        (method, route.path): required_scope(route.dependant)
        for route in declared_routes(app)
        if isinstance(route, AuthFirstRoute) and required_scope(route.dependant) is not None
        for method in route.methods
    }
    assert needing == {
        ("POST", "/api/v1/diplomas"): "issue",
        ("GET", "/api/v1/diplomas"): "read",
        ("GET", "/api/v1/diplomas/{diploma_id}"): "read",
        ("GET", "/api/v1/diplomas/{diploma_id}/pdf"): "read",
        ("POST", "/api/v1/diplomas/{diploma_id}/revoke"): "revoke",
        ("POST", "/api/v1/diplomas/{diploma_id}/suspend"): "revoke",
        ("POST", "/api/v1/diplomas/{diploma_id}/unsuspend"): "revoke",
        ("POST", "/api/v1/diplomas/{diploma_id}/corrections"): "issue",
        ("GET", "/api/v1/diplomas/{diploma_id}/versions"): "read",
        ("POST", "/api/v1/diplomas/{diploma_id}/mail"): "issue",
        ("POST", "/api/v1/diplomas/{diploma_id}/holder-link"): "issue",
        ("POST", "/api/v1/batches"): "issue",
        ("GET", "/api/v1/batches/{batch_id}"): "read",
        ("POST", "/api/v1/batches/{batch_id}/mail"): "issue",
        ("GET", "/api/v1/batches/{batch_id}/archive"): "read",
        ("GET", "/api/v1/proposals"): "read",
        ("GET", "/api/v1/proposals/{proposal_id}"): "read",
        ("POST", "/api/v1/proposals/{proposal_id}/approve"): "approve",
        ("POST", "/api/v1/proposals/{proposal_id}/reject"): "approve",
    }


def test_a_router_that_would_read_the_body_first_is_refused() -> None:
    router = APIRouter()

    @router.post("/x")
    def x(_: IssueToken) -> None: ...

    with pytest.raises(RuntimeError, match="route_class=AuthFirstRoute"):
        check_auth_first(router.routes)
    check_auth_first(FastAPI().routes)  # routes that need no token pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_tokens_are_throttled_per_address_and_only_failures_count(
    inst: Instance,
) -> None:
    app = create_app(inst.service, inst.settings.model_copy(update={"auth_failures_per_minute": 3}))
    clock = Clock()
    # The app's own throttle, at the setting's rate, on a clock the test moves.
    assert isinstance(app.state.auth_failures, RateLimiter)
    app.state.auth_failures = RateLimiter(3, 3, clock=clock)
    wrong = {"Authorization": "Bearer dpl_0123456789abcdef_guessed"}
    with TestClient(app) as client, TestClient(app, client=("192.0.2.9", 5000)) as neighbour:
        # Successful requests and a valid token lacking the scope do not count.
        for _ in range(10):
            assert client.get("/api/v1/diplomas", headers=inst.auth("read")).status_code == 200
            assert client.get("/api/v1/diplomas", headers=inst.auth("issue")).status_code == 403
        codes = [client.get("/api/v1/diplomas", headers=wrong).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        assert client.get("/api/v1/diplomas").status_code == 429  # no token is a failure too
        # Now even the right token waits: the address is throttled, not the token.
        refused = client.get("/api/v1/diplomas", headers=inst.auth("read"))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"
        assert "try again in 20 s" in refused.json()["detail"]
        # A throttled upload is refused before its body too (nothing to read here).
        upload = client.post("/api/v1/diplomas", content=b"{", headers=JSON)
        assert upload.status_code == 429
        # Another address is not held back.
        assert neighbour.get("/api/v1/diplomas", headers=inst.auth("read")).status_code == 200
        clock.now += 20  # the window passes: one failure is forgiven
        assert client.get("/api/v1/diplomas", headers=inst.auth("read")).status_code == 200
        assert client.get("/api/v1/diplomas", headers=wrong).status_code == 401
        assert client.get("/api/v1/diplomas", headers=inst.auth("read")).status_code == 429
    metrics = app.state.metrics.render().decode()
    assert 'diplomas_rate_limited_total{route="/api/v1/diplomas"} 4.0' in metrics


def test_the_throttle_can_be_turned_off(inst: Instance) -> None:
    app = create_app(inst.service, inst.settings.model_copy(update={"auth_failures_per_minute": 0}))
    assert app.state.auth_failures is None
    with TestClient(app) as client:
        assert {client.get("/api/v1/diplomas").status_code for _ in range(30)} == {401}


def test_an_unknown_template_names_the_designs_but_no_path(inst: Instance) -> None:
    body = {"name": "علی رضایی", "template": "nope"}
    with TestClient(create_app(inst.service, inst.settings)) as client:
        answer = client.post("/api/v1/diplomas", json=body, headers=inst.auth("issue"))
    assert answer.status_code == 404
    detail = answer.json()["detail"]
    assert detail == "no diploma template named 'nope' (available: classic)"
    for folder in (inst.settings.templates_dir, Path(__file__).parents[2]):
        assert str(folder.resolve()) not in answer.text


def test_only_its_issuer_or_a_read_token_learns_which_diploma_holds_an_external_id(
    inst: Instance,
) -> None:
    """A replayed external_id answers the diploma to the token that issued it (a retry)
    and to a token with `read`; another `issue`-only token gets 409 without the id."""
    _, other_issuer = inst.service.create_token(["issue"], "another office")
    body = {"name": "علی رضایی", "external_id": "student-98123456"}
    with TestClient(create_app(inst.service, inst.settings)) as client:
        first = client.post("/api/v1/diplomas", json=body, headers=inst.auth("issue"))
        assert first.status_code == 201
        diploma_id = first.json()["id"]
        again = client.post("/api/v1/diplomas", json=body, headers=inst.auth("issue"))
        assert again.status_code == 200 and again.json()["id"] == diploma_id
        admin = client.post("/api/v1/diplomas", json=body, headers=inst.auth("all"))
        assert admin.status_code == 200 and admin.json()["id"] == diploma_id
        other = client.post(
            "/api/v1/diplomas", json=body, headers={"Authorization": f"Bearer {other_issuer}"}
        )
    assert other.status_code == 409
    assert diploma_id not in other.text
    assert "read scope" in other.json()["detail"]
    assert inst.service.search("", 0, 10)[1] == 1  # nothing issued twice


@pytest.mark.parametrize(
    ("environment", "api_docs", "served"),
    [
        ("development", None, True),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
def test_the_api_documentation_is_off_in_production_unless_asked_for(
    tmp_path: Path, environment: str, api_docs: bool | None, served: bool
) -> None:
    inst = make_instance(tmp_path)
    settings = inst.settings.model_copy(update={"environment": environment, "api_docs": api_docs})
    with TestClient(create_app(inst.service, settings)) as client:
        codes = {
            path: client.get(path).status_code
            for path in ("/docs", "/openapi.json", "/static/swagger-ui/swagger-ui-bundle.js")
        }
        assert client.get("/healthz").status_code == 200
    assert codes == dict.fromkeys(codes, 200 if served else 404)

"""The public side: security headers, no inline script or style, nothing private in any
public answer, and unknown and malformed ids that answer alike."""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from conftest import Instance
from fastapi.testclient import TestClient

from diplomas.api.middleware import DOCS_CSP

from .conftest import ZAHRA

API = Path(__file__).resolve().parents[2] / "diplomas" / "api"
CSP = (
    "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def test_templates_and_static_have_no_inline_script_or_style() -> None:
    console = API.parent / "console" / "templates"
    # htmx is a library, vendored as published: it handles javascript: URLs itself (to
    # refuse them), and the CSP keeps anything inline from running whatever it holds.
    files = [
        *API.glob("templates/*"),
        *(p for p in API.glob("static/*") if not p.name.startswith("htmx-")),
        *console.glob("*.html"),
    ]
    assert len(files) > 20
    # A script element is allowed only empty, naming a file of the site's own.
    inline = r'<script(?!\s+src="/[^"]*"></script>)|<style|\sstyle=|\son[a-z]+=|javascript:'
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(inline, text, re.I), path


def test_docs_page_is_served_whole_by_the_app(open_client: TestClient) -> None:
    page = open_client.get("/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == DOCS_CSP
    assert "'unsafe-inline'" not in DOCS_CSP and "http" not in DOCS_CSP
    assert page.headers["x-frame-options"] == "DENY"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 4  # Swagger UI's stylesheet, icon and bundle; docs.js
    for asset in assets:
        assert asset.startswith("/static/")
        answer = open_client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content
    assert 'data-openapi-url="/openapi.json"' in page.text
    # FastAPI's own pages (CDN scripts, inline scripts) are gone, not merely unlinked.
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert open_client.get(path).status_code == 404


def test_every_html_page_has_the_security_headers(
    open_client: TestClient, hardened: Instance
) -> None:
    d = hardened.service.issue(ZAHRA).diploma
    pdf = hardened.service.pdf(d.id)
    pages = [
        open_client.get("/"),
        open_client.get(f"/v/{d.id}"),
        open_client.get("/v/unknown"),
        open_client.post("/verify", files={"file": ("d.pdf", pdf, "application/pdf")}),
        open_client.post("/verify", files={"file": ("d.pdf", b"not a pdf", "text/plain")}),
    ]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cross-origin-opener-policy"] == "same-origin"
        assert "<script" not in page.text and "style=" not in page.text
    json_answer = open_client.get(f"/api/v1/verify/{d.id}")
    assert json_answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert json_answer.headers["x-content-type-options"] == "nosniff"
    assert json_answer.headers["cache-control"] == "no-store"
    assert json_answer.headers["x-frame-options"] == "DENY"
    # Referrer and opener policies govern a shown document's links and window: not JSON's.
    assert "referrer-policy" not in json_answer.headers
    admin = open_client.get(f"/api/v1/diplomas/{d.id}", headers=hardened.auth("read"))
    assert admin.headers["cache-control"] == "no-store"  # private data stays out of caches
    credential = open_client.get(f"/api/v1/diplomas/{d.id}/credential")
    assert credential.headers["cache-control"] == "public, max-age=300"
    assert open_client.get("/static/style.css").headers["x-content-type-options"] == "nosniff"


def test_no_public_answer_carries_anything_private(
    open_client: TestClient, hardened: Instance
) -> None:
    d = hardened.service.issue(ZAHRA).diploma
    pdf = hardened.service.pdf(d.id)
    token_ids = [t.split("_")[1] for t in hardened.tokens.values()]
    private = [
        ZAHRA["email"],
        ZAHRA["national_id"],
        ZAHRA["external_id"],
        str(hardened.settings.keys_dir),
        str(hardened.settings.home),
        *hardened.tokens.values(),
        *token_ids,
    ]
    upload = {"file": ("d.pdf", pdf, "application/pdf")}
    answers = {
        "/": open_client.get("/"),
        "/v/{id}": open_client.get(f"/v/{d.id}"),
        "/api/v1/verify/{id}": open_client.get(f"/api/v1/verify/{d.id}"),
        "POST /api/v1/verify": open_client.post("/api/v1/verify", files=upload),
        "POST /verify": open_client.post("/verify", files=upload),
        "credential": open_client.get(f"/api/v1/diplomas/{d.id}/credential"),
        "jwks": open_client.get("/.well-known/jwks.json"),
        "did": open_client.get("/.well-known/did.json"),
        "status": open_client.get("/status/revocation-1"),
        "healthz": open_client.get("/healthz"),
        "readyz": open_client.get("/readyz"),
        "openapi": open_client.get("/openapi.json"),
        "unauthorized": open_client.get(f"/api/v1/diplomas/{d.id}"),
    }
    assert answers["POST /api/v1/verify"].json()["status"] == "valid"
    for name, answer in answers.items():
        assert answer.status_code < 500, name
        text = answer.text + str(answer.headers)
        for secret in private:
            assert secret not in text, (name, secret)
        assert "email" not in text.lower() or name == "openapi", name
        assert "national_id" not in text or name == "openapi", name


def test_unknown_and_malformed_ids_answer_alike(
    open_client: TestClient, hardened: Instance
) -> None:
    d = hardened.service.issue(ZAHRA).diploma
    unknown = d.id[:-4] + ("aaaa" if not d.id.endswith("aaaa") else "bbbb")
    malformed = ["not-an-id", "x" * 500, "%00", "ا" * 23, "1%27 OR %271%27=%271", "..%5C..%5Cwin"]
    for route in ("/v/{}", "/api/v1/verify/{}", "/api/v1/diplomas/{}/credential"):
        expected = open_client.get(route.format(unknown))
        assert expected.status_code in (200, 404)
        for bad in malformed:
            answer = open_client.get(route.format(bad))
            assert answer.status_code == expected.status_code, (route, bad)
            assert strip_ids(answer.text) == strip_ids(expected.text), (route, bad)

    timings: dict[str, list[float]] = {"unknown": [], "malformed": []}
    for _ in range(300):
        for kind, value in (("unknown", unknown), ("malformed", "not-an-id")):
            start = time.perf_counter()
            open_client.get(f"/api/v1/verify/{value}")
            timings[kind].append(time.perf_counter() - start)
    u, m = (statistics.median(timings[k]) for k in ("unknown", "malformed"))
    print(f"\nmedian unknown {u * 1000:.3f} ms, malformed {m * 1000:.3f} ms")
    assert abs(u - m) < 0.5 * max(u, m) + 0.0005


def strip_ids(text: str) -> str:
    """The answer without the request id echoed in it (there is none today) and without
    the time of the check, which the verification page shows to the second."""
    return re.sub(r"[0-9a-f]{32}|<time [^>]*>[^<]*</time>", "", text)


def test_did_paths_are_not_taken_by_the_pages_matched_before_them(
    open_client: TestClient, hardened: Instance
) -> None:
    """The QR page and the status lists are matched before the DID routes: `/v/did.json`
    and `/status/did.json` still name the DID documents of co-issuers at `/v` and
    `/status` (none here), while an id merely containing the name is still the page's."""
    for path in ("/v/did.json", "/status/did.json"):
        answer = open_client.get(path)
        assert answer.status_code == 404, path
        assert answer.json() == {"detail": "no institution has this DID"}, path
    for near in ("did.jsonx", "xdid.json", "did"):
        page = open_client.get(f"/v/{near}")
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "No such diploma was issued" in page.text

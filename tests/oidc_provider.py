"""An OpenID Connect provider for the tests: discovery, an authorization endpoint that
signs in whoever the test says (no login page), a token endpoint that checks the client,
the code, the redirect URI and PKCE, and its keys. Served by uvicorn on a loopback port,
so the console talks to it over HTTP as to the university's provider."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "diplomas-console"
CLIENT_SECRET = "a client secret for the tests"


@dataclass
class Person:
    email: str
    email_verified: bool = True


@dataclass
class OidcProvider:
    issuer: str
    person: Person = field(default_factory=lambda: Person("zahra@tbzmed.ac.ir"))
    audience: str = CLIENT_ID
    """The audience its ID tokens name (a test sets another to see it refused)."""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return KeySet([self.key]).as_dict(private=False)

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                return JSONResponse({"error": "unauthorized_client"}, 400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "nonce": q.get("nonce"),
                "challenge": q["code_challenge"],
                "redirect_uri": q["redirect_uri"],
                "person": self.person,
            }
            target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
            return RedirectResponse(target, 302)

        @app.post("/token")
        def token(
            request: Request,
            grant_type: str = Form(""),
            code: str = Form(""),
            redirect_uri: str = Form(""),
            code_verifier: str = Form(""),
        ) -> Response:
            self.token_requests += 1
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {basic}":
                return JSONResponse({"error": "invalid_client"}, 401)
            issued = self.codes.pop(code, None)  # a code is good once
            if grant_type != "authorization_code" or issued is None:
                return JSONResponse({"error": "invalid_grant"}, 400)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != issued["challenge"] or redirect_uri != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, 400)
            person: Person = issued["person"]
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": hashlib.sha256(person.email.encode()).hexdigest()[:16],
                "email": person.email,
                "email_verified": person.email_verified,
                "nonce": issued["nonce"],
                "iat": now,
                "exp": now + 300,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return JSONResponse(
                {"access_token": "unused", "token_type": "Bearer", "id_token": id_token}
            )

        return app

"""Single sign-on with an OpenID Connect provider (the university's identity provider):
the authorization code flow with PKCE, a state and a nonce, and the ID token checked
against the provider's published keys. authlib builds the request (and the PKCE
challenge); joserfc (authlib's JOSE library) checks the token.

Nothing here decides who may sign in: the verified email goes to
`Accounts.sign_in_verified`, which needs a user of this console with that email.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .core.errors import ConfigurationError, Unauthorized

DISCOVERY_TTL = 3600.0
"""How long a provider's configuration and keys are kept before they are read again (a
token signed by a key not yet seen makes them be read at once)."""
TIMEOUT = 10.0
ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]


@dataclass(frozen=True)
class Pending:
    """What the browser carries (in a short-lived cookie) from the redirect to the
    callback: all three are random and checked on the way back."""

    state: str
    nonce: str
    verifier: str

    def cookie(self) -> str:
        return f"{self.state}.{self.nonce}.{self.verifier}"

    @classmethod
    def from_cookie(cls, value: str) -> Pending | None:
        parts = value.split(".")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)


class Provider:
    def __init__(self, issuer: str, client_id: str, client_secret: str, name: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.name = name
        self._config: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._read_at = 0.0

    def _get(self, url: str) -> dict[str, Any]:
        try:
            answer = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
            answer.raise_for_status()
            data = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ConfigurationError(
                f"the identity provider did not answer at {url}: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"the identity provider's {url} is not a JSON object")
        return data

    def configuration(self, *, fresh: bool = False) -> dict[str, Any]:
        if fresh or self._config is None or time.monotonic() - self._read_at > DISCOVERY_TTL:
            config = self._get(f"{self.issuer}/.well-known/openid-configuration")
            if config.get("issuer", "").rstrip("/") != self.issuer:
                raise ConfigurationError(
                    f"the identity provider calls itself {config.get('issuer')!r}, "
                    f"not {self.issuer!r} (DIPLOMAS_OIDC_ISSUER)"
                )
            self._config = config
            published: Any = self._get(str(config["jwks_uri"]))
            self._keys = KeySet.import_key_set(published)
            self._read_at = time.monotonic()
        return self._config

    def start(self, redirect_uri: str) -> tuple[str, Pending]:
        """The provider's address to send the browser to, and what to keep until it
        comes back."""
        pending = Pending(generate_token(32), generate_token(32), generate_token(64))
        url = prepare_grant_uri(
            str(self.configuration()["authorization_endpoint"]),
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope="openid email",
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            code_challenge_method="S256",
        )
        return url, pending

    def finish(self, code: str, state: str, pending: Pending | None, redirect_uri: str) -> str:
        """The verified email of the person the provider signed in; Unauthorized for a
        state that does not match, a refused code, or a token that does not check out."""
        if pending is None or not state or state != pending.state or not code:
            raise Unauthorized("the sign-in did not come back as it left: start again")
        config = self.configuration()
        try:
            answer = httpx.post(
                str(config["token_endpoint"]),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": pending.verifier,
                },
                auth=(self.client_id, self.client_secret),
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"the identity provider did not answer: {exc}") from None
        if answer.status_code != 200:
            raise Unauthorized("the identity provider refused the sign-in")
        id_token = answer.json().get("id_token")
        if not isinstance(id_token, str):
            raise Unauthorized("the identity provider sent no ID token")
        claims = self._claims(id_token, pending.nonce)
        if claims.get("email_verified") is not True or not isinstance(claims.get("email"), str):
            raise Unauthorized("the identity provider has not verified this person's email")
        return str(claims["email"])

    def _claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        keys = self._keys
        assert keys is not None
        try:
            token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        except JoseError:
            # Perhaps signed by a key published since: read the keys once more.
            self.configuration(fresh=True)
            assert self._keys is not None
            try:
                token = jwt.decode(id_token, self._keys, algorithms=ALGORITHMS)
            except JoseError:
                raise Unauthorized("the ID token's signature does not check out") from None
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": str(self.configuration()["issuer"])},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise Unauthorized(f"the ID token is not for this sign-in ({exc.error})") from None
        return dict(token.claims)

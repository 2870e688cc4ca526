"""The error answers every operation can give, written into the OpenAPI document.

The exception handlers and middleware answer 400, 401, 403, 404, 409, 413, 422, 429 and
503 with `{"detail": ...}`; the routes do not each declare them, so they are added here
from what each operation has (a token, a path parameter, a body, a rate limit, a use of
the database). Schemathesis
checks every answer against this document.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
            ],
        }
    },
}
DESCRIPTIONS = {
    "400": "the body could not be parsed",
    "401": "no valid bearer token",
    "403": "the token lacks the scope",
    "404": "no such resource",
    "409": "the resource is not in a state that allows this",
    "413": "the body is over the size limit",
    "422": "invalid request",
    "429": "too many requests from this address; see Retry-After",
    "503": "the database is away (down, restarting or locked); try again after Retry-After",
}
NO_DATABASE = re.compile(r"/healthz|/\.well-known/.*|/\{path\}/did\.json")
"""Operations that answer from memory and key files only: never a 503 of the database's
(/readyz declares its own 503, with its own body)."""
CONFLICTS = re.compile(r"/api/v1/diplomas(/\{[^}]+\}/(revoke|suspend|unsuspend))?$|/archive$")


def _error(code: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    answer: dict[str, Any] = {"description": DESCRIPTIONS[code], "content": content}
    if code in ("429", "503"):
        answer["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return answer


def _codes(
    path: str, method: str, operation: dict[str, Any], rate_limited: frozenset[str]
) -> list[str]:
    codes = []
    if operation.get("security"):
        codes += ["401", "403", "429"]  # 429: too many wrong tokens (`deps.authenticate`)
    if "{" in path:
        codes.append("404")
    if "requestBody" in operation:
        codes += ["400", "413", "422"]
    if operation.get("parameters"):
        codes.append("422")
    if (method == "post" and CONFLICTS.search(path)) or path.endswith("/archive"):
        codes.append("409")
    if path in rate_limited and "429" not in codes:
        codes.append("429")
    if not NO_DATABASE.fullmatch(path) and path != "/readyz":
        codes.append("503")
    return codes


def document_errors(app: FastAPI, rate_limited: frozenset[str]) -> None:
    """Make `app.openapi()` declare the error answers (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Error"] = ERROR_SCHEMA
            components.setdefault(
                "ValidationError",
                {
                    "title": "ValidationError",
                    "type": "object",
                    "required": ["loc", "msg", "type"],
                    "properties": {
                        "loc": {
                            "type": "array",
                            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        },
                        "msg": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            )
            for path, item in schema.get("paths", {}).items():
                for method, operation in item.items():
                    responses = operation.setdefault("responses", {})
                    for code in _codes(path, method, operation, rate_limited):
                        answer = responses.setdefault(code, _error(code))
                        # An HTML page's own answer (say 404) keeps its page and gains the
                        # JSON error; 422 also comes from the service's checks, as a string.
                        content = answer.setdefault("content", {})
                        if code == "422" or "application/json" not in content:
                            content["application/json"] = _error(code)["content"][
                                "application/json"
                            ]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

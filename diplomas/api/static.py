"""The fonts the public pages are set in, served by the app itself."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

FONTS = Path(__file__).resolve().parent.parent / "designs" / "fonts"
"""Vazirmatn (OFL), the same files the PDF diplomas are set in."""

FONT_CACHE = "public, max-age=31536000, immutable"
"""A font file never changes under its name within a release; a year spares phones the
download on every verification they open."""


class FontFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["cache-control"] = FONT_CACHE
        return response

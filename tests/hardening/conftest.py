"""An instance and its app with chosen settings (rate limits, body limits) for the
hardening tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Instance, make_instance
from fastapi import FastAPI
from fastapi.testclient import TestClient

from diplomas.api import create_app

ZAHRA = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohammadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان تجهیزات پزشکی هوشمند",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
    "email": "zahra.private@example.com",
    "national_id": "0499370899",
    "external_id": "student-98123456",
}


@pytest.fixture
def hardened(tmp_path: Path) -> Instance:
    """A SQLite instance (the HTTP edge does not depend on the database)."""
    return make_instance(tmp_path)


MakeApp = Callable[..., FastAPI]


@pytest.fixture
def make_app(hardened: Instance) -> Iterator[MakeApp]:
    """Build the app over `hardened` with settings overridden; shuts their queues down."""
    apps: list[FastAPI] = []

    def build(**overrides: Any) -> FastAPI:
        settings = hardened.settings.model_copy(update=overrides)
        app = create_app(hardened.service, settings)
        apps.append(app)
        return app

    yield build


@pytest.fixture
def open_client(make_app: MakeApp) -> Iterator[TestClient]:
    """A client of an app without rate limits."""
    with TestClient(make_app(rate_limit=0)) as c:
        yield c

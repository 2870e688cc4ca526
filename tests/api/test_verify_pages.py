"""The verification page over HTTP: kept per verdict and language with the check time
filled per request, its font served here with a long cache, noindex, and the level in
the JSON verdict too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Instance, make_instance
from fastapi.testclient import TestClient

from diplomas.api import create_app
from diplomas.api.static import FONT_CACHE, FONTS

STYLE = Path(__file__).parents[2] / "diplomas" / "api" / "static" / "style.css"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Instance, str]]:
    inst = make_instance(tmp_path_factory.mktemp("pages"))
    diploma = inst.service.issue({"name": "علی رضایی", "name_en": "Ali Rezaei"}).diploma
    with TestClient(create_app(inst.service, inst.settings)) as client:
        yield client, inst, diploma.id


def without_time(text: str) -> str:
    return re.sub(r"<time [^>]*>[^<]*</time>", "", text)


def test_the_page_in_each_language(site: tuple[TestClient, Instance, str]) -> None:
    client, _, diploma_id = site
    fa = client.get(f"/v/{diploma_id}")
    en = client.get(f"/v/{diploma_id}?lang=en")
    assert '<html lang="fa" dir="rtl">' in fa.text and '<html lang="en" dir="ltr">' in en.text
    assert 'href="?lang=en"' in fa.text and 'href="?lang=fa"' in en.text
    assert '<h1 id="verdict-title">این دیپلم معتبر است</h1>' in fa.text
    assert '<h1 id="verdict-title">This diploma is genuine</h1>' in en.text
    assert 'role="status"' in fa.text and "<bdi>علی رضایی</bdi>" in fa.text
    assert f'<bdi class="id" dir="ltr">{diploma_id}</bdi>' in fa.text
    # Persian digits in Persian text: the check time and the dates.
    checked = re.search(r"<time [^>]*>([^<]*)</time>", fa.text)
    assert checked is not None and not re.search(r"[0-9]", checked.group(1).replace("UTC", ""))
    for page in (fa, en):
        assert page.headers["x-robots-tag"] == "noindex"
        assert '<meta name="robots" content="noindex">' in page.text
        assert "font-src 'self'" in page.headers["content-security-policy"]


def test_a_kept_page_gets_the_time_of_each_check(
    site: tuple[TestClient, Instance, str],
) -> None:
    client, _, diploma_id = site
    first, second = (client.get(f"/v/{diploma_id}") for _ in range(2))
    assert without_time(first.text) == without_time(second.text)
    assert int(first.headers["content-length"]) == len(first.content)
    assert "\x00" not in first.text


def test_the_font_is_served_here_for_a_long_time(
    site: tuple[TestClient, Instance, str],
) -> None:
    client, _, _ = site
    for weight in ("Regular", "Medium", "Bold"):
        font = client.get(f"/static/fonts/Vazirmatn-{weight}.ttf")
        assert font.status_code == 200
        assert font.content == (FONTS / f"Vazirmatn-{weight}.ttf").read_bytes()
        assert font.headers["cache-control"] == FONT_CACHE
    style = STYLE.read_text(encoding="utf-8")
    assert "font-display: swap" in style and "/static/fonts/Vazirmatn-Regular.ttf" in style
    assert not re.search(r"url\([\"']?(https?:)?//", style)  # nothing from another host
    assert "@media print" in style


def test_the_json_verdict_has_the_level_and_the_checks(
    site: tuple[TestClient, Instance, str],
) -> None:
    client, _, diploma_id = site
    verdict = client.get(f"/api/v1/verify/{diploma_id}").json()
    assert verdict["level"] == "genuine"
    assert [c["code"] for c in verdict["checks"]] == [
        "record_signature",
        "key_valid_at_signing",
        "key_not_compromised",
        "status",
    ]
    (signature,) = verdict["record_signatures"]
    assert signature["key_state"] == "active" and signature["valid_at_signing"]
    assert "email" not in str(verdict) and "national" not in str(verdict)

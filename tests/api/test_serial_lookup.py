"""The serial lookup for paper copies: serial plus the holder's family name, one answer
for "no such serial" and "wrong name" (same bytes, same status, same time), its own rate
limit, and bilingual pages."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Instance, make_instance
from fastapi.testclient import TestClient

from diplomas.api import create_app

HOLDER = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohammadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
}


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Instance, str, str]:
    inst = make_instance(tmp_path_factory.mktemp("lookup"))
    diploma = inst.service.issue(HOLDER).diploma
    return inst, diploma.id, diploma.serial


def _client(inst: Instance, **settings: int) -> TestClient:
    return TestClient(create_app(inst.service, inst.settings.model_copy(update=settings)))


@pytest.fixture(scope="module")
def client(issued: tuple[Instance, str, str]) -> Iterator[TestClient]:
    with _client(issued[0], lookup_rate_per_minute=1_000_000, lookup_rate_burst=1_000_000) as c:
        yield c


def lookup(client: TestClient, serial: str, family_name: str, lang: str = "fa") -> httpx.Response:
    query = "?lang=en" if lang == "en" else ""
    data = {"serial": serial, "family_name": family_name}
    return client.post(f"/lookup{query}", data=data, follow_redirects=False)


@pytest.mark.parametrize(
    "family_name", ["محمدی‌نژاد", "محمدی نژاد", "محمدینژاد", "محمدي‌نژاد", "Mohammadinejad"]
)
def test_a_match_goes_to_the_diploma(
    client: TestClient, issued: tuple[Instance, str, str], family_name: str
) -> None:
    _, diploma_id, serial = issued
    r = lookup(client, serial, family_name)
    assert r.status_code == 303 and r.headers["location"] == f"/v/{diploma_id}"
    persian_serial = serial.replace("1405", "۱۴۰۵").lower()
    r = lookup(client, persian_serial, family_name.upper(), "en")
    assert r.headers["location"] == f"/v/{diploma_id}?lang=en"


def test_no_such_serial_and_wrong_name_answer_alike(
    client: TestClient, issued: tuple[Instance, str, str]
) -> None:
    _, _, serial = issued
    for lang in ("fa", "en"):
        wrong_name = lookup(client, serial, "رضایی", lang)
        no_serial = lookup(client, "TBZMED-1405-999999", "محمدی‌نژاد", lang)
        malformed = lookup(client, "nothing", "محمدی‌نژاد", lang)
        given_name = lookup(client, serial, "Zahra", lang)
        answers = [wrong_name, no_serial, malformed, given_name]
        assert {a.status_code for a in answers} == {404}
        assert len({a.content for a in answers}) == 1
    assert "پیدا نشد" in wrong_name.text or "No diploma matches" in wrong_name.text
    assert "محمدی" not in no_serial.text


@pytest.mark.parametrize(
    ("data", "fa", "en"),
    [
        ({"serial": "", "family_name": "رضایی"}, "شمارهٔ چاپ‌شده", "Type the serial"),
        ({"serial": "TBZMED-1405-000001"}, "نام خانوادگی دارنده را", "family name (at least"),
        ({"serial": "TBZMED-1405-000001", "family_name": "ن"}, "دست‌کم دو حرف", "two letters"),
        ({}, "شمارهٔ چاپ‌شده", "Type the serial"),
    ],
)
def test_a_missing_field_is_said_in_both_languages(
    client: TestClient, data: dict[str, str], fa: str, en: str
) -> None:
    persian = client.post("/lookup", data=data)
    english = client.post("/lookup?lang=en", data=data)
    assert persian.status_code == english.status_code == 422
    assert fa in persian.text and 'lang="fa"' in persian.text
    assert en in english.text and 'lang="en"' in english.text


def test_the_form_posts_and_the_pages_are_not_indexed(client: TestClient) -> None:
    home = client.get("/")
    assert '<form action="/lookup" method="post">' in home.text
    assert 'name="family_name"' in home.text and "required" in home.text
    assert home.headers["x-robots-tag"] == "noindex"
    assert '<meta name="robots" content="noindex">' in home.text
    assert '<form action="/lookup?lang=en" method="post">' in client.get("/?lang=en").text


def test_lookups_have_their_own_rate_limit(
    tmp_path: Path, issued: tuple[Instance, str, str]
) -> None:
    inst, _, serial = issued
    with _client(inst, lookup_rate_per_minute=2, lookup_rate_burst=2) as limited:
        assert lookup(limited, serial, "رضایی").status_code == 404
        assert lookup(limited, serial, "رضایی").status_code == 404
        refused = lookup(limited, serial, "محمدی‌نژاد")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "بیش از اندازه" in refused.text
        english = lookup(limited, serial, "محمدی‌نژاد", "en")
        assert english.status_code == 429 and "Too many lookups" in english.text
        # The diploma pages keep their own limit (off in these tests).
        assert limited.get("/").status_code == 200


TRIES = 1000


def test_no_match_and_wrong_name_take_the_same_time(
    client: TestClient, issued: tuple[Instance, str, str]
) -> None:
    """Medians of 1,000 of each, interleaved in a shuffled order, within 5 %."""
    _, _, serial = issued
    cases = {"no match": ("TBZMED-1405-999999", "محمدی‌نژاد"), "wrong name": (serial, "رضایی")}
    for s, f in cases.values():  # warm both paths up
        for _ in range(20):
            lookup(client, s, f)
    times: dict[str, list[float]] = {name: [] for name in cases}
    rounds = [list(cases) for _ in range(TRIES)]
    for pair in rounds:
        random.shuffle(pair)
        for name in pair:
            s, f = cases[name]
            start = time.perf_counter()
            r = lookup(client, s, f)
            times[name].append(time.perf_counter() - start)
            assert r.status_code == 404
    no_match, wrong = (statistics.median(times[n]) for n in cases)
    print(
        f"medians over {TRIES}: no match {no_match * 1e3:.3f} ms, wrong name {wrong * 1e3:.3f} ms"
    )
    assert abs(no_match - wrong) <= 0.05 * min(no_match, wrong), (no_match, wrong)

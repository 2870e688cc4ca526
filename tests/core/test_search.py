from datetime import date

import pytest

from diplomas.core.errors import InvalidInput
from diplomas.core.model import DiplomaStatus
from diplomas.core.search import (
    COUNT_LIMIT,
    DiplomaQuery,
    SearchResult,
    SortOrder,
    email_in,
    national_id_in,
    search_text,
    serial_in,
)


def fields(**raw: object) -> set[str]:
    with pytest.raises(InvalidInput) as info:
        DiplomaQuery.parse(**raw)  # type: ignore[arg-type]
    return {p.field for p in info.value.problems}


def test_parse_reads_what_people_type() -> None:
    query = DiplomaQuery.parse(
        text=" محمدی نژاد ",
        status="Revoked",
        issued_from="۱۴۰۵/۰۱/۰۱",
        issued_to="2026-11-26",
        template="classic",
        co_issuer="sut",
        batch_id="",
        sort="NAME",
        offset=50,
        limit=500,
    )
    assert query.status is DiplomaStatus.REVOKED
    assert (query.issued_from, query.issued_to) == (date(2026, 3, 21), date(2026, 11, 26))
    assert query.sort is SortOrder.NAME and query.batch_id is None
    assert query.key == "محمدینژاد" and query.has_text


def test_every_bad_field_is_named() -> None:
    assert fields(
        status="lost",
        sort="random",
        issued_from="1405/13/01",
        limit=501,
        offset=-1,
        template="../x",
        co_issuer="Not A Slug",
        text="x" * 201,
    ) == {"status", "sort", "issued_from", "limit", "offset", "template", "co_issuer", "text"}
    assert fields(limit=0) == {"limit"}
    assert fields(issued_from="2026-02-01", issued_to="2026-01-01") == {"issued_from"}


def test_the_constructor_checks_ranges_too() -> None:
    with pytest.raises(InvalidInput, match="limit"):
        DiplomaQuery(limit=1000)


def test_search_text_joins_keys_with_a_separator_no_key_holds() -> None:
    assert search_text("محمدی‌نژاد", "Ali", "TBZMED-1405-000001", None, "a@b.ir") == (
        "محمدینژاد|ali|tbzmed1405000001||abir"
    )


def test_national_ids_are_recognised_in_any_digits() -> None:
    assert national_id_in("۰۴۹۹۳۷۰۸۹۹") == "0499370899"
    assert national_id_in("049-937-0899") == "0499370899"
    assert national_id_in("49937089") == "0049937089"
    assert national_id_in("TBZMED-1405") is None
    assert national_id_in("12345") is None


def test_a_capped_total_reads_with_a_plus() -> None:
    assert SearchResult((), COUNT_LIMIT, False).total_text == "1,000+"
    assert SearchResult((), 42, True).total_text == "42"


def test_whole_serials_and_emails_are_recognised() -> None:
    assert serial_in(" tbzmed-۱۴۰۵-۰۰۰۰۱۱ ") == "TBZMED-1405-000011"
    assert serial_in("TBZMED-1405") is None and serial_in("TBZMED 1405 000011") is None
    assert email_in(" Ali.Karimi@Example.COM ") == "ali.karimi@example.com"
    assert email_in("ali.karimi@") is None and email_in("ali karimi@example.com") is None

"""Family names for the serial lookup: folded, trailing whole words, a fixed count."""

from __future__ import annotations

import pytest

from diplomas.core.lookup import (
    CANDIDATES,
    DUMMY_HOLDER,
    family_name_candidates,
    family_name_key,
    family_name_matches,
    serial_of,
)

NAME, NAME_EN = "زهرا محمدی‌نژاد", "Zahra Mohammadi Nejad"


@pytest.mark.parametrize(
    "typed",
    [
        "محمدی‌نژاد",
        "محمدی نژاد",
        "محمدینژاد",
        " محمدي‌نژاد ",  # Arabic yeh
        "mohammadi nejad",
        "NEJAD",
        "Mohammadi-Nejad",
    ],
)
def test_the_family_name_matches_in_its_spellings(typed: str) -> None:
    key = family_name_key(typed)
    assert key is not None
    assert family_name_matches(key, family_name_candidates(NAME, NAME_EN))


@pytest.mark.parametrize("typed", ["زهرا", "Zahra", "زهرا محمدی‌نژاد", "Mohammadi", "رضایی"])
def test_given_names_whole_names_and_other_names_do_not(typed: str) -> None:
    key = family_name_key(typed)
    assert key is not None
    assert not family_name_matches(key, family_name_candidates(NAME, NAME_EN))


def test_too_short_is_refused_and_the_count_is_fixed() -> None:
    assert family_name_key("ن") is None and family_name_key(" - ") is None
    assert len(family_name_candidates(NAME, "")) == CANDIDATES
    assert len(family_name_candidates("الف ب پ ت ث ج چ ح", "A B C D E F G")) == CANDIDATES
    assert len(family_name_candidates(*DUMMY_HOLDER)) == CANDIDATES


def test_serials_are_read_as_printed() -> None:
    assert serial_of(" tbzmed-۱۴۰۵-۰۰۰۰۱۱ ") == "TBZMED-1405-000011"

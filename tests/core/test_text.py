from datetime import date

import pytest

from diplomas.core.dates import format_gregorian, format_solar_hijri, parse_date
from diplomas.core.errors import InvalidInput
from diplomas.core.model import DEFAULT_AWARD_EN, parse_request
from diplomas.core.text import ZWNJ, normalize, search_key

TODAY = date(2026, 11, 26)


def test_arabic_letters_become_persian() -> None:
    assert normalize("علي كريمي") == "علی کریمی"
    assert normalize("مصطفى") == "مصطفی"


def test_zwnj_is_kept_and_tidied() -> None:
    assert normalize("محمدی" + ZWNJ + "نژاد") == "محمدی\u200cنژاد"
    assert normalize("محمدی " + ZWNJ + ZWNJ + " نژاد") == "محمدی\u200cنژاد"
    assert normalize(ZWNJ + "علی" + ZWNJ) == "علی"


def test_bidi_controls_and_spacing_are_removed() -> None:
    assert normalize("  علی\u202e  رضایی\u200f\t") == "علی رضایی"


def test_digits_in_either_script() -> None:
    assert parse_date("۱۴۰۵/۰۹/۰۵") == date(2026, 11, 26)
    assert parse_date("١٤٠٥/٠٩/٠٥") == date(2026, 11, 26)
    assert parse_date("1405-9-5") == date(2026, 11, 26)
    assert parse_date("2026-11-26") == date(2026, 11, 26)
    assert normalize("تیم ٣") == "تیم ۳"


def test_article_date_converts() -> None:
    # 18 Dey 1401, the day the memorandum was signed, is 8 January 2023.
    assert parse_date("1401/10/18") == date(2023, 1, 8)
    assert format_solar_hijri(date(2023, 1, 8)) == "۱۸ دی ۱۴۰۱"
    assert format_gregorian(date(2023, 1, 8)) == "8 January 2023"


@pytest.mark.parametrize("bad", ["1405/13/01", "1405/12/31", "2026-02-30", "yesterday", "1405"])
def test_bad_dates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_date(bad)


def test_request_is_normalised() -> None:
    r = parse_request(
        {"name": " علي  رضايي ", "name_en": "Ali Rezaei", "issued_on": "۱۴۰۵/۰۹/۰۱"}, today=TODAY
    )
    assert r.name == "علی رضایی"
    assert r.issued_on == date(2026, 11, 22)
    assert r.award_en == DEFAULT_AWARD_EN


def problems(raw: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_request(raw, today=TODAY)
    return {p.field: p.message for p in info.value.problems}


def test_every_problem_is_named_with_its_field() -> None:
    found = problems(
        {
            "name": "",
            "name_en": "علی",
            "issued_on": "1405/13/01",
            "email": "not-an-email",
            "national_id": "1234567890",
            "external_id": "a b",
            "template": "../etc",
            "colour": "red",
        }
    )
    assert set(found) == {
        "name",
        "name_en",
        "issued_on",
        "email",
        "national_id",
        "external_id",
        "template",
        "colour",
    }
    assert "required" in found["name"]


def test_too_long_and_wrong_script_are_refused() -> None:
    assert "at most 70" in problems({"name": "ا" * 71})["name"]
    assert "Persian script" in problems({"name": "Ali Rezaei"})["name"]
    assert "future" in problems({"name": "علی", "issued_on": "2027-01-01"})["issued_on"]


def test_valid_national_id_is_accepted() -> None:
    # 0499370899 satisfies the mod-11 check digit.
    r = parse_request({"name": "علی", "national_id": "۰۴۹۹۳۷۰۸۹۹"}, today=TODAY)
    assert r.national_id == "0499370899"


@pytest.mark.parametrize(
    "invisible",
    ["\u2060", "\u180e", "\U000e0041", "\u034f", "\u061c", "\u3164", "\ufe0f", "\u2064", "\u00ad"],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_default_ignorable_characters_are_removed(invisible: str) -> None:
    """Characters that draw nothing would make two names that look alike different
    strings (the review stored U+2060, U+180E and U+E0041 in names)."""
    assert normalize(f"زهرا{invisible} محمدی{invisible}‌نژاد") == "زهرا محمدی\u200cنژاد"
    assert normalize(f"Za{invisible}hra") == "Zahra"


def test_zwnj_alone_of_the_invisible_characters_is_kept() -> None:
    assert normalize("محمدی\u200cنژاد") == "محمدی\u200cنژاد"


def test_a_request_with_hidden_characters_is_stored_as_it_looks() -> None:
    hidden = "\u2060\u180e\U000e0041"
    r = parse_request(
        {"name": f"علی{hidden} رضایی", "name_en": f"Ali{hidden} Rezaei", "issued_on": "1405/09/01"},
        today=TODAY,
    )
    assert (r.name, r.name_en) == ("علی رضایی", "Ali Rezaei")


# -- search keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["محمدی\u200cنژاد", "محمدی نژاد", "محمدینژاد", " محمدی \u200c نژاد "]
)
def test_a_compound_name_has_one_key_with_zwnj_space_or_nothing(spelling: str) -> None:
    assert search_key(spelling) == "محمدینژاد"


def test_arabic_yeh_and_kaf_fold_to_persian() -> None:
    assert search_key("علي كريمي") == search_key("علی کریمی") == "علیکریمی"
    assert search_key("مصطفى") == search_key("مصطفی")


def test_heh_alef_and_waw_forms_fold() -> None:
    assert search_key("فاطمة") == search_key("فاطمه")
    assert search_key("أحمد") == search_key("احمد") == search_key("إحمد")
    assert search_key("آرش") == search_key("ارش")
    assert search_key("مؤمن") == search_key("مومن")
    assert search_key("خانهٔ") == search_key("خانه")


def test_harakat_and_tatweel_are_dropped() -> None:
    assert search_key("مُحَمَّد") == search_key("محمد")
    assert search_key("محـــمد") == search_key("محمد")


def test_presentation_forms_fold_to_letters() -> None:
    assert search_key("\ufee3\ufea4\ufee4\ufeaa") == search_key("محمد")


def test_digits_in_any_script_become_ascii_and_serials_fold() -> None:
    assert search_key("TBZMED-۱۴۰۵-۰۰۰۰۱۱") == "tbzmed1405000011"
    assert search_key("tbzmed-١٤٠٥-٠٠٠٠١١") == "tbzmed1405000011"
    assert search_key("TBZMED 1405 000011") == "tbzmed1405000011"


def test_latin_folds_case_and_accents() -> None:
    assert search_key("Zoë ÉLAN") == search_key("zoe elan") == "zoeelan"
    assert search_key("Ali.Rezaei@Example.COM") == "alirezaeiexamplecom"


def test_keys_hold_letters_and_digits_only() -> None:
    assert search_key("%_|-/'\"\t\u200c\u200f") == ""
    assert "|" not in search_key("a|b")

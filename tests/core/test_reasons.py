"""The public reasons list: codes publish their words; typed text is kept private."""

from __future__ import annotations

import pytest

from diplomas.core.errors import InvalidInput
from diplomas.core.reasons import REASONS, choose, public_words, reasons_for


def test_a_code_is_published_and_the_note_kept() -> None:
    assert choose("revoke", "issued_in_error", " minutes 12 ") == ("issued_in_error", "minutes 12")
    assert public_words("issued_in_error") == ("صدور اشتباه", "Issued in error")


def test_typed_text_becomes_the_private_note_under_other() -> None:
    assert choose("revoke", "صورت‌جلسهٔ ۱۲، آقای الف", "") == ("other", "صورت‌جلسهٔ ۱۲، آقای الف")
    assert choose("suspend", "committee", "letter 4") == ("other", "committee; letter 4")


@pytest.mark.parametrize(
    ("action", "reason", "field"),
    [("revoke", "", "reason"), ("suspend", "  ", "reason"), ("suspend", "misconduct", "reason")],
)
def test_refused(action: str, reason: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        choose(action, reason, "")
    assert caught.value.problems[0].field == field


def test_every_reason_has_both_languages_and_each_action_has_other() -> None:
    assert all(r.fa and r.en for r in REASONS)
    for action in ("revoke", "suspend"):
        assert "other" in {r.code for r in reasons_for(action)}
    assert public_words("") == ("", "")
    assert public_words("a legacy sentence") == public_words("other")

"""`check()`, the pre-flight test run on every roster row: it refuses exactly what
`layout()` refuses, and whatever it accepts renders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from diplomas.core.credential import IssuerClaims, PublicClaims
from diplomas.core.errors import ConfigurationError, DiplomaError, InvalidInput, NotFound
from diplomas.core.model import MAX_LENGTH
from diplomas.core.qrproof import qr_text_length
from diplomas.render import TemplateRenderer, layout, qr

PERSIAN = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیءأؤئۀ"
DIGITS = "۰۱۲۳۴۵۶۷۸۹0123456789"
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ACCENTED = "éèüöñçøßÅ"  # in the font, outside the subsets embedded on every page
MARKS = "\u064b\u064e\u0650\u0651"  # tanwin, fatha, kasra, shadda
PUNCTUATION = " .,-/()«»،؛؟\u200c"
UNPRINTABLE = "🚀😀🎓漢\u2603"  # emoji, CJK, a snowman: no glyph in Vazirmatn


def outcome(action: Callable[[], object]) -> tuple[str, str] | None:
    """None if `action` succeeds, else the error it raises, by type and message."""
    try:
        action()
    except DiplomaError as exc:
        return type(exc).__name__, str(exc)
    return None


def test_accepts_the_example_diploma(renderer: TemplateRenderer, claims: PublicClaims) -> None:
    renderer.check(claims, "classic")  # raises nothing


def test_refuses_an_emoji_naming_the_field_as_layout_does(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    claims = claims_with(citation="برگزیدهٔ جشنواره 🚀")
    with pytest.raises(InvalidInput) as info:
        renderer.check(claims, "classic")
    assert [p.field for p in info.value.problems] == ["citation"]
    assert "U+1F680" in str(info.value)
    assert outcome(lambda: renderer.layout(claims, "classic")) == outcome(
        lambda: renderer.check(claims, "classic")
    )


def test_refuses_text_too_long_for_its_box(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    with pytest.raises(InvalidInput, match="too long") as info:
        renderer.check(claims_with(name="صصصصصص " * 40), "classic")
    assert [p.field for p in info.value.problems] == ["name"]


def test_names_every_refused_field_at_once(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    claims = claims_with(name="زهرا 😀", name_en="W" * 300, field="漢")
    with pytest.raises(InvalidInput) as info:
        renderer.check(claims, "classic")
    assert sorted(p.field for p in info.value.problems) == ["field", "name", "name_en"]


def test_an_unprintable_institution_is_a_configuration_error(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims], claims: PublicClaims
) -> None:
    # The institution's name is the instance's settings, not the requester's input.
    broken = IssuerClaims("did:web:x.example", "دانشگاه 🚀", "University", "https://x.example")
    with pytest.raises(ConfigurationError, match="U\\+1F680"):
        renderer.check(claims_with(issuers=(broken, *claims.issuers[1:])), "classic")


def test_a_verify_url_too_long_for_the_qr_code_is_refused_without_encoding_it(
    renderer: TemplateRenderer,
    claims_with: Callable[..., PublicClaims],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_encoding(text: str) -> qr.QrCode:
        raise AssertionError("check() encoded the QR code")

    monkeypatch.setattr(qr, "encode", no_encoding)
    renderer.check(claims_with(), "classic")
    # Classic prints the URL in a box that refuses it first; without that box, the QR
    # code's limit (412 bytes, the URL with its signed fragment) is what refuses it.
    classic = renderer.template("classic")
    no_url_box = replace(
        classic, boxes=tuple(b for b in classic.boxes if "verify_url" not in b.fields)
    )
    room = 412 - qr_text_length(claims_with(verify_url="").qr_claims)
    longest = "https://x.example/v/" + "a" * (room - 20)
    layout.check(no_url_box, claims_with(verify_url=longest))
    with pytest.raises(ConfigurationError, match="public URL"):
        layout.check(no_url_box, claims_with(verify_url=longest + "a"))


def test_unknown_template_is_not_found(renderer: TemplateRenderer, claims: PublicClaims) -> None:
    with pytest.raises(NotFound):
        renderer.check(claims, "nosuch")


FIELDS = ("name", "name_en", "award", "award_en", "citation", "field")
LETTERS = PERSIAN + DIGITS + LATIN + ACCENTED + MARKS + PUNCTUATION


def words(limit: int) -> st.SearchStrategy[str]:
    """Words of mixed scripts, up to a little beyond what the core accepts (so that
    "too long" is reached too)."""
    word = st.text(alphabet=LETTERS, min_size=1, max_size=14)
    return st.lists(word, max_size=limit // 4).map(lambda w: " ".join(w)[: limit + 20].strip())


@st.composite
def diplomas(draw: st.DrawFn) -> dict[str, str]:
    values = {field: draw(words(MAX_LENGTH[field])) for field in FIELDS}
    if draw(st.booleans()):  # half of them with a character no font draws, somewhere
        field = draw(st.sampled_from(FIELDS))
        at = draw(st.integers(0, len(values[field])))
        char = draw(st.sampled_from(UNPRINTABLE))
        values[field] = values[field][:at] + char + values[field][at:]
    tail = draw(st.integers(0, 40) | st.integers(40, 200))
    values["verify_url"] = "https://diplomas.tbzmed.ac.ir/v/" + "x" * tail
    return values


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=diplomas())
def test_check_agrees_with_layout_and_render(
    renderer: TemplateRenderer,
    claims_with: Callable[..., PublicClaims],
    values: dict[str, str],
) -> None:
    claims = claims_with(**values)
    checked = outcome(lambda: renderer.check(claims, "classic"))
    assert checked == outcome(lambda: renderer.layout(claims, "classic"))
    event("accepted" if checked is None else checked[0])
    if checked is None:
        assert renderer.render(claims, "classic").startswith(b"%PDF-")
    else:
        assert checked == outcome(lambda: renderer.render(claims, "classic"))

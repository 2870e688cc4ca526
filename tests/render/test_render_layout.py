"""Where the classic template puts everything: inside the frame, nothing overlapping,
every value that the core accepts printable."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.lib.units import mm

from diplomas.core.credential import IssuerClaims, PublicClaims
from diplomas.core.errors import InvalidInput
from diplomas.core.model import MAX_LENGTH, Signatory
from diplomas.render import BUILTIN_DESIGNS, Layout, TemplateRenderer
from diplomas.render.layout import Rect

PERSIAN = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی"


TEMPLATES = BUILTIN_DESIGNS
ALL_TEMPLATES = TemplateRenderer(TEMPLATES).names()


def inside_frame(renderer: TemplateRenderer, template: str = "classic") -> Rect:
    t = renderer.template(template)
    border = t.border
    inset = {"double": border.margin + border.gap, "single": border.margin, "none": 0.0}
    edge = inset[border.style] * mm
    return Rect(edge, edge, t.width * mm - 2 * edge, t.height * mm - 2 * edge)


def assert_tidy(layout: Layout, frame: Rect) -> None:
    """Every line inside its box, every box inside the frame, no two boxes, rules or the
    QR code's quiet zone overlapping."""
    for box in layout.boxes:
        assert frame.contains(box.rect), box.where
        for line in box.lines:
            assert line.x >= box.rect.x - 0.01, (box.where, line.text)
            assert line.x + line.width <= box.rect.x + box.rect.width + 0.01, (box.where, line.text)
            assert box.rect.y <= line.baseline <= box.rect.y + box.rect.height, box.where
            assert line.bottom >= 0 and line.top <= layout.height
    assert frame.contains(layout.qr.quiet_zone)
    rects = [(b.where, b.rect) for b in layout.boxes] + [("qr", layout.qr.quiet_zone)]
    rects += [(f"rule {i}", r.rect) for i, r in enumerate(layout.rules)]
    for (a, ra), (b, rb) in itertools.combinations(rects, 2):
        assert not ra.overlaps(rb), (a, b)


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_example_diploma_is_tidy(
    renderer: TemplateRenderer, claims: PublicClaims, template: str
) -> None:
    assert_tidy(renderer.layout(claims, template), inside_frame(renderer, template))


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_longest_values_are_tidy(
    renderer: TemplateRenderer, longest: PublicClaims, template: str
) -> None:
    layout = renderer.layout(longest, template)
    assert_tidy(layout, inside_frame(renderer, template))
    printed = {b.fields: " ".join(line.text for line in b.lines) for b in layout.boxes}
    for field in ("name", "name_en", "award", "citation"):
        if (field,) in printed:  # every word printed, in order
            assert printed[(field,)].split() == getattr(longest, field).split()


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_widest_letters_at_every_maximum_still_fit(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims], template: str
) -> None:
    # «ص» and «ض» are Vazirmatn's widest Persian letters, «W» its widest Latin one.
    wide = claims_with(
        name=("صصصص " * 20)[: MAX_LENGTH["name"] - 1] + "ص",
        name_en=("WWWW " * 20)[: MAX_LENGTH["name_en"] - 1] + "W",
        award=("ضضضض " * 20)[: MAX_LENGTH["award"] - 1] + "ض",
        field=("صصصص " * 20)[: MAX_LENGTH["field"] - 1] + "ص",
    )
    assert_tidy(renderer.layout(wide, template), inside_frame(renderer, template))


def test_short_name_is_printed_large_and_long_one_smaller(
    renderer: TemplateRenderer, claims: PublicClaims, longest: PublicClaims
) -> None:
    def name_size(c: PublicClaims) -> float:
        (box,) = [b for b in renderer.layout(c, "classic").boxes if b.fields == ("name",)]
        return box.lines[0].size

    assert name_size(claims) == 34
    assert 16 <= name_size(longest) < 34


def test_citation_wraps_onto_at_most_three_lines(
    renderer: TemplateRenderer, longest: PublicClaims
) -> None:
    (box,) = [b for b in renderer.layout(longest, "classic").boxes if b.fields == ("citation",)]
    assert 2 <= len(box.lines) <= 3
    assert all(line.size >= 10.5 for line in box.lines)


def test_boxes_of_empty_values_are_left_out(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    layout = renderer.layout(claims_with(name_en="", field="", citation=""), "classic")
    fields = {f for b in layout.boxes for f in b.fields}
    assert {"name_en", "field", "citation"}.isdisjoint(fields)
    assert "name" in fields


def test_co_issued_institutions_sit_side_by_side_first_on_the_right(
    renderer: TemplateRenderer, claims: PublicClaims
) -> None:
    boxes = [b for b in renderer.layout(claims, "classic").boxes if b.fields == ("issuer_name",)]
    assert [b.lines[0].text for b in boxes] == [i.name for i in claims.issuers]
    first, second = boxes
    assert first.rect.y == second.rect.y
    assert first.rect.x > second.rect.x + second.rect.width


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_one_to_four_signatories_fit(
    renderer: TemplateRenderer,
    claims_with: Callable[..., PublicClaims],
    claims: PublicClaims,
    count: int,
) -> None:
    people = tuple(itertools.islice(itertools.cycle(claims.signatories), count))
    layout = renderer.layout(claims_with(signatories=people), "classic")
    assert_tidy(layout, inside_frame(renderer))
    names = [b for b in layout.boxes if b.fields == ("signatory_name",)]
    assert len(names) == count
    signature_lines = [r for r in layout.rules if r.y == layout.rules[-1].y]
    assert len(signature_lines) == count


def test_three_issuers_fit(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims], claims: PublicClaims
) -> None:
    third = IssuerClaims(
        "did:web:example.ir",
        "پارک علم و فناوری آذربایجان شرقی",
        "East Azerbaijan Science and Technology Park",
        "https://example.ir",
    )
    layout = renderer.layout(claims_with(issuers=(*claims.issuers, third)), "classic")
    assert_tidy(layout, inside_frame(renderer))


def test_unprintable_character_is_refused_naming_the_field(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    with pytest.raises(InvalidInput) as info:
        renderer.layout(claims_with(citation="برگزیدهٔ جشنواره 🚀"), "classic")
    assert [p.field for p in info.value.problems] == ["citation"]
    assert "U+1F680" in str(info.value)


def test_text_beyond_what_the_core_accepts_is_refused_not_overflowed(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    with pytest.raises(InvalidInput) as info:
        renderer.layout(claims_with(name="صصصصصص " * 40), "classic")
    assert [p.field for p in info.value.problems] == ["name"]
    assert "too long" in str(info.value)


def test_isolated_heh_with_hamza_prints_with_its_base_glyph(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    layout = renderer.layout(claims_with(field="آوازۀ نوآوری"), "classic")
    (box,) = [b for b in layout.boxes if b.fields == ("field",)]
    assert "\u06c0" in box.lines[0].glyphs


def test_signatory_without_english_still_gets_a_line(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    layout = renderer.layout(
        claims_with(signatories=(Signatory("دکتر پرویز شهابی", "معاون تحقیقات"),)), "classic"
    )
    fields = [b.fields for b in layout.boxes]
    assert ("signatory_name",) in fields and ("signatory_name_en",) not in fields


names = (
    st.lists(st.text(alphabet=PERSIAN, min_size=2, max_size=12), min_size=1, max_size=8)
    .map(" ".join)
    .filter(lambda s: len(s) <= MAX_LENGTH["name"])
)
citations = (
    st.lists(
        st.text(alphabet=PERSIAN + "۰۱۲۳۴۵۶۷۸۹", min_size=1, max_size=10), min_size=0, max_size=60
    )
    .map(" ".join)
    .map(lambda s: s[: MAX_LENGTH["citation"]].strip())
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, citation=citations)
def test_any_persian_name_and_citation_within_limits_is_tidy(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims], name: str, citation: str
) -> None:
    layout = renderer.layout(claims_with(name=name, citation=citation), "classic")
    assert_tidy(layout, inside_frame(renderer))

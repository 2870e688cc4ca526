"""Shrink, then wrap: how text is fitted into a box."""

from __future__ import annotations

import pytest

from diplomas.render import BUILTIN_DESIGNS
from diplomas.render.fonts import Font, load_font
from diplomas.render.shaping import shape_word
from diplomas.render.textfit import TextDoesNotFit, fit_text

FONTS = BUILTIN_DESIGNS / "fonts"


@pytest.fixture(scope="module")
def font() -> Font:
    return load_font(FONTS / "Vazirmatn-Regular.ttf")


def fit(
    font: Font,
    text: str,
    width: float,
    height: float = 100,
    *,
    size: float = 20,
    min_size: float = 10,
    max_lines: int = 3,
    leading: float = 1.25,
) -> tuple[float, int]:
    fitted = fit_text(
        text,
        font,
        width=width,
        height=height,
        size=size,
        min_size=min_size,
        max_lines=max_lines,
        leading=leading,
    )
    return fitted.size, len(fitted.lines)


def test_short_text_keeps_its_size(font: Font) -> None:
    assert fit(font, "زهرا محمدی‌نژاد", 400) == (20, 1)


def test_text_shrinks_on_one_line_before_it_wraps(font: Font) -> None:
    text = "معاونت تحقیقات و فناوری دانشگاه علوم پزشکی تبریز"
    full = font.width(shape_word(text), 20)
    size, lines = fit(font, text, full * 0.8)
    assert lines == 1
    assert 15.5 <= size < 16.1


def test_text_wraps_at_full_size_once_the_minimum_is_not_enough(font: Font) -> None:
    text = "به پاس تلاش‌های ارزشمند در تأسیس و توسعهٔ شرکت دانش‌بنیان " * 3
    size, lines = fit(font, text.strip(), font.width(shape_word(text), 10) / 2.5)
    assert lines == 3
    assert size > 10


def test_wrapped_lines_fit_the_width_and_keep_every_word(font: Font) -> None:
    text = " ".join(f"واژه{i}" for i in range(40))
    fitted = fit_text(
        text, font, width=200, height=200, size=14, min_size=8, max_lines=6, leading=1.3
    )
    assert " ".join(fitted.lines) == text
    assert all(font.width(line, fitted.size) <= 200 for line in fitted.lines)


def test_height_limits_the_line_count(font: Font) -> None:
    text = "کلمه " * 30
    with pytest.raises(TextDoesNotFit):
        fit(font, text.strip(), 100, height=25, max_lines=5)


def test_a_word_wider_than_the_box_is_broken_between_characters(font: Font) -> None:
    url = "https://diplomas.tbzmed.ac.ir/v/8Zq3mXn2Wd7Lk5Pr9Tb4Hc"
    fitted = fit_text(
        url,
        font,
        width=font.width(url, 6) * 0.6,
        height=100,
        size=6,
        min_size=6,
        max_lines=2,
        leading=1.2,
    )
    assert "".join(fitted.lines) == url
    assert len(fitted.lines) == 2


def test_explicit_line_breaks_are_kept(font: Font) -> None:
    fitted = fit_text(
        "Scan\nto verify",
        font,
        width=500,
        height=100,
        size=10,
        min_size=10,
        max_lines=2,
        leading=1.2,
    )
    assert fitted.lines == ("Scan", "to verify")


def test_too_much_text_raises(font: Font) -> None:
    with pytest.raises(TextDoesNotFit):
        fit(font, "واژه " * 200, 100, max_lines=2)

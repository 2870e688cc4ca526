"""Fitting text into a box: shrink first, wrap only when shrinking is not enough.

A name or a title reads better on one smaller line than broken over two. For a given
number of lines the largest size that fits is found by bisection: at a smaller size lines
hold more words, so the line count never grows and the block never gets taller, which
makes "fits" monotonic in the size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .fonts import Font
from .shaping import shape_word

_PRECISION = 0.1


class TextDoesNotFit(Exception):
    """Even at the minimum size the text needs more lines or height than the box has."""


@dataclass(frozen=True)
class FittedText:
    size: float
    lines: tuple[str, ...]
    """Logical text of each line, top to bottom."""


@dataclass(frozen=True)
class _Word:
    text: str
    units: float
    """Width at 1 pt, tracking aside."""


class _Measured:
    """Paragraphs of words measured once, so each trial size is only arithmetic."""

    def __init__(self, text: str, font: Font, tracking: float) -> None:
        # Shaping maps each space to a space and never joins across one, so the shaped
        # paragraph splits into the shaped words, one shaping call per paragraph.
        self.paragraphs = [
            [
                _Word(w, font.width(shaped, 1))
                for w, shaped in zip(
                    paragraph.split(" "), shape_word(paragraph).split(" "), strict=True
                )
                if w
            ]
            for paragraph in text.split("\n")
        ]
        self.space = font.width(" ", 1)
        self.tracking = tracking

    def line_width(self, words: list[_Word], size: float) -> float:
        chars = sum(len(w.text) for w in words) + len(words) - 1
        units = sum(w.units for w in words) + self.space * (len(words) - 1)
        return units * size + self.tracking * max(chars - 1, 0)

    def wrap(self, size: float, width: float) -> list[str] | None:
        """Greedy wrapping (which gives the fewest lines); None if a word is too wide."""
        lines: list[str] = []
        for words in self.paragraphs:
            line: list[_Word] = []
            for word in words:
                if line and self.line_width([*line, word], size) <= width:
                    line.append(word)
                    continue
                if line:
                    lines.append(" ".join(w.text for w in line))
                if self.line_width([word], size) > width:
                    return None
                line = [word]
            if line:
                lines.append(" ".join(w.text for w in line))
        return lines


def fit_text(
    text: str,
    font: Font,
    *,
    width: float,
    height: float,
    size: float,
    min_size: float,
    max_lines: int,
    leading: float,
    tracking: float = 0.0,
) -> FittedText:
    """Lay `text` out in a `width` x `height` box (points); TextDoesNotFit if impossible.

    One line is tried first, shrinking from `size` down to `min_size`; only then two
    lines, again from `size` down, and so on up to `max_lines`. A single word wider than
    the box at the minimum size (a long URL) is broken between characters rather than
    allowed to run past the box.

    Cached: labels, institutions and signatories repeat on every page of a bulk run.
    """
    measured = _Measured(text, font, tracking)

    def attempt(trial: float, count: int) -> list[str] | None:
        lines = measured.wrap(trial, width)
        if lines is None or len(lines) > count:
            return None
        if len(lines) * trial * leading > height + 1e-6:
            return None
        return lines

    for count in range(1, max_lines + 1):
        lines = attempt(size, count)
        if lines is not None:
            return FittedText(size, tuple(lines))
        smallest = attempt(min_size, count)
        if smallest is None:
            continue
        low, high = min_size, size
        while high - low > _PRECISION:
            middle = (low + high) / 2
            if attempt(middle, count) is None:
                high = middle
            else:
                low = middle
        # Round down to a tenth of a point: it still fits, and sizes read cleanly.
        final = max(min_size, math.floor(low * 10) / 10)
        return FittedText(final, tuple(attempt(final, count) or smallest))
    return _broken(
        text,
        font,
        width=width,
        height=height,
        size=min_size,
        max_lines=max_lines,
        leading=leading,
        tracking=tracking,
    )


def _broken(
    text: str,
    font: Font,
    *,
    width: float,
    height: float,
    size: float,
    max_lines: int,
    leading: float,
    tracking: float,
) -> FittedText:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if _width(candidate, font, size, tracking) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
                line = ""
            for char in word:
                if line and _width(line + char, font, size, tracking) > width:
                    lines.append(line)
                    line = ""
                line += char
        if line:
            lines.append(line)
    if (
        len(lines) > max_lines
        or len(lines) * size * leading > height + 1e-6
        or any(_width(line, font, size, tracking) > width for line in lines)
    ):
        raise TextDoesNotFit(text)
    return FittedText(size, tuple(lines))


def _width(text: str, font: Font, size: float, tracking: float) -> float:
    return font.width(shape_word(text), size) + tracking * max(len(text) - 1, 0)

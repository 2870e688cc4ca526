"""Where every line of a diploma goes: the template's boxes filled from the claims.

Layout is kept apart from drawing so that tests can check geometry (nothing leaves its box
or the page) without parsing a PDF. Coordinates here are PDF points with the origin at
the bottom-left of the page; the template's millimetres from the top-left end here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from reportlab.lib.units import mm

from ..core.credential import PublicClaims
from ..core.dates import format_gregorian, format_solar_hijri, format_solar_hijri_numeric
from ..core.errors import ConfigurationError, FieldProblem, InvalidInput
from ..core.model import REQUEST_FIELDS
from ..core.qrproof import qr_text_length
from ..core.text import persian_digits
from . import qr
from .fonts import Font
from .shaping import is_rtl, visual
from .template import PLACEHOLDER, TEMPLATE_FILE, Color, Rule, Template, TextBox
from .textfit import TextDoesNotFit, fit_text

DIAMOND = 1.4
"""Half the diagonal of the lozenge in the middle of a decorated rule, in mm."""


@dataclass(frozen=True)
class PlacedLine:
    text: str
    """The logical text, as a reader would type it."""
    glyphs: str
    """What is drawn, left to right: shaped and in visual order."""
    font: Font
    size: float
    color: Color
    x: float
    baseline: float
    width: float
    tracking: float

    @property
    def top(self) -> float:
        return self.baseline + self.font.ascent * self.size

    @property
    def bottom(self) -> float:
        return self.baseline - self.font.descent * self.size


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    def contains(self, other: Rect, tolerance: float = 0.01) -> bool:
        return (
            other.x >= self.x - tolerance
            and other.y >= self.y - tolerance
            and other.x + other.width <= self.x + self.width + tolerance
            and other.y + other.height <= self.y + self.height + tolerance
        )

    def overlaps(self, other: Rect, tolerance: float = 0.01) -> bool:
        """Whether the two share more than an edge (boxes that touch do not overlap)."""
        t = tolerance
        return (
            self.x < other.x + other.width - t
            and other.x < self.x + self.width - t
            and self.y < other.y + other.height - t
            and other.y < self.y + self.height - t
        )


@dataclass(frozen=True)
class PlacedBox:
    where: str
    fields: tuple[str, ...]
    rect: Rect
    lines: tuple[PlacedLine, ...]


@dataclass(frozen=True)
class PlacedRule:
    x: float
    y: float
    width: float
    color: Color
    line_width: float
    diamond: bool

    @property
    def rect(self) -> Rect:
        """What the rule covers, lozenges included."""
        half = DIAMOND * mm if self.diamond else self.line_width / 2
        return Rect(self.x - half, self.y - half, self.width + 2 * half, 2 * half)


@dataclass(frozen=True)
class PlacedQr:
    code: qr.QrCode
    x: float
    y: float
    module: float
    """Side of one module, in points; the symbol is `code.modules` of them wide."""
    quiet_zone: Rect
    color: Color
    background: Color
    frame: Color | None
    frame_width: float


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    boxes: tuple[PlacedBox, ...]
    rules: tuple[PlacedRule, ...]
    qr: PlacedQr


def page_values(claims: PublicClaims) -> dict[str, str]:
    """The values a top-level text box may name as {placeholders}."""
    issued_on_fa, issued_on_fa_numeric, issued_on_en = _dates(claims.issued_on)
    return {
        "name": claims.name,
        "name_en": claims.name_en,
        "award": claims.award,
        "award_en": claims.award_en,
        "citation": claims.citation,
        "field": claims.field,
        "serial": claims.serial,
        "id": claims.id,
        "verify_url": claims.verify_url,
        "issued_on_fa": issued_on_fa,
        "issued_on_fa_numeric": issued_on_fa_numeric,
        "issued_on_en": issued_on_en,
    }


@lru_cache(maxsize=64)
def _dates(day: date) -> tuple[str, str, str]:
    """The issue date as the page prints it; a bulk run issues on one day."""
    return (
        format_solar_hijri(day),
        persian_digits(format_solar_hijri_numeric(day)),
        format_gregorian(day),
    )


def lay_out(template: Template, claims: PublicClaims) -> Layout:
    """Fill `template` with `claims`.

    Raises InvalidInput naming the fields whose text does not fit its box even at the
    minimum size, or holds characters the font cannot draw; ConfigurationError when the
    template's own text is at fault, or when the verification URL is too long for the QR
    code.
    """
    height = template.height * mm
    problems: list[FieldProblem] = []
    boxes: list[PlacedBox] = []
    for box, values in _filled_boxes(template, claims):
        try:
            placed = _place_box(box, values, height)
        except _Unprintable as exc:
            problems.extend(_problems(template, box, exc))
        else:
            if placed is not None:
                boxes.append(placed)
    if problems:
        raise InvalidInput(problems)

    rules = [
        PlacedRule(r.x * mm, height - r.y * mm, r.width * mm, r.color, r.line_width, r.diamond)
        for r in template.rules
    ]
    for row, count in (
        (template.issuers, len(claims.issuers)),
        (template.signatories, len(claims.signatories)),
    ):
        for x, width in row.columns(count):
            rules.extend(_row_rules(row.rules, x, width, row.y, height))
    return Layout(
        template.width * mm,
        height,
        tuple(boxes),
        tuple(rules),
        _place_qr(template, claims.qr_text, height),
    )


def check(template: Template, claims: PublicClaims) -> None:
    """Raise exactly what `lay_out` would raise for `claims`, and nothing when it would
    succeed, without placing anything or encoding the QR code.

    Every box is fitted and its glyphs checked as `lay_out` does it (through the same
    function, so the two cannot disagree); the QR code is only sized.
    """
    problems: list[FieldProblem] = []
    for box, values in _filled_boxes(template, claims):
        try:
            _fit_box(box, values)
        except _Unprintable as exc:
            problems.extend(_problems(template, box, exc))
    if problems:
        raise InvalidInput(problems)
    # Sized for the signed QR text that issuance will draw, whether or not these claims
    # are signed yet.
    qr.version_for_length(qr_text_length(claims.qr_claims))


def _filled_boxes(
    template: Template, claims: PublicClaims
) -> Iterator[tuple[TextBox, Mapping[str, str]]]:
    """Every text box of the page with the values its placeholders take, in drawing
    order: the page's own boxes, then each institution's and each signatory's column."""
    values = page_values(claims)
    for box in template.boxes:
        yield box, values
    for issuer, column in zip(
        claims.issuers, template.issuers.boxes_in_columns(len(claims.issuers)), strict=True
    ):
        issuer_values = {
            "issuer_name": issuer.name,
            "issuer_name_en": issuer.name_en,
            "issuer_url": issuer.url,
        }
        for box in column:
            yield box, issuer_values
    for person, column in zip(
        claims.signatories,
        template.signatories.boxes_in_columns(len(claims.signatories)),
        strict=True,
    ):
        person_values = {
            "signatory_name": person.name,
            "signatory_title": person.title,
            "signatory_name_en": person.name_en,
            "signatory_title_en": person.title_en,
        }
        for box in column:
            yield box, person_values


class _Unprintable(Exception):
    def __init__(self, text: str, message: str) -> None:
        super().__init__(message)
        self.text = text
        self.message = message


def _problems(template: Template, box: TextBox, problem: _Unprintable) -> list[FieldProblem]:
    # Only what the requester typed is their problem; a label, an institution's name or
    # the URL that does not fit is the design's or the instance's.
    fields = [f for f in box.fields if f in REQUEST_FIELDS]
    if not fields:
        raise ConfigurationError(
            f"{template.folder / TEMPLATE_FILE}: [{box.where}] the text {problem.text!r} "
            f"{problem.message}"
        )
    return [FieldProblem(f, f"{problem.message} (template {template.name!r})") for f in fields]


def _expand(box: TextBox, values: Mapping[str, str]) -> str | None:
    if any(not values[f] for f in box.fields):
        return None
    text = PLACEHOLDER.sub(lambda m: values[m.group(1)], box.text)
    return text.upper() if box.upper else text


@dataclass(frozen=True)
class _Line:
    text: str
    """The logical text."""
    glyphs: str
    """What is drawn, left to right."""
    advance: float
    """Width of `glyphs` in thousandths of the font size, tracking aside."""


@dataclass(frozen=True)
class _Fitted:
    size: float
    lines: tuple[_Line, ...]
    tracking: float


def _fit_box(box: TextBox, values: Mapping[str, str]) -> _Fitted | None:
    """The box's text fitted and shaped, None when a placeholder is empty;
    _Unprintable when it does not fit or the font lacks a glyph."""
    text = _expand(box, values)
    if text is None:
        return None
    return _fit(
        text,
        box.font,
        box.width,
        box.height,
        box.size,
        box.min_size,
        box.max_lines,
        box.leading,
        box.tracking,
    )


@lru_cache(maxsize=2048)
def _fit(
    text: str,
    font: Font,
    width: float,
    height: float,
    size: float,
    min_size: float,
    max_lines: int,
    leading: float,
    tracking: float,
) -> _Fitted:
    """Fit, shape and measure `text` for a box of `width` x `height` mm.

    Cached, keyed by value: labels, institutions, signatories and the date repeat on
    every page of a bulk run, in `check()` as in `lay_out()`."""
    rtl = is_rtl(text)
    # Letter spacing would pull joined Persian letters apart.
    tracking = 0.0 if rtl else tracking
    try:
        fitted = fit_text(
            text,
            font,
            width=width * mm,
            height=height * mm,
            size=size,
            min_size=min_size,
            max_lines=max_lines,
            leading=leading,
            tracking=tracking,
        )
    except TextDoesNotFit:
        raise _Unprintable(
            text,
            f"is too long: it does not fit in {max_lines} line(s) even at {min_size:g} pt",
        ) from None
    lines = []
    for logical in fitted.lines:
        glyphs = _drawable(visual(logical, rtl), font, text)
        lines.append(_Line(logical, glyphs, font.units(glyphs)))
    return _Fitted(fitted.size, tuple(lines), tracking)


def _place_box(box: TextBox, values: Mapping[str, str], page_height: float) -> PlacedBox | None:
    fitted = _fit_box(box, values)
    if fitted is None:
        return None
    rect = Rect(
        box.x * mm, page_height - (box.y + box.height) * mm, box.width * mm, box.height * mm
    )
    size = fitted.size
    tracking = fitted.tracking
    font = box.font
    line_height = size * box.leading
    block = line_height * len(fitted.lines)
    if box.valign == "top":
        block_top = rect.y + rect.height
    elif box.valign == "bottom":
        block_top = rect.y + block
    else:
        block_top = rect.y + (rect.height + block) / 2
    # Centre the font's ascent-to-descent band in each line's slot.
    inset = (line_height - (font.ascent + font.descent) * size) / 2 + font.ascent * size

    lines = []
    for i, line in enumerate(fitted.lines):
        glyphs = line.glyphs
        width = line.advance * size / 1000 + tracking * max(len(glyphs) - 1, 0)
        if box.align == "left":
            x = rect.x
        elif box.align == "right":
            x = rect.x + rect.width - width
        else:
            x = rect.x + (rect.width - width) / 2
        lines.append(
            PlacedLine(
                line.text,
                glyphs,
                font,
                size,
                box.color,
                x,
                block_top - i * line_height - inset,
                width,
                tracking,
            )
        )
    return PlacedBox(box.where, box.fields, rect, tuple(lines))


def _drawable(glyphs: str, font: Font, text: str) -> str:
    """`glyphs` with any presentation form the font lacks replaced by its base letter
    (Vazirmatn has no isolated «ۀ», whose base glyph looks the same); _Unprintable if a
    character has no glyph at all (an emoji, say), rather than a box on the diploma."""
    if all(font.has_glyph(c) for c in glyphs):
        return glyphs
    out = []
    missing = set()
    for char in glyphs:
        if not font.has_glyph(char):
            base = unicodedata.normalize("NFKC", char)
            if len(base) == 1 and font.has_glyph(base):
                char = base
            else:
                missing.add(char)
        out.append(char)
    if missing:
        raise _Unprintable(
            text,
            "holds characters the template's font cannot print: "
            + " ".join(f"U+{ord(c):04X}" for c in sorted(missing)),
        )
    return "".join(out)


def _row_rules(
    rules: tuple[Rule, ...], x: float, width: float, row_y: float, page_height: float
) -> list[PlacedRule]:
    placed = []
    for r in rules:
        # Narrow columns (four signatories) shorten the lines so that they stay apart.
        length = min(r.width, width * 0.85)
        placed.append(
            PlacedRule(
                (x + (width - length) / 2) * mm,
                page_height - (row_y + r.y) * mm,
                length * mm,
                r.color,
                r.line_width,
                r.diamond,
            )
        )
    return placed


def _place_qr(template: Template, url: str, page_height: float) -> PlacedQr:
    spec = template.qr
    code = qr.encode(url)
    module = spec.size * mm / code.modules
    x = spec.x * mm
    y = page_height - (spec.y + spec.size) * mm
    quiet = qr.QUIET_ZONE * module
    return PlacedQr(
        code,
        x,
        y,
        module,
        Rect(x - quiet, y - quiet, spec.size * mm + 2 * quiet, spec.size * mm + 2 * quiet),
        spec.color,
        spec.background,
        spec.frame,
        spec.frame_width,
    )

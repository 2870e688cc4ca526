"""Diploma designs read from `templates/<name>/template.toml` (keys in templates/README.md).

A design is data: a designer copies a folder and edits its TOML without touching code.
Everything is checked when the template is first loaded (unknown keys, placeholders,
colours, fonts, paths that leave the templates folder), so a mistake surfaces as one
ConfigurationError naming the file and key instead of a broken page in a bulk run.
Positions and sizes are millimetres from the top-left corner of the page; font sizes and
line widths are points.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..core.errors import ConfigurationError
from .fonts import Font, load_font

TEMPLATE_FILE = "template.toml"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MIN_QR_SIZE = 30.0
"""Millimetres: below this a phone no longer reads a version 10 symbol from paper."""

Color = tuple[float, float, float]
Align = Literal["left", "center", "right"]
VAlign = Literal["top", "middle", "bottom"]
BorderStyle = Literal["double", "single", "none"]
Corners = Literal["star", "none"]

PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")
PAGE_FIELDS = frozenset(
    {
        "name",
        "name_en",
        "award",
        "award_en",
        "citation",
        "field",
        "serial",
        "id",
        "verify_url",
        "issued_on_fa",
        "issued_on_fa_numeric",
        "issued_on_en",
    }
)
ISSUER_FIELDS = frozenset({"issuer_name", "issuer_name_en", "issuer_url"})
SIGNATORY_FIELDS = frozenset(
    {
        "signatory_name",
        "signatory_title",
        "signatory_name_en",
        "signatory_title_en",
    }
)


@dataclass(frozen=True)
class TextBox:
    """Text confined to a box: it shrinks from `size` towards `min_size`, then wraps onto
    up to `max_lines` lines. A box with an empty placeholder (no English name, no field)
    is left out, since its label would introduce nothing."""

    text: str
    fields: tuple[str, ...]
    x: float
    y: float
    width: float
    height: float
    font: Font
    size: float
    min_size: float
    color: Color
    align: Align
    valign: VAlign
    max_lines: int
    leading: float
    tracking: float
    upper: bool
    where: str
    """The TOML table the box came from, for messages."""


@dataclass(frozen=True)
class Rule:
    """A signature line (in a row) or a decorative line, `diamond` adds a small lozenge."""

    x: float
    y: float
    width: float
    color: Color
    line_width: float
    diamond: bool


@dataclass(frozen=True)
class Star:
    """An eight-pointed star (two overlapping squares), the classic Persian khatam motif."""

    x: float
    y: float
    size: float
    color: Color
    fill: bool
    line_width: float
    opacity: float
    emblem: bool = False
    """Left out on a page that shows the institutions' own logos (which take its place)."""


@dataclass(frozen=True)
class ColumnLogo:
    """Where each institution's logo goes in its column: a box `width` × `height` mm,
    centred in the column, `y` from the row's top. The image keeps its proportions."""

    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Row:
    """Repeated columns, one per issuer or signatory, the first on the right.

    Boxes and rules inside take `y` relative to the row; their x and width come from the
    column (a rule's `width` is its length, centred in the column).
    """

    x: float
    y: float
    width: float
    gap: float
    boxes: tuple[TextBox, ...]
    rules: tuple[Rule, ...]
    logo: ColumnLogo | None = None
    """The issuers' row only: where each institution's logo goes, if it has one."""
    _placed: dict[int, tuple[tuple[TextBox, ...], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def columns(self, count: int) -> list[tuple[float, float]]:
        """(x, width) of each of `count` columns, right to left."""
        if count <= 0:
            return []
        col = (self.width - self.gap * (count - 1)) / count
        right = self.x + self.width
        return [(right - (i + 1) * col - i * self.gap, col) for i in range(count)]

    def boxes_in_columns(self, count: int) -> tuple[tuple[TextBox, ...], ...]:
        """The row's boxes moved into each of `count` columns (page coordinates),
        right to left; worked out once per count."""
        placed = self._placed.get(count)
        if placed is None:
            placed = self._placed.setdefault(
                count,
                tuple(
                    tuple(replace(b, x=x, width=width, y=self.y + b.y) for b in self.boxes)
                    for x, width in self.columns(count)
                ),
            )
        return placed


@dataclass(frozen=True)
class Border:
    style: BorderStyle
    margin: float
    gap: float
    color: Color
    line_width: float
    inner_color: Color
    inner_line_width: float
    corners: Corners
    corner_size: float
    corner_color: Color


@dataclass(frozen=True)
class Logo:
    path: Path
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class QrSpec:
    """Where the QR symbol goes: `size` is the symbol's width without its quiet zone."""

    x: float
    y: float
    size: float
    color: Color
    background: Color
    frame: Color | None
    frame_width: float


@dataclass(frozen=True)
class Template:
    name: str
    folder: Path
    title: str
    width: float
    height: float
    background: Color
    border: Border
    stars: tuple[Star, ...]
    rules: tuple[Rule, ...]
    logo: Logo | None
    boxes: tuple[TextBox, ...]
    issuers: Row
    signatories: Row
    qr: QrSpec
    fonts: tuple[Font, ...]


S = TypeVar("S", bound=str)
ALIGNS: tuple[Align, ...] = ("center", "right", "left")
VALIGNS: tuple[VAlign, ...] = ("middle", "top", "bottom")
BORDER_STYLES: tuple[BorderStyle, ...] = ("double", "single", "none")
CORNERS: tuple[Corners, ...] = ("none", "star")


class _Table:
    """One TOML table, read key by key so that leftovers can be reported as unknown."""

    def __init__(self, data: Mapping[str, Any], where: str, file: Path) -> None:
        self._data = dict(data)
        self.where = where
        self._file = file

    def error(self, message: str) -> ConfigurationError:
        where = f" [{self.where}]" if self.where else ""
        return ConfigurationError(f"{self._file}:{where} {message}")

    def _pop(self, key: str, default: object) -> object:
        if key in self._data:
            return self._data.pop(key)
        if default is None:
            raise self.error(f"needs `{key}`")
        return default

    def number(
        self, key: str, default: float | None = None, *, low: float = 0.0, high: float = 10_000.0
    ) -> float:
        value = self._pop(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"`{key}` must be a number")
        if not low <= value <= high:
            raise self.error(f"`{key}` must be between {low:g} and {high:g}, not {value:g}")
        return float(value)

    def text(self, key: str, default: str | None = None) -> str:
        value = self._pop(key, default)
        if not isinstance(value, str):
            raise self.error(f"`{key}` must be a string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._pop(key, default)
        if not isinstance(value, bool):
            raise self.error(f"`{key}` must be true or false")
        return value

    def choice(self, key: str, options: tuple[S, ...]) -> S:
        """One of `options`, the first being the default."""
        value = self.text(key, options[0])
        for option in options:
            if value == option:
                return option
        raise self.error(f"`{key}` must be one of {', '.join(options)}, not {value!r}")

    def has(self, key: str) -> bool:
        return key in self._data

    def table(self, key: str) -> _Table:
        if key not in self._data:
            raise self.error(f"needs a [{self.sub(key)}] table")
        return self.optional_table(key) or _Table({}, self.sub(key), self._file)

    def optional_table(self, key: str) -> _Table | None:
        if key not in self._data:
            return None
        value = self._data.pop(key)
        if not isinstance(value, dict):
            raise self.error(f"`{key}` must be a table")
        return _Table(value, self.sub(key), self._file)

    def tables(self, key: str) -> list[_Table]:
        value = self._data.pop(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(f"`{key}` must be an array of tables ([[{self.sub(key)}]])")
        return [_Table(v, f"{self.sub(key)} #{i + 1}", self._file) for i, v in enumerate(value)]

    def items(self) -> list[tuple[str, object]]:
        """Every remaining key, consumed."""
        data, self._data = self._data, {}
        return list(data.items())

    def sub(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def done(self) -> None:
        if self._data:
            raise self.error(f"unknown key(s): {', '.join(sorted(self._data))}")


_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


class _Loader:
    def __init__(self, name: str, folder: Path, root: Path, fallbacks: Sequence[Path]) -> None:
        self.name = name
        self.folder = folder
        self.root = root
        self.fallbacks = tuple(fallbacks)
        self.file = folder / TEMPLATE_FILE
        self.colors: dict[str, Color] = {}
        self.fonts: dict[str, Font] = {}

    def path(self, table: _Table, key: str, relative: str) -> Path:
        """A file the design names, relative to its folder and inside its designs folder.
        A file missing there is looked for at the same place in the later designs folders
        (the built-in one last), so that a copy of `classic` in an instance's own folder
        finds the fonts that ship with the package."""
        path = (self.folder / relative).resolve()
        if not path.is_relative_to(self.root):
            raise table.error(f"`{key}` points outside the templates folder: {relative}")
        inside = path.relative_to(self.root)
        for candidate in (path, *(root / inside for root in self.fallbacks)):
            if candidate.is_file():
                return candidate
        raise table.error(f"`{key}`: no file at {path}")

    def color(self, table: _Table, key: str, default: str) -> Color:
        return self._parse_color(table, key, table.text(key, default))

    def optional_color(self, table: _Table, key: str) -> Color | None:
        return self.color(table, key, "") if table.has(key) else None

    def _parse_color(self, table: _Table, key: str, value: str) -> Color:
        if value in self.colors:
            return self.colors[value]
        match = _HEX.match(value)
        if not match:
            raise table.error(f"`{key}` must be #rrggbb or a name from [colors], not {value!r}")
        rgb = int(match.group(1), 16)
        return ((rgb >> 16) / 255, ((rgb >> 8) & 255) / 255, (rgb & 255) / 255)

    def load(self) -> Template:
        try:
            with self.file.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{self.file}: not valid TOML: {exc}") from None
        top = _Table(data, "", self.file)

        colors = top.optional_table("colors")
        for key, value in colors.items() if colors else []:
            if not isinstance(value, str) or not _HEX.match(value):
                raise top.error(f'colour `{key}` must be a string like "#1c2b4a"')
            self.colors[key] = self._parse_color(top, key, value)

        fonts = top.table("fonts")
        for key, value in fonts.items():
            if not isinstance(value, str):
                raise fonts.error(f"`{key}` must be the path of a .ttf file")
            self.fonts[key] = load_font(self.path(fonts, key, value))
        if not self.fonts:
            raise fonts.error("needs at least one font")

        meta = top.optional_table("meta")
        title = self.name
        if meta:
            title = meta.text("title", self.name)
            meta.text("description", "")
            meta.done()

        page = top.table("page")
        width = page.number("width", low=50, high=2000)
        height = page.number("height", low=50, high=2000)
        background = self.color(page, "background", "#ffffff")
        page.done()

        border = self.border(top.optional_table("border"))
        stars = tuple(self.star(t) for t in top.tables("star"))
        rules = tuple(self.rule(t, relative=False) for t in top.tables("rule"))
        logo_table = top.optional_table("logo")
        logo = self.logo(logo_table) if logo_table else None
        boxes = tuple(self.box(t, PAGE_FIELDS) for t in top.tables("text"))
        issuers = self.row(top.table("issuers"), ISSUER_FIELDS, logos=True)
        signatories = self.row(top.table("signatories"), SIGNATORY_FIELDS)
        qr = self.qr(top.table("qr"))
        top.done()
        return Template(
            name=self.name,
            folder=self.folder,
            title=title,
            width=width,
            height=height,
            background=background,
            border=border,
            stars=stars,
            rules=rules,
            logo=logo,
            boxes=boxes,
            issuers=issuers,
            signatories=signatories,
            qr=qr,
            fonts=tuple(self.fonts.values()),
        )

    def border(self, t: _Table | None) -> Border:
        if t is None:
            t = _Table({"style": "none"}, "border", self.file)
        color = self.color(t, "color", "#000000")
        border = Border(
            style=t.choice("style", BORDER_STYLES),
            margin=t.number("margin", 8.0, high=100),
            gap=t.number("gap", 3.0, high=50),
            color=color,
            line_width=t.number("line_width", 1.5, high=20),
            inner_color=self.optional_color(t, "inner_color") or color,
            inner_line_width=t.number("inner_line_width", 0.6, high=20),
            corners=t.choice("corners", CORNERS),
            corner_size=t.number("corner_size", 14.0, high=100),
            corner_color=self.optional_color(t, "corner_color") or color,
        )
        t.done()
        return border

    def star(self, t: _Table) -> Star:
        star = Star(
            x=t.number("x"),
            y=t.number("y"),
            size=t.number("size", high=500),
            color=self.color(t, "color", "#000000"),
            fill=t.flag("fill", True),
            line_width=t.number("line_width", 0.6, high=20),
            opacity=t.number("opacity", 1.0, high=1.0),
            emblem=t.flag("emblem", False),
        )
        t.done()
        return star

    def rule(self, t: _Table, *, relative: bool) -> Rule:
        rule = Rule(
            x=0.0 if relative else t.number("x"),
            y=t.number("y"),
            width=t.number("length" if relative else "width"),
            color=self.color(t, "color", "#000000"),
            line_width=t.number("line_width", 0.6, high=20),
            diamond=t.flag("diamond", False),
        )
        t.done()
        return rule

    def logo(self, t: _Table) -> Logo:
        logo = Logo(
            self.path(t, "path", t.text("path")),
            t.number("x"),
            t.number("y"),
            t.number("width", low=1),
            t.number("height", low=1),
        )
        t.done()
        return logo

    def box(self, t: _Table, allowed: frozenset[str], *, relative: bool = False) -> TextBox:
        text = t.text("text")
        fields = tuple(dict.fromkeys(PLACEHOLDER.findall(text)))
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise t.error(
                f"unknown placeholder(s) {', '.join('{' + f + '}' for f in unknown)}; "
                f"this box may use {', '.join(sorted(allowed))}"
            )
        rest = PLACEHOLDER.sub("", text)
        if "{" in rest or "}" in rest:
            raise t.error("`text` has a brace that is not a {placeholder}")
        font_name = t.text("font")
        if font_name not in self.fonts:
            raise t.error(f"`font` must be one of {', '.join(self.fonts)}, not {font_name!r}")
        size = t.number("size", low=1, high=400)
        min_size = t.number("min_size", size, low=1, high=size)
        box = TextBox(
            text=text,
            fields=fields,
            x=0.0 if relative else t.number("x"),
            y=t.number("y"),
            width=0.0 if relative else t.number("width", low=1),
            height=t.number("height", low=1),
            font=self.fonts[font_name],
            size=size,
            min_size=min_size,
            color=self.color(t, "color", "#000000"),
            align=t.choice("align", ALIGNS),
            valign=t.choice("valign", VALIGNS),
            max_lines=int(t.number("max_lines", 1, low=1, high=50)),
            leading=t.number("leading", 1.3, low=0.8, high=4),
            tracking=t.number("tracking", 0.0, low=-5, high=50),
            upper=t.flag("upper", False),
            where=t.where,
        )
        t.done()
        return box

    def row(self, t: _Table, allowed: frozenset[str], *, logos: bool = False) -> Row:
        logo_table = t.optional_table("logo") if logos else None
        row = Row(
            x=t.number("x"),
            y=t.number("y"),
            width=t.number("width", low=1),
            gap=t.number("gap", 0.0),
            boxes=tuple(self.box(b, allowed, relative=True) for b in t.tables("text")),
            rules=tuple(self.rule(r, relative=True) for r in t.tables("rule")),
            logo=self.column_logo(logo_table) if logo_table else None,
        )
        t.done()
        return row

    def column_logo(self, t: _Table) -> ColumnLogo:
        logo = ColumnLogo(
            y=t.number("y", low=-500, high=500),
            width=t.number("width", low=1),
            height=t.number("height", low=1),
        )
        t.done()
        return logo

    def qr(self, t: _Table) -> QrSpec:
        spec = QrSpec(
            x=t.number("x"),
            y=t.number("y"),
            size=t.number("size", low=MIN_QR_SIZE, high=500),
            color=self.color(t, "color", "#000000"),
            background=self.color(t, "background", "#ffffff"),
            frame=self.optional_color(t, "frame"),
            frame_width=t.number("frame_width", 0.6, high=20),
        )
        t.done()
        return spec


def load_template(name: str, root: Path, fallbacks: Sequence[Path] = ()) -> Template:
    """Read and check `root/<name>/template.toml`; ConfigurationError if it is wrong.
    Files it names that are missing under `root` are looked for under `fallbacks`."""
    root = root.resolve()
    return _Loader(name, root / name, root, [f.resolve() for f in fallbacks]).load()

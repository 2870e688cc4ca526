"""`TemplateRenderer`: the `PdfRenderer` the service uses, over folders of designs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.credential import PublicClaims
from ..core.errors import NotFound
from . import layout as _layout
from .layout import Layout, lay_out
from .page import LAYERS, PageDesign, draw_page, prepare
from .template import NAME, TEMPLATE_FILE, Template, load_template

BUILTIN_DESIGNS = Path(__file__).resolve().parent.parent / "designs"
"""The designs that ship inside the package (`classic` and its fonts)."""


class TemplateRenderer:
    """Renders diplomas from designs (one folder per template) found in `folders`, the
    first folder that has a design by a name winning, then in the package's own designs.

    So an instance's own folder (`DIPLOMAS_TEMPLATES_DIR`) adds designs, or overrides a
    built-in one by its name, and a pip-installed package issues with `classic` from
    any working directory. Construction reads nothing. A template, its fonts and logo
    are read on first use and kept for the life of the renderer (fonts for the life of
    the process), so a bulk run pays for them once; restart to pick up an edited design.
    Each design keeps up to `static_layers` static layers (static_layer.py): what its
    pages draw the same for one set of institutions and logo files, made once; 0 makes
    every page its own, as before they were kept (for measuring).
    Safe to share between threads. Pickling keeps only the folders and that number, so a
    renderer can be handed to a worker process, which loads what it needs itself. Its
    layers' lock is held only for a dictionary operation, so forking is safe too (with
    `static_layers=0`, a lock is also held while a page encodes a logo).
    """

    def __init__(self, *folders: Path, builtin: bool = True, static_layers: int = LAYERS) -> None:
        found = [Path(f) for f in folders]
        if builtin:
            found.append(BUILTIN_DESIGNS)
        self.folders: tuple[Path, ...] = tuple(dict.fromkeys(f.resolve() for f in found))
        self.static_layers = static_layers
        self._designs: dict[str, PageDesign] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"folders": self.folders, "static_layers": self.static_layers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.folders = tuple(state["folders"])
        self.static_layers = state.get("static_layers", LAYERS)
        self._designs = {}

    def _home_of(self, name: str) -> Path | None:
        """The first folder that holds a design called `name`."""
        if not NAME.match(name):
            return None
        return next((f for f in self.folders if (f / name / TEMPLATE_FILE).is_file()), None)

    def names(self) -> tuple[str, ...]:
        """The templates available, sorted."""
        return tuple(
            sorted(
                {
                    p.name
                    for folder in self.folders
                    if folder.is_dir()
                    for p in folder.iterdir()
                    if NAME.match(p.name) and (p / TEMPLATE_FILE).is_file()
                }
            )
        )

    def template(self, name: str) -> Template:
        """The loaded template; NotFound if there is none by that name,
        ConfigurationError if its TOML is wrong."""
        return self._design(name).template

    def _design(self, name: str) -> PageDesign:
        design = self._designs.get(name)
        if design is not None:
            return design
        home = self._home_of(name)
        if home is None:
            available = ", ".join(self.names()) or "none"
            # No folder paths: this message reaches API callers, who have no business
            # knowing where the instance keeps its files (DIPLOMAS_TEMPLATES_DIR says it).
            raise NotFound(f"no diploma template named {name!r} (available: {available})")
        later = self.folders[self.folders.index(home) + 1 :]
        design = prepare(load_template(name, home, later), self.static_layers)
        # Two threads may load the same template at once; the first one stored wins.
        return self._designs.setdefault(name, design)

    def ensure_template(self, template: str) -> None:
        """Raise NotFound unless `template` exists (and ConfigurationError if it is broken),
        before anything is issued with it."""
        self._design(template)

    def check(self, claims: PublicClaims, template: str) -> None:
        """Raise what `layout()` (and so `render()`) would raise for `claims`, without
        laying out the page or encoding the QR code: InvalidInput naming each field whose
        value cannot be printed (a character the font lacks, text too long for its box
        even at the smallest size), ConfigurationError when the template's own text or
        the institution's URL is at fault, NotFound for an unknown template.

        Cheap enough for every row of a roster: values that repeat from row to row
        (institutions, signatories, labels, the date) are fitted once.
        """
        _layout.check(self._design(template).template, claims)

    def layout(self, claims: PublicClaims, template: str) -> Layout:
        """Where everything goes, without drawing; InvalidInput if a value cannot be
        printed in its box."""
        return lay_out(self._design(template).template, claims)

    def render(
        self, claims: PublicClaims, template: str, logos: Mapping[str, str] | None = None
    ) -> bytes:
        """An unsigned one-page PDF of the diploma with its QR code; `logos` maps an
        issuing institution's DID to its logo file, for designs that place them."""
        design = self._design(template)
        return draw_page(design, lay_out(design.template, claims), claims, logos)

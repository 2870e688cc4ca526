"""`TemplateRenderer`: the `PdfRenderer` the service uses, over a folder of templates."""

from __future__ import annotations

import threading
from pathlib import Path

from reportlab.lib.utils import ImageReader

from ..core.credential import PublicClaims
from ..core.errors import ConfigurationError, NotFound
from .layout import Layout, lay_out
from .page import draw_page
from .template import NAME, TEMPLATE_FILE, Template, load_template


class TemplateRenderer:
    """Renders diplomas from the designs in `templates_dir` (one folder per template).

    Templates, their fonts and logos are read on first use and kept for the life of the
    renderer, so a bulk run pays for them once; restart to pick up an edited design.
    Safe to share between threads; the PDF writing itself runs one page at a time.
    """

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self._lock = threading.Lock()
        self._templates: dict[str, Template] = {}
        self._logos: dict[Path, ImageReader] = {}

    def names(self) -> tuple[str, ...]:
        """The templates available, sorted."""
        if not self.templates_dir.is_dir():
            return ()
        return tuple(
            sorted(
                p.name
                for p in self.templates_dir.iterdir()
                if NAME.match(p.name) and (p / TEMPLATE_FILE).is_file()
            )
        )

    def template(self, name: str) -> Template:
        """The loaded template; NotFound if there is none by that name,
        ConfigurationError if its TOML is wrong."""
        with self._lock:
            cached = self._templates.get(name)
            if cached is not None:
                return cached
            if not NAME.match(name) or not (self.templates_dir / name / TEMPLATE_FILE).is_file():
                available = ", ".join(self.names()) or "none"
                raise NotFound(
                    f"no diploma template named {name!r} in {self.templates_dir} "
                    f"(available: {available})"
                )
            template = load_template(name, self.templates_dir)
            if template.logo is not None and template.logo.path not in self._logos:
                self._logos[template.logo.path] = _image(template.logo.path)
            self._templates[name] = template
            return template

    def ensure_template(self, template: str) -> None:
        """Raise NotFound unless `template` exists (and ConfigurationError if it is broken),
        before anything is issued with it."""
        self.template(template)

    def layout(self, claims: PublicClaims, template: str) -> Layout:
        """Where everything goes, without drawing; InvalidInput if a value cannot be
        printed in its box."""
        return lay_out(self.template(template), claims)

    def render(self, claims: PublicClaims, template: str) -> bytes:
        """An unsigned one-page PDF of the diploma with its QR code."""
        loaded = self.template(template)
        layout = lay_out(loaded, claims)
        logo = self._logos.get(loaded.logo.path) if loaded.logo else None
        return draw_page(loaded, layout, claims, logo)


def _image(path: Path) -> ImageReader:
    try:
        reader = ImageReader(str(path))
        reader.getSize()
    except Exception as exc:  # reportlab wraps PIL's many error types in plain Exception
        raise ConfigurationError(f"cannot read the logo {path}: {exc}") from None
    return reader

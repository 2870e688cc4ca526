"""Diploma PDFs drawn from declarative templates (`<designs folder>/<name>/template.toml`).

TemplateRenderer(*folders)        the PdfRenderer port: render(claims, template) -> bytes,
                                  check(claims, template) before anything is issued
  template.py   the TOML design, checked on load
  layout.py     the claims placed in the design's boxes (pure geometry), or only checked
  textfit.py    shrink-then-wrap fitting of text into a box
  shaping.py    Persian shaping and bidi reordering (PDF text is drawn unshaped)
  qr.py         the verification QR code (the `qrcode` package) as runs of dark modules
  page.py       drawing a layout on a reportlab canvas, the template's ornaments done once
  static_layer.py  what every page of a design draws the same for one set of institutions
                (ornaments, rules, logos encoded once), kept in a bounded LRU and replayed
  fonts.py      TrueType fonts registered with reportlab once per process; the subset
                every page shares is built once
"""

from .layout import Layout
from .renderer import BUILTIN_DESIGNS, TemplateRenderer
from .template import Template, load_template

__all__ = ["BUILTIN_DESIGNS", "Layout", "Template", "TemplateRenderer", "load_template"]

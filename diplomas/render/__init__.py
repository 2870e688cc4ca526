"""Diploma PDFs drawn with reportlab from declarative templates (`templates/<name>/`).

TemplateRenderer(templates_dir)   the PdfRenderer port: render(claims, template) -> bytes
  template.py   the TOML design, checked on load
  layout.py     the claims placed in the design's boxes (pure geometry)
  textfit.py    shrink-then-wrap fitting of text into a box
  shaping.py    Persian shaping and bidi reordering for reportlab
  qr.py         the verification QR code as runs of dark modules
  page.py       drawing a layout onto the canvas
  fonts.py      TrueType fonts registered once per process
"""

from .layout import Layout
from .renderer import TemplateRenderer
from .template import Template, load_template

__all__ = ["Layout", "Template", "TemplateRenderer", "load_template"]

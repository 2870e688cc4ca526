"""diplomas: issue signed PDF entrepreneurship diplomas and let anyone verify them."""

__version__ = "0.1.0"

"""The HTTP interface: FastAPI routers over the service layer."""

from .app import create_app

__all__ = ["create_app"]

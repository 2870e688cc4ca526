"""How `diplomas serve` runs the app: which proxies uvicorn believes, and the metrics
server on its own address.

Uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so any client on
the same host (or behind a proxy there) could name a new address on every request and
never meet the rate limits. Here the proxy headers are read only from the proxies that
DIPLOMAS_TRUSTED_PROXIES names; without it, the address that connected is the client.
"""

from __future__ import annotations

import logging
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from ..config import Settings
from ..core.errors import ConfigurationError
from .metrics import Metrics

log = logging.getLogger("diplomas.serve")


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run/Config keywords for the proxy headers the settings allow."""
    trusted = settings.trusted_proxy_list()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def serve_metrics(metrics: Metrics, settings: Settings) -> WSGIServer | None:
    """Answer /metrics at DIPLOMAS_METRICS_ADDRESS from a thread of this process
    (prometheus_client's own server); None when the setting is `off`. An address that
    cannot be had is a ConfigurationError when the setting names it, and a warning when
    it is the default (the API is more important than its figures)."""
    address = settings.metrics_host_port()
    if address is None:
        return None
    host, port = address
    try:
        server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        problem = (
            f"cannot serve metrics on {host}:{port} (DIPLOMAS_METRICS_ADDRESS): "
            f"{exc.strerror or exc}. Free that port, choose another address, or set "
            "DIPLOMAS_METRICS_ADDRESS=off"
        )
        if "metrics_address" in settings.model_fields_set:
            raise ConfigurationError(problem) from None
        # The default address taken (a second server on this host): the API still serves.
        log.warning("%s; serving without metrics", problem)
        return None
    log.info("metrics on http://%s:%s/metrics", host, port)
    return server

"""Trust services run in the test: a CA with an OCSP responder and CRLs, and an RFC 3161
timestamp authority under a root of its own, all served over real HTTP by certomancer
(pyHanko's test companion) on a free port of 127.0.0.1.

The CA issues the institution a document-signing certificate (root -> intermediate ->
institution, as a commercial CA does) whose AIA and CRL distribution point lead back to
this server, and a second one that it has revoked. Keys are made fresh for each server.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from asn1crypto import pem
from certauthority import COMMON_NAME, ORGANIZATION, UNIT, key_pem
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import CertLabel, CertomancerConfig, KeyLabel, ServiceLabel
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

ARCH = "diplomas-ca"
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
_KEYS = ("root", "interm", "ocsp", "tsa-root", "tsa", "signer", "signer-revoked")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _validity(start: datetime, end: datetime) -> dict[str, str]:
    return {"valid-from": _when(start), "valid-to": _when(end)}


def _usage(*names: str) -> dict[str, Any]:
    return {
        "id": "key_usage",
        "critical": True,
        "smart-value": {"schema": "key-usage", "params": list(names)},
    }


def _ca(issuer: str, crl_repo: str | None, start: datetime, end: datetime) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = [
        {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
        _usage("digital_signature", "key_cert_sign", "crl_sign"),
    ]
    if crl_repo:
        extensions.append(
            {
                "id": "crl_distribution_points",
                "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [crl_repo]}},
            }
        )
    return {"issuer": issuer, "validity": _validity(start, end), "extensions": extensions}


def config(directory: Path, url: str, now: datetime, revoked_since: datetime) -> dict[str, Any]:
    """The certomancer configuration: keys written to `directory`, services under `url`."""
    for label in _KEYS:
        (directory / f"{label}.key.pem").write_bytes(
            key_pem(ec.generate_private_key(ec.SECP256R1()))
        )
    long_ago, far = now - timedelta(days=365), now + timedelta(days=3650)
    signer = {
        "subject": "institution",
        "subject-key": "signer",
        "issuer": "interm",
        "validity": _validity(now - timedelta(days=30), now + timedelta(days=365)),
        "extensions": [
            {"id": "basic_constraints", "critical": True, "value": {"ca": False}},
            _usage("digital_signature", "non_repudiation"),
            {"id": "extended_key_usage", "value": [DOCUMENT_SIGNING, "email_protection"]},
            {
                "id": "crl_distribution_points",
                "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": ["interm"]}},
            },
            {
                "id": "authority_information_access",
                "smart-value": {
                    "schema": "aia-urls",
                    "params": {"ocsp-responder-names": ["interm"]},
                },
            },
        ],
    }
    return {
        "external-url-prefix": url,
        "keysets": {
            ARCH: {
                "path-prefix": str(directory),
                "keys": {label: {"path": f"{label}.key.pem"} for label in _KEYS},
            }
        },
        "pki-architectures": {
            ARCH: {
                "keyset": ARCH,
                "entity-defaults": {
                    "country-name": "IR",
                    "organization-name": "Test Trust Services",
                },
                "entities": {
                    "root": {"common-name": "Test Trust Services Root CA"},
                    "interm": {"common-name": "Test Trust Services Signing CA"},
                    "ocsp": {"common-name": "Test Trust Services OCSP Responder"},
                    "tsa-root": {"common-name": "Test Time Root CA"},
                    "tsa": {"common-name": "Test Time Stamping Authority"},
                    "institution": {
                        "country-name": "IR",
                        "organization-name": ORGANIZATION,
                        "organizational-unit-name": UNIT,
                        "common-name": COMMON_NAME,
                    },
                },
                "certs": {
                    "root": {
                        **_ca("root", None, long_ago, far),
                        "subject": "root",
                        "subject-key": "root",
                        "authority-key": "root",
                    },
                    "interm": _ca("root", "root", long_ago, far),
                    "ocsp": {
                        "issuer": "interm",
                        "validity": _validity(long_ago, far),
                        "extensions": [
                            _usage("digital_signature"),
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["ocsp_signing"],
                            },
                            {"id": "ocsp_no_check"},
                        ],
                    },
                    "tsa-root": {
                        **_ca("tsa-root", None, long_ago, far),
                        "subject": "tsa-root",
                        "subject-key": "tsa-root",
                        "authority-key": "tsa-root",
                    },
                    "tsa": {
                        "issuer": "tsa-root",
                        "validity": _validity(long_ago, far),
                        "extensions": [
                            _usage("digital_signature"),
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["time_stamping"],
                            },
                            {
                                "id": "crl_distribution_points",
                                "smart-value": {
                                    "schema": "crl-dist-url",
                                    "params": {"crl-repo-names": ["tsa-root"]},
                                },
                            },
                        ],
                    },
                    "signer": signer,
                    "signer-revoked": {
                        **signer,
                        "subject-key": "signer-revoked",
                        "revocation": {
                            "revoked-since": _when(revoked_since),
                            "reason": "key_compromise",
                        },
                    },
                },
                "services": {
                    "ocsp": {
                        "interm": {
                            "for-issuer": "interm",
                            "responder-cert": "ocsp",
                            "signing-key": "ocsp",
                        }
                    },
                    "crl-repo": {
                        label: {
                            "for-issuer": label,
                            "signing-key": label,
                            "simulated-update-schedule": "P7D",
                        }
                        for label in ("root", "interm", "tsa-root")
                    },
                    "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}},
                },
            }
        },
    }


class _Slot:
    """The WSGI app the servers call, set once the CA server's port (which the
    certificates name) is known.

    Certomancer answers OCSP requests sent by POST only; NSS (and so pdfsig) sends small
    ones by GET, base64 in the path (RFC 6960, appendix A.1). Those are handed on as the
    POST they stand for."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        parts = path.split("/", 4)
        if environ["REQUEST_METHOD"] == "GET" and len(parts) == 5 and parts[2] == "ocsp":
            request = base64.b64decode(unquote(parts[4]))
            environ = {
                **environ,
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/".join(parts[:4]),
                "CONTENT_TYPE": "application/ocsp-request",
                "CONTENT_LENGTH": str(len(request)),
                "wsgi.input": io.BytesIO(request),
            }
        return self.app(environ, start_response)


class _WholeSeconds(Animator):
    """Certomancer, answering at whole seconds: its OCSP answers carry the time it answers
    at, and DER allows fractions of a second there, but NSS (so pdfsig) refuses them as
    corrupted data."""

    def at_time(self, request: Any) -> datetime:
        moment: datetime = super().at_time(request)
        return moment.replace(microsecond=0)


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class _Server:
    server: BaseWSGIServer
    thread: threading.Thread | None = None

    @classmethod
    def bind(cls, app: Any, port: int = 0) -> _Server:
        return cls(make_server("127.0.0.1", port, app, threaded=True, request_handler=_Quiet))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def serve(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=10)
        self.server.server_close()


@dataclass
class TrustServices:
    """A running certomancer: its certificates and keys, and its service addresses. The
    timestamp authority answers on a port of its own, so that it can be stopped while the
    CA's OCSP responder and CRLs stay up (they are different services in real life too)."""

    arch: Any
    ca: _Server
    tsa: _Server
    revoked_since: datetime

    @property
    def url(self) -> str:
        return self.ca.url

    @property
    def tsa_url(self) -> str:
        return f"{self.tsa.url}/{ARCH}/tsa/tsa"

    def certificate(self, label: str) -> x509.Certificate:
        der = self.arch.get_cert(CertLabel(label)).dump()
        return x509.load_der_x509_certificate(der)

    def key_pem(self, label: str) -> bytes:
        info = self.arch.key_set.get_private_key(KeyLabel(label))
        return pem.armor("PRIVATE KEY", info.dump())

    def ocsp_url(self) -> str:
        return str(self.arch.service_registry.get_ocsp_info(ServiceLabel("interm")).url)

    def restart_tsa(self) -> None:
        """Serve the timestamp authority again, on the port it had."""
        self.tsa.stop()
        self.tsa = _Server.bind(self.tsa.server.app, self.tsa.server.server_port)
        self.tsa.serve()

    def stop(self) -> None:
        self.tsa.stop()
        self.ca.stop()


def start(directory: Path, *, revoked_since: datetime | None = None) -> TrustServices:
    """Start certomancer on free ports, serving in daemon threads until `stop()`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    revoked_since = revoked_since or now - timedelta(hours=1)
    slot = _Slot()
    ca, tsa = _Server.bind(slot), _Server.bind(slot)
    settings = CertomancerConfig(config(directory, ca.url, now, revoked_since), str(directory))
    arch = settings.get_pki_arch(ARCH)
    slot.app = _WholeSeconds(AnimatorArchStore({arch.arch_label: arch}), with_web_ui=False)
    ca.serve()
    tsa.serve()
    return TrustServices(arch, ca, tsa, revoked_since)

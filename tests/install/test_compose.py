"""compose.yaml as the README hands it over: the passphrase a secret outside the keys'
volume, the app on the host's loopback only, the metrics inside the compose network.
(No Docker engine runs here; the file is read as compose reads it.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return data


def test_the_passphrase_is_a_secret_file_never_an_environment_value() -> None:
    compose = _compose()
    app = compose["services"]["app"]
    assert "DIPLOMAS_KEY_PASSPHRASE" not in app["environment"]
    path = app["environment"]["DIPLOMAS_KEY_PASSPHRASE_FILE"]
    [secret] = app["secrets"]
    assert path == f"/run/secrets/{secret}"
    assert compose["secrets"][secret] == {"file": "./key-passphrase"}
    assert not any(v.startswith(("diplomas:/run", "/run")) for v in app["volumes"])


def test_the_app_is_published_on_loopback_and_metrics_are_not_published() -> None:
    app = _compose()["services"]["app"]
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    metrics_port = app["environment"]["DIPLOMAS_METRICS_ADDRESS"].rsplit(":", 1)[1]
    assert all(metrics_port not in str(p) for p in app["ports"])

"""compose.yaml as the README hands it over: the passphrase a secret outside the keys'
volume, the app on the host's loopback only, the metrics inside the compose network.
(No Docker engine runs here; the file is read as compose reads it.)"""

from __future__ import annotations

import ipaddress
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


# -- compose.scale.yaml: N replicas behind nginx, M workers, one init ----------------------


SHARED_SETTINGS = ("DIPLOMAS_DATABASE_URL", "DIPLOMAS_KEY_PASSPHRASE_FILE", "DIPLOMAS_PUBLIC_URL")


def _scale() -> dict[str, Any]:
    text = (ROOT / "compose.scale.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_scale_app_workers_and_init_share_image_volume_secret_and_database() -> None:
    compose = _scale()
    services = compose["services"]
    app, worker, init = services["app"], services["worker"], services["init"]
    for each in (worker, init):
        assert each["build"] == app["build"]
        assert each["image"] == app["image"]
        assert each["volumes"] == app["volumes"]
        assert each["secrets"] == app["secrets"]
        for name in SHARED_SETTINGS:
            assert each["environment"][name] == app["environment"][name]
    assert app["volumes"] == ["diplomas:/data"]
    assert app["environment"]["DIPLOMAS_DATABASE_URL"].startswith("postgresql://")
    [secret] = app["secrets"]
    assert app["environment"]["DIPLOMAS_KEY_PASSPHRASE_FILE"] == f"/run/secrets/{secret}"
    assert compose["secrets"][secret] == {"file": "./key-passphrase"}
    assert all("DIPLOMAS_KEY_PASSPHRASE" not in s.get("environment", {}) for s in services.values())


def test_scale_replicas_leave_the_shards_to_the_workers() -> None:
    services = _scale()["services"]
    app, worker = services["app"], services["worker"]
    assert app["environment"]["DIPLOMAS_EMBEDDED_WORKER"] == "false"
    assert _command(app).startswith("diplomas serve")
    assert "--port 8000" in _command(app)
    assert _command(worker).startswith("diplomas worker")
    assert "init" not in _command(app) and "init" not in _command(worker)
    assert app["deploy"]["replicas"] >= 2 and worker["deploy"]["replicas"] >= 1


def test_scale_only_the_proxy_publishes_a_port_and_on_loopback_only() -> None:
    services = _scale()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["proxy"]
    [port] = published["proxy"]
    assert port.startswith("127.0.0.1:")
    assert port.endswith(":80")


def test_scale_init_runs_once_and_the_others_wait_for_it() -> None:
    services = _scale()["services"]
    init = services["init"]
    assert _command(init).startswith("diplomas init")
    assert "replicas" not in init.get("deploy", {})
    assert init.get("restart", "no") == "no"
    assert init["depends_on"]["db"] == {"condition": "service_healthy"}
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["init"] == {
            "condition": "service_completed_successfully"
        }


def test_scale_replicas_trust_only_the_proxy_at_its_fixed_address() -> None:
    compose = _scale()
    services = compose["services"]
    address = services["proxy"]["networks"]["default"]["ipv4_address"]
    trusted = services["app"]["environment"]["DIPLOMAS_TRUSTED_PROXIES"]
    default = trusted.split(":-", 1)[1].rstrip("}")
    assert address in default.split(",")
    [pool] = compose["networks"]["default"]["ipam"]["config"]
    # Inside the subnet, outside the range handed out to the other containers.
    ip = ipaddress.ip_address(address)
    assert ip in ipaddress.ip_network(pool["subnet"])
    assert ip not in ipaddress.ip_network(pool["ip_range"])
    assert all(
        ipaddress.ip_address(a) in ipaddress.ip_network(pool["subnet"]) for a in default.split(",")
    )


def test_scale_nginx_proxies_to_every_app_replica_with_forwarded_headers() -> None:
    proxy = _scale()["services"]["proxy"]
    [mount] = proxy["volumes"]
    source, _target, mode = mount.split(":")
    assert source == "./deploy/nginx.conf" and mode == "ro"
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in conf.splitlines()]
    directives = [line for line in lines if line]
    assert "resolver 127.0.0.11 valid=10s ipv6=off;" in directives
    assert "set $diplomas_app app:8000;" in directives
    assert "proxy_pass http://$diplomas_app;" in directives
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in directives
    assert any(d.startswith("proxy_set_header X-Forwarded-Proto ") for d in directives)
    assert "client_max_body_size 60m;" in directives

"""`diplomas mail send | status | resend`, `diplomas show` with the mail state, and the
server's own sender thread."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clitools import run
from conftest import PASSPHRASE, Instance, free_port, make_instance, serving

from diplomas.core.audit import AuditAction
from diplomas.core.outbox import MailState

from .servers import Recorder, smtp_server
from .support import ZAHRA


def environment(instance: Instance, **more: str) -> dict[str, str]:
    return {
        "DIPLOMAS_HOME": str(instance.settings.home),
        "DIPLOMAS_KEYS_DIR": str(instance.settings.keys_dir),
        "DIPLOMAS_KEY_PASSPHRASE": PASSPHRASE,
        "DIPLOMAS_DATABASE_URL": instance.settings.database_url,
        "DIPLOMAS_SMTP_URL": "",
        **more,
    }


@pytest.fixture
def office(tmp_path: Path) -> Instance:
    return make_instance(tmp_path)


def test_without_smtp_the_command_line_says_so_and_messages_wait(office: Instance) -> None:
    diploma = office.service.issue(ZAHRA).diploma
    env = environment(office)
    said = run(env, "mail", "send", code=4)
    assert "mail is not set up" in said and "DIPLOMAS_SMTP_URL" in said
    status = run(env, "mail", "status")
    assert "mail is not set up" in status and "queued 1" in status
    shown = run(env, "show", diploma.serial)
    assert "queued to zahra@example.com" in shown
    assert "mail is not set up" in run(env, "settings", "check")


def test_send_status_show_and_resend(office: Instance) -> None:
    diploma = office.service.issue(ZAHRA).diploma
    handler = Recorder()
    with smtp_server(handler) as port:
        env = environment(
            office,
            DIPLOMAS_SMTP_URL=f"smtp://127.0.0.1:{port}",
            DIPLOMAS_SMTP_FROM="office@example.ac.ir",
        )
        assert "sent 1, to try again later 0, failed 0" in run(env, "mail", "send")
        assert "sent " in run(env, "show", diploma.id)
        shown = json.loads(run(env, "show", diploma.serial, "--json"))
        assert shown["mail"]["state"] == "sent" and shown["mail"]["attempts"] == 1
        assert "issued:v1" in run(env, "mail", "status", diploma.serial)

        assert "queued a message to zahra@example.com" in run(env, "mail", "resend", diploma.id)
        assert "sent 1" in run(env, "mail", "send")
        assert "give a diploma" in run(env, "mail", "resend", code=2)
        assert "no diploma" in run(env, "mail", "resend", "nonsense", code=3)
    assert len(handler.received) == 2
    [entry] = office.service.audit_trail(action=AuditAction.MAIL_RESENT)
    assert entry.subject == diploma.id


def test_the_server_sends_in_the_background(tmp_path: Path) -> None:
    port = free_port()
    inst = make_instance(tmp_path, public_url=f"http://127.0.0.1:{port}")
    handler = Recorder()
    with smtp_server(handler) as smtp_port:
        from pydantic import SecretStr

        inst.settings.smtp_url = SecretStr(f"smtp://127.0.0.1:{smtp_port}")
        with serving(inst, port):
            diploma = inst.service.issue(ZAHRA).diploma
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                state = inst.service.mail_state(diploma.id)
                if state is not None and state.state is MailState.SENT:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the server's sender sent nothing")
    assert len(handler.received) == 1


def test_mail_pdf_is_a_setting(office: Instance) -> None:
    env = environment(office)
    assert "mail_pdf" in run(env, "settings", "set", "mail_pdf", "link")
    assert 'must be "attach" or "link"' in run(env, "settings", "set", "mail_pdf", "zip", code=4)
    assert "mail_pdf" in run(env, "settings", "show")

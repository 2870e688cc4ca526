"""An SMTP server in a process of its own for the crash test: each message's Message-ID
is appended to a file and made durable (flush, fsync) before the server answers 250, so
the file lists every message the server accepted, even if this process is killed.

    python smtp_sink.py PORT FILE
"""

from __future__ import annotations

import os
import re
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class Sink:
    def __init__(self, path: str) -> None:
        self.file = open(path, "ab")  # noqa: SIM115 - open for the life of the process

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(bytes(envelope.original_content))
        self.file.write((found.group(1) if found else b"<none>") + b"\n")
        self.file.flush()
        os.fsync(self.file.fileno())
        return "250 2.0.0 kept"


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

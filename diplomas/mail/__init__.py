"""Mail to holders: the message (`compose`), the SMTP server (`smtp`), and the sender that
drains the outbox (`sender`). The states and their rules are in `core.outbox`."""
